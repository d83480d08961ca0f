"""``wxguard export`` and ``wxguard quarantine``: records out of the archive, and records the
archive could not take yet."""

from __future__ import annotations

import os
from collections.abc import Callable
from contextlib import AbstractContextManager, ExitStack, nullcontext
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated, Any

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
    _table,
    app,
    err,
    errors,
    fail,
    out,
)
from .inputs import COMPRESSORS

if TYPE_CHECKING:
    from .capture.pull import Puller


@app.command("export")
def export_cmd(
    out_file: Annotated[Path, typer.Option("--out", "-o", help="Interchange JSONL file to write")],
    data: DataOpt = None,
    attachments: Annotated[
        str,
        typer.Option(
            help="Attachment contents: 'files' (into OUT's name + .files/, referred to by "
            "path), 'inline' (base64 in each line) or 'none'"
        ),
    ] = "files",
) -> None:
    """Export the whole archive as wxguard interchange JSONL (plaintext: handle with care).
    `wxguard ingest` of the export restores messages, directory and attachments."""
    from .interchange import ATTACHMENT_MODES, export_jsonl

    if attachments not in ATTACHMENT_MODES:
        fail(f"--attachments must be one of {', '.join(ATTACHMENT_MODES)}")
    stem, packer = _export_target(out_file)
    files = out_file.with_name(stem + ".files")
    with errors(), Archive.open(resolve_data_dir(data)) as a:
        fd = os.open(out_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as raw, packer(raw) as f, _progress() as bar:
            task = bar.add_task("exporting", total=a.conn.execute(
                "SELECT count(*) FROM messages").fetchone()[0])  # fmt: skip
            done = export_jsonl(a, f, _advance(bar, task), attachments, files, out_file.parent)
    extra = ""
    if done.attachments:
        where = f" in {files}" if attachments == "files" else ""
        extra = f" and {done.attachments:,} attachments ({done.attachment_bytes:,} bytes{where})"
    err.print(f"Exported {done.messages:,} messages{extra} to {out_file}.")
    if done.missing:
        err.print(
            f"[yellow]note:[/] {done.missing:,} attachments are not in the archive (never "
            "fetched, or disposed under retention): their messages say what they were.",
            highlight=False, soft_wrap=True,
        )  # fmt: skip


def _export_target(out: Path) -> tuple[str, Callable[[IO[bytes]], Any]]:
    """The export's name without its extensions (for the attachments folder) and the
    writer its name asks for: ``.gz``, ``.zst``, ``.xz`` and ``.bz2`` are compressed that
    way (``wxguard ingest`` reads them back), anything else is written plain."""
    name, packer = out.name, COMPRESSORS.get(out.suffix.lower())
    if packer is not None:
        name = name[: -len(out.suffix)]
    for ext in (".jsonl", ".json"):
        name = name.removesuffix(ext)
    return name, packer or nullcontext


quarantine_app = typer.Typer(
    help="Quarantined input records: list them (the default), or archive those that can be "
    "read now (`retry`)."
)
app.add_typer(quarantine_app, name="quarantine")


@quarantine_app.callback(invoke_without_command=True)
def quarantine_cmd(
    ctx: typer.Context, data: DataOpt = None, output: FormatOpt = OutputFormat.text
) -> None:
    """List quarantined input records (where and why; content stays encrypted)."""
    if ctx.invoked_subcommand is not None:
        return
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


def _retry_errors(capture: bool) -> AbstractContextManager[None]:
    if not capture:
        return errors()
    from .cli_capture import _errors  # the connector's and the SDK's errors too

    return _errors()


def _capture_puller(stack: ExitStack, a: Archive, config: Path | None) -> Puller:
    """The capture's puller (its keys and an SDK handle) for ``retry --capture``."""
    from .capture.config import load_wecom
    from .capture.pull import Puller
    from .capture.run import open_sdk

    conn = load_wecom(a.data_dir, config)
    sdk = stack.enter_context(open_sdk(conn))
    puller = Puller(a, conn, sdk, workers=1)
    stack.callback(puller.close)
    return puller


@quarantine_app.command("retry")
def quarantine_retry(
    data: DataOpt = None,
    source: Annotated[
        str | None,
        typer.Option(
            help="Source of WeCom records quarantined before wxguard kept the source they were "
            "read under (default: as kept, else wecom)"
        ),
    ] = None,
    stream: Annotated[
        str,
        typer.Option(help="Only inputs whose name starts with this (e.g. file:/srv/pulls/)"),
    ] = "",
    capture: Annotated[
        bool,
        typer.Option(
            "--capture",
            help="Also retry the WeCom capture's records kept encrypted (a wrong private key "
            "for their publickey_ver), with the connector's keys and SDK",
        ),
    ] = False,
    config: Annotated[
        Path | None,
        typer.Option("--config", help="Connector settings for --capture (default DATA/wecom.toml)"),
    ] = None,
    output: FormatOpt = OutputFormat.text,
) -> None:
    """Archive the quarantined records that can be read now (after an upgrade or a fix);
    the others stay, with their reasons. Audited."""
    from .requeue import retry

    d = resolve_data_dir(data)
    if config is not None and not capture:
        fail("--config names the connector for --capture; add --capture")
    with _retry_errors(capture), Archive.open(d, write=True) as a, ExitStack() as stack:
        puller = _capture_puller(stack, a, config) if capture else None
        bar = stack.enter_context(_progress())
        total = a.conn.execute("SELECT count(*) FROM quarantine").fetchone()[0]
        task = bar.add_task("retrying", total=total or None)
        rep = retry(a, source, stream, progress=_advance(bar, task), capture=puller)
    if output == OutputFormat.json:
        _print_json(rep.as_dict())
        return
    out.print(
        f"Retried {rep.tried:,} quarantined records: [bold]{rep.archived:,}[/] archived now, "
        f"{rep.still:,} still fail and stay quarantined."
    )
    for why, n in sorted(rep.reasons.items(), key=lambda x: -x[1]):
        out.print(f"  still {n:,} × {_esc(why)}", highlight=False, soft_wrap=True)
    for why, n in rep.skipped.items():
        out.print(f"  not retried {n:,}: {_esc(why)}", highlight=False, soft_wrap=True)
