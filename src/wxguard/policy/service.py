"""Service functions the CLI (and later the API) call: one call per user action."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..archive import Archive
from ..delivery.config import load_alerting
from ..detect.engine import Engine
from ..model import ChatType, Participant, ParticipantKind, RosterEntry
from .evaluate import PolicyEngine
from .facts import Directory, Event, FindingFact
from .pack import PolicySet, load_policies
from .run import PolicyRunSummary, evaluate_archive


def run_policies(
    archive: Archive,
    *,
    only: list[str] | None = None,
    since_ms: int | None = None,
    detector_ids: list[str] | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[PolicyRunSummary, PolicySet]:
    """Evaluate the archive's policies (or ``only`` these ids) and queue deliveries."""
    pset = load_policies(archive.data_dir)
    chosen = pset.enabled
    if only:
        missing = [pid for pid in only if pset.get(pid) is None]
        if missing:
            known = ", ".join(p.id for p in pset.policies)
            raise ValueError(f"unknown policy {', '.join(missing)} (known: {known})")
        chosen = [p for p in pset.policies if p.id in only]
        disabled = [p.id for p in chosen if not p.enabled]
        if disabled:
            raise ValueError(f"policy {', '.join(disabled)} is disabled (enabled: false)")
    alerting = load_alerting(archive.data_dir)
    summary = evaluate_archive(
        archive, chosen, detector_ids=detector_ids, since_ms=since_ms, alerting=alerting,
        progress=progress,
    )  # fmt: skip
    return summary, pset


@dataclass
class TrialContext:
    sender_kind: str = "internal"
    recipient_kind: str = "external"
    group: bool = False
    approved_group: bool = False
    sender_name: str = ""
    kind: str = "text"
    amount_yuan: float = 0.0


@dataclass
class TrialResult:
    policy: str
    name: str
    fired: bool
    findings: list[dict[str, Any]] = field(default_factory=list)
    all_findings: list[dict[str, Any]] = field(default_factory=list)


def try_text(
    pset: PolicySet,
    engine: Engine,
    text: str,
    ctx: TrialContext,
    directory: Directory | None = None,
) -> list[TrialResult]:
    """Run the detectors and then each policy on one message in a made-up context."""
    scan = engine.scan([("test:1", text)])
    facts = [
        FindingFact(f.detector, f.version, f.entity, f.start, f.end, f.score, f.value_fp,
                    {"pattern": f.explanation.pattern})
        for f in scan.findings
    ]  # fmt: skip
    d = directory or Directory()
    sender, recipient = "test-sender", "test-recipient"
    d.add_people([
        Participant(id=sender, kind=ParticipantKind(ctx.sender_kind), name=ctx.sender_name),
        Participant(id=recipient, kind=ParticipantKind(ctx.recipient_kind)),
    ])  # fmt: skip
    conv = "test-conversation" if ctx.group else f"direct:{recipient}|{sender}"
    if ctx.group:
        from ..model import Conversation

        d.conversations[conv] = Conversation(
            id=conv, type=ChatType.GROUP,
            roster=[RosterEntry(participant=sender), RosterEntry(participant=recipient)],
        )  # fmt: skip
        if ctx.approved_group:
            d.allow.setdefault("external-group", set()).add(conv)
    ev = Event(
        seq=1, message_id="test:1", sent_at=0, kind=ctx.kind, sender=sender,
        recipients=[recipient], conversation=conv,
        chat=str(ChatType.GROUP if ctx.group else ChatType.DIRECT),
        amount_fen=round(ctx.amount_yuan * 100), findings=facts,
    )  # fmt: skip
    out = []
    every = [_show(f, text) for f in facts]
    for p in pset.policies:
        hits = PolicyEngine([p], d).feed(ev)
        found = [_show(f, text) for h in hits for _, fs in h.evidence for f in fs]
        out.append(TrialResult(p.id, p.name, bool(hits), found, every))
    return out


def _show(f: FindingFact, text: str) -> dict[str, Any]:
    return {"detector": f.detector, "entity": f.entity, "score": round(f.score, 3),
            "span": [f.start, f.end], "text": text[f.start : f.end]}  # fmt: skip
