"""Drive an import: units → canonical messages → sealed batches with their cursors.

Each :class:`~.common.Unit` (one table of one database, or one export file) commits in
batches; a batch's cursor (the last row position) commits in the same transaction, so a
re-run resumes exactly where the last one stopped and never duplicates. A row that cannot
be decoded is quarantined (kept encrypted, reported with its locator and reason); the
rest of the file goes on. A whole-file problem (encrypted, corrupt, truncated, unknown
schema) is found before anything of that file is committed.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import msgspec

from ..archive import Archive
from ..crypto import open_sealed
from ..ingest import stored_cursor
from ..model import Message, Participant, ParticipantKind
from ..seal import Batch, Counts, Sealer
from .common import (
    SOURCE,
    Account,
    BodyError,
    Employee,
    Quarantined,
    Unit,
    VoiceError,
    to_message,
)
from .sqlitedb import ImportFileError

BATCH_ROWS = 5000

Progress = Callable[[int], None]
_PARTICIPANT = msgspec.json.Decoder(Participant)


@dataclass
class UnitReport:
    path: str
    label: str
    format: str
    counts: Counts = field(default_factory=Counts)
    resumed_at: int = 0


def _merge_known(archive: Archive, p: Participant) -> Participant:
    """An existing internal/bot marking (from an employee CSV or the WeCom directory)
    wins over an import's external guess; so do its department and title."""
    if p.kind != ParticipantKind.EXTERNAL:
        return p
    pfp = archive.keys.fingerprints.of_id(p.id)
    row = archive.conn.execute("SELECT kind, enc FROM participants WHERE fp = ?", (pfp,)).fetchone()
    if row is None or row[0] == ParticipantKind.EXTERNAL:
        return p
    old = _PARTICIPANT.decode(open_sealed(archive.keys.records, row[1], b"participant\x00" + pfp))
    return Participant(
        id=p.id,
        kind=old.kind,
        name=p.name or old.name,
        org=old.org,
        department=old.department,
        title=old.title,
    )


def mark_employees(archive: Archive, staff: dict[str, Employee], actor: str) -> tuple[int, int]:
    """Mark already-archived people internal from an employee CSV (by WeChat id).
    Returns (marked, not found). One transaction, audited (counts only: no names)."""
    from ..audit import record
    from ..seal import Sealer

    sealer = Sealer(archive)
    marked = missing = 0
    sealer.begin()
    batch = Batch()
    try:
        for acct, e in staff.items():
            pfp = archive.keys.fingerprints.of_id(acct)
            row = archive.conn.execute("SELECT enc FROM participants WHERE fp = ?", (pfp,))
            found = row.fetchone()
            if found is None:
                missing += 1
                continue
            old = _PARTICIPANT.decode(
                open_sealed(archive.keys.records, found[0], b"participant\x00" + pfp)
            )
            batch.participants.append(
                Participant(
                    id=acct,
                    kind=ParticipantKind.INTERNAL,
                    name=e.name or old.name,
                    org=old.org,
                    department=e.department or old.department,
                    title=e.title or old.title,
                )
            )
            marked += 1
        record(
            archive,
            actor,
            "employees-mark",
            "directory",
            {"listed": len(staff), "marked": marked, "not_found": missing},
        )
        sealer.commit(batch)
    except BaseException:
        if archive.conn.in_transaction:
            sealer.abort()
        raise
    return marked, missing


# Exports without the server's message id. Their messages are matched against what a
# database import of the same account already archived by (conversation, second, sender,
# kind) — each archived message absorbs at most one export row — so importing a device and
# a chatlog export of it does not archive every message twice.
UNKEYED_FORMATS = frozenset(("chatlog", "wechatmsg-csv", "wechatmsg-txt", "wechatmsg-html"))
SeenKey = tuple[bytes, int, bytes, str]


class Importer:
    """One account's import; :meth:`run` takes its units in order."""

    def __init__(self, archive: Archive, sealer: Sealer, acct: Account, fmt: str) -> None:
        self.a, self.sealer, self.acct, self.fmt = archive, sealer, acct, fmt
        self.known: set[str] = set()
        self._directory_sent = False
        self._archived: Counter[SeenKey] | None = None

    def _already_archived(self, m: Message) -> bool:
        """An export row that a database import already archived under its server id."""
        if self._archived is None:
            self._archived = Counter(
                (c, t, s, k)
                for c, t, s, k in self.a.conn.execute(
                    "SELECT conv_fp, sent_at, sender_fp, kind FROM messages "
                    "WHERE source = ? AND source_msg_id NOT LIKE '%:%:%'",  # <owner>:<server id>
                    (SOURCE,),
                )
            )
        of_id = self.a.keys.fingerprints.of_id
        key = (of_id(m.conversation), m.sent_at, of_id(m.sender), m.kind)
        if self._archived[key] > 0:
            self._archived[key] -= 1
            return True
        return False

    def _people(self, batch: Batch, ids: list[str]) -> None:
        for pid in ids:
            if pid and pid not in self.known:
                self.known.add(pid)
                batch.participants.append(_merge_known(self.a, self.acct.participant(pid)))

    def run(self, unit: Unit, progress: Progress | None = None) -> UnitReport:
        rep = UnitReport(str(unit.path), unit.label, self.fmt)
        start = stored_cursor(self.a, unit.stream, unit.head)
        rep.resumed_at = start
        batch = self._new_batch()
        pos = start
        self.sealer.begin()
        try:
            for pos, item in unit.rows(start):
                if isinstance(item, Quarantined):
                    batch.quarantine.append((item.locator, item.reason, item.raw))
                else:
                    try:
                        m = to_message(item, self.acct, self.sealer)
                    except (BodyError, VoiceError) as e:
                        batch.quarantine.append((item.locator, str(e), item.raw))
                    else:
                        if (
                            self.fmt in UNKEYED_FORMATS
                            and item.server_id == 0
                            and self._already_archived(m)
                        ):
                            rep.counts.duplicates += 1
                            continue
                        self._people(batch, [m.sender, *m.recipients])
                        batch.messages.append((m, item.raw))
                if len(batch) >= BATCH_ROWS:
                    self._commit(batch, unit, pos, rep)
                    if progress:
                        progress(pos)
                    batch = self._new_batch()
                    self.sealer.begin()
            self._commit(batch, unit, pos, rep)
            if progress:
                progress(pos)
        except sqlite3.DatabaseError as e:
            self.sealer.abort()
            raise ImportFileError(f"{unit.path}: database error while reading: {e}") from None
        except BaseException:
            if self.a.conn.in_transaction:
                self.sealer.abort()
            raise
        return rep

    def _new_batch(self) -> Batch:
        batch = Batch(rerendered_duplicates=True)
        if not self._directory_sent:
            people, rooms = self.acct.directory()
            for p in people:
                self.known.add(p.id)
                batch.participants.append(_merge_known(self.a, p))
            batch.conversations.extend(rooms)
            self._directory_sent = True
        return batch

    def _commit(self, batch: Batch, unit: Unit, pos: int, rep: UnitReport) -> None:
        batch.cursor = (unit.stream, f"{pos};head={unit.head}")
        rep.counts.add(self.sealer.commit(batch))
