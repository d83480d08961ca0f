"""Detection throughput on generated chat, and Presidio on the same messages.

    python benchmarks/detect.py [--messages 200000] [--terms 5000] [--presidio 5000] [--runs 3]

Two sets are timed. The cheap default set as issue 3 defines it: structured PII
(``pii.*``), secrets (``secret.*``), the lexicon detector with the built-in lexicons and a
generated lexicon of ``--terms`` terms, and URLs (``url.suspicious``). Then every ``cheap``
detector, which adds ``txn.money``. Expensive detectors are timed alone on every message,
and ``fingerprint.document`` and ``edm.customer`` with a generated document and customer
table registered. Messages are the text views of a demo corpus (generated,
not real), scanned in batches of 2,000 on one core; the figure is the median of
``--runs`` passes, each with freshly built detectors (no verdicts cached from a pass
before). Presidio (``pip install presidio-analyzer``; no NLP
model is needed) runs its pattern recognisers plus two the benchmark adds for
Chinese resident IDs and mobiles, on the first ``--presidio`` messages; the ratio is
printed. Record results in docs/performance.md and docs/detectors.md.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import hmac
import json
import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from wxguard.demo.generator import generate
from wxguard.detect.api import DetectConfig
from wxguard.detect.docprint import build_print, save_print
from wxguard.detect.engine import Engine
from wxguard.detect.exactdata import build_index, save_index
from wxguard.detect.quality import demo_messages
from wxguard.detect.registry import DetectorRegistry

# Common characters of business Chinese, for generated (meaningless) lexicon terms.
_CJK = (
    "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动"
    "同工也能下过子说产种面而方后多定行学法所民得经十三之进着等部度家电力里如水化高自"
    "二理起小物现实加量都两体制机当使点从业本去把性好应开它合还因由其些然前外天政四日"
    "那社义事平形相全表间样与关各重新线内数正心反你明看原又么利比或但质气第向道命此变"
    "条只没结解问意建月公无系军很情者最立代想已通并提直题党程展五果料象员革位入常文总"
    "次品式活设及管特件长求老头基资边流路级少图山统接知较将组见计别她手角期根论运农指"
    "几九区强放决西被干做必战先回则任取据处理"
)
# The hundred commonest Chinese surnames, for generated customer names.
_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏"
    "魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵"
    "万钱严覃武戴莫孔向汤"
)
_WORDS = ("alpha", "bravo", "delta", "falcon", "granite", "harbor", "ivory", "juniper", "kepler",
          "lumen", "meridian", "nimbus", "orchid", "pioneer", "quartz", "raven")  # fmt: skip


def generated_lexicon(folder: Path, n: int, seed: int = 5) -> Path:
    rng = random.Random(seed)
    terms: set[str] = set()
    while len(terms) < n:
        if rng.random() < 0.8:
            terms.add("".join(rng.choices(_CJK, k=rng.randint(3, 5))))
        else:
            terms.add(f"project {rng.choice(_WORDS)} {rng.randint(1, 9999)}")
    path = folder / "bench-terms.toml"
    body = ", ".join(f'"{t}"' for t in sorted(terms))
    path.write_text(
        f'id = "bench-terms"\nentity = "BENCH_TERM"\nscore = 0.7\nterms = [{body}]\n',
        encoding="utf-8",
    )
    return path


def run_engine(engine: Engine, items: list[tuple[str, str]]) -> tuple[float, int, dict[str, float]]:
    gc.collect()
    t0 = time.perf_counter()
    n = 0
    per: dict[str, float] = {}
    for i in range(0, len(items), 2000):
        r = engine.scan(items[i : i + 2000])
        n += len(r.findings)
        for k, v in r.seconds.items():
            per[k] = per.get(k, 0.0) + v
    return time.perf_counter() - t0, n, per


def _in_issue_set(detector_id: str) -> bool:
    """Issue 3's cheap default set: structured PII, secrets, lexicons, URLs."""
    return detector_id.startswith(("pii.", "secret.", "lexicon", "url.suspicious"))


