"""The search index: DATA/index/, a tantivy index of keyed-hash tokens.

One document per message: ``seq`` (fast, indexed), ``at`` (sent time, ms; fast, indexed),
``t`` (the text's tokens, hashed — see text.py) and ``k`` (filter keys: sender, recipients
and conversation as keyed fingerprints, kind, has-attachment, external/internal,
group/direct). Nothing in the index is a word or a name.

The index is derived data: ``wxguard index rebuild`` recreates it from the archive at any
time. ``update`` is incremental and idempotent: where the index has got to is read from
the index itself (its largest seq), so a crash between tantivy's commit and anything else
never indexes a message twice. Disposed messages are queued in ``index_deletions`` in the
same transaction that disposes them and removed here.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tantivy

from ..archive import Archive
from ..model import ChatType, Message, ParticipantKind, classify_participant
from ..sealed import opened_batches
from ..textview import attachments_of, text_view
from .text import TokenHasher, normalise, tokens

SCHEMA_VERSION = 1
COMMIT_EVERY = 50_000
WRITER_HEAP = 256_000_000


class IndexError_(RuntimeError):
    pass


def index_dir(a: Archive) -> Path:
    return a.data_dir / "index"


def _schema() -> tantivy.Schema:
    b = tantivy.SchemaBuilder()
    b.add_integer_field("seq", stored=False, indexed=True, fast=True)
    b.add_integer_field("at", stored=False, indexed=True, fast=True)
    b.add_text_field("t", stored=False, tokenizer_name="whitespace", index_option="basic")
    b.add_text_field("k", stored=False, tokenizer_name="whitespace", index_option="basic")
    return b.build()


def fp16(fp: bytes) -> str:
    """The index's form of a keyed fingerprint (first 64 bits, hex)."""
    return fp[:8].hex()


@dataclass
class UpdateReport:
    added: int = 0
    deleted: int = 0
    seconds: float = 0.0
    upto: int = 0
    behind: int = 0


class SearchIndex:
    def __init__(self, a: Archive) -> None:
        self.a = a
        self.path = index_dir(a)
        self.schema = _schema()
        self.hasher = TokenHasher(a.keys.fingerprints.of_bytes(b"search-index-key", b"key"))
        self._index = self._open()

    def _open(self) -> tantivy.Index:
        meta = self.path / "wxguard.json"
        if self.path.exists() and meta.exists():
            try:
                version = json.loads(meta.read_text())["schema"]
            except (OSError, ValueError, KeyError):
                version = None
            if version != SCHEMA_VERSION:
                raise IndexError_(
                    f"the search index in {self.path} was built by another version of wxguard; "
                    "run `wxguard index rebuild`"
                )
        self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            idx = tantivy.Index(self.schema, path=str(self.path), reuse=True)
        except (OSError, ValueError) as e:
            raise IndexError_(
                f"the search index in {self.path} cannot be opened ({e}); "
                "run `wxguard index rebuild`"
            ) from None
        if not meta.exists():
            meta.write_text(json.dumps({"schema": SCHEMA_VERSION}))
        return idx

    @property
    def index(self) -> tantivy.Index:
        return self._index

    def searcher(self) -> tantivy.Searcher:
        self._index.reload()
        return self._index.searcher()

    def upto(self) -> int:
        """The largest message seq in the index (0 when empty)."""
        s = self.searcher()
        if s.num_docs == 0:
            return 0
        res = s.search(tantivy.Query.all_query(), limit=1, count=False, order_by_field="seq")
        if not res.hits:
            return 0
        (v,) = s.fast_field_values("seq", [res.hits[0][1]])
        return int(v or 0)

    def behind(self) -> int:
        upto = self.upto()
        (n,) = self.a.conn.execute(
            "SELECT count(*) FROM messages WHERE seq > ?", (upto,)
        ).fetchone()
        (d,) = self.a.conn.execute("SELECT count(*) FROM index_deletions").fetchone()
        return int(n) + int(d)

    def document(self, seq: int, m: Message) -> tantivy.Document:
        h = self.hasher
        of_id = self.a.keys.fingerprints.of_id
        text = " ".join(map(h, tokens(normalise(text_view(m.payload)))))
        keys = [f"s:{fp16(of_id(m.sender))}", f"c:{fp16(of_id(m.conversation))}", f"k:{m.kind}"]
        keys.extend(f"r:{fp16(of_id(r))}" for r in m.recipients)
        people = (m.sender, *m.recipients)
        ext = any(classify_participant(p) == ParticipantKind.EXTERNAL for p in people if p)
        keys.append("x:external" if ext else "x:internal")
        keys.append("g:group" if m.chat == ChatType.GROUP else "g:direct")
        if attachments_of(m.payload):
            keys.append("a:attachment")
        doc = tantivy.Document()
        doc.add_integer("seq", seq)
        doc.add_integer("at", m.sent_at)
        doc.add_text("t", text)
        doc.add_text("k", " ".join(keys))
        return doc

    def update(
        self, progress: Callable[[int, int], None] | None = None, limit: int | None = None
    ) -> UpdateReport:
        """Index messages newer than the index and drop disposed ones; ``limit`` caps how
        many messages this call adds (the rest stay for the next call)."""
        t0 = time.perf_counter()
        rep = UpdateReport()
        conn = self.a.conn
        upto = self.upto()
        (todo,) = conn.execute("SELECT count(*) FROM messages WHERE seq > ?", (upto,)).fetchone()
        deletions = [s for (s,) in conn.execute("SELECT seq FROM index_deletions ORDER BY seq")]
        if not todo and not deletions:
            rep.upto = upto
            return rep
        try:
            writer = self._index.writer(heap_size=WRITER_HEAP, num_threads=1)
        except ValueError as e:
            raise IndexError_(
                f"the search index is being written by another wxguard process ({e})"
            ) from None
        try:
            for s in deletions:
                writer.delete_documents_by_term("seq", s)
            rep.deleted = len(deletions)
            pending = 0
            for batch in opened_batches(self.a, upto):
                for seq, _mid, m in batch:
                    writer.add_document(self.document(seq, m))
                    rep.added += 1
                    rep.upto = seq
                pending += len(batch)
                if progress:
                    progress(rep.added, int(todo))
                if pending >= COMMIT_EVERY:
                    writer.commit()
                    pending = 0
                if limit is not None and rep.added >= limit:
                    break
            writer.commit()
            writer.wait_merging_threads()
        except BaseException:
            writer.rollback()
            raise
        if deletions:
            with self.a.transaction():
                conn.executemany(
                    "DELETE FROM index_deletions WHERE seq = ?", [(s,) for s in deletions]
                )
        rep.upto = max(rep.upto, upto)
        rep.behind = max(0, int(todo) - rep.added)
        rep.seconds = time.perf_counter() - t0
        return rep

    def stats(self) -> dict[str, Any]:
        size = sum(f.stat().st_size for f in self.path.rglob("*") if f.is_file())
        s = self.searcher()
        docs = int(s.num_docs)
        return {
            "path": str(self.path),
            "documents": docs,
            "segments": int(s.num_segments),
            "bytes": size,
            "bytes_per_message": round(size / docs, 1) if docs else 0,
            "upto_seq": self.upto(),
            "behind": self.behind(),
        }


def rebuild(a: Archive, progress: Callable[[int, int], None] | None = None) -> UpdateReport:
    """Recreate the index from the archive (the old one is removed first)."""
    path = index_dir(a)
    if path.exists():
        shutil.rmtree(path)
    with a.transaction():
        a.conn.execute("DELETE FROM index_deletions")
    return SearchIndex(a).update(progress)
