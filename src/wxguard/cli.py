"""The ``wxguard`` command line: a thin shell over the library (parse, call, format)."""

from __future__ import annotations

import errno
import json
import os
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from . import __version__, native
from .archive import Archive, ArchiveError, exposure, resolve_data_dir
from .crypto import KeyProblem
from .imports import FORMATS as WECHAT_FORMATS
from .ingest import FORMATS, Preparer, ingest_file
from .inputs import IngestError
from .keys import rotate_kek
from .seal import Counts, Sealer

app = typer.Typer(
    help="wxguard — compliance archive and DLP monitor for WeChat and WeCom.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
keys_app = typer.Typer(help="Manage the archive's keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")

_ALL_FORMATS = (*FORMATS, *WECHAT_FORMATS)
err = Console(stderr=True)
out = Console()


class OutputFormat(StrEnum):
    text = "text"
    json = "json"


DataOpt = Annotated[
    Path | None,
    typer.Option(
        "--data", "-d", help="Archive data directory [env: WXGUARD_DATA; default ./wxguard-data]"
    ),
]
FormatOpt = Annotated[OutputFormat, typer.Option("--format", help="Output format")]


def fail(message: str, code: int = 1) -> None:
    err.print(f"[bold red]error:[/] {message}", highlight=False, markup=True, soft_wrap=True)
    raise typer.Exit(code)


@contextmanager
def errors() -> Iterator[None]:
    """Turn known failures into one clear line and a non-zero exit."""
    try:
        yield
    except (ArchiveError, KeyProblem, IngestError) as e:
        fail(_esc(str(e)))
    except (sqlite3.IntegrityError, sqlite3.ProgrammingError):
        raise  # a defect in wxguard: keep the traceback for the report
    except (sqlite3.DatabaseError, OSError) as e:
        problem = storage_problem(e)
        if problem is None and isinstance(e, OSError) and e.filename:
            problem = f"{e.filename}: {e.strerror or e}"  # e.g. an --out path in no folder
        if problem is None:
            raise
        fail(_esc(problem))
    except KeyboardInterrupt:
        fail("interrupted; everything committed so far is kept and a re-run resumes", 130)


_FULL = (errno.ENOSPC, errno.EDQUOT)
_STORAGE = (*_FULL, errno.EIO, errno.EROFS)


def storage_problem(e: BaseException) -> str | None:
    """What to tell the operator when the disk under the archive fails (full, read-only,
    I/O errors) or its database is damaged; None for other errors. The transaction in
    progress is rolled back by SQLite, so what was committed before stands."""
    kept = "what was committed before is kept, the work in progress was rolled back"
    if isinstance(e, sqlite3.OperationalError):
        if "full" in str(e):
            return (
                f"the disk is full ({e}): {kept}. Free space for the data directory and run "
                "the command again — it resumes where it stopped"
            )
        return (
            f"the archive database cannot be written or read ({e}): {kept}. Check the disk "
            "and the data directory's permissions, then run `wxguard verify`"
        )
    if isinstance(e, sqlite3.DatabaseError):
        return (
            f"the archive database is damaged ({e}): run `wxguard verify` to see what is "
            "affected, and restore from a backup"
        )
    if isinstance(e, OSError) and e.errno in _STORAGE:
        where = f" ({e.filename})" if e.filename else ""
        if e.errno in _FULL:
            return (
                f"the disk is full{where}: {kept}. Free space and run the command again — it "
                "resumes where it stopped"
            )
        return (
            f"cannot write{where}: {e.strerror}: {kept}. Check the disk, then run `wxguard verify`"
        )
    return None


def _esc(s: str) -> str:
    return s.replace("[", "\\[")


def _print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, indent=2) + "\n")


@app.callback(invoke_without_command=True)
def _root(
    version: Annotated[
        bool, typer.Option("--version", help="Print the version and which seal loop runs")
    ] = False,
) -> None:
    if version:
        out.print(f"wxguard {__version__} (seal loop: {native.describe()})", highlight=False)
        raise typer.Exit()
    # Whatever wxguard writes (archive files, search indexes, exports, proofs) is readable by
    # its owner only, whatever the shell's umask.
    os.umask(os.umask(0o077) | 0o077)


