"""The review service's core: who is looking (:class:`Viewer`), the directory and labels
they see, audit records, and reading messages as views (decrypted, highlighted, with the
conversation around a hit). :class:`~wxguard.review.service.ReviewService` builds on it.
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
from ..capture.media import file_fp
from ..model import ChatType, Conversation, Message, Participant
from ..policy import store
from ..policy.facts import Directory
from ..policy.pack import FOLDER, PolicySet, load_policies
from ..proofcheck import split_plaintext
from ..sealed import open_body
from ..textview import attachments_of
from .accounts import User
from .settings import ReviewSettings
from .views import MessageView, inert, message_view
from .workflow import Denied

if TYPE_CHECKING:
    from ..search.engine import SearchEngine

_MESSAGE = msgspec.json.Decoder(Message)


class NotFound(LookupError):
    pass


@dataclass(frozen=True)
class Viewer:
    user: User
    pseudonyms: bool

    @property
    def name(self) -> str:
        return self.user.name


class ServiceCore:
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
