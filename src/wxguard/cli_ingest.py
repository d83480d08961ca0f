"""``wxguard ingest``: files, folders and WeChat client data, each exactly once
(``run_ingest``), and the WeCom session-archive connector (``ingest wecom``, in
cli_capture.py). The pipeline itself is ingest.py, seal.py and imports/."""

from __future__ import annotations

import time
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated, Any

import typer

from .archive import Archive, resolve_data_dir
from .cli import (
    DataOpt,
    FormatOpt,
    OutputFormat,
    _advance,
    _esc,
    _print_json,
    _progress,
    app,
    err,
    errors,
    fail,
    out,
)
from .imports import FORMATS as WECHAT_FORMATS
from .ingest import FORMATS, Preparer, ingest_file
from .inputs import IngestError
from .seal import Counts, Sealer

_ALL_FORMATS = (*FORMATS, *WECHAT_FORMATS)


def run_ingest(
    a: Archive,
    paths: list[Path],
    fmt: str,
    source: str,
    owner: str = "",
    employees: Path | None = None,
    jobs: int = 1,
) -> tuple[Counts, list[dict[str, Any]]]:
    """Every input exactly once: WeCom/interchange files and WeChat client data alike.
    ``jobs`` > 1 prepares WeCom records in ``jobs - 1`` worker processes."""
    from .imports import EmployeeError, ImportFileError, open_source, read_employees
    from .imports.plan import plan
    from .imports.run import Importer

    staff = {}
    if employees is not None:
        try:
            staff = read_employees(employees)
        except EmployeeError as e:
            raise IngestError(str(e)) from None
    sealer = Sealer(a)
    total = Counts()
    files: list[dict[str, Any]] = []
    todo = plan(paths, fmt)
    if not todo:
        raise IngestError("no input files found")
    preparer = None
    if jobs > 1 and any(j.kind == "file" and j.format != "jsonl" for j in todo):
        preparer = Preparer(a, jobs, source)
    with _progress() as bar, preparer or nullcontext():
        for job in todo:
            if job.kind == "error":
                files.append({"path": str(job.path), "error": job.error})
                continue
            if job.kind == "wechat":
                try:
                    src = open_source(job.path, job.format, owner, staff)
                except (ImportFileError, OSError) as e:
                    files.append({"path": str(job.path), "error": str(e)})
                    continue
                imp = Importer(a, sealer, src.account, src.format)
                c = Counts()
                for unit in src.units:
                    task = bar.add_task(_esc(unit.label), total=unit.total or None)
                    try:
                        rep = imp.run(unit, _advance(bar, task))
                    except (ImportFileError, OSError) as e:
                        files.append({"path": str(unit.path), "error": str(e)})
                        continue
                    finally:
                        bar.remove_task(task)
                    c.add(rep.counts)
                total.add(c)
                files.append({"path": str(job.path), "format": job.format, **_counts(c)})
                continue
            f = Path(job.path)
            size = f.stat().st_size if f.exists() else 0
            task = bar.add_task(_esc(f.name), total=size or None)
            try:
                frep = ingest_file(a, sealer, f, job.format, source, _advance(bar, task), preparer)
            except (IngestError, OSError) as e:
                files.append({"path": str(f), "error": str(e)})
                continue
            finally:
                bar.remove_task(task)
            total.add(frep.counts)
            files.append(
                {
                    "path": str(f),
                    "format": frep.format,
                    "resumed_at_byte": frep.resumed_at,
                    **_counts(frep.counts),
                    **({"error": frep.error} if frep.error else {}),
                    **({"warnings": frep.warnings} if frep.warnings else {}),
                }
            )
    a.seal_checkpoint()
    return total, files


def _counts(c: Counts) -> dict[str, Any]:
    return {
        "imported": c.imported,
        "duplicates": c.duplicates,
        "quarantined": c.quarantined,
        "directory_records": c.directory,
        "blobs": c.blobs,
        "quarantine_reasons": c.reasons,
    }


