"""Shipped message classifiers: offensive, harassing or discriminatory content (zh and
en), and English scam / lure messages.

The Chinese model is trained on COLD, the English one on Davidson et al. (cards in
``detect/models/``). A message with Chinese characters is scored by the Chinese
model, one with Latin words by the English model, a mixed one by both (the higher
wins). The finding spans the message and explains itself with the model, its
probability and the vocabulary n-grams that raised it; the lexicon detector adds
the term-level evidence (``PROFANITY``, ``DISCRIMINATION``) beside it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from .api import DetectConfig, Detector, Explanation, Hit, ScanBatch
from .linear import LinearModel, shipped_model

_CJK = re.compile("[\u4e00-\u9fff]")
_LATIN_WORD = re.compile("[A-Za-z]{2,}")
# Statements *against* bias use the same words as bias; COLD labels them safe, but
# character n-grams cannot tell. These cues halve the score (listed in the explanation).
ANTI_BIAS = ("反对", "不认为", "反歧视", "不应该歧视", "不能歧视", "拒绝歧视", "平等", "一视同仁",
             "尊重", "oppose", "against racism", "against sexism", "equality")  # fmt: skip


def _whole_message(i: int, text: str, entity: str, score: float, expl: Explanation) -> Hit:
    """A classifier's finding: the message less the whitespace around it."""
    stripped = text.strip()
    start = text.index(stripped[0])
    return Hit(i, start, start + len(stripped), entity, score, stripped, expl)


class Offensive(Detector):
    id = "classify.offensive"
    version = "1"
    entities = ("OFFENSIVE",)
    languages = ("zh", "en")
    cost = "expensive"
    description = (
        "Offensive / harassing / discriminatory messages: char n-gram classifiers shipped in "
        "the package (zh: COLD, en: Davidson), with the n-grams that raised the score"
    )

    def __init__(self, config: DetectConfig) -> None:
        super().__init__(config)
        self.zh: LinearModel = shipped_model("offensive-zh", config.models)
        self.en: LinearModel = shipped_model("offensive-en", config.models)

    def scan(self, batch: ScanBatch) -> Iterable[Hit]:
        for i in batch.candidates:
            text = batch.texts[i]
            stripped = text.strip()
            if len(stripped) < 2:
                continue
            best: tuple[float, list[str], LinearModel] | None = None
            cjk = len(_CJK.findall(text))
            latin = sum(len(w) for w in _LATIN_WORD.findall(text))
            models = []
            if cjk:
                models.append(self.zh)
            if latin >= 8 and latin >= cjk:  # English text, not a file name in a Chinese line
                models.append(self.en)
            for model in models:
                p, grams = model.score(text)
                if best is None or p > best[0]:
                    best = (p, grams, model)
            if best is None:
                continue
            p, grams, model = best
            low = batch.lower(i)
            cues = [w for w in ANTI_BIAS if w in low]
            score = p / 2 if cues else p
            if score < model.card.threshold:
                continue
            expl = Explanation(
                pattern=f"model:{model.card.name} v{model.card.version}",
                validator=f"p={p:.3f} (threshold {model.card.threshold})",
                context=grams,
                suppressions=[f"anti-bias cue {c}: present" for c in cues]
                or ["anti-bias cues: none"],
                base_score=round(p, 3),
            )
            yield _whole_message(i, text, "OFFENSIVE", round(score, 3), expl)


# A word: letters only (an apostrophe inside), as a whitespace-separated token with its
# punctuation; a key block, a token or an order number is Latin letters too, but not words.
_WORD = re.compile(r"[\"'(\[]*([A-Za-z]{2,20}(?:'[a-z]{1,3})?)[\"')\].,!?:;]*")
SCAM_THRESHOLD = 0.8
MAX_LINES, MAX_SCORED = 50, 4000


def english_lines(text: str, limit: int = 1 << 30) -> list[str]:
    """The lines of ``text`` that are English prose: four or more words, most of the line's
    tokens words, and more letters in words than Chinese characters. The model scores each
    such line and them together — not the Chinese, digits and keys around them (a chat
    record quoting an English line among order numbers; a pasted key block). At most
    ``limit`` lines."""
    out = []
    for line in text.splitlines():
        tokens = line.split()
        words = [m.group(1) for t in tokens if (m := _WORD.fullmatch(t))]
        if (
            len(words) >= 4
            and 2 * len(words) > len(tokens)
            and sum(map(len, words)) > len(_CJK.findall(line))
        ):
            out.append(line.strip())
            if len(out) == limit:
                break
    return out


class Scam(Detector):
    """English scam and lure messages (prize draws, premium-rate numbers, "claim now"),
    scored by a char n-gram model trained on the UCI SMS Spam Collection with ordinary
    tweets as more negatives (card ``scam-en``). Chinese lures are the lexicons' job
    (``CREDENTIAL_REQUEST``, ``URGENT_PAYMENT_REQUEST``)."""

    id = "classify.scam"
    version = "1"
    entities = ("SCAM_MESSAGE",)
    languages = ("en",)
    cost = "expensive"
    description = (
        "English scam / lure messages (prizes, premium numbers, urgent claims): a char "
        "n-gram classifier shipped in the package (UCI SMS Spam Collection), p >= 0.8"
    )

    def __init__(self, config: DetectConfig) -> None:
        super().__init__(config)
        self.model: LinearModel = shipped_model("scam-en", config.models)

    def scan(self, batch: ScanBatch) -> Iterable[Hit]:
        model = self.model
        for i in batch.candidates:
            text = batch.texts[i]
            lines = english_lines(text, MAX_LINES)
            if not lines:
                continue
            # Scams are short: a long paste is scored by its first lines and characters
            # (a 10 MB English text would otherwise cost seconds of n-grams).
            lines = [x[:MAX_SCORED] for x in lines]
            parts = [*lines, "\n".join(lines)[:MAX_SCORED]] if len(lines) > 1 else lines
            p, grams = max((model.score(x) for x in parts), key=lambda r: r[0])
            if p < SCAM_THRESHOLD:
                continue
            expl = Explanation(
                pattern=f"model:{model.card.name} v{model.card.version}",
                validator=f"p={p:.3f} (threshold {SCAM_THRESHOLD})",
                context=grams,
                suppressions=[f"English lines scored: {len(lines)} (Chinese, keys, numbers not)"],
                base_score=round(p, 3),
            )
            yield _whole_message(i, text, "SCAM_MESSAGE", round(p, 3), expl)


BUILTIN = (Offensive, Scam)
