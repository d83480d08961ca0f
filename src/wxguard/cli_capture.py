"""CLI for the WeCom session-archive connector: ``wxguard ingest wecom [--follow]`` (called
from ``cli.ingest``) and ``wxguard capture status|check|directory|retry-media``."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from .archive import Archive, ArchiveError, resolve_data_dir
from .capture import health
from .capture.api import ApiError
from .capture.config import Connector, load_wecom
from .capture.directory import DirectoryReport, DirectorySync, clients
from .capture.media import retry_failed
from .capture.notify import CallbackCrypto, CallbackError, NotifyServer
from .capture.pull import CaptureError, PullReport
from .capture.run import Capture, CycleReport, open_sdk
from .capture.sdk import LibraryError, SdkError
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
from .crypto import KeyProblem
from .delivery.config import ConfigError

capture_app = typer.Typer(help="WeCom session-archive capture health and upkeep.",
                          no_args_is_help=True)  # fmt: skip
app.add_typer(capture_app, name="capture")

ConfigOpt = Annotated[
    Path | None, typer.Option("--config", help="Connector settings (default DATA/wecom.toml)")
]


@contextmanager
def _errors() -> Iterator[None]:
    with errors():  # and the disk's failures
        try:
            yield
        except (ArchiveError, KeyProblem, ConfigError, LibraryError, CallbackError) as e:
            fail(_esc(str(e)))
        except (SdkError, CaptureError, ApiError) as e:
            fail(_esc(f"{e}\nThe cursor was not moved past anything not archived; fix the cause "
                      "and run again."))  # fmt: skip
        except KeyboardInterrupt:
            fail("interrupted; everything committed so far is kept and a re-run resumes", 130)


def _ago(ms: int | None, now: int) -> str:
    if not ms:
        return "never"
    s = (now - ms) // 1000
    when = datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")
    if s < 120:
        return f"{when} ({s} s ago)"
    if s < 7200:
        return f"{when} ({s // 60} min ago)"
    return f"{when} ({s // 3600} h ago)"


def _summary(rep: CycleReport, seconds: float) -> dict[str, Any]:
    p, c = rep.pull, rep.pull.counts
    d = rep.directory
    return {
        "pages": p.pages, "records": p.records, "imported": c.imported,
        "duplicates": c.duplicates, "quarantined": c.quarantined,
        "quarantine_reasons": c.reasons, "cursor": p.last_seq, "caught_up": p.caught_up,
        "retries": p.retries, "media_queued": p.media_queued,
        "media": {"done": rep.media.done, "retrying": rep.media.retrying,
                  "failed": rep.media.failed, "skipped": rep.media.skipped,
                  "bytes": rep.media.bytes},
        "directory": None if d is None else _directory_dict(d),
        "directory_error": rep.directory_error,
        "seconds": round(seconds, 2),
    }  # fmt: skip


def _directory_dict(d: DirectoryReport) -> dict[str, Any]:
    return {"in_scope": d.in_scope, "people_updated": d.people, "groups": d.groups,
            "customer_groups": d.customer_groups, "joined": d.joined, "left": d.left,
            "consent_checked": d.consent_checked, "refusals": d.refusals,
            "problems": d.problems}  # fmt: skip


def _print_summary(s: dict[str, Any]) -> None:
    rate = s["records"] / s["seconds"] if s["seconds"] else 0
    out.print(
        f"Pulled [bold]{s['records']:,}[/] records in {s['pages']} page(s): imported "
        f"{s['imported']:,}, skipped {s['duplicates']:,} duplicates, quarantined "
        f"{s['quarantined']:,}; cursor at seq {s['cursor']}"
        f"{' (caught up)' if s['caught_up'] else ''} ({s['seconds']} s, {rate:,.0f} msg/s)."
    )
    for reason, n in sorted(s["quarantine_reasons"].items(), key=lambda x: -x[1]):
        out.print(f"  quarantined {n:,} × {_esc(reason)}", highlight=False)
    m = s["media"]
    if s["media_queued"] or any(m[k] for k in ("done", "retrying", "failed", "skipped")):
        out.print(f"Media: {m['done']} downloaded ({m['bytes']:,} bytes), {m['retrying']} to "
                  f"retry, {m['failed']} failed, {m['skipped']} skipped; "
                  f"{s['media_queued']} newly queued.")  # fmt: skip
    if s["directory"]:
        _print_directory(s["directory"])
    if s["directory_error"]:
        err.print(f"[yellow]directory not refreshed:[/] {_esc(s['directory_error'])}")


def _print_directory(d: dict[str, Any]) -> None:
    out.print(
        f"Directory: {d['in_scope']} members in scope, {d['people_updated']} people updated, "
        f"{d['groups']} internal and {d['customer_groups']} customer groups "
        f"({d['joined']} joined, {d['left']} left), consent checked for "
        f"{d['consent_checked']} ({d['refusals']} refusals)."
    )
    for p in d["problems"][:10]:
        err.print(f"  [yellow]![/] {_esc(p)}", highlight=False)


def ingest_wecom(
    data: Path | None,
    config: Path | None,
    follow: bool,
    media: bool,
    max_pages: int | None,
    output: OutputFormat,
) -> None:
    """`wxguard ingest wecom`: pull from the stored cursor until caught up (or follow)."""
    d = resolve_data_dir(data)
    with _errors():
        conn = load_wecom(d, config)
        with Archive.open(d, write=True) as a, open_sdk(conn) as sdk:
            cap = Capture(a, conn, sdk)
            try:
                if follow:
                    _follow(cap, conn)
                    return
                t0 = time.perf_counter()
                with _progress() as bar:
                    task = bar.add_task("pulling", total=None)

                    def tick(r: PullReport) -> None:
                        bar.update(task, description=f"pulled {r.records:,} records, seq "
                                   f"{r.last_seq}", advance=1)  # fmt: skip

                    rep = cap.cycle(max_pages=max_pages, media=media, progress=tick)
                s = _summary(rep, time.perf_counter() - t0)
            finally:
                cap.close()
    if output == OutputFormat.json:
        _print_json(s)
    else:
        _print_summary(s)


def _follow(cap: Capture, conn: Connector) -> None:
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        err.print("stopping after the current page…")
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    server: NotifyServer | None = None
    n = conn.cfg.notify
    if n.listen:
        from .delivery.config import resolve_secret

        host, _, port = n.listen.rpartition(":")
        crypto = CallbackCrypto(
            resolve_secret(n.token, conn.data_dir, "notify.token"),
            resolve_secret(n.encoding_aes_key, conn.data_dir, "notify.encoding_aes_key"),
            conn.cfg.corp_id,
        )
        server = NotifyServer(crypto, host or "0.0.0.0", int(port), n.path)
        server.start()
        err.print(f"listening for msgaudit_notify on {host or '0.0.0.0'}:{server.port}{n.path}")
    err.print(f"following {conn.stream}; Ctrl-C or SIGTERM stops after the current page")

    def on_cycle(r: CycleReport | CaptureError) -> None:
        stamp = datetime.now(UTC).strftime("%H:%M:%S")
        if isinstance(r, CaptureError):
            err.print(f"{stamp} [red]✗[/] {_esc(str(r))}", highlight=False)
            return
        s = _summary(r, 0)
        if s["records"] or s["media"]["done"] or s["directory"]:
            out.print(f"{stamp} +{s['imported']:,} messages ({s['duplicates']} dup, "
                      f"{s['quarantined']} quarantined), seq {s['cursor']}, media "
                      f"{s['media']['done']}", highlight=False)  # fmt: skip

    try:
        cap.follow(stop, server.event if server else None, on_cycle)
    finally:
        if server is not None:
            server.stop()


@capture_app.command("status")
def capture_status(
    data: DataOpt = None,
    config: ConfigOpt = None,
    alert: Annotated[
        bool, typer.Option("--alert", help="Queue and send a capture-stalled notice when due")
    ] = False,
    check: Annotated[
        bool, typer.Option("--check", help="Exit 1 on warning, 2 on critical (for monitoring)")
    ] = False,
    output: FormatOpt = OutputFormat.text,
) -> None:
    """Capture health: cursor lag against Tencent's ~5-day window, errors, gaps, media."""
    d = resolve_data_dir(data)
    now = int(time.time() * 1000)
    with _errors():
        conn = load_wecom(d, config)
        with Archive.open(d, write=alert) as a:
            if alert:
                from .delivery.config import load_alerting
                from .delivery.outbox import deliver

                if health.alert_if_stalled(a, conn, now):
                    deliver(a, load_alerting(d), d)
                    err.print("queued a capture-stalled notice")
            st = health.status(a, conn, now)
    if output == OutputFormat.json:
        _print_json(st.as_dict())
    else:
        color = {"ok": "green", "warning": "yellow", "critical": "red", "never": "yellow"}
        out.print(f"[bold {color[st.level]}]{st.level.upper()}[/] {st.stream}")
        rows = [
            ("cursor (seq)", f"{st.cursor}"),
            ("last successful pull", _ago(st.last_ok_at, now)),
            ("last caught up", _ago(st.caught_up_at, now)),
            ("newest message", _ago(st.newest_msg_at, now)),
            ("lag", "-" if st.lag_ms is None else f"{st.lag_ms // 60000} min"),
            ("records pulled", f"{st.records:,} ({st.quarantined:,} quarantined)"),
            ("seq gaps", f"{st.gaps} ({st.missing_seqs:,} seq numbers never seen)"),
            ("members", f"{st.members_in_scope} in scope, {st.members_seen} seen, "
                        f"{st.silent_members} in scope but silent"),
            ("consent refusals", f"{st.consent_refusals} by API, "
                                 f"{st.consent_refusals_in_stream} in stream"),
            ("media backlog", f"{st.media_pending} pending ({st.media_bytes_pending:,} bytes), "
                              f"{st.media_failed} failed"),
            ("directory refreshed", _ago(st.directory_at, now)),
        ]  # fmt: skip
        for k, v in rows:
            out.print(f"  {k:22s} {v}", highlight=False)
        for r in st.reasons:
            out.print(f"  [yellow]![/] {_esc(r)}", highlight=False)
    if check and st.level != "ok":
        raise typer.Exit(1 if st.level == "warning" else 2)


