"""CLI for eDiscovery and data-subject exports: ``wxguard discovery request|approve|run|list``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from . import (
    audit,
    cli_records,  # its _errors, read when a command runs (import order)
)
from .archive import Archive, resolve_data_dir
from .cli import DataOpt, FormatOpt, OutputFormat, _esc, _print_json, _progress, app, fail, out

discovery_app = typer.Typer(
    help="eDiscovery and data-subject exports (RSMF, EML, PDF, CSV, JSONL) with proofs.",
    no_args_is_help=True,
)
app.add_typer(discovery_app, name="discovery")


# --------------------------------------------------------------------------- discovery


@discovery_app.command("request")
def discovery_request(
    reason: Annotated[str, typer.Option(help="Matter, request or case number")],
    data: DataOpt = None,
    query: Annotated[str, typer.Option(help="Export what a search query finds")] = "",
    hold: Annotated[int | None, typer.Option(help="Export what a legal hold keeps")] = None,
    person: Annotated[str, typer.Option(help="Data-subject export: a person's id or name")] = "",
    custodian: Annotated[str, typer.Option(help="Point of view for RSMF (participant id)")] = "",
    formats: Annotated[
        str, typer.Option("--formats", help="Comma list")
    ] = "rsmf,eml,pdf,csv,jsonl",
    output: FormatOpt = OutputFormat.text,
) -> None:
    """Request an export (approved at once unless the two-person rule is on)."""
    from .exports.package import ExportScope, request
    from .review.settings import load_settings

    d = resolve_data_dir(data)
    scope = ExportScope(query=query, hold=hold, person=person, custodian=custodian)
    with cli_records._errors(), Archive.open(d) as a:
        e = request(
            a,
            scope,
            [f.strip() for f in formats.split(",") if f.strip()],
            reason,
            audit.current_actor(),
            load_settings(d).two_person,
        )
    if output == OutputFormat.json:
        _print_json(e.as_dict())
        return
    nxt = (
        f"another person approves it: `wxguard discovery approve {e.id}`"
        if e.state == "requested"
        else f"`wxguard discovery run {e.id} --out DIR`"
    )
    out.print(f"Export {e.id} {e.state}; next: {nxt}")


@discovery_app.command("approve")
def discovery_approve(export_id: Annotated[int, typer.Argument()], data: DataOpt = None) -> None:
    """Approve another user's export request (two-person rule)."""
    from .exports.package import approve

    with cli_records._errors(), Archive.open(resolve_data_dir(data)) as a:
        e = approve(a, export_id, audit.current_actor())
    out.print(f"Export {e.id} approved by {_esc(e.approved_by or '')}.")


@discovery_app.command("run")
def discovery_run(
    export_id: Annotated[int, typer.Argument()],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="New folder for the package")],
    data: DataOpt = None,
    font: Annotated[Path | None, typer.Option(help="TrueType CJK font to embed in the PDF")] = None,
    output: FormatOpt = OutputFormat.text,
) -> None:
    """Write an approved export's package (plaintext: handle with care)."""
    from .exports.package import run

    if font is not None and not font.is_file():
        fail(f"--font {font}: no such file")
    with cli_records._errors(), Archive.open(resolve_data_dir(data)) as a, _progress() as bar:
        task = bar.add_task("export", total=None)
        e = run(
            a,
            export_id,
            audit.current_actor(),
            out_dir,
            font=font,
            progress=lambda what, n, t: bar.update(
                task, description=what, completed=n, total=t or None
            ),
        )
    if output == OutputFormat.json:
        _print_json(e.as_dict())
        return
    out.print(
        f"Export {e.id}: {e.messages:,} messages written to {e.path}; manifest SHA-256 "
        f"{e.manifest_sha256}. Check it anywhere: wxguard proof --check "
        f"{Path(e.path) / 'manifest.json'}"
    )


@discovery_app.command("list")
def discovery_list(data: DataOpt = None, output: FormatOpt = OutputFormat.text) -> None:
    """List export requests."""
    from .exports.package import exports

    with cli_records._errors(), Archive.open(resolve_data_dir(data)) as a:
        rows = [e.as_dict() for e in exports(a)]
    if output == OutputFormat.json:
        _print_json(rows)
        return
    for r in rows:
        out.print(
            f"{r['id']}  {r['state']}  by {_esc(r['requested_by'])}"
            + (f", approved by {_esc(r['approved_by'])}" if r["approved_by"] else "")
            + f"  {_esc(r['reason'])}  {r['messages']:,} messages {r['path']}"
        )
