"""The policy language: one YAML file per policy, validated against this schema.

The structs below *are* the schema (``docs/policies.md`` documents each key). A file
is parsed by :mod:`.yamlsafe`, converted with msgspec, then checked for what types
cannot say (known detector ids, message kinds, one of ``when``/``sequence``). Every
error names the file, the line and the key.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta, Struct, field

from ..model import KINDS
from .yamlsafe import Lines, YamlProblem, load

PolicyId = Annotated[str, Meta(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")]
Duration = Annotated[str, Meta(pattern=r"^[1-9][0-9]{0,6}[smhd]$")]
Score = Annotated[float, Meta(ge=0.0, le=1.0)]
Count = Annotated[int, Meta(ge=1, le=10_000)]

Severity = Literal["low", "medium", "high", "critical"]
SEVERITIES: tuple[str, ...] = ("low", "medium", "high", "critical")
BEHAVIOURS: tuple[str, ...] = (
    "confidential_information", "unauthorised_transaction", "phishing_social_engineering",
    "offensive_content", "unauthorised_external_group", "personal_information",
    "competitor_research", "ip_violation", "unverified_third_party", "secrets", "custom",
)  # fmt: skip
Behaviour = Literal[
    "confidential_information", "unauthorised_transaction", "phishing_social_engineering",
    "offensive_content", "unauthorised_external_group", "personal_information",
    "competitor_research", "ip_violation", "unverified_third_party", "secrets", "custom",
]  # fmt: skip
ThirdPartyKind = Literal["miniprogram", "bot", "app", "domain"]
Status = Literal["new", "approved", "rejected"]


class _S(Struct, forbid_unknown_fields=True, kw_only=True, omit_defaults=True):
    pass


class FindingCond(_S, kw_only=True):
    """Findings in the message: detector ids (``pii.*`` prefixes allowed) and/or entity types."""

    detectors: list[str] = field(default_factory=list)
    entities: list[str] = field(default_factory=list)
    min_score: Score = 0.5
    min_count: Count = 1


class MessageCond(_S, kw_only=True):
    kinds: list[str] = field(default_factory=list)
    min_amount_yuan: Annotated[float, Meta(ge=0)] | None = None
    has_attachment: bool | None = None
    file_types: list[str] = field(default_factory=list)


class ConversationCond(_S, kw_only=True):
    external: bool | None = None
    chat: Literal["direct", "group"] | None = None
    approved_group: bool | None = None
    external_orgs: list[str] = field(default_factory=list)


class SenderCond(_S, kw_only=True):
    kinds: list[Literal["internal", "external", "bot"]] = field(default_factory=list)
    departments: list[str] = field(default_factory=list)
    # A sender who is not internal but shows the display name of an internal person
    # ("internal") or of an executive ("executive": titles in the directory settings).
    impersonates: Literal["internal", "executive"] | None = None


class ThirdPartyCond(_S, kw_only=True):
    kinds: list[ThirdPartyKind] = field(default_factory=lambda: ["miniprogram", "bot"])
    status: list[Status] = field(default_factory=lambda: ["new", "rejected"])


class NearCond(_S, kw_only=True):
    a: FindingCond
    b: FindingCond
    within: Annotated[int, Meta(ge=0, le=2000)] = 30


class Condition(_S, kw_only=True):
    """Exactly one key: a leaf test or a combination."""

    findings: FindingCond | None = None
    message: MessageCond | None = None
    conversation: ConversationCond | None = None
    sender: SenderCond | None = None
    third_party: ThirdPartyCond | None = None
    near: NearCond | None = None
    all: list[Condition] | None = None
    any: list[Condition] | None = None
    not_: Condition | None = field(default=None, name="not")


class WindowSpec(_S, kw_only=True):
    """Fire when matching messages accumulate: ``min_messages`` (and optionally
    ``min_findings`` matching findings) within ``within``, per conversation or sender."""

    within: Duration
    per: Literal["conversation", "sender"] = "conversation"
    min_messages: Count = 1
    min_findings: Count | None = None


class SequenceSpec(_S, kw_only=True):
    """Fire when each step matches a later message, all within ``within``."""

    within: Duration
    per: Literal["conversation", "sender"] = "conversation"
    steps: Annotated[list[Condition], Meta(min_length=2, max_length=5)]


class AppliesTo(_S, kw_only=True):
    departments: list[str] = field(default_factory=list)
    titles: list[str] = field(default_factory=list)
    people: list[str] = field(default_factory=list)
    except_departments: list[str] = field(default_factory=list)
    except_titles: list[str] = field(default_factory=list)
    except_people: list[str] = field(default_factory=list)


class Actions(_S, kw_only=True):
    # Sink names to notify (see docs/operations.md, alerting.toml); None = every sink.
    notify: list[str] | None = None
    # A just-in-time note to the employee who sent the message; empty = no nudge.
    nudge: Annotated[str, Meta(max_length=600)] = ""


class Policy(_S, kw_only=True):
    id: PolicyId
    version: Annotated[int, Meta(ge=1)]
    name: Annotated[str, Meta(min_length=1, max_length=200)]
    behaviour: Behaviour
    severity: Severity
    description: str = ""
    rationale: str = ""
    tuning: str = ""
    enabled: bool = True
    applies_to: AppliesTo | None = None
    when: Condition | None = None
    window: WindowSpec | None = None
    sequence: SequenceSpec | None = None
    aggregate: Duration = "1h"
    actions: Actions = field(default_factory=Actions)
    # Set by the loader, not by the file:
    source: str = ""
    digest: str = ""


class PolicyError(Exception):
    """A policy file that cannot be used; the text names file, line and key."""


_AT = re.compile(r" - at `(\$[^`]*)`$")


def split_validation_error(e: msgspec.ValidationError) -> tuple[str, str]:
    """msgspec's ``"<problem> - at `$.a[0].b`"`` as ``("$.a[0].b", "<problem>")``; the
    path is ``"$"`` when the problem is with the document as a whole."""
    msg = str(e)
    m = _AT.search(msg)
    return (m.group(1) if m else "$"), _AT.sub("", msg)


_UNKNOWN = re.compile(r"Object contains unknown field `([^`]+)`")


_PLAIN = {
    "Expected `str` matching regex '^[1-9][0-9]{0,6}[smhd]$'":
        "expected a duration like 90s, 10m, 2h or 7d",
    "Expected `str` matching regex '^[a-z0-9][a-z0-9-]{1,62}$'":
        "expected a kebab-case id like 'pii-external' (a-z, 0-9, -)",
}  # fmt: skip


def _where(path: str, lines: Lines, msg: str) -> tuple[int | None, str]:
    m = _UNKNOWN.search(msg)
    if m:
        path = f"{path}.{m.group(1)}"
    probe = path
    while probe and probe not in lines:
        probe = re.sub(r"(\.[^.\[]+|\[\d+\])$", "", probe) if probe != "$" else ""
    return lines.get(probe), path


def parse_policy(text: str, source: str, known_detectors: Iterable[str] | None = None) -> Policy:
    """Parse and validate one policy; raises :class:`PolicyError` naming line and key."""
    try:
        raw, lines = load(text)
    except YamlProblem as e:
        at = f":{e.line}" if e.line else ""
        raise PolicyError(f"{source}{at}: {e.message}") from None
    if not isinstance(raw, dict):
        raise PolicyError(f"{source}:1: a policy file must be a mapping of keys (id, name, ...)")
    for reserved in ("source", "digest"):
        if reserved in raw:
            raise PolicyError(f"{source}:{lines.get('$.' + reserved)}: key '{reserved}' is set "
                              "by wxguard, not by the file")  # fmt: skip
    try:
        policy = msgspec.convert(raw, Policy)
    except msgspec.ValidationError as e:
        path, text_ = split_validation_error(e)
        line, key = _where(path, lines, str(e))
        for pattern, plain in _PLAIN.items():
            text_ = text_.replace(pattern, plain)
        raise PolicyError(f"{source}:{line or 1}: key {_key(key)}: {text_}") from None
    problems = list(_check(policy, known_detectors))
    if problems:
        path, what = problems[0]
        line, key = _where(path, lines, "")
        raise PolicyError(f"{source}:{line or 1}: key {_key(key)}: {what}")
    policy.source = source
    policy.digest = hashlib.sha256(msgspec.json.encode(raw)).hexdigest()[:16]
    return policy


def _key(path: str) -> str:
    return "'" + (path[2:] if path.startswith("$.") else path) + "'"


def _check(p: Policy, detectors: Iterable[str] | None) -> Iterable[tuple[str, str]]:
    known = set(detectors) if detectors is not None else None
    if (p.when is None) == (p.sequence is None):
        yield "$", "give exactly one of 'when' (one message) or 'sequence' (several in order)"
    if p.window is not None and p.sequence is not None:
        yield "$.window", "'window' goes with 'when'; a 'sequence' has its own 'within'"
    if p.when is not None:
        yield from _check_cond(p.when, "$.when", known)
    if p.sequence is not None:
        for i, step in enumerate(p.sequence.steps):
            yield from _check_cond(step, f"$.sequence.steps[{i}]", known)


def _check_cond(c: Condition, path: str, known: set[str] | None) -> Iterable[tuple[str, str]]:
    keys = [k for k in Condition.__struct_fields__ if getattr(c, k) is not None]
    if len(keys) != 1:
        names = ", ".join(n.rstrip("_") for n in keys) or "none"
        yield (
            path,
            (
                "a condition needs exactly one of findings, message, conversation, sender, "
                f"third_party, near, all, any, not (found: {names})"
            ),
        )
        return
    k = keys[0]
    if k in ("all", "any"):
        subs: list[Condition] = getattr(c, k)
        if not subs:
            yield f"{path}.{k}", f"'{k}' needs at least one condition"
        for i, sub in enumerate(subs):
            yield from _check_cond(sub, f"{path}.{k}[{i}]", known)
    elif k == "not_" and c.not_ is not None:
        yield from _check_cond(c.not_, f"{path}.not", known)
    elif k == "findings" and c.findings is not None:
        yield from _check_findings(c.findings, f"{path}.findings", known)
    elif k == "near" and c.near is not None:
        yield from _check_findings(c.near.a, f"{path}.near.a", known)
        yield from _check_findings(c.near.b, f"{path}.near.b", known)
    elif k == "message" and c.message is not None:
        bad = sorted(set(c.message.kinds) - set(KINDS))
        if bad:
            yield f"{path}.message.kinds", f"unknown message kind(s) {', '.join(bad)}"


def _check_findings(f: FindingCond, path: str, known: set[str] | None) -> Iterable[tuple[str, str]]:
    if not f.detectors and not f.entities:
        yield path, "name 'detectors' or 'entities' (or both)"
    if known is None:
        return
    for d in f.detectors:
        ok = any(k.startswith(d[:-1]) for k in known) if d.endswith("*") else d in known
        if not ok:
            yield f"{path}.detectors", f"unknown detector {d!r} (see `wxguard detectors`)"


def seconds(d: str) -> int:
    return int(d[:-1]) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[d[-1]]


def load_policy_file(path: Path, known_detectors: Iterable[str] | None = None) -> Policy:
    try:
        text = path.read_text("utf-8")
    except UnicodeDecodeError:
        raise PolicyError(f"{path}: not UTF-8 text") from None
    except OSError as e:
        raise PolicyError(f"{path}: cannot read: {e.strerror or e}") from None
    return parse_policy(text, str(path), known_detectors)


def to_dict(p: Policy) -> dict[str, Any]:
    out: dict[str, Any] = msgspec.to_builtins(p)
    return out
