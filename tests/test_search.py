"""Search: index results equal brute force over the decrypted corpus; filters; errors; audit."""

from __future__ import annotations

import collections
import shutil
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from conftest import directory_of, load, run_cli
from wxguard.archive import Archive
from wxguard.detect.registry import DetectorRegistry
from wxguard.detect.scan import archive_config, scan_archive
from wxguard.model import Message
from wxguard.sealed import opened_batches
from wxguard.search.engine import SearchEngine, matching_seqs
from wxguard.search.query import QueryError, parse
from wxguard.search.text import CJK, normalise, term_pattern
from wxguard.textview import attachments_of, text_view


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, demo: Path) -> Path:
    d = tmp_path_factory.mktemp("search") / "data"
    a = Archive.create(d)
    load(a, directory_of(demo), demo)
    scan_archive(a, DetectorRegistry.load(archive_config(a)))
    a.close()
    return d


@pytest.fixture
def a(built: Path) -> Iterator[Archive]:
    arch = Archive.open(built)
    yield arch
    arch.close()


@pytest.fixture(scope="module")
def corpus(built: Path) -> dict[int, tuple[str, Message]]:
    with Archive.open(built) as arch:
        return {
            seq: (normalise(text_view(m.payload)), m)
            for b in opened_batches(arch, 0)
            for seq, _, m in b
        }


def _all(eng: SearchEngine, q: str) -> tuple[set[int], bool]:
    seen: set[int] = set()
    page, exact = 1, True
    while True:
        r = eng.search(q, page=page, limit=500)
        seen.update(h.seq for h in r.hits)
        exact = exact and r.total_exact
        if not r.more:
            assert r.total == len(seen) or not r.total_exact
            return seen, exact
        page += 1


def _brute(corpus: dict[int, tuple[str, Message]], term: str) -> set[int]:
    rx = term_pattern(normalise(term))
    return {s for s, (t, _) in corpus.items() if rx.search(t)}


def _chinese_queries(corpus: dict[int, tuple[str, Message]]) -> list[str]:
    uni: collections.Counter[str] = collections.Counter()
    bi: collections.Counter[str] = collections.Counter()
    import re

    for t, _ in corpus.values():
        for run in re.findall(f"[{CJK}]+", t):
            uni.update(set(run))
            bi.update({run[i : i + 2] for i in range(len(run) - 1)})
    # frequent and rare ones: the common case and the long tail
    return [w for w, _ in uni.most_common(15) + uni.most_common()[-10:]] + [
        w for w, _ in bi.most_common(25) + bi.most_common()[-15:]
    ]


def test_one_and_two_character_chinese_match_brute_force_exactly(
    a: Archive, corpus: dict[int, tuple[str, Message]]
) -> None:
    eng = SearchEngine(a)
    queries = _chinese_queries(corpus)
    assert len(queries) >= 60
    for q in queries:
        got, exact = _all(eng, q)
        want = _brute(corpus, q)
        assert want, q
        assert got == want, f"{q}: recall {len(got & want) / len(want):.3f}"
        assert exact and parse(q).exact


def test_words_phrases_and_long_chinese_are_verified(
    a: Archive, corpus: dict[int, tuple[str, Message]]
) -> None:
    eng = SearchEngine(a)
    for q in ["the", "sync", "contract", "合同草案", "客户现场", "请查收", "价格方面需要"]:
        want = _brute(corpus, q)
        got, _ = _all(eng, q if " " not in q else f'"{q}"')
        assert got == want, q
    # a phrase: the words in that order, on word boundaries
    phrase = "sync on the"
    want = _brute(corpus, phrase)
    assert want
    got, _ = _all(eng, f'"{phrase}"')
    assert got == want
    # "sign" is a word: it must not match inside "design"
    assert all(
        "design" not in corpus[s][0] or " sign" in corpus[s][0] for s in _all(eng, "sign")[0]
    )
    # negation and AND
    both, _ = _all(eng, "合同 -草案")
    assert both == _brute(corpus, "合同") - _brute(corpus, "草案")


