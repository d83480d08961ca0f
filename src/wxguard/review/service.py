"""The service layer of the review application: one method per user action, each checking
the caller's permission and recording an audit event for every look at plaintext.

The web UI, the REST API and the CLI are thin layers over this class. It is not
thread-safe: the server calls it from one thread (see web.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec
import orjson

from .. import audit
from ..archive import Archive
from ..capture.config import Health
from ..capture.health import stream_status
from ..capture.health import streams as health_streams
from ..capture.media import file_fp
from ..crypto import open_sealed
from ..model import ChatType, Conversation, Message, Participant
from ..policy import store
from ..policy.facts import Directory
from ..policy.pack import FOLDER, PolicySet, load_policies
from ..proofcheck import split_plaintext
from ..seal import open_body
from ..textview import attachments_of
from . import sampling, workflow
from .accounts import User
from .settings import ReviewSettings
from .views import MessageView, inert, message_view
from .workflow import Denied

if TYPE_CHECKING:
    from ..search.engine import SearchEngine

_MESSAGE = msgspec.json.Decoder(Message)
SEVERITY_RANK = {"low": 0, "medium": 1, "high": 2, "critical": 3}
STATES = ("active", "new", "open", "closed", "all")
SORTS = {
    "recent": "last_at DESC, id DESC",
    "oldest": "last_at ASC, id ASC",
    "severity": "CASE severity WHEN 'critical' THEN 0 WHEN 'high' THEN 1 WHEN 'medium' THEN 2 "
    "ELSE 3 END, last_at DESC, id DESC",
    "created": "created_at DESC, id DESC",
}
DAY_MS = 86_400_000


class NotFound(LookupError):
    pass


@dataclass(frozen=True)
class Viewer:
    user: User
    pseudonyms: bool

    @property
    def name(self) -> str:
        return self.user.name


@dataclass
class QueueQuery:
    state: str = "active"
    severity: str = ""
    behaviour: str = ""
    policy: str = ""
    assignee: str = ""  # "me", "none" or a user name
    escalated: bool = False
    sort: str = "recent"
    page: int = 1


class ReviewService:
    def __init__(self, archive: Archive, settings: ReviewSettings) -> None:
        self.a = archive
        self.settings = settings
        self._dir: Directory | None = None
        self._dir_sig: tuple[Any, ...] = ()
        self._dir_checked = 0.0
        self._conv_by_fp: dict[bytes, Conversation] = {}
        self._person_by_fp: dict[bytes, Participant] = {}
        self._cache: dict[str, tuple[float, Any]] = {}
        self._pset: PolicySet | None = None
        self._pset_sig: tuple[tuple[str, int, int], ...] = ()
        self.search_engine: SearchEngine | None = None  # made on first search (search_view)

    # ------------------------------------------------------------------ helpers

    def viewer(self, user: User) -> Viewer:
        pseudo = self.settings.pseudonyms_for
        return Viewer(user, bool(pseudo) and all(r in pseudo for r in user.roles))

    @staticmethod
    def need(v: Viewer, permission: str) -> None:
        if not v.user.can(permission):
            raise Denied(permission)

    def directory(self) -> Directory:
        now = time.monotonic()
        if self._dir is not None and now - self._dir_checked < 2:
            return self._dir
        self._dir_checked = now
        c = self.a.conn
        sig = (
            *c.execute("SELECT count(*), max(rowid) FROM participants").fetchone(),
            *c.execute("SELECT count(*), max(rowid) FROM conversations").fetchone(),
            *c.execute("SELECT count(*) FROM allowlist").fetchone(),
            *c.execute("SELECT count(*), max(last_seen) FROM participants").fetchone(),
            # bumped by a directory refresh that rewrites names and rosters in place
            *c.execute("SELECT value FROM meta WHERE key = 'directory_version'").fetchall(),
        )
        if self._dir is None or sig != self._dir_sig:
            self._dir = store.load_directory(self.a)
            self._dir_sig = sig
            of_id = self.a.keys.fingerprints.of_id
            self._conv_by_fp = {of_id(cv.id): cv for cv in self._dir.conversations.values()}
            self._person_by_fp = store.people_by_fp(self.a, self._dir)
        return self._dir

    def person_label(self, v: Viewer, pid: str) -> str:
        d = self.directory()
        p = d.person(pid)
        if v.pseudonyms:
            tag = {"internal": "Employee", "external": "External", "bot": "Bot"}[str(p.kind)]
            return f"{tag} {self.a.keys.fingerprints.of_id(pid).hex()[:6]}"
        return inert(p.name or p.id)

    def _conv(self, conv_fp: bytes) -> Conversation | None:
        self.directory()
        return self._conv_by_fp.get(conv_fp)

    def conversation_label(self, v: Viewer, conv_fp: bytes) -> str:
        cv = self._conv(conv_fp)
        if cv is None:
            return f"conversation {conv_fp.hex()[:8]}"
        if cv.type == ChatType.GROUP:
            if v.pseudonyms or not cv.name:
                return f"Group {conv_fp.hex()[:6]}"
            return inert(cv.name)
        ids = cv.id.removeprefix("direct:").split("|")
        return " ↔ ".join(self.person_label(v, i) for i in ids)

    def _privileged(self, conv_fp: bytes) -> bool:
        cv = self._conv(conv_fp)
        return cv is not None and self.directory().allowed("privileged-conversation", cv.id)

    def _can_read(self, v: Viewer, conv_fp: bytes) -> None:
        self.need(v, "message-read")
        if self._privileged(conv_fp):
            self.need(v, "privileged-read")

    def _audit(self, v: Viewer, action: str, subject: str, detail: dict[str, Any]) -> None:
        with self.a.transaction():
            audit.record(self.a, v.name, action, subject, detail)

    def _cached(self, key: str, ttl: float, fn: Callable[[], Any]) -> Any:
        hit = self._cache.get(key)
        now = time.monotonic()
        if hit is not None and now - hit[0] < ttl:
            return hit[1]
        value = fn()
        self._cache[key] = (now, value)
        return value

    # ------------------------------------------------------------------ dashboard

    def dashboard(self, v: Viewer) -> dict[str, Any]:
        self.need(v, "dashboard-read")
        c = self.a.conn
        by_sev = dict(
            c.execute(
                "SELECT severity, count(*) FROM alerts WHERE state != 'closed' GROUP BY severity"
            ).fetchall()
        )
        by_beh = c.execute(
            "SELECT behaviour, count(*) FROM alerts WHERE state != 'closed' "
            "GROUP BY behaviour ORDER BY 2 DESC"
        ).fetchall()
        mine = c.execute(
            "SELECT count(*) FROM alerts WHERE state != 'closed' AND assignee = ?", (v.name,)
        ).fetchone()[0]
        escalated = c.execute(
            "SELECT count(*) FROM alerts WHERE state != 'closed' AND escalated = 1"
        ).fetchone()[0]
        slow = self._cached("dash", 30, self._dashboard_slow)
        now = int(time.time() * 1000)
        capture = [
            stream_status(self.a, s, Health(), now).as_dict() for s in health_streams(self.a)
        ]
        return {
            "capture": capture,
            "open_by_severity": [
                {"severity": s, "count": by_sev.get(s, 0)} for s in reversed(SEVERITY_RANK)
            ],
            "open_by_behaviour": [{"behaviour": b, "count": n} for b, n in by_beh],
            "open_total": sum(by_sev.values()),
            "mine": mine,
            "escalated": escalated,
            **slow,
        }

    def _dashboard_slow(self) -> dict[str, Any]:
        c = self.a.conn
        last = c.execute("SELECT max(first_at) FROM alerts").fetchone()[0]
        alert_days = _daily(
            c.execute(
                "SELECT first_at / ? AS d, count(*) FROM alerts WHERE first_at >= ? GROUP BY d",
                (DAY_MS, (last or 0) - 29 * DAY_MS),
            ).fetchall(),
            last,
        )
        top = c.execute("SELECT max(sent_at) FROM messages").fetchone()[0]
        volume = _daily(
            c.execute(
                "SELECT sent_at / ? AS d, count(*) FROM messages WHERE sent_at >= ? GROUP BY d",
                (DAY_MS, (top or 0) - 29 * DAY_MS),
            ).fetchall(),
            top,
        )
        pending = c.execute("SELECT count(*) FROM samples WHERE state = 'new'").fetchone()[0]
        return {
            "alerts_per_day": alert_days,
            "messages_per_day": volume,
            "precision": workflow.precision(self.a),
            "samples_pending": pending,
        }

    # ------------------------------------------------------------------ alerts

    def queue(self, v: Viewer, q: QueueQuery) -> dict[str, Any]:
        self.need(v, "alert-read")
        where = ["1=1"]
        args: list[Any] = []
        if q.state not in STATES:
            raise ValueError(f"unknown state {q.state!r}; states are {', '.join(STATES)}")
        if q.sort not in SORTS:
            raise ValueError(f"unknown sort {q.sort!r}; sorts are {', '.join(SORTS)}")
        if q.state == "active":
            where.append("state IN ('new', 'open')")
        elif q.state != "all":
            where.append("state = ?")
            args.append(q.state)
        for col, val in (
            ("severity", q.severity),
            ("behaviour", q.behaviour),
            ("policy", q.policy),
        ):
            if val:
                where.append(f"{col} = ?")
                args.append(val)
        if q.assignee:
            where.append("assignee = ?")
            args.append({"me": v.name, "none": ""}.get(q.assignee, q.assignee))
        if q.escalated:
            where.append("escalated = 1")
        cond = " AND ".join(where)
        size = self.settings.page_size
        page = max(1, q.page)
        total = self.a.conn.execute(f"SELECT count(*) FROM alerts WHERE {cond}", args).fetchone()[0]
        rows = self.a.conn.execute(
            "SELECT id, policy, policy_version, behaviour, severity, state, first_at, last_at, "
            "messages, restricted, assignee, disposition, escalated, conv_fp, subjects "
            f"FROM alerts WHERE {cond} ORDER BY {SORTS[q.sort]} LIMIT ? OFFSET ?",
            (*args, size, (page - 1) * size),
        ).fetchall()
        items = []
        for r in rows:
            conv_fp = bytes(r[13])
            items.append(
                {
                    "id": r[0],
                    "policy": r[1],
                    "policy_version": r[2],
                    "behaviour": r[3],
                    "severity": r[4],
                    "state": r[5],
                    "first_at": r[6],
                    "last_at": r[7],
                    "messages": r[8],
                    "restricted": bool(r[9]),
                    "assignee": r[10],
                    "disposition": r[11],
                    "escalated": bool(r[12]),
                    "conversation": self.conversation_label(v, conv_fp),
                    "subjects": self._subject_labels(v, orjson.loads(r[14])),
                }
            )
        return {"total": total, "page": page, "page_size": size, "items": items}

    def _subject_labels(self, v: Viewer, fps: list[str]) -> list[str]:
        self.directory()
        out = []
        for h in fps:
            p = self._person_by_fp.get(bytes.fromhex(h))
            out.append(self.person_label(v, p.id) if p is not None else f"person {h[:6]}")
        return out

    def alert(self, v: Viewer, alert_id: int, why: str = "") -> dict[str, Any]:
        """An alert's metadata, review history and — for those who may read messages — the
        conversation around each hit, with highlighted spans. Showing text is audited."""
        self.need(v, "alert-read")
        row = self.a.conn.execute(
            "SELECT id, policy, policy_version, policy_digest, behaviour, severity, state, "
            "first_at, last_at, messages, restricted, created_at, assignee, disposition, "
            "escalated, conv_fp, subjects FROM alerts WHERE id = ?",
            (alert_id,),
        ).fetchone()
        if row is None:
            raise NotFound(f"no alert {alert_id}")
        keys = (
            "id",
            "policy",
            "policy_version",
            "policy_digest",
            "behaviour",
            "severity",
            "state",
            "first_at",
            "last_at",
            "messages",
            "restricted",
            "created_at",
            "assignee",
            "disposition",
            "escalated",
        )
        out: dict[str, Any] = dict(zip(keys, row[:15], strict=True))
        out["restricted"] = bool(out["restricted"])
        out["escalated"] = bool(out["escalated"])
        conv_fp = bytes(row[15])
        out["conversation"] = self.conversation_label(v, conv_fp)
        out["conversation_key"] = conv_fp.hex()
        out["subjects"] = self._subject_labels(v, orjson.loads(row[16]))
        out["history"] = workflow.history(self.a, alert_id)
        pset = self.policies()
        pol = pset.get(out["policy"])
        out["policy_name"] = pol.name if pol else out["policy"]
        out["policy_description"] = pol.description if pol else ""
        evidence = self.a.conn.execute(
            "SELECT seq, findings FROM alert_evidence WHERE alert_id = ? ORDER BY seq",
            (alert_id,),
        ).fetchall()
        out["evidence_count"] = len(evidence)
        may_read = v.user.can("message-read") and (
            not (out["restricted"] or self._privileged(conv_fp)) or v.user.can("privileged-read")
        )
        out["can_read"] = may_read
        out["participants"] = self._participants(v, conv_fp)
        if not may_read:
            out["messages"] = []
            return out
        shown = evidence[:20]
        marks = {int(s): orjson.loads(f) for s, f in shown}
        seqs = self._around(conv_fp, [int(s) for s, _ in shown], self.settings.context_messages)
        views = self._views(v, seqs, marks)
        out["messages"] = views
        self._audit(
            v,
            "view-alert",
            f"alert:{alert_id}",
            {
                "why": why,
                "conversation": conv_fp.hex()[:16],
                "messages": [m.seq for m in views],
            },
        )
        return out

    def _participants(self, v: Viewer, conv_fp: bytes) -> list[dict[str, str]]:
        cv = self._conv(conv_fp)
        if cv is None:
            return []
        d = self.directory()
        ids = (
            [e.participant for e in cv.roster]
            if cv.type == ChatType.GROUP
            else cv.id.removeprefix("direct:").split("|")
        )
        out = []
        for pid in dict.fromkeys(ids):
            p = d.person(pid)
            org = "" if v.pseudonyms else inert(p.org)
            out.append(
                {
                    "name": self.person_label(v, pid),
                    "kind": str(p.kind),
                    "org": org,
                    "department": inert(p.department),
                }
            )
        return out

    def _around(self, conv_fp: bytes, seqs: list[int], n: int) -> list[int]:
        c = self.a.conn
        want: set[int] = set(seqs)
        for seq in seqs:
            r = c.execute("SELECT sent_at FROM messages WHERE seq = ?", (seq,)).fetchone()
            if r is None:
                continue
            at = r[0]
            want.update(
                s
                for (s,) in c.execute(
                    "SELECT seq FROM messages WHERE conv_fp = ? AND (sent_at, seq) < (?, ?) "
                    "ORDER BY sent_at DESC, seq DESC LIMIT ?",
                    (conv_fp, at, seq, n),
                )
            )
            want.update(
                s
                for (s,) in c.execute(
                    "SELECT seq FROM messages WHERE conv_fp = ? AND (sent_at, seq) > (?, ?) "
                    "ORDER BY sent_at, seq LIMIT ?",
                    (conv_fp, at, seq, n),
                )
            )
        return sorted(want)

    def _views(
        self,
        v: Viewer,
        seqs: list[int],
        marks: dict[int, list[dict[str, Any]]] | None = None,
        limit: int | None = None,
    ) -> list[MessageView]:
        if not seqs:
            return []
        marks = marks or {}
        c = self.a.conn
        ph = ",".join("?" * len(seqs))
        rows = c.execute(
            "SELECT seq, source, source_msg_id, key_id, body, sender_fp FROM messages "
            f"WHERE seq IN ({ph}) ORDER BY sent_at, seq",
            seqs,
        ).fetchall()
        found: dict[int, list[dict[str, Any]]] = {}
        for seq, det, ent, s, e, score, expl in c.execute(
            "SELECT seq, detector, entity, span_start, span_end, score, explanation "
            f"FROM findings WHERE seq IN ({ph}) ORDER BY seq, span_start",
            seqs,
        ):
            found.setdefault(seq, []).append(
                {
                    "detector": det,
                    "entity": ent,
                    "span": [s, e],
                    "score": round(score, 3),
                    "explanation": orjson.loads(expl),
                }
            )
        recalled = {
            (src, t)
            for src, t in c.execute(
                f"SELECT source, target_msg_id FROM recalls WHERE (source, target_msg_id) IN "
                f"(SELECT source, source_msg_id FROM messages WHERE seq IN ({ph}))",
                seqs,
            )
        }
        self.directory()
        # Media the WeCom connector fetched after sealing the message (capture/media.py).
        fetched: dict[tuple[int, bytes], str] = {
            (s, bytes(f)): b
            for s, f, b in c.execute(
                f"SELECT msg_seq, file_fp, blob_id FROM media_queue WHERE msg_seq IN ({ph}) "
                "AND state = 'done'",
                seqs,
            )
        }
        out = []
        for seq, source, msgid, kid, body, sfp in rows:
            mid = f"{source}:{msgid}"
            pt = open_body(self.a, seq, mid, kid, body)
            if pt is None:
                continue
            m = _MESSAGE.decode(split_plaintext(pt)[1])
            if fetched:
                for att in attachments_of(m.payload):
                    if att.sdkfileid and not att.blob_id:
                        att.blob_id = fetched.get((seq, file_fp(self.a, att.sdkfileid)), "")
            person = self._person_by_fp.get(bytes(sfp))
            kind = str(person.kind) if person else "external"
            fs = marks.get(seq) or found.get(seq, [])
            mv = message_view(
                m,
                seq,
                self.person_label(v, m.sender),
                kind,
                fs,
                limit or self.settings.max_display_chars,
            )
            mv.evidence = seq in marks
            mv.recalled = (source, msgid) in recalled
            out.append(mv)
        return out

    def act(self, v: Viewer, alert_id: int, action: str, **kw: str) -> dict[str, Any]:
        self._cache.clear()  # verdicts change the dashboard's precision at once
        return workflow.act(self.a, v.user, alert_id, action, **kw)

    def bulk(self, v: Viewer, ids: list[int], action: str, **kw: str) -> list[dict[str, Any]]:
        """The same step on many alerts; each succeeds or fails on its own."""
        if len(ids) > 500:
            raise ValueError("at most 500 alerts at a time")
        self._cache.clear()
        out = []
        for i in ids:
            try:
                out.append({"ok": True, **workflow.act(self.a, v.user, i, action, **kw)})
            except (workflow.WorkflowError, LookupError) as e:
                out.append({"ok": False, "id": i, "error": str(e).strip("'\"")})
        return out

    # ------------------------------------------------------------------ conversations

    def conversation(
        self,
        v: Viewer,
        key: str,
        *,
        before: int | None = None,
        after: int | None = None,
        why: str = "",
        limit: int = 100,
    ) -> dict[str, Any]:
        """One page of a conversation (newest page by default); audited."""
        conv_fp = _fp(key)
        if (
            self.a.conn.execute("SELECT 1 FROM conversations WHERE fp = ?", (conv_fp,)).fetchone()
            is None
        ):
            raise NotFound(f"no conversation {key[:16]}")
        self._can_read(v, conv_fp)
        limit = max(1, min(limit, 500))
        c = self.a.conn
        if after is not None:
            seqs = [
                s
                for (s,) in c.execute(
                    "SELECT seq FROM messages WHERE conv_fp = ? AND seq > ? ORDER BY sent_at, seq "
                    "LIMIT ?",
                    (conv_fp, after, limit),
                )
            ]
        else:
            cut = "AND seq < ?" if before is not None else ""
            args: tuple[Any, ...] = (conv_fp, before) if before is not None else (conv_fp,)
            seqs = [
                s
                for (s,) in c.execute(
                    f"SELECT seq FROM messages WHERE conv_fp = ? {cut} ORDER BY sent_at DESC, "
                    "seq DESC LIMIT ?",
                    (*args, limit),
                )
            ]
        views = self._views(v, seqs)
        cv = self._conv(conv_fp)
        self._audit(
            v,
            "view-conversation",
            f"conversation:{key[:16]}",
            {
                "why": why,
                "messages": [m.seq for m in views],
            },
        )
        older = newer = None
        if views:
            older = (
                views[0].seq
                if c.execute(
                    "SELECT 1 FROM messages WHERE conv_fp = ? AND (sent_at, seq) < (?, ?) LIMIT 1",
                    (conv_fp, views[0].at, views[0].seq),
                ).fetchone()
                else None
            )
            newer = (
                views[-1].seq
                if c.execute(
                    "SELECT 1 FROM messages WHERE conv_fp = ? AND (sent_at, seq) > (?, ?) LIMIT 1",
                    (conv_fp, views[-1].at, views[-1].seq),
                ).fetchone()
                else None
            )
        return {
            "key": key,
            "label": self.conversation_label(v, conv_fp),
            "type": str(cv.type) if cv else "",
            "participants": self._participants(v, conv_fp),
            "messages": views,
            "older": older,
            "newer": newer,
            "privileged": self._privileged(conv_fp),
        }

    def message(self, v: Viewer, seq: int, why: str = "") -> MessageView:
        """One message in full (no display cut); audited."""
        row = self.a.conn.execute("SELECT conv_fp FROM messages WHERE seq = ?", (seq,)).fetchone()
        if row is None:
            raise NotFound(f"no message {seq}")
        conv_fp = bytes(row[0])
        self._can_read(v, conv_fp)
        views = self._views(v, [seq], limit=1 << 31)
        if not views:
            raise NotFound(f"message {seq} is no longer readable (disposed)")
        self._audit(v, "view-message", f"message:{seq}", {"why": why})
        return views[0]

    def message_conversation(self, seq: int) -> str:
        row = self.a.conn.execute("SELECT conv_fp FROM messages WHERE seq = ?", (seq,)).fetchone()
        if row is None:
            raise NotFound(f"no message {seq}")
        return bytes(row[0]).hex()

    def download(self, v: Viewer, seq: int, blob_id: str, why: str = "") -> tuple[bytes, str]:
        """An attachment's bytes and file name; checked against its message; audited."""
        self.need(v, "media-download")
        mv = self.message(v, seq, why)
        f = next((f for f in mv.files if f["blob_id"] == blob_id and blob_id), None)
        if f is None:
            raise NotFound(f"message {seq} has no stored attachment {blob_id[:16]}")
        row = self.a.conn.execute("SELECT key_id FROM blobs WHERE id = ?", (blob_id,)).fetchone()
        aead = self.a.keys.by_id(int(row[0])) if row else None
        if aead is None:
            raise NotFound("the attachment is no longer stored (disposed)")
        data = open_sealed(aead, self.a.blobs.read(blob_id), blob_id.encode())
        self._audit(
            v, "download", f"blob:{blob_id[:16]}", {"why": why, "message": seq, "bytes": len(data)}
        )
        return data, str(f["name"])

    # ------------------------------------------------------------------ people, inventory

    def people(self, v: Viewer) -> dict[str, Any]:
        self.need(v, "people-read")
        d = self.directory()
        of_id = self.a.keys.fingerprints.of_id
        people = [
            {
                "name": self.person_label(v, p.id),
                "kind": str(p.kind),
                "org": "" if v.pseudonyms else inert(p.org),
                "department": inert(p.department),
                "title": "" if v.pseudonyms else inert(p.title),
            }
            for p in d.people.values()
        ]
        people.sort(key=lambda p: (p["kind"], p["department"], p["name"]))
        groups: list[dict[str, Any]] = []
        for cv in d.conversations.values():
            if cv.type != ChatType.GROUP:
                continue
            fp = of_id(cv.id)
            kinds = [str(d.person(e.participant).kind) for e in cv.roster if e.left_at is None]
            groups.append(
                {
                    "key": fp.hex(),
                    "name": self.conversation_label(v, fp),
                    "members": len(kinds),
                    "external": kinds.count("external"),
                    "approved": d.allowed("external-group", cv.id),
                    "privileged": d.allowed("privileged-conversation", cv.id),
                }
            )
        groups.sort(key=lambda g: (-g["external"], g["name"]))
        return {"people": people, "groups": groups}

    def inventory(self, v: Viewer) -> list[dict[str, Any]]:
        self.need(v, "inventory-read")
        items = store.inventory(self.a, None if v.pseudonyms else self.directory())
        for it in items:
            it["name"] = inert(it["name"])
        return items

    def decide(self, v: Viewer, kind: str, ident: str, status: str, note: str) -> str:
        self.need(v, "inventory-decide")
        return store.set_status(self.a, kind, ident, status, note, v.name)

    # ------------------------------------------------------------------ audit log, sampling

    def audit_log(
        self, v: Viewer, *, action: str = "", actor: str = "", before: int | None = None
    ) -> list[dict[str, Any]]:
        self.need(v, "audit-read")
        return [
            {
                "seq": e.seq,
                "at": e.at,
                "actor": e.actor,
                "action": e.action,
                "subject": e.subject,
                "detail": e.detail,
            }
            for e in audit.events(
                self.a, action or None, self.settings.page_size, actor=actor or None, before=before
            )
        ]

    def policies(self) -> PolicySet:
        """The policies in force, parsed again only when a file in DATA/policies changed
        (the alert page needs a policy's name on every view)."""
        folder = self.a.data_dir / FOLDER
        sig = (
            tuple(
                sorted((f.name, f.stat().st_mtime_ns, f.stat().st_size) for f in folder.iterdir())
            )
            if folder.is_dir()
            else ()
        )
        if self._pset is None or sig != self._pset_sig:
            self._pset, self._pset_sig = load_policies(self.a.data_dir), sig
        return self._pset

    def sampling_rules(self, v: Viewer) -> list[dict[str, Any]]:
        if not v.user.can("sampling-configure"):
            self.need(v, "sample-work")
        return sampling.rules(self.a)

    def add_sampling_rule(self, v: Viewer, scope: str, value: str, percent: float) -> int:
        self.need(v, "sampling-configure")
        rid = sampling.add_rule(self.a, scope, value, percent, v.name, self.policies())
        sampling.run(self.a, self.directory(), self.policies())
        return rid

    def retire_sampling_rule(self, v: Viewer, rule_id: int) -> None:
        self.need(v, "sampling-configure")
        sampling.retire_rule(self.a, rule_id, v.name)

    def samples(self, v: Viewer, why: str = "") -> list[dict[str, Any]]:
        """The sampling queue with each message shown (audited as one view)."""
        self.need(v, "sample-work")
        items = sampling.pending(self.a, self.settings.page_size)
        readable = []
        for it in items:
            key = self.message_conversation(it["seq"])
            if self._privileged(bytes.fromhex(key)) and not v.user.can("privileged-read"):
                continue
            it["conversation_key"] = key
            readable.append(it)
        views = {m.seq: m for m in self._views(v, [it["seq"] for it in readable])}
        for it in readable:
            it["message"] = views.get(it["seq"])
        if readable:
            self._audit(
                v,
                "view-message",
                "samples",
                {
                    "why": why or "sampling queue",
                    "messages": [it["seq"] for it in readable],
                },
            )
        return [it for it in readable if it["message"] is not None]

    def review_sample(self, v: Viewer, rule_id: int, seq: int, verdict: str, note: str) -> None:
        self.need(v, "sample-work")
        sampling.review(self.a, rule_id, seq, verdict, note, v.name)


def _fp(key: str) -> bytes:
    try:
        fp = bytes.fromhex(key)
    except ValueError:
        raise NotFound(f"no conversation {key[:16]!r}") from None
    if not 8 <= len(fp) <= 64:
        raise NotFound(f"no conversation {key[:16]!r}")
    return fp


def _daily(rows: list[tuple[int, int]], last: int | None) -> list[dict[str, Any]]:
    """30 days ending at ``last`` (epoch ms), zero-filled, as ISO dates."""
    if last is None:
        return []
    end = last // DAY_MS
    counts = dict(rows)
    return [
        {"day": time.strftime("%m-%d", time.gmtime(d * 86400)), "count": counts.get(d, 0)}
        for d in range(end - 29, end + 1)
    ]