@app.command()
def init(
    data: DataOpt = None,
    kek: Annotated[
        str | None,
        typer.Option(
            help="Key-encryption key reference: $file:PATH (created if missing) or $env:NAME. "
            "Default: $file:keys/kek.key inside the data directory."
        ),
    ] = None,
) -> None:
    """Create a new archive: database, keys, configuration."""
    d = resolve_data_dir(data)
    with errors(), Archive.create(d, kek) as a:
        ref = kek or "$file:keys/kek.key"
        out.print(f"Created archive in [bold]{d}[/] (key {ref}).")
        out.print(f"Checkpoint signing key fingerprint: {_fpr(a)}")
        exposed = exposure(d)
        if exposed:
            err.print(f"[yellow]warning:[/] {_esc(exposed)}", highlight=False, soft_wrap=True)
        if not ref.startswith("$env:"):
            out.print(
                "[yellow]Back up the key file separately from the data: "
                "without it the archive cannot be read.[/]"
            )


def _fpr(a: Archive) -> str:
    from .proofcheck import key_fingerprint

    return key_fingerprint(a.keys.public_key)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )


def _advance(bar: Progress, task: TaskID) -> Callable[[int], None]:
    def update(pos: int) -> None:
        bar.update(task, completed=pos)

    return update


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


# `verify` and `proof` (cli_ledger.py) register here, keeping `--help` in workflow order.
from . import cli_ledger  # noqa: E402, F401


@app.command()
def stats(
    data: DataOpt = None,
    top: Annotated[
        int, typer.Option(min=1, help="How many senders and conversations to list")
    ] = 10,
    output: FormatOpt = OutputFormat.text,
) -> None:
    """Data usage: messages by kind, person, conversation and day; media bytes."""
    from .stats import collect

    with errors(), Archive.open(resolve_data_dir(data)) as a:
        s = collect(a, top)
    if output == OutputFormat.json:
        _print_json(s)
    else:
        print_stats(s)


def _table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    """Print a table; every cell is inert text (names and titles are attacker controlled)."""
    t = Table(*columns, title=title)
    for row in rows:
        t.add_row(*(Text(str(cell)) for cell in row))
    out.print(t)


def print_stats(s: dict[str, Any]) -> None:
    span = (
        f"from {s['first_message_at']} to {s['last_message_at']}"
        if s["messages"]
        else "(nothing ingested yet: `wxguard ingest PATH`)"
    )
    out.print(
        f"[bold]{s['messages']:,}[/] messages {span}; {s['ledger_records']:,} ledger records; "
        f"{s['disk']['database_bytes'] / 1e6:,.1f} MB database "
        f"({s['bytes_per_message']} B/message), {s['disk']['blob_bytes'] / 1e6:,.1f} MB blobs"
    )
    out.print(
        f"Participants: {s['participants']}  Conversations: {s['conversations']}  "
        f"Recalled: {s['recalled_messages']}  "
        f"Media declared: {s['media']['declared_bytes'] / 1e6:,.1f} MB"
    )
    _table("By kind", ["kind", "messages"], [[k, f"{n:,}"] for k, n in s["by_kind"].items()])
    cols = ["id", "name", "kind", "department"]
    _table(
        "Top senders",
        ["sender", "name", "type", "department", "messages"],
        [[p.get(c, "") for c in cols] + [f"{p['messages']:,}"] for p in s["top_senders"]],
    )
    cols = ["id", "name", "type", "members"]
    _table(
        "Top conversations",
        ["conversation", "name", "type", "members", "messages"],
        [[c.get(k, "") for k in cols] + [f"{c['messages']:,}"] for c in s["top_conversations"]],
    )
    days = s["by_day"]
    if days:
        peak = max(days.values())
        bars = [[d, f"{n:,}", "█" * max(1, round(30 * n / peak))] for d, n in days.items()]
        _table("By day", ["day", "messages", ""], bars)
    if s["quarantined"]:
        _table(
            "Quarantined",
            ["reason", "records"],
            [[r, f"{n:,}"] for r, n in s["quarantined"].items()],
        )


# `export` and `quarantine` (cli_archive.py) register here, keeping `--help` in order.
from . import cli_archive  # noqa: E402, F401


@keys_app.command("rotate")
def keys_rotate(
    data: DataOpt = None,
    new_key_out: Annotated[
        Path | None,
        typer.Option(help="Where to write the new key when the current one comes from $env:"),
    ] = None,
) -> None:
    """Replace the key-encryption key and re-wrap every data key and secret."""
    with errors():
        msg = rotate_kek(resolve_data_dir(data), new_key_out)
    out.print(msg)


def main() -> None:
    app()


# Commands defined in their own modules register on `app` when imported (kept out of this hub).
from . import (  # noqa: E402, F401
    cli_capture,
    cli_demo,
    cli_detect,
    cli_discovery,
    cli_imports,
    cli_policy,
    cli_records,
    cli_register,
    cli_review,
)
