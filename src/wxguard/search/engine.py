"""Running a query: index candidates → filters → verification against the text → hits.

Results are newest first. A query whose terms are each one index token (1–2 Chinese
characters, or single words) is answered by the index alone and its count is exact. Other
terms (phrases, longer Chinese) are verified on the decrypted text, candidate by candidate
in result order, until the page is full; the count is exact when every candidate was
checked (up to ``MAX_VERIFY``), and a lower bound otherwise.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import msgspec
import tantivy

from ..archive import Archive
from ..model import Message
from ..policy.facts import Directory
from ..policy.store import load_directory
from ..proofcheck import split_plaintext
from ..sealed import open_body
from ..textview import text_view
from .index import SearchIndex, fp16
from .query import SearchQuery, Term, parse
from .text import highlight_spans, normalise, term_pattern

MAX_VERIFY = 20_000
CHUNK = 256
MAX_LIMIT = 500
AUTO_UPDATE = 20_000  # a search indexes up to this many new messages itself
_MESSAGE = msgspec.json.Decoder(Message)
_FP = re.compile(r"^[0-9a-f]{16,32}$")


def _count(r: tantivy.SearchResult) -> int:
    return int(getattr(r, "count", 0) or 0)


def _seqs(searcher: tantivy.Searcher, addrs: list[tantivy.DocAddress]) -> list[int]:
    return [int(s or 0) for s in searcher.fast_field_values("seq", addrs)]


@dataclass
class Hit:
    seq: int
    message: Message
    text: str
    spans: list[tuple[int, int]]


@dataclass
class Results:
    query: str
    hits: list[Hit] = field(default_factory=list)
    total: int = 0
    total_exact: bool = True
    candidates: int = 0
    page: int = 1
    limit: int = 20
    more: bool = False
    index_behind: int = 0
    took_ms: float = 0.0


class SearchEngine:
    def __init__(self, a: Archive, directory: Directory | None = None) -> None:
        self.a = a
        self.index = SearchIndex(a)
        self._dir = directory

    @property
    def directory(self) -> Directory:
        if self._dir is None:
            self._dir = load_directory(self.a)
        return self._dir

    def set_directory(self, d: Directory) -> None:
        self._dir = d

    # ------------------------------------------------------------------ filters

    def people(self, value: str) -> list[str]:
        """Index keys for a person given by id, display name or fingerprint."""
        return self._keys(value, self.directory.person_ids)

    def conversations(self, value: str) -> list[str]:
        """Index keys for a conversation given by id, group name or fingerprint."""
        return self._keys(value, self.directory.conversation_ids)

    def _keys(self, value: str, resolve: Callable[[str], list[str]]) -> list[str]:
        if _FP.match(value):
            return [value[:16]]
        # an id we never saw matches nothing, honestly
        of_id = self.a.keys.fingerprints.of_id
        return [fp16(of_id(i)) for i in resolve(value) or [value]]

    def _seq_set(self, q: SearchQuery) -> set[int] | None:
        """Messages with the findings / alerts the query asks for (None: no such filter)."""
        sets: list[set[int]] = []
        c = self.a.conn
        if "finding" in q.has:
            sets.append({s for (s,) in c.execute("SELECT DISTINCT seq FROM findings")})
        if q.findings:
            ph = ",".join("?" * len(q.findings))
            sets.append(
                {
                    s
                    for (s,) in c.execute(
                        f"SELECT DISTINCT seq FROM findings WHERE detector IN ({ph}) "
                        f"OR entity IN ({ph})",
                        (*q.findings, *q.findings),
                    )
                }
            )
        if "alert" in q.has:
            sets.append({s for (s,) in c.execute("SELECT DISTINCT seq FROM alert_evidence")})
        if q.behaviours:
            ph = ",".join("?" * len(q.behaviours))
            sets.append(
                {
                    s
                    for (s,) in c.execute(
                        "SELECT DISTINCT e.seq FROM alert_evidence e JOIN alerts a "
                        f"ON a.id = e.alert_id WHERE a.behaviour IN ({ph})",
                        q.behaviours,
                    )
                }
            )
        if not sets:
            return None
        out = sets[0]
        for s in sets[1:]:
            out &= s
        return out

    def build(self, q: SearchQuery, exclude_conversations: Iterable[bytes] = ()) -> tantivy.Query:
        schema = self.index.schema
        h = self.index.hasher
        Q, Oc = tantivy.Query, tantivy.Occur

        def key(k: str) -> tantivy.Query:
            return Q.term_query(schema, "k", k, index_option="basic")

        def any_of(keys: list[str]) -> tantivy.Query:
            if len(keys) == 1:
                return key(keys[0])
            return Q.boolean_query([(Oc.Should, key(k)) for k in keys])

        clauses: list[tuple[tantivy.Occur, tantivy.Query]] = []
        for t in q.terms:
            if t.negated:
                if t.exact:
                    (tok,) = t.tokens
                    clauses.append((Oc.MustNot, Q.term_query(schema, "t", h(tok), "basic")))
                continue
            for tok in sorted(t.tokens):
                clauses.append((Oc.Must, Q.term_query(schema, "t", h(tok), "basic")))
        if q.senders:
            clauses.append((Oc.Must, any_of([f"s:{k}" for v in q.senders for k in self.people(v)])))
        if q.recipients:
            keys = [f"r:{k}" for v in q.recipients for k in self.people(v)]
            clauses.append((Oc.Must, any_of(keys)))
        if q.conversations:
            keys = [f"c:{k}" for v in q.conversations for k in self.conversations(v)]
            clauses.append((Oc.Must, any_of(keys)))
        if q.kinds:
            clauses.append((Oc.Must, any_of([f"k:{k}" for k in q.kinds])))
        for flag, prefix in (("external", "x"), ("internal", "x"), ("group", "g"), ("direct", "g")):
            if flag in q.flags:
                clauses.append((Oc.Must, key(f"{prefix}:{flag}")))
        if "attachment" in q.has:
            clauses.append((Oc.Must, key("a:attachment")))
        if q.after_ms is not None or q.before_ms is not None:
            rq = Q.range_query(
                schema,
                "at",
                tantivy.FieldType.Integer,
                q.after_ms,
                q.before_ms,
                include_upper=q.before_ms is None,
            )
            clauses.append((Oc.Must, rq))
        seqs = self._seq_set(q)
        if seqs is not None:
            clauses.append((Oc.Must, Q.term_set_query(schema, "seq", sorted(seqs))))
        for cfp in exclude_conversations:
            clauses.append((Oc.MustNot, key(f"c:{fp16(cfp)}")))
        if not any(o == Oc.Must for o, _ in clauses):
            clauses.append((Oc.Must, Q.all_query()))
        return Q.boolean_query(clauses)

    # ------------------------------------------------------------------ running

    def catch_up(self) -> int:
        """Index what is new (up to AUTO_UPDATE messages); returns how far behind it stays."""
        behind = self.index.behind()
        if behind:
            rep = self.index.update(limit=AUTO_UPDATE)
            behind = rep.behind
        return behind

    def _open(self, seqs: list[int]) -> dict[int, Message]:
        if not seqs:
            return {}
        ph = ",".join("?" * len(seqs))
        out: dict[int, Message] = {}
        for seq, source, msgid, kid, body in self.a.conn.execute(
            f"SELECT seq, source, source_msg_id, key_id, body FROM messages WHERE seq IN ({ph})",
            seqs,
        ):
            pt = open_body(self.a, seq, f"{source}:{msgid}", kid, body)
            if pt is not None:
                out[seq] = _MESSAGE.decode(split_plaintext(pt)[1])
        return out

    def search(
        self,
        query: str | SearchQuery,
        *,
        page: int = 1,
        limit: int = 20,
        exclude_conversations: Iterable[bytes] = (),
        update: bool = True,
    ) -> Results:
        t0 = time.perf_counter()
        q = parse(query) if isinstance(query, str) else query
        page, limit = max(1, page), max(1, min(limit, MAX_LIMIT))
        res = Results(query=q.source, page=page, limit=limit)
        if update:
            res.index_behind = self.catch_up()
        tq = self.build(q, exclude_conversations)
        searcher = self.index.searcher()
        patterns = [(term_pattern(t.text), t.negated) for t in q.terms]
        positive = [t.text for t in q.positive]
        if q.exact:
            r = searcher.search(
                tq, limit=limit + 1, count=True, order_by_field="at", offset=(page - 1) * limit
            )
            res.total = res.candidates = _count(r)
            addrs = [a for _, a in r.hits]
            seqs = _seqs(searcher, addrs)
            res.more = len(seqs) > limit
            msgs = self._open(seqs[:limit])
            for s in seqs[:limit]:
                hit = self._hit(s, msgs.get(s), patterns, positive)
                if hit is not None:
                    res.hits.append(hit)
        else:
            self._verified(searcher, tq, res, patterns, positive)
        res.took_ms = (time.perf_counter() - t0) * 1000
        return res

    def _verified(
        self,
        searcher: tantivy.Searcher,
        tq: tantivy.Query,
        res: Results,
        patterns: list[tuple[re.Pattern[str], bool]],
        positive: list[str],
    ) -> None:
        want = res.page * res.limit + 1
        first = (res.page - 1) * res.limit
        found = 0
        offset = 0
        complete = False
        while True:
            r = searcher.search(
                tq, limit=CHUNK, count=offset == 0, order_by_field="at", offset=offset
            )
            if offset == 0:
                res.candidates = _count(r)
            addrs = [a for _, a in r.hits]
            if not addrs:
                complete = True
                break
            seqs = _seqs(searcher, addrs)
            msgs = self._open(seqs)
            for s in seqs:
                hit = self._hit(s, msgs.get(s), patterns, positive)
                if hit is None:
                    continue
                if first <= found < first + res.limit:
                    res.hits.append(hit)
                found += 1
            offset += len(addrs)
            if offset >= res.candidates:
                complete = True
                break
            if offset >= MAX_VERIFY or found >= want:
                break
        res.total = found
        res.total_exact = complete
        res.more = found > first + res.limit

    @staticmethod
    def _hit(
        seq: int,
        m: Message | None,
        patterns: list[tuple[re.Pattern[str], bool]],
        positive: list[str],
    ) -> Hit | None:
        if m is None:
            return None  # disposed after the index saw it
        text = text_view(m.payload)
        norm = normalise(text)
        for rx, negated in patterns:
            if (rx.search(norm) is not None) == negated:
                return None
        return Hit(seq, m, text, highlight_spans(text, positive))


def matching_seqs(a: Archive, query: str) -> list[int]:
    """Every message a query matches (for holds and exports by saved query), oldest first."""
    eng = SearchEngine(a)
    q = parse(query)
    while eng.index.behind():
        eng.index.update()
    tq = eng.build(q)
    searcher = eng.index.searcher()
    n = _count(searcher.search(tq, limit=1, count=True))
    out: list[int] = []
    patterns = [(term_pattern(t.text), t.negated) for t in q.terms]
    step = 10_000
    for off in range(0, n, step):
        r = searcher.search(
            tq, limit=step, count=False, order_by_field="at", offset=off, order=tantivy.Order.Asc
        )
        seqs = _seqs(searcher, [h for _, h in r.hits])
        if q.exact:
            out.extend(seqs)
            continue
        msgs = eng._open(seqs)
        out.extend(s for s in seqs if eng._hit(s, msgs.get(s), patterns, []) is not None)
    return out


__all__ = ["Hit", "Results", "SearchEngine", "Term", "matching_seqs"]
