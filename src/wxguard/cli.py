"""The ``wxguard`` command line: a thin shell over the library (parse, call, format)."""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
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

from . import __version__
from .archive import Archive, ArchiveError, resolve_data_dir
from .crypto import KeyProblem
from .imports import FORMATS as WECHAT_FORMATS
from .ingest import FORMATS, IngestError, ingest_file
from .keys import rotate_kek
from .seal import Counts, Sealer

app = typer.Typer(
    help="wxguard — compliance archive and DLP monitor for WeChat and WeCom.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
keys_app = typer.Typer(help="Manage the archive's keys.", no_args_is_help=True)
demo_app = typer.Typer(help="The demo company: generate data, or load and show it.")
app.add_typer(keys_app, name="keys")
app.add_typer(demo_app, name="demo")

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
    except KeyboardInterrupt:
        fail("interrupted; everything committed so far is kept and a re-run resumes", 130)


def _esc(s: str) -> str:
    return s.replace("[", "\\[")


def _print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, indent=2) + "\n")


@app.callback(invoke_without_command=True)
def _root(
    version: Annotated[bool, typer.Option("--version", help="Print the version")] = False,
) -> None:
    if version:
        out.print(f"wxguard {__version__}")
        raise typer.Exit()


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
) -> tuple[Counts, list[dict[str, Any]]]:
    """Every input exactly once: WeCom/interchange files and WeChat client data alike."""
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
    jobs = plan(paths, fmt)
    if not jobs:
        raise IngestError("no input files found")
    with _progress() as bar:
        for job in jobs:
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
                frep = ingest_file(a, sealer, f, job.format, source, _advance(bar, task))
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
        total, files = run_ingest(a, paths, fmt, source, owner, employees)
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
    for f in r["files"]:
        if "error" in f:
            err.print(f"[red]✗[/] {_esc(f['error'])}", highlight=False)
        elif many:
            out.print(
                f"  {_esc(f['format'])} {_esc(f['path'])}: {f['imported']:,} imported, "
                f"{f['duplicates']:,} duplicates, {f['quarantined']:,} quarantined",
                highlight=False,
            )
    rate = r["imported"] / r["seconds"] if r["seconds"] else 0
    out.print(
        f"Imported [bold]{r['imported']:,}[/] messages, skipped {r['duplicates']:,} duplicates, "
        f"quarantined {r['quarantined']:,}; {r['directory_records']:,} directory records, "
        f"{r['blobs']:,} blobs ({r['seconds']} s, {rate:,.0f} msg/s)."
    )
    for reason, n in sorted(r["quarantine_reasons"].items(), key=lambda x: -x[1]):
        out.print(f"  quarantined {n:,} × {_esc(reason)}", highlight=False)


@app.command()
def verify(
    data: DataOpt = None,
    seal: Annotated[
        bool, typer.Option("--seal", help="Sign a checkpoint over unsealed records first")
    ] = False,
    output: FormatOpt = OutputFormat.text,
) -> None:
    """Recompute every hash, decrypt every record and check every checkpoint signature."""
    from .verify import verify as run_verify

    d = resolve_data_dir(data)
    with errors(), Archive.open(d, write=seal) as a:
        if seal:
            a.seal_checkpoint()
        with _progress() as bar:
            task = bar.add_task("verifying", total=a.ledger_size or None)
            rep = run_verify(a, lambda n: bar.update(task, completed=n))
    if output == OutputFormat.json:
        _print_json(rep.as_dict())
    else:
        status = "[bold green]OK[/]" if rep.ok else "[bold red]FAILED[/]"
        out.print(
            f"{status}: {rep.records:,} ledger records "
            f"({rep.messages:,} messages, {rep.blobs:,} blobs, "
            f"{rep.audit_events:,} audit events), "
            f"{rep.checkpoints} checkpoints; signing key {rep.public_key_fingerprint}"
        )
        if rep.tombstones:
            rules = ", ".join(f"{n:,} under {r}" for r, n in sorted(rep.disposed_by_rule.items()))
            out.print(
                f"Disposed under retention: {rep.disposed.get('message', 0):,} messages, "
                f"{rep.disposed.get('blob', 0):,} blobs ({rep.tombstones:,} tombstones"
                + (f"; {rules}" if rules else "")
                + ")"
            )
        for w in rep.warnings:
            out.print(f"[yellow]warning:[/] {_esc(w)}")
        for p in rep.problems[:20]:
            out.print(f"[red]✗[/] {_esc(str(p))}", highlight=False)
    if not rep.ok:
        raise typer.Exit(1)


