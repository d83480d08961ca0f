"""``wxguard policies|alerts|inventory|allowlist``: thin shells over :mod:`wxguard.policy`."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from . import (
    audit,
    cli_detect,  # its CST, read when a command runs (import order)
)
from .archive import Archive, resolve_data_dir
from .cli import (
    DataOpt,
    FormatOpt,
    OutputFormat,
    _esc,
    _print_json,
    _table,
    app,
    err,
    errors,
    fail,
    out,
)
from .delivery.config import ConfigError, load_alerting
from .delivery.outbox import deliver, status
from .detect.api import DetectorError
from .policy.facts import LISTS
from .policy.pack import PolicySet, detector_ids, load_policies
from .policy.spec import PolicyError, load_policy_file
from .policy.store import (
    INVENTORY_KINDS,
    PolicyStoreError,
    alert_detail,
    allowlist,
    allowlist_add,
    allowlist_remove,
    inventory,
    list_alerts,
    load_directory,
    set_status,
)

policies_app = typer.Typer(
    help="Risky-behaviour policies: validate, list, test.", no_args_is_help=True
)
alerts_app = typer.Typer(
    help="Alerts raised by policies, and their delivery.", no_args_is_help=True
)
inventory_app = typer.Typer(help="Third-party mini-programs, apps, bots and link domains seen.",
                            no_args_is_help=True)  # fmt: skip
allowlist_app = typer.Typer(help="Approved external groups, marketing accounts, privileged "
                            "conversations.", no_args_is_help=True)  # fmt: skip
app.add_typer(policies_app, name="policies")
app.add_typer(alerts_app, name="alerts")
app.add_typer(inventory_app, name="inventory")
app.add_typer(allowlist_app, name="allowlist")
NoteOpt = Annotated[str, typer.Option("--note", help="Why (kept in the audit trail)")]


@contextmanager
def _errors() -> Iterator[None]:
    with errors():
        try:
            yield
        except (PolicyError, PolicyStoreError, ConfigError, DetectorError, ValueError) as e:
            fail(_esc(str(e)))


def _when(ms: int | None) -> str:
    if not ms:
        return "-"
    return dt.datetime.fromtimestamp(ms / 1000, cli_detect.CST).strftime("%Y-%m-%d %H:%M")


def _data_or_none(data: Path | None) -> Path | None:
    d = resolve_data_dir(data)
    return d if (d / "archive.db").exists() else None


# --------------------------------------------------------------------------- policies


@policies_app.command("validate")
def policies_validate(
    files: Annotated[list[Path] | None, typer.Argument(help="Policy files (default: all)")] = None,
    data: DataOpt = None,
) -> None:
    """Check policy files; every problem is printed with its file, line and key."""
    known = detector_ids()
    if files:
        bad = 0
        for f in files:
            try:
                p = load_policy_file(f, known)
                out.print(f"[green]ok[/] {_esc(str(f))}: {p.id} v{p.version}")
            except PolicyError as e:
                err.print(f"[red]✗[/] {_esc(str(e))}", highlight=False, soft_wrap=True)
                bad += 1
        raise typer.Exit(1 if bad else 0)
    pset = load_policies(_data_or_none(data), known_detectors=known)
    for msg in pset.problems:
        err.print(f"[red]✗[/] {_esc(msg)}", highlight=False, soft_wrap=True)
    out.print(f"{len(pset.policies)} policies valid, {len(pset.problems)} with problems")
    raise typer.Exit(1 if pset.problems else 0)


@policies_app.command("list")
def policies_list(data: DataOpt = None, output: FormatOpt = OutputFormat.text) -> None:
    """The policies in force: the built-in pack plus DATA/policies/*.yaml."""
    pset = load_policies(_data_or_none(data))
    rows = [{"id": p.id, "version": p.version, "name": p.name, "behaviour": p.behaviour,
             "severity": p.severity, "enabled": p.enabled, "source": p.source,
             "digest": p.digest} for p in pset.policies]  # fmt: skip
    if output == OutputFormat.json:
        _print_json({"policies": rows, "problems": pset.problems})
        return
    _table(f"{len(rows)} policies", ["id", "v", "behaviour", "severity", "on", "source"],
           [[r["id"], r["version"], r["behaviour"], r["severity"], "yes" if r["enabled"] else "no",
             r["source"]] for r in rows])  # fmt: skip
    for msg in pset.problems:
        err.print(f"[yellow]not loaded:[/] {_esc(msg)}", highlight=False, soft_wrap=True)


@policies_app.command("test")
def policies_test(
    policy: Annotated[str, typer.Argument(help="A policy file, or the id of a loaded policy")],
    text: Annotated[str, typer.Option(help="The message text to try")],
    data: DataOpt = None,
    sender: Annotated[str, typer.Option("--from", help="internal | external | bot")] = "internal",
    to: Annotated[str, typer.Option(help="internal | external")] = "external",
    group: Annotated[bool, typer.Option(help="A group chat rather than a direct one")] = False,
    approved_group: Annotated[bool, typer.Option(help="The group is approved")] = False,
    sender_name: Annotated[str, typer.Option(help="Sender's display name")] = "",
    kind: Annotated[str, typer.Option(help="Message kind")] = "text",
    amount: Annotated[float, typer.Option(help="Amount in yuan (red packets)")] = 0.0,
    output: FormatOpt = OutputFormat.text,
) -> None:
    """Would this policy fire on this message, in this context? Shows the findings."""
    from .cli_detect import _config, _registry
    from .detect.engine import Engine
    from .policy.service import TrialContext, try_text

    if sender not in ("internal", "external", "bot") or to not in ("internal", "external"):
        fail("--from is internal, external or bot; --to is internal or external")
    with _errors():
        path = Path(policy)
        d = _data_or_none(data)
        if path.exists():
            pset = PolicySet([load_policy_file(path, detector_ids())])
        else:
            loaded = load_policies(d)
            found = loaded.get(policy)
            if found is None:
                fail(f"{policy!r} is neither a file nor a loaded policy id")
                return
            pset = PolicySet([found])
        cfg, fingerprint = _config(data, None)
        engine = Engine(_registry(cfg, None, False).detectors, fingerprint)
        directory = None
        if d is not None:
            with Archive.open(d) as a:
                directory = load_directory(a)
        ctx = TrialContext(sender, to, group, approved_group, sender_name, kind, amount)
        results = try_text(pset, engine, text, ctx, directory)
    if output == OutputFormat.json:
        _print_json([r.__dict__ for r in results])
        return
    for r in results:
        verdict = "[bold red]FIRES[/]" if r.fired else "[green]does not fire[/]"
        out.print(f"{r.policy}: {verdict}")
        for f in r.findings:
            out.print(f"  evidence: {f['entity']} ({f['detector']}, {f['score']}) "
                      f"{_esc(repr(f['text']))} at {f['span']}")  # fmt: skip
    shown = results[0].all_findings if results else []
    if shown and not any(r.findings for r in results):
        out.print("findings in the text: " + ", ".join(
            f"{f['entity']} {f['text']!r}" for f in shown))  # fmt: skip
    raise typer.Exit(0 if any(r.fired for r in results) else 3)


# --------------------------------------------------------------------------- alerts


@alerts_app.command("list")
def alerts_list(
    data: DataOpt = None,
    state: Annotated[str | None, typer.Option(help="new | open | closed")] = None,
    policy: Annotated[str | None, typer.Option(help="Only this policy id")] = None,
    severity: Annotated[str | None, typer.Option(help="At least: low|medium|high|critical")] = None,
    limit: Annotated[int, typer.Option(help="At most this many")] = 100,
    output: FormatOpt = OutputFormat.text,
) -> None:
    """Alerts, most recent first."""
    if severity and severity not in ("low", "medium", "high", "critical"):
        fail("--severity is low, medium, high or critical")
    with _errors(), Archive.open(resolve_data_dir(data)) as a:
        rows = list_alerts(a, state=state, policy=policy, min_severity=severity, limit=limit)
    if output == OutputFormat.json:
        _print_json(rows)
        return
    if not rows:
        out.print("No alerts.")
        return
    _table(f"{len(rows)} alerts", ["id", "severity", "policy", "state", "msgs", "last", "note"],
           [[r["id"], r["severity"], r["policy"], r["state"], r["messages"], _when(r["last_at"]),
             "restricted" if r["restricted"] else ""] for r in rows])  # fmt: skip


@alerts_app.command("show")
def alerts_show(alert_id: int, data: DataOpt = None, output: FormatOpt = OutputFormat.text) -> None:
    """One alert: policy and version, people, evidence (spans and explanations; no text)."""
    with _errors(), Archive.open(resolve_data_dir(data)) as a:
        detail = alert_detail(a, alert_id, load_directory(a))
    if output == OutputFormat.json:
        _print_json(detail)
        return
    d = detail
    out.print(f"[bold]Alert {d['id']}[/] [{d['severity']}] {d['policy']} v{d['policy_version']} "
              f"({d['behaviour']}), state {d['state']}")  # fmt: skip
    out.print(f"Conversation: {_esc(str(d['conversation']))}; {d['messages']} message(s) "
              f"from {_when(d['first_at'])} to {_when(d['last_at'])}")  # fmt: skip
    people = ", ".join(f"{s['name']} ({s['department'] or '-'})" for s in d["subjects"])
    out.print(f"Employees: {_esc(people) or '-'}")
    if d["restricted"]:
        out.print("[yellow]Privileged conversation: evidence detail is restricted.[/]")
    for e in d["evidence"]:
        out.print(f"- {_when(e['at'])} {_esc(e['message_id'])}")
        for f in e.get("findings", []):
            why = f["explanation"].get("pattern", "")
            out.print(f"    {f['entity']} {f['span']} score {f['score']} "
                      f"({f['detector']} {f['version']}) {_esc(str(why))}")  # fmt: skip


@alerts_app.command("deliver")
def alerts_deliver(
    data: DataOpt = None,
    force: Annotated[bool, typer.Option(help="Try every pending item now")] = False,
    retry_failed: Annotated[bool, typer.Option(help="Retry items that failed permanently")] = False,
    follow: Annotated[bool, typer.Option(help="Keep delivering as items fall due")] = False,
    output: FormatOpt = OutputFormat.text,
) -> None:
    """Send queued alert notices and nudges; failures are retried with backoff."""
    d = resolve_data_dir(data)
    with _errors(), Archive.open(d) as a:
        cfg = load_alerting(d)
        while True:
            rep = deliver(a, cfg, d, force=force, retry_failed=retry_failed)
            if output == OutputFormat.json and not follow:
                _print_json(rep.__dict__)
            elif rep.delivered or rep.retrying or rep.failed or not follow:
                out.print(f"delivered {rep.delivered}, will retry {rep.retrying}, "
                          f"failed {rep.failed}")  # fmt: skip
                for sink, e in rep.errors.items():
                    err.print(f"[yellow]{sink}:[/] {_esc(e)}", highlight=False, soft_wrap=True)
            if not follow:
                break
            force = retry_failed = False
            time.sleep(5)


@alerts_app.command("outbox")
def alerts_outbox(data: DataOpt = None, output: FormatOpt = OutputFormat.text) -> None:
    """Delivery status per sink: pending, delivered, failed, with the last error."""
    with _errors(), Archive.open(resolve_data_dir(data)) as a:
        rows = status(a)
    if output == OutputFormat.json:
        _print_json(rows)
        return
    _table("outbox", ["sink", "status", "items", "oldest", "attempts", "last error"],
           [[r["sink"], r["status"], r["items"], _when(r["oldest"]), r["max_attempts"],
             r["last_error"]] for r in rows])  # fmt: skip


# --------------------------------------------------------------------------- inventory


@inventory_app.command("list")
def inventory_list(data: DataOpt = None, output: FormatOpt = OutputFormat.text) -> None:
    """Every mini-program, app, bot and link domain seen: when, how often, by whom, status."""
    with _errors(), Archive.open(resolve_data_dir(data)) as a:
        rows = inventory(a, load_directory(a))
    if output == OutputFormat.json:
        _print_json(rows)
        return
    _table(f"{len(rows)} third parties", ["kind", "id", "name", "status", "uses", "users",
                                          "first seen", "last seen"],
           [[r["kind"], r["id"], r["name"], r["status"], r["uses"], r["users"],
             _when(r["first_seen"]), _when(r["last_seen"])] for r in rows])  # fmt: skip


def _set(kind: str, ident: str, st: str, note: str, data: Path | None) -> None:
    if kind not in INVENTORY_KINDS:
        fail(f"kind is one of {', '.join(INVENTORY_KINDS)}")
    with _errors(), Archive.open(resolve_data_dir(data), write=True) as a:
        before = set_status(a, kind, ident, st, note, audit.current_actor())
    out.print(f"{kind} {_esc(ident)}: {before} → {st}")


@inventory_app.command("approve")
def inventory_approve(kind: str, ident: str, note: NoteOpt = "", data: DataOpt = None) -> None:
    """Approve a third party (KIND: miniprogram, bot, app, domain). Audited."""
    _set(kind, ident, "approved", note, data)


@inventory_app.command("reject")
def inventory_reject(kind: str, ident: str, note: NoteOpt = "", data: DataOpt = None) -> None:
    """Reject a third party: policies keep flagging it. Audited."""
    _set(kind, ident, "rejected", note, data)


# --------------------------------------------------------------------------- allowlists


@allowlist_app.command("add")
def allowlist_add_cmd(lst: str, ident: str, note: NoteOpt = "", data: DataOpt = None) -> None:
    """Add an id to a list: external-group, marketing-account, privileged-conversation."""
    with _errors(), Archive.open(resolve_data_dir(data), write=True) as a:
        added = allowlist_add(a, lst, ident, note, audit.current_actor())
    out.print(f"{lst}: {'added' if added else 'already listed'} {_esc(ident)}")


@allowlist_app.command("remove")
def allowlist_remove_cmd(lst: str, ident: str, note: NoteOpt = "", data: DataOpt = None) -> None:
    """Remove an id from a list. Audited."""
    with _errors(), Archive.open(resolve_data_dir(data), write=True) as a:
        removed = allowlist_remove(a, lst, ident, note, audit.current_actor())
    if not removed:
        fail(f"{ident} is not on {lst}")
    out.print(f"{lst}: removed {_esc(ident)}")


@allowlist_app.command("list")
def allowlist_list(data: DataOpt = None, output: FormatOpt = OutputFormat.text) -> None:
    """Every allowlist entry."""
    with _errors(), Archive.open(resolve_data_dir(data)) as a:
        rows = allowlist(a)
    if output == OutputFormat.json:
        _print_json({"lists": LISTS, "entries": rows})
        return
    _table(f"{len(rows)} entries", ["list", "id", "note", "added"],
           [[r["list"], r["id"], r["note"], _when(r["added_at"])] for r in rows])  # fmt: skip


def policy_report(s: Any) -> dict[str, Any]:
    return {
        "messages": s.messages, "alerts_created": s.alerts_created,
        "alerts_grown": s.alerts_grown, "evidence": s.evidence, "notices": s.notices,
        "nudges": s.nudges, "by_policy": s.by_policy, "started_at_end": s.started_at_end,
        "policies": s.policies, "seconds": round(s.seconds, 2),
    }  # fmt: skip
