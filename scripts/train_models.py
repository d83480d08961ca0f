"""Train the small classifiers shipped in ``src/wxguard/detect/models/``.

    pip install -e '.[train]'
    python scripts/train_models.py [--datasets ../shared/datasets]

Development-time only (scikit-learn); the package reads the resulting JSON with
plain Python. Splits are honest: COLD's own dev split is held out; Davidson, the
URL lists and the SMS collection are split 80/20 by a stable hash of the text, and
the model is trained on the 80% only. Metrics on the held-out part go into each
model's card. The threshold is fixed at 0.5 (not tuned on the held-out part); classes are
balanced in training so the data sets' base rates do not become the model's prior.
"""

from __future__ import annotations

import argparse
import csv
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, precision_score, recall_score

from wxguard.detect.linear import (
    FORMAT,
    LinearModel,
    ModelCard,
    dump_model,
    held_out,
    registrable_domain,
)
from wxguard.detect.quality import cited_links, documentation_roots

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "src" / "wxguard" / "detect" / "models"


def train(
    name: str,
    version: str,
    task: str,
    train_xy: tuple[list[str], list[int]],
    test_xy: tuple[list[str], list[int]],
    card: dict[str, str],
    nmin: int,
    nmax: int,
    preprocess: str = "text",
    keep: int = 12_000,
    c: float = 1.0,
    extra: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    """``extra``: named held-out sets of negatives; the card gets the share flagged."""
    card0 = ModelCard(
        name=name,
        version=version,
        task=task,
        trained_on="",
        licence="",
        split="",
        metrics={},
        threshold=0.5,
    )
    proto = LinearModel(card0, nmin, nmax, True, preprocess, 0.0, {})
    analyzer: Callable[[str], list[str]] = lambda t: sorted(proto.features(t))  # noqa: E731
    vec = CountVectorizer(analyzer=analyzer, min_df=3, binary=True)
    xtr, ytr = train_xy
    a = vec.fit_transform(xtr)
    # Balanced classes: the data sets' base rates (83% offensive tweets, 30% phishing URLs)
    # are nothing like business chat's, and a prior learned from them would flag everything.
    model = LogisticRegression(C=c, max_iter=3000, class_weight="balanced").fit(a, ytr)
    w = model.coef_[0]
    vocab = vec.get_feature_names_out()
    top = np.argsort(-np.abs(w))[:keep]
    weights = {str(vocab[k]): round(float(w[k]), 4) for k in top}
    proto.weights, proto.bias = weights, float(model.intercept_[0])
    xte, yte = test_xy
    pred = [proto.score(t)[0] >= 0.5 for t in xte]
    metrics = {
        "precision": round(float(precision_score(yte, pred)), 4),
        "recall": round(float(recall_score(yte, pred)), 4),
        "f1": round(float(f1_score(yte, pred)), 4),
        "held_out_items": len(yte),
        "train_items": len(ytr),
        "features": len(weights),
    }
    for label, texts in (extra or {}).items():
        flagged = sum(proto.score(t)[0] >= 0.5 for t in texts)
        metrics[f"{label}_flagged"] = round(flagged / max(1, len(texts)), 4)
        metrics[f"{label}_items"] = len(texts)
    print(f"{name}: {metrics}")
    full_card = {"name": name, "version": version, "task": task, "metrics": metrics,
                 "threshold": 0.5, **card}  # fmt: skip
    return {
        "format": FORMAT,
        "card": full_card,
        "ngram_min": nmin,
        "ngram_max": nmax,
        "lowercase": True,
        "preprocess": preprocess,
        "bias": round(proto.bias, 4),
        "weights": weights,
    }


def split(
    pairs: list[tuple[str, int]], group: Callable[[str], str] = str
) -> tuple[tuple[list[str], list[int]], ...]:
    tr = [(t, y) for t, y in pairs if not held_out(group(t))]
    te = [(t, y) for t, y in pairs if held_out(group(t))]
    return ([t for t, _ in tr], [y for _, y in tr]), ([t for t, _ in te], [y for _, y in te])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--datasets", type=Path, default=ROOT.parent / "shared" / "datasets")
    ap.add_argument("--only", nargs="*", help="write only these models (default: all)")
    args = ap.parse_args()
    d = args.datasets
    OUT.mkdir(parents=True, exist_ok=True)

    def rows(p: Path, enc: str = "utf-8") -> list[dict[str, str]]:
        with p.open(encoding=enc, newline="") as f:
            return list(csv.DictReader(f))

    cold_tr = rows(d / "offensive" / "cold_train.csv", "utf-8-sig")
    cold_dev = rows(d / "offensive" / "cold_dev.csv", "utf-8-sig")
    zh = train(
        "offensive-zh", "1", "offensive or discriminatory (Chinese)",
        ([r["TEXT"] for r in cold_tr], [int(r["label"]) for r in cold_tr]),
        ([r["TEXT"] for r in cold_dev], [int(r["label"]) for r in cold_dev]),
        {"trained_on": "COLD train split (thu-coai/COLDataset), 25,726 items",
         "licence": "Apache-2.0", "split": "COLD's own dev split held out (6,431 items)",
         "notes": "Topics race, gender, region. Char 1-3 grams; anti-bias statements about "
                  "those topics score high too — pair with lexicon evidence and review."},
        1, 3,
    )  # fmt: skip
    dav = rows(d / "offensive" / "davidson_train.csv")
    en = train(
        "offensive-en", "1", "hate speech or offensive language (English)",
        *split([(r["tweet"], int(r["class"] in ("0", "1"))) for r in dav]),
        {"trained_on": "Davidson et al. 2017 tweets (t-davidson/hate-speech-and-offensive-"
                       "language), 80% of the ~80% split shipped", "licence": "MIT",
         "split": "20% held out by content hash",
         "notes": "Tweets, not business chat: expect lower precision on chat."},
        1, 4,
    )  # fmt: skip
    phish = [r["url"] for r in rows(d / "urls" / "phishtank_train.csv")]
    benign = [x.strip() for x in (d / "urls" / "benign_train.csv").read_text("utf-8").splitlines()
              if x.strip()]  # fmt: skip
    cited = cited_links(documentation_roots())
    sites = len({registrable_domain(u) for u in cited})
    print(f"{len(cited):,} links cited in local documentation, {sites:,} sites")
    (tr, te) = split([(u, 1) for u in phish] + [(u, 0) for u in benign], registrable_domain)
    cited_tr = [u for u in cited if not held_out(registrable_domain(u))]
    cited_te = [u for u in cited if held_out(registrable_domain(u))]
    url = train(
        "phishing-url", "2", "phishing URL",
        (tr[0] + cited_tr, tr[1] + [0] * len(cited_tr)), te,
        {"trained_on": "PhishTank verified phishing URLs (2020 snapshot) and ISCX-URL-2016 "
                       "benign URLs, the ~50% splits shipped; as more benign links, "
                       f"{len(cited_tr):,} links cited in the documentation of the Debian "
                       "and Python packages on the build machine (at most 30 per site; "
                       "wxguard.detect.quality.cited_links)", "licence":
                       "PhishTank terms of use; UNB-CIC terms; the cited links are "
                       "addresses only",
         "split": "20% of registrable domains held out (no site in both parts); metrics "
                  "are on PhishTank + ISCX of those sites",
         "notes": "Sees the URL's shape (subdomains, name length/hyphen/digits, public "
                  "suffix, path, query), not the site's name. The ISCX benign list has only "
                  "282 sites with long article paths; trained on it alone, the model "
                  "flagged 97% of the cited links of unseen sites. url.suspicious reports "
                  "p >= 0.8 alone (url_model_alone) and p >= 0.5 beside another cue."},
        2, 5, preprocess="url-shape", extra={"cited_links_held_out": cited_te},
    )  # fmt: skip
    sms = (d / "scam" / "uci_sms_spam.tsv").read_text("utf-8", "replace").splitlines()
    sms_tr, sms_te = split([(t, int(lab == "spam")) for lab, t in
                            (ln.split("\t", 1) for ln in sms if "\t" in ln)])  # fmt: skip
    # Ordinary English that is not SMS: the Davidson tweets (all classes: offensive is not
    # scam) of the same 80% split, as more negatives. Trained on SMS alone, the model
    # flagged 6-14% of held-out tweets at 0.5; with them, none.
    tweets_tr = [r["tweet"] for r in dav if not held_out(r["tweet"])]
    tweets_te = [r["tweet"] for r in dav if held_out(r["tweet"])]
    scam = train(
        "scam-en", "1", "scam or lure message: prizes, premium numbers, urgent claims (English)",
        (sms_tr[0] + tweets_tr, sms_tr[1] + [0] * len(tweets_tr)), sms_te,
        {"trained_on": "UCI SMS Spam Collection v.1 (Almeida, Gomez Hidalgo and Yamakami, "
                       "'Contributions to the study of SMS spam filtering: new collection "
                       "and results', ACM DocEng 2011; "
                       "http://www.dt.fee.unicamp.br/~tiago/smsspamcollection/), 80% by "
                       "content hash; as more negatives, the Davidson et al. 2017 tweets of "
                       "the offensive-en model's training split",
         "licence": "SMS Spam Collection: free, with the citation above; Davidson: MIT",
         "split": "20% of the SMS held out by content hash (metrics); the held-out 20% of "
                  "the tweets measures ordinary English flagged",
         "notes": "SMS spam of 2003-2011 (UK premium numbers, prize draws, ringtones), not "
                  "business chat. classify.scam scores only the English prose lines of a "
                  "message and reports p >= 0.8 (whole demo messages at 0.5 included base64 "
                  "key blocks and chat records of order numbers); held-out SMS through the "
                  "detector: precision 0.977, recall 0.862."},
        1, 4, extra={"tweets_held_out": tweets_te},
    )  # fmt: skip
    for name, m in (("offensive-zh", zh), ("offensive-en", en), ("phishing-url", url),
                    ("scam-en", scam)):  # fmt: skip
        if args.only and name not in args.only:
            continue
        (OUT / f"{name}.json").write_bytes(dump_model(m))
        print(f"wrote {OUT / name}.json")


if __name__ == "__main__":
    main()
