"""Export requests, approval and the package.

Workflow: ``request`` (scope, formats, reason) → ``approve`` by a *different* user when
the two-person rule is on (``[exports] two_person = true`` in review.toml) → ``run``, which
writes the package folder. Every step is an audit event.

The package::

    manifest.json      scope, who asked and approved, the signed ledger checkpoint, every
                       message with its proof file, every file with its SHA-256; signed
    proofs/NNNNNN.json one inclusion proof per message (`wxguard proof --check` checks one,
                       or the whole manifest)
    messages.jsonl · messages.csv · transcript.pdf · eml/… · rsmf/… · attachments/…
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import orjson

from .. import audit
from ..archive import Archive, _now_ms
from ..capture.media import file_fp
from ..crypto import open_sealed
from ..holds import Hold, HoldMatcher, HoldScope, get
from ..model import ChatType, Message
from ..policy.store import load_directory
from ..proof import build_proofs
from ..proofcheck import MANIFEST_FORMAT, canonical_json, manifest_message, split_plaintext
from ..sealed import open_body
from ..textview import attachments_of
from . import writers
from .writers import FORMATS, Item, Thread

_MESSAGE = msgspec.json.Decoder(Message)
STATES = ("requested", "approved", "done")


class ExportError(ValueError):
    pass


class NoSuchExport(LookupError, ExportError):
    """LookupError first: the review API answers 404."""


class ExportScope(msgspec.Struct, kw_only=True, omit_defaults=True, forbid_unknown_fields=True):
    query: str = ""  # a search query
    hold: int | None = None  # everything a legal hold preserves
    person: str = ""  # a data-subject export: everything the person sent or was party to
    custodian: str = ""  # whose point of view (RSMF direction, X-RSMF-Custodian)


_SCOPE = msgspec.json.Decoder(ExportScope)


@dataclass
class ExportRequest:
    id: int
    scope: ExportScope
    formats: list[str]
    reason: str
    requested_by: str
    requested_at: int
    approved_by: str | None
    state: str
    path: str
    messages: int
    manifest_sha256: str

    def as_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["scope"] = msgspec.to_builtins(self.scope)
        return d


def _get(a: Archive, eid: int) -> ExportRequest:
    r = a.conn.execute(
        "SELECT id, scope, formats, reason, requested_by, requested_at, approved_by, state, path, "
        "messages, manifest_sha256 FROM exports WHERE id = ?",
        (eid,),
    ).fetchone()
    if r is None:
        raise NoSuchExport(f"no export {eid}")
    return ExportRequest(r[0], _SCOPE.decode(r[1]), orjson.loads(r[2]), *r[3:])


def exports(a: Archive) -> list[ExportRequest]:
    return [_get(a, i) for (i,) in a.conn.execute("SELECT id FROM exports ORDER BY id DESC")]


def request(
    a: Archive,
    scope: ExportScope,
    formats: list[str],
    reason: str,
    actor: str,
    two_person: bool,
) -> ExportRequest:
    if sum(bool(x) for x in (scope.query, scope.hold is not None, scope.person)) != 1:
        raise ExportError("an export needs exactly one of: a query, a hold, a person")
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise ExportError(f"formats: choose from {', '.join(FORMATS)} (got {', '.join(bad)})")
    if not reason.strip():
        raise ExportError("an export needs a reason (the matter, request or case number)")
    if scope.hold is not None:
        get(a, scope.hold)
    if scope.query:
        from ..search.query import QueryError, parse

        try:
            parse(scope.query)
        except QueryError as e:
            raise ExportError(f"query: {e}") from None
    state = "requested" if two_person else "approved"
    body = msgspec.json.encode(scope).decode()
    with a.transaction():
        cur = a.conn.execute(
            "INSERT INTO exports (scope, formats, reason, requested_by, requested_at, state) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (body, orjson.dumps(sorted(set(formats))).decode(), reason, actor, _now_ms(), state),
        )
        eid = int(cur.lastrowid or 0)
        audit.record(
            a,
            actor,
            "export-request",
            f"export:{eid}",
            {
                "scope": orjson.loads(body),
                "formats": sorted(set(formats)),
                "reason": reason,
                "two_person": two_person,
            },
        )
    return _get(a, eid)


def approve(a: Archive, eid: int, actor: str) -> ExportRequest:
    e = _get(a, eid)
    if e.state != "requested":
        raise ExportError(f"export {eid} is {e.state}; only a requested export can be approved")
    if e.requested_by == actor:
        raise ExportError(
            f"export {eid}: the two-person rule needs someone other than "
            f"{actor} (who requested it) to approve"
        )
    with a.transaction():
        a.conn.execute(
            "UPDATE exports SET approved_by = ?, approved_at = ?, state = 'approved' WHERE id = ?",
            (actor, _now_ms(), eid),
        )
        audit.record(a, actor, "export-approve", f"export:{eid}", {"requested_by": e.requested_by})
    return _get(a, eid)


# --------------------------------------------------------------------------- selection


def select(a: Archive, scope: ExportScope) -> list[int]:
    """Seqs of the messages in scope, oldest first."""
    if scope.query:
        from ..search.engine import matching_seqs

        return matching_seqs(a, scope.query)
    if scope.hold is not None:
        h = get(a, scope.hold)
    else:
        d = load_directory(a)
        ids = d.person_ids(scope.person)
        if not ids:
            raise ExportError(f"person {scope.person!r} is not a known participant id or name")
        if len(ids) > 1:  # a data-subject export must not take in a namesake's messages
            raise ExportError(
                f"{len(ids)} people are named {scope.person!r} ({', '.join(ids[:5])}); "
                "give the participant id"
            )
        h = Hold(0, "person", "", HoldScope(custodians=ids), "", "", 0, None, None, "")
    m = HoldMatcher(a, [h])
    rows = a.conn.execute(
        "SELECT seq, sent_at, sender_fp, conv_fp FROM messages ORDER BY sent_at, seq"
    )
    return [s for s, at, sf, cf in rows if m.held_by(s, at, bytes(sf), bytes(cf)) is not None]


def _threads(a: Archive, seqs: list[int], root: Path) -> list[Thread]:
    d = load_directory(a)
    name = {p.id: p.name or p.id for p in d.people.values()}
    recalled = {(s, t) for s, t in a.conn.execute("SELECT source, target_msg_id FROM recalls")}
    threads: dict[str, Thread] = {}
    c = a.conn
    for i in range(0, len(seqs), 500):
        chunk = seqs[i : i + 500]
        ph = ",".join("?" * len(chunk))
        fetched = {
            (s, bytes(f)): b
            for s, f, b in c.execute(
                f"SELECT msg_seq, file_fp, blob_id FROM media_queue WHERE msg_seq IN ({ph}) "
                "AND state = 'done'",
                chunk,
            )
        }
        rows = c.execute(
            f"SELECT seq, source, source_msg_id, key_id, body FROM messages WHERE seq IN ({ph}) "
            "ORDER BY sent_at, seq",
            chunk,
        ).fetchall()
        for seq, source, msgid, kid, body in rows:
            pt = open_body(a, seq, f"{source}:{msgid}", kid, body)
            if pt is None:
                continue
            m = _MESSAGE.decode(split_plaintext(pt)[1])
            t = threads.get(m.conversation)
            if t is None:
                cv = d.conversations.get(m.conversation)
                people = {
                    e.participant: name.get(e.participant, e.participant)
                    for e in (cv.roster if cv else [])
                }
                label = (
                    cv.name
                    if cv and cv.name
                    else " ↔ ".join(
                        name.get(p, p) for p in m.conversation.removeprefix("direct:").split("|")
                    )
                )
                t = Thread(
                    m.conversation, label or m.conversation, m.chat or ChatType.DIRECT, people
                )
                threads[m.conversation] = t
            for p in (m.sender, *m.recipients):
                if p and p not in t.people:
                    t.people[p] = name.get(p, p)
            it = Item(seq, m, name.get(m.sender, m.sender), (m.source, m.source_msg_id) in recalled)
            for att in attachments_of(m.payload):
                bid = att.blob_id or (
                    fetched.get((seq, file_fp(a, att.sdkfileid)), "") if att.sdkfileid else ""
                )
                if not bid:
                    continue
                row = c.execute("SELECT key_id FROM blobs WHERE id = ?", (bid,)).fetchone()
                aead = a.keys.by_id(int(row[0])) if row else None
                if aead is None:
                    continue
                fname = att.name if hasattr(att, "name") and att.name else bid[:16]
                rel = f"attachments/{bid[:16]}-{writers.safe_name(fname)}"
                dest = root / rel
                if not dest.exists():
                    dest.parent.mkdir(exist_ok=True)
                    dest.write_bytes(open_sealed(aead, a.blobs.read(bid), bid.encode()))
                it.files.append((rel, fname, dest.stat().st_size))
            t.items.append(it)
    return sorted(threads.values(), key=lambda t: t.items[0].message.sent_at)


# --------------------------------------------------------------------------- the package


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def run(
    a: Archive,
    eid: int,
    actor: str,
    out_dir: Path,
    *,
    font: Path | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> ExportRequest:
    """Write export ``eid``'s package to ``out_dir`` (must not exist; written to a temporary
    sibling and renamed when complete, so a crash never leaves a half package)."""
    e = _get(a, eid)
    if e.state == "requested":
        raise ExportError(
            f"export {eid} waits for a second person's approval (`wxguard export approve {eid}`)"
        )
    if e.state == "done":
        raise ExportError(f"export {eid} was already written to {e.path}")
    if out_dir.exists():
        raise ExportError(f"{out_dir} already exists; choose a new folder")
    tmp = out_dir.with_name(out_dir.name + ".partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(mode=0o700, parents=True)
    try:
        a.seal_checkpoint()
        seqs = select(a, e.scope)
        if progress:
            progress("collecting", 0, len(seqs))
        threads = _threads(a, seqs, tmp)
        items = [it for t in threads for it in t.items]
        files: list[str] = [
            f"attachments/{p.name}" for p in sorted((tmp / "attachments").glob("*"))
        ]
        for fmt in e.formats:
            if progress:
                progress(fmt, 0, len(items))
            if fmt == "jsonl":
                files += writers.write_jsonl(tmp, threads)
            elif fmt == "csv":
                files += writers.write_csv(tmp, threads)
            elif fmt == "eml":
                files += writers.write_eml(tmp, threads)
            elif fmt == "rsmf":
                files += writers.write_rsmf(
                    tmp, threads, e.scope.custodian or e.scope.person or None
                )
            elif fmt == "pdf":
                files += writers.write_pdf(tmp, threads, f"wxguard export {eid}: {e.reason}", font)
        (tmp / "proofs").mkdir()
        listed = []
        cp: dict[str, Any] | None = None
        for n, doc in enumerate(build_proofs(a, [(it.seq, it.message.id) for it in items]), 1):
            rel = f"proofs/{n:06d}.json"
            (tmp / rel).write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2))
            cp = doc["checkpoint"]
            listed.append(
                {"id": doc["message_id"], "seq": doc["record"]["index"] + 1, "proof": rel}
            )
            files.append(rel)
            if progress and n % 1000 == 0:
                progress("proofs", n, len(items))
        manifest: dict[str, Any] = {
            "format": MANIFEST_FORMAT,
            "export": eid,
            "created_at": datetime.now(UTC).isoformat(),
            "scope": msgspec.to_builtins(e.scope),
            "formats": e.formats,
            "reason": e.reason,
            "requested_by": e.requested_by,
            "approved_by": e.approved_by,
            "produced_by": actor,
            "conversations": len(threads),
            "public_key": a.keys.public_key.hex(),
            "checkpoint": cp,
            "messages": listed,
            "files": [
                {"path": f, "sha256": _sha256(tmp / f), "bytes": (tmp / f).stat().st_size}
                for f in files
            ],
        }
        canonical = canonical_json(manifest)
        manifest["signature"] = a.keys.signing.sign(manifest_message(canonical)).hex()
        text = orjson.dumps(manifest, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
        (tmp / "manifest.json").write_bytes(text)
        os.rename(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # the request stays approved: run it again
        raise
    digest = hashlib.sha256(text).hexdigest()
    with a.transaction():
        a.conn.execute(
            "UPDATE exports SET state = 'done', path = ?, messages = ?, manifest_sha256 = ?, "
            "finished_at = ? WHERE id = ?",
            (str(out_dir), len(items), digest, _now_ms(), eid),
        )
        audit.record(
            a,
            actor,
            "export-run",
            f"export:{eid}",
            {
                "messages": len(items),
                "files": len(files),
                "manifest_sha256": digest,
                "path": str(out_dir),
            },
        )
    return _get(a, eid)