def test_filters_agree_with_the_messages(
    a: Archive, corpus: dict[int, tuple[str, Message]]
) -> None:
    eng = SearchEngine(a)
    files, _ = _all(eng, "kind:file")
    assert files == {s for s, (_, m) in corpus.items() if m.kind == "file"}
    att, _ = _all(eng, "has:attachment")
    assert att == {s for s, (_, m) in corpus.items() if attachments_of(m.payload)}
    sender = collections.Counter(m.sender for _, m in corpus.values()).most_common(1)[0][0]
    mine, _ = _all(eng, f"from:{sender}")
    assert mine == {s for s, (_, m) in corpus.items() if m.sender == sender}
    name = eng.directory.person(sender).name
    if name:
        assert _all(eng, f'from:"{name}"')[0] >= mine
    times = sorted(m.sent_at for _, m in corpus.values())
    mid = times[len(times) // 2]
    from datetime import UTC, datetime

    day = datetime.fromtimestamp(mid / 1000, UTC).strftime("%Y-%m-%d")
    start = int(datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp() * 1000)
    after, _ = _all(eng, f"after:{day} 客户")
    assert after == {s for s in _brute(corpus, "客户") if corpus[s][1].sent_at >= start}
    found, _ = _all(eng, "has:finding")
    with_findings = {s for (s,) in a.conn.execute("SELECT DISTINCT seq FROM findings")}
    assert found == with_findings and found
    entity = a.conn.execute("SELECT entity FROM findings LIMIT 1").fetchone()[0]
    ent, _ = _all(eng, f"finding:{entity}")
    assert ent == {
        s for (s,) in a.conn.execute("SELECT seq FROM findings WHERE entity = ?", (entity,))
    }
    ext, _ = _all(eng, "is:external 价格")
    assert ext and ext <= _brute(corpus, "价格")
    assert sorted(matching_seqs(a, "kind:file")) == sorted(files)


def test_hits_are_newest_first_and_highlighted(a: Archive) -> None:
    r = SearchEngine(a).search("合同", limit=50)
    ats = [h.message.sent_at for h in r.hits]
    assert ats == sorted(ats, reverse=True)
    for h in r.hits:
        assert h.spans and all(normalise(h.text[s:e]) == "合同" for s, e in h.spans)


def test_query_errors_name_the_problem() -> None:
    with pytest.raises(QueryError, match="after: expects a date"):
        parse("合同 after:yesterday")
    with pytest.raises(QueryError, match="has:photo"):
        parse("has:photo")
    with pytest.raises(QueryError, match="at least one letter"):
        parse("???")
    with pytest.raises(QueryError, match="at least one term or filter"):
        parse("")
    assert parse("http://x.cn/a").terms[0].text == "http://x.cn/a"


def test_cli_search_is_audited_and_index_rebuilds(built: Path, tmp_path: Path) -> None:
    d = tmp_path / "data"
    shutil.copytree(built, d)
    r = run_cli("search", "合同", "--format", "json", "--why", "matter 7", data=d)
    doc = orjson.loads(r.stdout)
    assert doc["total"] > 0 and doc["hits"][0]["spans"]
    with Archive.open(d) as a:
        ev = a.conn.execute(
            "SELECT actor, detail FROM audit WHERE action = 'search' ORDER BY seq DESC"
        ).fetchone()
    detail = orjson.loads(ev[1])
    assert detail["query"] == "合同" and detail["why"] == "matter 7"
    assert detail["shown"] == [h["seq"] for h in doc["hits"]]
    # the index holds no words: no token of the corpus appears in its files
    blob = b"".join(p.read_bytes() for p in (d / "index").rglob("*") if p.is_file())
    assert "合同".encode() not in blob and b"contract" not in blob
    shutil.rmtree(d / "index")
    (d / "index").mkdir()
    (d / "index" / "wxguard.json").write_text('{"schema": 999}')
    bad = run_cli("search", "合同", data=d, check=False)
    assert bad.returncode == 1 and "wxguard index rebuild" in bad.stderr
    r = run_cli("index", "rebuild", "--format", "json", data=d)
    assert orjson.loads(r.stdout)["added"] == doc["total"] or orjson.loads(r.stdout)["added"] > 0
    again = orjson.loads(run_cli("search", "合同", "--format", "json", data=d).stdout)
    assert again["total"] == doc["total"]
    st = orjson.loads(run_cli("index", "status", "--format", "json", data=d).stdout)
    assert st["behind"] == 0 and st["bytes_per_message"] > 0
