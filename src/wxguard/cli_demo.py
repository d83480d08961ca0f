"""``wxguard demo``: generate the demo company, load, scan and show it, serve the review app."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from .archive import Archive, resolve_data_dir
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
    print_stats,
)
from .seal import Counts

app.add_typer(demo_app, name="demo")


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
            # Not at import: cli_ingest imports cli, whose last lines import this module.
            from .cli_ingest import _counts, run_ingest

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
