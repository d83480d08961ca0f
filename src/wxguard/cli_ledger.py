"""``wxguard verify`` and ``wxguard proof``: the ledger's checks, thin shells over
:mod:`wxguard.verify`, :mod:`wxguard.proof` and :mod:`wxguard.proofcheck`."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from .archive import Archive, resolve_data_dir
from .cli import (
    DataOpt,
    FormatOpt,
    OutputFormat,
    _esc,
    _print_json,
    _progress,
    app,
    err,
    errors,
    fail,
    out,
)


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
        with errors():
            fd = os.open(out_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
        err.print(
            f"Proof for {doc['message_id']} written to {out_file} (contains the message's content)."
        )
