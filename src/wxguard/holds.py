"""Legal holds: messages that must be kept whatever retention says.

A hold names what it preserves — custodians (messages they sent, and every message of
conversations they were in), conversations, a date range and/or a saved search query;
the criteria given must all hold (AND), several values of one criterion are alternatives
(OR). Custodians and conversations given by display name are resolved to ids when the hold
is placed, so a later rename changes nothing. Placing and releasing are audit events
(ledgered); ``wxguard verify`` checks each hold against the event that placed it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
import orjson

from . import audit
from .archive import Archive, _now_ms
from .policy.store import load_directory


class HoldError(ValueError):
    pass


class NoSuchHold(LookupError, HoldError):
    """LookupError first: the review API answers 404."""


class HoldScope(msgspec.Struct, kw_only=True, omit_defaults=True, forbid_unknown_fields=True):
    custodians: list[str] = msgspec.field(default_factory=list)
    conversations: list[str] = msgspec.field(default_factory=list)
    after: int | None = None  # sent at or after (ms)
    before: int | None = None  # sent before (ms)
    query: str = ""

    def empty(self) -> bool:
        return not (
            self.custodians
            or self.conversations
            or self.after is not None
            or self.before is not None
            or self.query
        )


_SCOPE = msgspec.json.Decoder(HoldScope)


@dataclass(frozen=True)
class Hold:
    id: int
    name: str
    matter: str
    scope: HoldScope
    reason: str
    placed_by: str
    placed_at: int
    released_by: str | None
    released_at: int | None
    release_reason: str

    @property
    def active(self) -> bool:
        return self.released_at is None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "matter": self.matter,
            "scope": msgspec.to_builtins(self.scope),
            "reason": self.reason,
            "placed_by": self.placed_by,
            "placed_at": self.placed_at,
            "released_by": self.released_by,
            "released_at": self.released_at,
            "release_reason": self.release_reason,
            "active": self.active,
        }


def _resolve(a: Archive, scope: HoldScope) -> HoldScope:
    d = load_directory(a)
    people, convs = [], []
    for v in scope.custodians:
        ids = d.person_ids(v)
        if not ids:
            raise HoldError(f"custodian {v!r} is not a known participant id or name")
        people.extend(ids)
    for v in scope.conversations:
        ids = d.conversation_ids(v)
        if not ids:
            raise HoldError(f"conversation {v!r} is not a known conversation id or group name")
        convs.extend(ids)
    if scope.query:
        from .search.query import QueryError, parse

        try:
            parse(scope.query)
        except QueryError as e:
            raise HoldError(f"query: {e}") from None
    if scope.after is not None and scope.before is not None and scope.after >= scope.before:
        raise HoldError("the date range is empty (from is not before to)")
    return HoldScope(
        custodians=sorted(set(people)),
        conversations=sorted(set(convs)),
        after=scope.after,
        before=scope.before,
        query=scope.query,
    )


def place(
    a: Archive, name: str, scope: HoldScope, reason: str, actor: str, matter: str = ""
) -> Hold:
    if not name.strip():
        raise HoldError("a hold needs a name")
    if not reason.strip():
        raise HoldError("a hold needs a reason (the matter or request it preserves data for)")
    if scope.empty():
        raise HoldError("a hold needs at least one of: custodian, conversation, dates, query")
    scope = _resolve(a, scope)
    now = _now_ms()
    body = msgspec.json.encode(scope).decode()
    with a.transaction():
        cur = a.conn.execute(
            "INSERT INTO holds (name, matter, scope, reason, placed_by, placed_at, placed_seq) "
            "VALUES (?, ?, ?, ?, ?, ?, 0)",
            (name, matter, body, reason, actor, now),
        )
        hid = int(cur.lastrowid or 0)
        seq = audit.record(
            a, actor, "hold-place", f"hold:{hid}", _detail(hid, name, matter, body, reason, now)
        )
        a.conn.execute("UPDATE holds SET placed_seq = ? WHERE id = ?", (seq, hid))
    return get(a, hid)


def _detail(hid: int, name: str, matter: str, scope: str, reason: str, at: int) -> dict[str, Any]:
    return {
        "id": hid,
        "name": name,
        "matter": matter,
        "scope": orjson.loads(scope),
        "reason": reason,
        "placed_at": at,
    }


def release(a: Archive, hold_id: int, reason: str, actor: str) -> Hold:
    h = get(a, hold_id)
    if not h.active:
        raise HoldError(f"hold {hold_id} was already released by {h.released_by}")
    if not reason.strip():
        raise HoldError("releasing a hold needs a reason")
    now = _now_ms()
    with a.transaction():
        seq = audit.record(
            a,
            actor,
            "hold-release",
            f"hold:{hold_id}",
            {"id": hold_id, "reason": reason, "released_at": now},
        )
        a.conn.execute(
            "UPDATE holds SET released_by = ?, released_at = ?, released_seq = ?, "
            "release_reason = ? WHERE id = ?",
            (actor, now, seq, reason, hold_id),
        )
    return get(a, hold_id)


_COLS = (
    "id, name, matter, scope, reason, placed_by, placed_at, released_by, released_at, "
    "release_reason"
)


def _row(r: tuple[Any, ...]) -> Hold:
    return Hold(r[0], r[1], r[2], _SCOPE.decode(r[3]), *r[4:])


def get(a: Archive, hold_id: int) -> Hold:
    r = a.conn.execute(f"SELECT {_COLS} FROM holds WHERE id = ?", (hold_id,)).fetchone()
    if r is None:
        raise NoSuchHold(f"no hold {hold_id}")
    return _row(r)


def holds(a: Archive, *, active_only: bool = False) -> list[Hold]:
    q = f"SELECT {_COLS} FROM holds"
    if active_only:
        q += " WHERE released_at IS NULL"
    return [_row(r) for r in a.conn.execute(q + " ORDER BY id")]


@dataclass(frozen=True)
class _Compiled:
    id: int
    scope: HoldScope
    senders: set[bytes]  # custodians' fingerprints
    member_of: set[bytes]  # conversations a custodian was in
    conversations: set[bytes]
    seqs: set[int] | None  # what a saved query matches


class HoldMatcher:
    """Which messages the active holds cover (decided from stored columns, plus the search
    index for holds by query)."""

    def __init__(self, a: Archive, active: list[Hold] | None = None) -> None:
        self.holds = holds(a, active_only=True) if active is None else active
        of_id = a.keys.fingerprints.of_id
        d = load_directory(a) if self.holds else None
        self._compiled: list[_Compiled] = []
        for h in self.holds:
            member_of: set[bytes] = set()
            if d is not None and h.scope.custodians:
                want = set(h.scope.custodians)
                member_of = {
                    of_id(cv.id)
                    for cv in d.conversations.values()
                    if want & {e.participant for e in cv.roster}
                }
            seqs = None
            if h.scope.query:
                from .search.engine import matching_seqs

                seqs = set(matching_seqs(a, h.scope.query))
            self._compiled.append(
                _Compiled(
                    h.id,
                    h.scope,
                    {of_id(c) for c in h.scope.custodians},
                    member_of,
                    {of_id(c) for c in h.scope.conversations},
                    seqs,
                )
            )

    def held_by(self, seq: int, sent_at: int, sender_fp: bytes, conv_fp: bytes) -> int | None:
        """The first active hold covering the message, or None."""
        for h in self._compiled:
            sc = h.scope
            if sc.custodians and sender_fp not in h.senders and conv_fp not in h.member_of:
                continue
            if sc.conversations and conv_fp not in h.conversations:
                continue
            if sc.after is not None and sent_at < sc.after:
                continue
            if sc.before is not None and sent_at >= sc.before:
                continue
            if h.seqs is not None and seq not in h.seqs:
                continue
            return h.id
        return None


def count_covered(a: Archive, hold: Hold) -> int:
    m = HoldMatcher(a, [hold])
    n = 0
    for seq, at, sfp, cfp in a.conn.execute(
        "SELECT seq, sent_at, sender_fp, conv_fp FROM messages"
    ):
        if m.held_by(seq, at, bytes(sfp), bytes(cfp)) is not None:
            n += 1
    return n


def check(a: Archive) -> list[str]:
    """Problems where a hold row differs from the audit events that placed/released it."""
    problems = []
    for r in a.conn.execute(
        "SELECT h.id, h.name, h.matter, h.scope, h.reason, h.placed_at, a.detail, "
        "h.released_at, h.released_seq FROM holds h "
        "LEFT JOIN audit a ON a.seq = h.placed_seq AND a.action = 'hold-place'"
    ):
        hid, name, matter, scope, reason, at, detail, rel_at, rel_seq = r
        if detail is None or orjson.loads(detail) != _detail(hid, name, matter, scope, reason, at):
            problems.append(f"hold {hid} differs from the audit event that placed it")
        if rel_at is None:
            (n,) = a.conn.execute(
                "SELECT count(*) FROM audit WHERE action = 'hold-release' AND subject = ?",
                (f"hold:{hid}",),
            ).fetchone()
            if n:
                problems.append(f"hold {hid} was released (audit log) but shows as active")
        elif (
            rel_seq is None
            or a.conn.execute(
                "SELECT 1 FROM audit WHERE seq = ? AND action = 'hold-release'", (rel_seq,)
            ).fetchone()
            is None
        ):
            problems.append(f"hold {hid} shows as released with no audit event")
    return problems
