"""Build the shipped Chinese names model, ``src/wxguard/detect/models/names-zh.xz``.

    pip download --no-deps jieba==0.42.1 ngender==0.1.1 -d /tmp/src
    (unpack both) then
    python scripts/build_names_model.py --jieba-dict jieba-0.42.1/jieba/dict.txt \\
        --given-chars ngender-0.1.1/ngender/charfreq.csv \\
        --cluener ../shared/datasets/names/cluener_train.json   # optional: figures for the card

Development-time only. Sources, both MIT-licensed:
- jieba's dictionary (word, count, part of speech): every word of up to six characters becomes
  a dictionary word with cost -ln(count / total). Three-character words jieba tags as person
  names (``nr``) and that start with a surname are left out, so the name model decides them
  (jieba's ``nr`` tag is too noisy to trust for shorter words: 谢谢, 文明, 银行卡 carry it, so
  two-character ``nr`` words that start with a surname keep a tenth of their count as a word
  and the name model competes for the rest).
- ngender's given-name character counts (male + female): the given-name character costs.
- Surnames: the list in ``wxguard.detect.names`` (written from general knowledge, roughly by
  frequency), costed by rank (Zipf).
- Transliteration characters: the set in ``wxguard.detect.names`` (Xinhua's tables, the common
  core, written from general knowledge), each costed by how often it occurs in jieba's words
  tagged as names (``nr``, ``nrt``) of three or more characters that are all transliteration
  characters (詹姆斯, 罗纳尔多). Those words keep only ``FOREIGN_SHARE`` of their count as
  words, so the name model competes for them (jieba's ``nrt`` also tags places: 伊拉克).

The parameters below (and FOREIGN_SHARE) were chosen on the *even-numbered* documents of
CLUENER's train file (its licence allows measuring and tuning, not training);
``benchmarks/quality.py`` reports the odd-numbered half, which they never saw.
"""

from __future__ import annotations

import argparse
import csv
import math
from dataclasses import replace
from pathlib import Path

from wxguard.detect.api import DetectConfig
from wxguard.detect.engine import Engine
from wxguard.detect.namemodel import MAX_WORD, NAME, SCALE, NameCard, dump_names_model
from wxguard.detect.names import COMPOUND, SURNAMES, TRANSLITERATION, ChineseName
from wxguard.detect.quality import name_spans_score, read_cluener

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "src" / "wxguard" / "detect" / "models" / f"{NAME}.xz"
VERSION = "3"  # 3: transliterated names (F table, foreign_cost)


def cost(p: float) -> int:
    return max(0, round(-math.log(p) * SCALE))


NR2_SHARE = 0.1
FOREIGN_SHARE = 0.1
PARAMS = {
    "name_cost": cost(0.01),  # a name token is as likely as a word of probability 1/100
    "given1_cost": cost(0.3),  # one-character given names: ~30% of names
    "given2_cost": cost(0.7),
    "context_bonus": 2 * SCALE,  # each kind of context: e^2 times likelier
    "unknown_cost": cost(0.5 / 60_101_967),  # half a count in jieba's corpus
    "foreign_cost": cost(0.01),  # a transliterated name, before its characters' costs
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--jieba-dict", type=Path, required=True)
    ap.add_argument("--given-chars", type=Path, required=True)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--cluener", type=Path, help="CLUENER train file: measure the held-out half "
                    "and record the figures in the card")  # fmt: skip
    args = ap.parse_args()
    single = set(SURNAMES)
    counts: dict[str, int] = {}
    translit = set(TRANSLITERATION)
    foreign_n = dict.fromkeys(TRANSLITERATION, 1)  # add-one smoothing
    total = 0
    for no, line in enumerate(args.jieba_dict.read_text("utf-8").splitlines(), 1):
        parts = line.split()
        if len(parts) != 3 or not parts[1].isdigit():
            raise SystemExit(f"{args.jieba_dict}:{no}: expected 'word count tag'")
        word, n, tag = parts[0], int(parts[1]), parts[2]
        total += n
        if len(word) > MAX_WORD:
            continue
        surname_shaped = word[0] in single or word[:2] in COMPOUND
        if tag in ("nr", "nrfg") and len(word) == 3 and surname_shaped:
            continue
        if tag in ("nr", "nrfg") and len(word) == 2 and surname_shaped:
            n = max(1, round(n * NR2_SHARE))  # 李娜 or 谢谢: most of the count stays a word
        elif tag in ("nr", "nrt") and len(word) >= 3 and set(word) <= translit:
            for c in word:
                foreign_n[c] += 1
            n = round(n * FOREIGN_SHARE)
            if not n:
                continue
        counts[word] = counts.get(word, 0) + n
    words = {w: cost(n / total) for w, n in counts.items()}
    given_n: dict[str, int] = {}
    with args.given_chars.open(encoding="utf-8") as f:
        for row in csv.DictReader(f):
            given_n[row["char"]] = int(row["male"]) + int(row["female"])
    gt = sum(given_n.values())
    given = {c: cost(n / gt) for c, n in given_n.items() if n >= 5}
    ranks = {c: 1 / (i + 5) for i, c in enumerate(SURNAMES)}
    z = sum(ranks.values())
    surnames = {c: cost(r / z) for c, r in ranks.items()}
    surnames.update({c: cost(1e-4) for c in COMPOUND})
    ft = sum(foreign_n.values())
    foreign = {c: cost(k / ft) for c, k in foreign_n.items()}
    card = NameCard(
        name=NAME,
        version=VERSION,
        built_from=(
            "jieba 0.42.1 dict.txt (word counts; MIT), ngender 0.1.1 charfreq.csv "
            "(given-name character counts; MIT), wxguard's surname and transliteration lists"
        ),
        licence="MIT (jieba: Sun Junyi; ngender: Jingchao Hu); see docs/detectors.md",
        tuning=(
            "name_cost, given1/2_cost, context_bonus and foreign_cost chosen on the "
            "even-numbered documents of CLUENER train (measure/tune only); quality reported "
            "on the odd-numbered half"
        ),
        measured={},
    )
    data = dump_names_model(card, PARAMS, surnames, given, words, foreign)
    args.out.write_bytes(data)
    if args.cluener:
        score = name_spans_score(
            Engine([ChineseName(DetectConfig(models={NAME: args.out}))], lambda v: v),
            read_cluener(args.cluener),
            half=1,
        )
        figures = {"precision": score.precision, "recall": score.recall, "f1": score.f1}
        measured = {k: round(v, 3) for k, v in figures.items()}
        card = replace(card, measured={**measured, "items": score.tp + score.fn})
        data = dump_names_model(card, PARAMS, surnames, given, words, foreign)
        args.out.write_bytes(data)
        print(f"CLUENER held-out half: {card.measured}")
    print(f"{args.out}: {len(words):,} words, {len(given):,} given-name characters, "
          f"{len(surnames):,} surnames, {len(foreign):,} transliteration characters, "
          f"{len(data):,} bytes")  # fmt: skip


if __name__ == "__main__":
    main()