@app.command()
def ingest(
    paths: Annotated[
        list[Path],
        typer.Argument(help="Files, folders or a chatlog URL (docs/formats.md: Plaintext WeChat)"),
    ],
    data: DataOpt = None,
    fmt: Annotated[
        str,
        typer.Option("--input-format", help=f"One of: {', '.join(_ALL_FORMATS)}"),
    ] = "auto",
    owner: Annotated[
        str, typer.Option("--owner", help="WeChat imports: the account owner's wxid")
    ] = "",
    employees: Annotated[
        Path | None,
        typer.Option("--employees", help="WeChat imports: employee CSV (account,name,...)"),
    ] = None,
    source: Annotated[
        str, typer.Option(help="Source name for WeCom records (dedupe namespace)")
    ] = "wecom",
    output: FormatOpt = OutputFormat.text,
    follow: Annotated[
        bool, typer.Option("--follow", help="wecom: keep pulling (poll + msgaudit_notify)")
    ] = False,
    config: Annotated[
        Path | None, typer.Option("--config", help="wecom: settings (default DATA/wecom.toml)")
    ] = None,
    media: Annotated[
        bool, typer.Option("--media/--no-media", help="wecom: download media this pass")
    ] = True,
    max_pages: Annotated[
        int | None, typer.Option("--max-pages", min=1, help="wecom: stop after N pages")
    ] = None,
    jobs: Annotated[
        int,
        typer.Option(
            "--jobs",
            "-j",
            min=1,
            max=64,
            help="Processes for WeCom files: one writer and N-1 preparing records (cores)",
        ),
    ] = 1,
) -> None:
    """Ingest files exactly once, or pull the WeCom session archive: `wxguard ingest wecom`.

    PATHS are decrypted WeCom JSON/JSONL or wxguard interchange JSONL. The single word
    `wecom` (with no file of that name here) pulls from Tencent with the connector in
    DATA/wecom.toml from the stored cursor until caught up; `--follow` keeps pulling."""
    if [str(p) for p in paths] == ["wecom"] and not Path("wecom").exists():
        from .cli_capture import ingest_wecom

        ingest_wecom(data, config, follow, media, max_pages, output)
        return
    if follow or config or max_pages:
        fail("--follow, --config and --max-pages apply to `wxguard ingest wecom` only")
    if fmt not in _ALL_FORMATS:
        fail(f"unknown --input-format {fmt!r}; choose one of {', '.join(_ALL_FORMATS)}")
    d = resolve_data_dir(data)
    with errors(), Archive.open(d, write=True) as a:
        t0 = time.perf_counter()
        total, files = run_ingest(a, paths, fmt, source, owner, employees, jobs)
        dt = time.perf_counter() - t0
    result = {**_counts(total), "seconds": round(dt, 2), "files": files}
    if output == OutputFormat.json:
        _print_json(result)
    else:
        _print_ingest(result)
    if any("error" in f for f in files):
        raise typer.Exit(2)


def _print_ingest(r: dict[str, Any]) -> None:
    many = len(r["files"]) > 1
    unchanged = 0
    for f in r["files"]:
        for w in f.get("warnings", ()):
            err.print(f"[yellow]warning:[/] {_esc(w)}", highlight=False, soft_wrap=True)
        if "error" in f:
            err.print(f"[red]✗[/] {_esc(f['error'])}", highlight=False, soft_wrap=True)
        elif many and not (f["imported"] or f["duplicates"] or f["quarantined"]):
            unchanged += 1  # a folder ingested on a schedule: most files have nothing new
        elif many:
            out.print(
                f"  {_esc(f['format'])} {_esc(f['path'])}: {f['imported']:,} imported, "
                f"{f['duplicates']:,} duplicates, {f['quarantined']:,} quarantined",
                highlight=False,
                soft_wrap=True,  # one line per file, whatever the path's length (logs, grep)
            )
    if unchanged:
        out.print(f"  {unchanged:,} more files had nothing new", highlight=False)
    rate = r["imported"] / r["seconds"] if r["seconds"] else 0
    out.print(
        f"Imported [bold]{r['imported']:,}[/] messages, skipped {r['duplicates']:,} duplicates, "
        f"quarantined {r['quarantined']:,}; {r['directory_records']:,} directory records, "
        f"{r['blobs']:,} blobs ({r['seconds']} s, {rate:,.0f} msg/s)."
    )
    for reason, n in sorted(r["quarantine_reasons"].items(), key=lambda x: -x[1]):
        out.print(f"  quarantined {n:,} × {_esc(reason)}", highlight=False)