def time_set(
    items: list[tuple[str, str]],
    lex: Path,
    passes: int,
    label: str,
    wanted: Callable[[str], bool] | None,
) -> tuple[Engine, DetectorRegistry, float]:
    """Time one set of cheap detectors: the median of ``passes``, each with freshly built
    detectors (a URL's verdict is cached per detector: a second pass over the same links
    would flatter url.suspicious). Prints the figure and the costliest detectors."""
    runs = []
    for _ in range(passes):
        reg = DetectorRegistry.load(DetectConfig(lexicon_paths=[lex]))
        chosen = [
            d for d in reg.detectors
            if d.cost == "cheap" and d.active and (wanted is None or wanted(d.id))
        ]  # fmt: skip
        engine = Engine(chosen, lambda v: v[:8])
        run_engine(engine, items[:20_000])  # warm up
        runs.append(run_engine(engine, items))
    runs.sort(key=lambda r: r[0])
    dt, n, per = runs[len(runs) // 2]
    rate = len(items) / dt
    spread = f"{len(items) / runs[-1][0]:,.0f}-{len(items) / runs[0][0]:,.0f}"
    print(f"{label:21} {len(chosen)} detectors: {', '.join(d.id for d in chosen)}")
    print(f"{'':21} {rate:,.0f} msg/s, median of {len(runs)} passes "
          f"({spread}; {dt:.2f} s, {n:,} findings)")  # fmt: skip
    for k, v in sorted(per.items(), key=lambda kv: -kv[1])[:6]:
        print(f"  {k:22} {v / len(items) * 1e6:.2f} us/msg in its scan method")
    return engine, reg, rate


def presidio_recognizers() -> list[Any] | None:
    try:
        from presidio_analyzer import Pattern, PatternRecognizer
        from presidio_analyzer.predefined_recognizers import (
            CreditCardRecognizer,
            EmailRecognizer,
            IbanRecognizer,
            IpRecognizer,
            UsSsnRecognizer,
        )
    except ImportError:
        return None
    cn_id = PatternRecognizer(
        supported_entity="CN_RESIDENT_ID",
        patterns=[Pattern("cn_id", r"\b\d{17}[\dXx]\b", 0.5)],
        context=["身份证"],
    )
    cn_mobile = PatternRecognizer(
        supported_entity="CN_MOBILE",
        patterns=[Pattern("cn_mobile", r"\b1[3-9]\d{9}\b", 0.5)],
        context=["手机", "电话"],
    )
    return [
        CreditCardRecognizer(), EmailRecognizer(), IbanRecognizer(), IpRecognizer(),
        UsSsnRecognizer(), cn_id, cn_mobile,
    ]  # fmt: skip


def run_presidio(recognizers: list[Any], items: list[tuple[str, str]]) -> tuple[float, int]:
    t0 = time.perf_counter()
    n = 0
    for _mid, text in items:
        for r in recognizers:
            n += len(r.analyze(text, r.supported_entities, None))
    return time.perf_counter() - t0, n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--messages", type=int, default=200_000)
    ap.add_argument("--terms", type=int, default=5000)
    ap.add_argument("--presidio", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--runs", type=int, default=3, help="timed passes (median reported)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="wxguard-bench-") as tmp:
        src = Path(tmp) / "demo.jsonl"
        generate(src, args.messages, args.seed)
        items = [(f"wecom:{mid}", text) for mid, text in demo_messages(src)]
        lex = generated_lexicon(Path(tmp), args.terms)
        chars = sum(len(t) for _, t in items) / len(items)
        print(f"messages              {len(items):,} demo text views ({chars:.1f} chars/msg)")
        print(f"lexicon terms         {args.terms:,} generated + built-in")
        rates: dict[str, float] = {}
        for label, wanted in (("issue 3 cheap set", _in_issue_set), ("all cheap detectors", None)):
            engine, reg, rates[label] = time_set(items, lex, args.runs, label, wanted)
        for det in (d for d in reg.detectors if d.cost != "cheap" and d.active):
            alone = Engine([det], lambda v: v[:8])
            run_engine(alone, items[:1000])  # warm up (loads its model)
            xdt, xn, _ = run_engine(alone, items[:50_000])
            print(f"{det.id:21} {50_000 / xdt:,.0f} msg/s alone, every message "
                  f"({xn:,} findings in 50,000)")  # fmt: skip
        registered(Path(tmp), items)
        recs = presidio_recognizers()
        if recs is None or args.presidio <= 0:
            print("presidio              skipped: pip install presidio-analyzer (and --presidio N)")
            return
        sample = items[: args.presidio]
        pruns = sorted(run_presidio(recs, sample) for _ in range(args.runs))
        pdt, pn = pruns[len(pruns) // 2]
        theirs = len(sample) / pdt
        print(
            f"presidio patterns     {theirs:,.0f} msg/s, median of {len(pruns)} passes "
            f"({len(sample):,} messages, {pn:,} results)"
        )
        for label, rate in rates.items():
            print(f"ratio                 {rate / theirs:,.0f}x Presidio's throughput ({label})")
        found_by(engine, recs, items, src.with_name("demo.truth.jsonl"))


def registered(tmp: Path, items: list[tuple[str, str]]) -> None:
    """``fingerprint.document`` and ``edm.customer`` with something registered: a
    generated document of 2,000 lines (60,000 characters, none of them chat) and a table
    of 20,000 generated customers. A tenth of the messages carry a 40-character excerpt
    of the document and another tenth a customer's name and mobile, so both the miss
    and the match paths are timed."""
    data = tmp / "registered"
    data.mkdir()
    keyed = _bench_key
    rng = random.Random(3)
    doc_lines = ["".join(rng.choices(_CJK, k=30)) for _ in range(2000)]
    doc = tmp / "plan.txt"
    doc.write_text("\n".join(doc_lines), encoding="utf-8")
    save_print(data, build_print("bench-doc", doc, keyed)[0])
    people = [
        (rng.choice(_SURNAMES) + "".join(rng.choices(_CJK, k=rng.choice((1, 2)))),
         f"1{rng.randrange(3, 10)}{rng.randrange(10**9):09d}")
        for _ in range(20_000)
    ]  # fmt: skip
    rows = ["name,mobile,email"] + [
        f"{name},{mobile},c{n}@customer{n % 97}.cn" for n, (name, mobile) in enumerate(people)
    ]
    save_index(data, build_index("bench-customers", "\n".join(rows).encode(), "b.csv", keyed))

    def planted(k: int, text: str) -> str:
        if k % 10 == 0:
            line = doc_lines[k % 2000]
            return f"{text} {line[:20]}{line[20:]}{doc_lines[(k + 1) % 2000][:10]}"
        if k % 10 == 5:
            name, mobile = people[k % 20_000]
            return f"{text} 客户{name}，电话{mobile}"
        return text

    pasted = [(mid, planted(k, text)) for k, (mid, text) in enumerate(items[:50_000])]
    for det in DetectorRegistry.load(
        DetectConfig(data_dir=data, keyed_hash=keyed), ["fingerprint.document", "edm.customer"]
    ).detectors:
        alone = Engine([det], lambda v: v[:8])
        run_engine(alone, pasted[:1000])
        xdt, xn, _ = run_engine(alone, pasted)
        print(f"{det.id:21} {len(pasted) / xdt:,.0f} msg/s alone, every message, with data "
              f"registered ({xn:,} findings in {len(pasted):,}; 5,000 planted)")  # fmt: skip


def _bench_key(data: bytes) -> bytes:
    return hmac.digest(b"bench-key-" * 4, b"edm\x00" + data, hashlib.sha256)[:16]


def found_by(engine: Engine, recs: list[Any], items: list[tuple[str, str]], truth: Path) -> None:
    """Recall of planted Chinese IDs, cards and mobiles: wxguard and Presidio, same messages."""
    text_of = dict(items)
    want: dict[str, list[tuple[str, str]]] = {}
    for line in truth.read_bytes().splitlines():
        t = json.loads(line)
        if t["entity"] in ("CN_RESIDENT_ID", "BANK_CARD", "CN_MOBILE"):
            want.setdefault(t["entity"], []).append((f"wecom:{t['msgid']}", t["match"]))
    for entity, cases in sorted(want.items()):
        ours = theirs = 0
        for mid, match in cases:
            text = text_of[mid]
            got = {text[f.start : f.end] for f in engine.scan([(mid, text)]).findings
                   if f.entity == entity}  # fmt: skip
            ours += match in got
            spans = {text[r.start : r.end] for rec in recs
                     for r in rec.analyze(text, rec.supported_entities, None)}  # fmt: skip
            theirs += match in spans
        print(f"found {entity:15} wxguard {ours}/{len(cases)}, Presidio {theirs}/{len(cases)}")


if __name__ == "__main__":
    main()