@app.command()
def proof(
    message_id: Annotated[
        str | None, typer.Argument(help="Message id (source:msgid or msgid)")
    ] = None,
    data: DataOpt = None,
    out_file: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write the proof here")
    ] = None,
    check: Annotated[
        Path | None, typer.Option("--check", help="Verify a proof file offline")
    ] = None,
    public_key: Annotated[
        str | None, typer.Option(help="Expected signing key (hex) for --check")
    ] = None,
) -> None:
    """Write an inclusion proof for a message, or check one offline (--check FILE)."""
    from . import proofcheck

    if check is not None:
        args = [str(check)] + (["--public-key", public_key] if public_key else [])
        raise typer.Exit(proofcheck.main(args))
    if not message_id:
        fail("give a MESSAGE_ID, or --check FILE")
    from .proof import build_proof

    with errors(), Archive.open(resolve_data_dir(data)) as a:
        doc = build_proof(a, message_id or "")
    text = json.dumps(doc, ensure_ascii=False, indent=2) + "\n"
    if out_file is None:
        sys.stdout.write(text)
    else:
        fd = os.open(out_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        err.print(
            f"Proof for {doc['message_id']} written to {out_file} (contains the message's content)."
        )


@app.command()
def stats(data: DataOpt = None, top: int = 10, output: FormatOpt = OutputFormat.text) -> None:
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
    out.print(
        f"[bold]{s['messages']:,}[/] messages from {s['first_message_at']} "
        f"to {s['last_message_at']}; {s['ledger_records']:,} ledger records; "
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


@app.command("export")
def export_cmd(
    out_file: Annotated[Path, typer.Option("--out", "-o", help="Interchange JSONL file to write")],
    data: DataOpt = None,
) -> None:
    """Export the whole archive as wxguard interchange JSONL (plaintext: handle with care)."""
    from .interchange import export_jsonl

    with errors(), Archive.open(resolve_data_dir(data)) as a:
        fd = os.open(out_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            n = export_jsonl(a, f)
    err.print(f"Exported {n:,} messages to {out_file}.")


@app.command("quarantine")
def quarantine_cmd(data: DataOpt = None, output: FormatOpt = OutputFormat.text) -> None:
    """List quarantined input records (where and why; content stays encrypted)."""
    with errors(), Archive.open(resolve_data_dir(data)) as a:
        rows = a.conn.execute(
            "SELECT stream, locator, reason, at FROM quarantine ORDER BY id"
        ).fetchall()
    items = [{"stream": s, "locator": loc, "reason": r, "at": at} for s, loc, r, at in rows]
    if output == OutputFormat.json:
        _print_json(items)
        return
    _table(
        f"{len(items)} quarantined records",
        ["input", "where", "reason"],
        [[i["stream"].removeprefix("file:"), i["locator"], i["reason"]] for i in items],
    )


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


@demo_app.callback(invoke_without_command=True)
def demo(
    ctx: typer.Context,
    data: DataOpt = None,
    messages: Annotated[int, typer.Option(help="How many messages")] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed")] = 7,
    keep_input: Annotated[
        Path | None,
        typer.Option(help="Keep the generated input (messages, directory, truth) in this folder"),
    ] = None,
    output: FormatOpt = OutputFormat.text,
    serve: Annotated[
        bool, typer.Option(help="Then serve the review app with a demo login (Ctrl-C stops)")
    ] = True,
    port: Annotated[int, typer.Option(help="Port for the review app")] = 8765,
) -> None:
    """Generate the demo company, ingest, scan and evaluate it, then serve the review app."""
    if ctx.invoked_subcommand is not None:
        return
    from .demo.generator import generate

    d = resolve_data_dir(data)
    with errors():
        if not (d / "archive.db").exists():
            Archive.create(d).close()
            err.print(f"Created archive in {d}")
        # Plaintext input stays out of the data directory unless the user asks to keep it.
        with tempfile.TemporaryDirectory(prefix="wxguard-demo-") as tmp:
            src = (keep_input or Path(tmp)) / "demo.jsonl"
            summary = generate(src, messages, seed)
            where = f" in {src.parent}" if keep_input else ""
            err.print(
                f"Generated {messages:,} demo messages "
                f"({summary['planted']} planted risky items){where}"
            )
            with Archive.open(d, write=True) as a:
                total, _files = run_ingest(
                    a, [src.with_name("demo.directory.jsonl"), src], "auto", "wecom"
                )
        scanned = _demo_scan(d, summary["approvals"])
        from .stats import collect

        with Archive.open(d) as a:
            s = collect(a)
    if output == OutputFormat.json:
        _print_json({"generated": summary, "ingest": _counts(total), "stats": s, "scan": scanned})
    else:
        _print_demo(d, total, s, scanned)
    if serve:
        from .cli_review import serve_archive
        from .demo.setup import demo_login

        with errors():
            login = demo_login(d)
        banner = (
            f"Sign in as [bold]{login.user}[/] with password [bold]{login.password}[/] and the "
            f"code from `wxguard demo code --data {d}` (or add the authenticator secret "
            f"{login.totp_secret} to any TOTP app)."
        )
        with errors():
            serve_archive(d, "127.0.0.1", port, None, None, False, banner)


def _print_demo(d: Path, total: Counts, s: dict[str, Any], scanned: dict[str, Any]) -> None:
    out.print(
        f"Ingested {total.imported:,} messages "
        f"({total.duplicates:,} re-delivered duplicates skipped)."
    )
    print_stats(s)
    top = ", ".join(f"{k} {v:,}" for k, v in list(scanned["by_entity"].items())[:8])
    out.print(f"Scanned: {scanned['findings']:,} findings ({top})")
    out.print(
        f"Policies: {scanned['alerts']:,} alerts over {scanned['alert_messages']:,} messages;"
        f" {scanned['sampled']:,} messages sampled for review"
    )
    out.print(
        f"Next: [bold]wxguard verify --data {d}[/], [bold]wxguard stats --data {d}[/], "
        f"[bold]wxguard alerts list --data {d}[/]"
    )


def _demo_scan(d: Path, approvals: dict[str, list[str]]) -> dict[str, Any]:
    from .demo.setup import scan_and_evaluate

    return scan_and_evaluate(d, approvals)


@demo_app.command("code")
def demo_code(data: DataOpt = None) -> None:
    """Print the demo user's current authentication code (demo archives only)."""
    from .demo.setup import ACTOR, DEMO_USER
    from .review.accounts import AccountError, current_totp

    with errors(), Archive.open(resolve_data_dir(data)) as a:
        made_by_demo = a.conn.execute(
            "SELECT 1 FROM audit WHERE action = 'user-add' AND subject = ? AND actor = ?",
            (f"user:{DEMO_USER}", ACTOR),
        ).fetchone()
        if not made_by_demo:
            fail("this archive has no demo user; run `wxguard demo` first")
        try:
            out.print(current_totp(a, DEMO_USER))
        except AccountError:
            fail("this archive has no demo user; run `wxguard demo` first")


@demo_app.command("generate")
def demo_generate(
    out_file: Annotated[Path, typer.Option("--out", "-o", help="Messages JSONL to write")],
    messages: Annotated[int, typer.Option(help="How many messages")] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed")] = 7,
) -> None:
    """Write demo WeCom JSONL plus .directory.jsonl and .truth.jsonl beside it."""
    from .demo.generator import generate

    t0 = time.perf_counter()
    s = generate(out_file, messages, seed)
    err.print(
        f"Wrote {messages:,} messages ({s['planted']} planted items) in "
        f"{time.perf_counter() - t0:.1f} s: {', '.join(s['files'].values())}"
    )


def main() -> None:
    app()


# Commands defined in their own modules register on `app` when imported (kept out of this hub).
from . import (  # noqa: E402, F401
    cli_capture,
    cli_detect,
    cli_discovery,
    cli_imports,
    cli_policy,
    cli_records,
    cli_register,
    cli_review,
)
