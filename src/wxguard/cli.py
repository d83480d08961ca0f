"""The ``wxguard`` command line: a thin shell over the library (parse, call, format)."""

from __future__ import annotations

import errno
import json
import os
import sqlite3
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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
from .inputs import IngestError
from .keys import rotate_kek

app = typer.Typer(
    help="wxguard — compliance archive and DLP monitor for WeChat and WeCom.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
keys_app = typer.Typer(help="Manage the archive's keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
# `wxguard demo …`: registered by cli_demo (for --help's order); made here so that the
# modules adding commands to it (cli_imports) need not import cli_demo.
demo_app = typer.Typer(help="The demo company: generate data, or load and show it.")

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


# `ingest` (cli_ingest.py), then `verify` and `proof` (cli_ledger.py) register here,
# keeping `--help` in workflow order.
from . import cli_ingest, cli_ledger  # noqa: E402, F401


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
