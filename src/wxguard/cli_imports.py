"""WeChat imports at the command line: ``wxguard employees`` (mark archived accounts as
employees) and ``wxguard demo wechat`` (a generated device to try imports on).
``wxguard ingest`` itself lives in :mod:`wxguard.cli` beside the other ingest paths."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .archive import Archive, resolve_data_dir
from .audit import current_actor
from .cli import (
    DataOpt,
    FormatOpt,
    OutputFormat,
    _print_json,
    app,
    demo_app,
    err,
    errors,
    fail,
    out,
)
from .imports import EmployeeError, read_employees
from .imports.run import mark_employees


@app.command("employees")
def employees(
    csv_file: Annotated[Path, typer.Argument(help="CSV with account,name,department,title")],
    data: DataOpt = None,
    output: FormatOpt = OutputFormat.text,
) -> None:
    """Mark the listed WeChat accounts (wxid) as employees: internal, with department and
    title, so policies can tell colleagues from customers. Imports take the same CSV with
    `--employees` (there a 微信号 matches too). Audited."""
    try:
        staff = read_employees(csv_file)
    except EmployeeError as e:
        fail(str(e))
    with errors(), Archive.open(resolve_data_dir(data), write=True) as a:
        marked, missing = mark_employees(a, staff, current_actor())
    if output == OutputFormat.json:
        _print_json({"listed": len(staff), "marked": marked, "not_found": missing})
        return
    out.print(
        f"Marked {marked:,} of {len(staff):,} listed accounts as employees"
        + (f"; {missing:,} not in the archive (yet)" if missing else "")
        + "."
    )


@demo_app.command("wechat")
def demo_wechat(
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Folder to write into")],
    layout: Annotated[
        str,
        typer.Option(
            "--layout",
            help="pc3, pc4, android, ios, chatlog, pywxdump-json, pywxdump-csv, or all",
        ),
    ] = "all",
    messages: Annotated[int, typer.Option(help="How many messages")] = 2_000,
    seed: Annotated[int, typer.Option(help="Random seed")] = 5,
) -> None:
    """Write a fictional sales employee's personal-WeChat data in plaintext client layouts
    (generated, no real data), to try `wxguard ingest` on."""
    from .demo import wechat as W

    writers = {
        "pc3": lambda d, dev: W.write_pc3(d / "pc3", dev),
        "pc4": lambda d, dev: W.write_v4(d / "pc4", dev),
        "android": lambda d, dev: W.write_android(d / "android", dev),
        "ios": lambda d, dev: W.write_ios(d / "ios-backup", dev),
        "chatlog": lambda d, dev: W.write_chatlog_json(d / "chatlog.json", dev),
        "pywxdump-json": lambda d, dev: W.write_pywxdump_json(d / "pywxdump.json", dev),
        "pywxdump-csv": lambda d, dev: W.write_pywxdump_csv(d / "pywxdump.csv", dev),
    }
    chosen = list(writers) if layout == "all" else [layout]
    if any(c not in writers for c in chosen):
        fail(f"unknown --layout {layout!r}; choose one of {', '.join(writers)} or all")
    out_dir.mkdir(parents=True, exist_ok=True)
    dev = W.build(messages, seed)
    for c in chosen:
        err.print(f"wrote {c}: {writers[c](out_dir, dev)}")
    err.print(f"Import with: wxguard ingest {out_dir} --owner {W.OWNER}")
