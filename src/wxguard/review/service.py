"""The service layer of the review application: one method per user action, each checking
the caller's permission and recording an audit event for every look at plaintext.

The web UI, the REST API and the CLI are thin layers over this class. It is not
thread-safe: the server calls it from one thread (see web.py). It is built in layers:
:class:`~.service_core.ServiceCore` (viewer, directory, labels, audit, reading messages as
views), :class:`~.service_alerts.AlertService` (dashboard, queue, alerts, workflow), and
here conversations, messages, downloads, people, inventory, the audit log and sampling.
"""

from __future__ import annotations

from typing import Any

from .. import audit
from ..model import ChatType
from ..policy import store
from ..sealed import open_blob
from . import sampling
from .service_alerts import SEVERITY_RANK, SORTS, STATES, AlertService, QueueQuery
from .service_core import NotFound, ServiceCore, Viewer
from .views import MessageView, inert


class ReviewService(AlertService):
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
        data = open_blob(self.a, blob_id)
        if data is None:
            raise NotFound("the attachment is no longer stored (disposed)")
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


__all__ = [
    "SEVERITY_RANK",
    "SORTS",
    "STATES",
    "NotFound",
    "QueueQuery",
    "ReviewService",
    "ServiceCore",
    "Viewer",
]