@capture_app.command("check")
def capture_check(data: DataOpt = None, config: ConfigOpt = None) -> None:
    """Validate wecom.toml, load the SDK library, initialise it and fetch an API token."""
    d = resolve_data_dir(data)
    with _errors():
        conn = load_wecom(d, config)
        out.print(f"[green]✓[/] {conn.path}: valid; private keys for publickey_ver "
                  f"{', '.join(map(str, sorted(conn.keys)))}")  # fmt: skip
        with open_sdk(conn):
            out.print(f"[green]✓[/] {conn.library}: loaded, Init({conn.cfg.corp_id}) OK")
        api, contacts = clients(conn)
        api.token()
        out.print(f"[green]✓[/] {conn.cfg.network.api_base}: token for the archive secret")
        if contacts is not api:
            contacts.token()
            out.print("[green]✓[/] token for the contacts secret")


@capture_app.command("directory")
def capture_directory(
    data: DataOpt = None, config: ConfigOpt = None, output: FormatOpt = OutputFormat.text
) -> None:
    """Refresh members in scope, names, group rosters (with history) and consent now."""
    d = resolve_data_dir(data)
    with _errors():
        conn = load_wecom(d, config)
        with Archive.open(d, write=True) as a:
            rep = DirectorySync(a, conn).run()
    if output == OutputFormat.json:
        _print_json(_directory_dict(rep))
    else:
        _print_directory(_directory_dict(rep))


@capture_app.command("retry-media")
def capture_retry_media(data: DataOpt = None) -> None:
    """Queue failed media downloads again (after fixing what made them fail)."""
    d = resolve_data_dir(data)
    with _errors(), Archive.open(d, write=True) as a:
        n = retry_failed(a)
    out.print(f"{n} media download(s) queued again; the next `wxguard ingest wecom` fetches them")
