"""Search latency and index size at scale.

    python benchmarks/search.py --messages 1000000

Generates the demo company (N messages), ingests it, builds the index (rate and bytes per
message), then runs a query mix — frequent and rare 1- and 2-character Chinese, longer
Chinese (verified), English words and a phrase, filters alone and combined — 30 times each
after a warm-up, newest-first pages of 20. Prints median and p95 per query and overall.
Target: p95 ≤ 50 ms at 1,000,000 messages. Peer: SQLite FTS5 trigram cannot answer 1–2
character queries at all (docs/records.md), so no ratio is printed.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from wxguard.archive import Archive
from wxguard.demo.generator import generate
from wxguard.ingest import ingest_file
from wxguard.seal import Sealer
from wxguard.search.engine import SearchEngine
from wxguard.search.index import SearchIndex

QUERIES = [
    "我",
    "合",
    "的",
    "客户",
    "合同",
    "报价",
    "身份",
    "微信",
    "发票",
    "合同草案",
    "客户现场",
    "价格方面需要",
    "the",
    "contract",
    '"sync on the"',
    "kind:file",
    "is:external 价格",
    "has:attachment",
    "合同 -草案",
    "after:2026-10-15 客户",
    "from:zhangwei",
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--keep", type=Path, default=None, help="reuse/keep the archive here")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="wxg-search-"))
    d = args.keep or tmp / "data"
    if not (d / "archive.db").exists():
        src = tmp / "demo.jsonl"
        t0 = time.perf_counter()
        generate(src, args.messages, seed=7)
        a = Archive.create(d)
        s = Sealer(a)
        for p in (src.with_name("demo.directory.jsonl"), src):
            ingest_file(a, s, p)
        a.seal_checkpoint()
        a.close()
        print(f"built {args.messages:,} messages in {time.perf_counter() - t0:.0f} s")
    with Archive.open(d) as a:
        idx = SearchIndex(a)
        rep = idx.update()
        if rep.added:
            print(
                f"indexed {rep.added:,} messages in {rep.seconds:.1f} s "
                f"({rep.added / rep.seconds:,.0f} msg/s)"
            )
        st = idx.stats()
        print(
            f"index: {st['documents']:,} messages, {st['bytes']:,} bytes, "
            f"{st['bytes_per_message']} bytes/message, {st['segments']} segments"
        )
        eng = SearchEngine(a)
        everything: list[float] = []
        print(f"{'query':28} {'hits':>9} {'median':>8} {'p95':>8}")
        for q in QUERIES:
            r = eng.search(q, update=False)  # warm-up
            times = []
            for _ in range(args.runs):
                t0 = time.perf_counter()
                eng.search(q, update=False)
                times.append((time.perf_counter() - t0) * 1000)
            times.sort()
            p95 = times[int(0.95 * (len(times) - 1))]
            everything += times
            total = f"{r.total:,}" + ("" if r.total_exact else "+")
            print(f"{q:28} {total:>9} {statistics.median(times):7.1f}ms {p95:7.1f}ms")
        everything.sort()
        p95 = everything[int(0.95 * (len(everything) - 1))]
        print(
            f"ALL: median {statistics.median(everything):.1f} ms, p95 {p95:.1f} ms "
            f"(target p95 ≤ 50 ms) at {st['documents']:,} messages"
        )


if __name__ == "__main__":
    main()
