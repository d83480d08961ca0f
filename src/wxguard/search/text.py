"""What a search term means, and the index tokens that find every message it matches.

The match rule (docs/search.md): after NFKC normalisation, case folding and collapsing
whitespace, a term matches a message whose searchable text (textview.text_view) contains
it, and where the term begins or ends with a letter or digit, that edge must fall on a word
boundary — ``sign`` does not match ``design``, while ``合同`` matches ``合同书`` (Chinese has no
spaces to respect).

The index holds, per message, every CJK character (unigram), every pair of adjacent CJK
characters (bigram) and every word of other scripts. A term's tokens are a subset of the
tokens of every message it matches, so intersecting the tokens' postings never misses one:
recall is 1.0 by construction. A term that *is* one token (a 1- or 2-character Chinese
term, or one word) is exact; longer terms are verified against the decrypted text.

Tokens are stored as keyed hashes (BLAKE2b keyed with a key derived from the archive's
fingerprint key), so the index on disk holds no words.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

# Scripts written without spaces between words: indexed as characters and pairs.
CJK = (
    "\u3040-\u30ff\u3100-\u312f\u31a0-\u31bf\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af"
    "\uf900-\ufaff\U00020000-\U0003134f"
)
_WORD_CH = f"[^\\W_{CJK}]"
_TOKENS = re.compile(f"([{CJK}]+)|({_WORD_CH}+)")
_SPACE = re.compile(r"\s+")
MAX_WORD = 64  # longer words are indexed (and looked up) by their first 64 characters


def normalise(text: str) -> str:
    """NFKC (full-width → half-width, compatibility forms), case-folded, spaces collapsed."""
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def tokens(norm: str) -> set[str]:
    """Index tokens of normalised text: CJK unigrams and bigrams, other words."""
    out: set[str] = set()
    add = out.add
    for m in _TOKENS.finditer(norm):
        run = m.group(1)
        if run is None:
            add(m.group(2)[:MAX_WORD])
            continue
        out.update(run)
        for i in range(len(run) - 1):
            add(run[i : i + 2])
    return out


def term_tokens(norm_term: str) -> tuple[set[str], bool]:
    """Tokens every message matching the term must have, and whether the term is exactly
    one token (then the postings are the answer and no verification is needed)."""
    out: set[str] = set()
    runs = list(_TOKENS.finditer(norm_term))
    for m in runs:
        run = m.group(1)
        if run is None:
            out.add(m.group(2)[:MAX_WORD])
        elif len(run) == 1:
            out.add(run)
        else:
            out.update(run[i : i + 2] for i in range(len(run) - 1))
    exact = (
        len(runs) == 1
        and runs[0].group(0) == norm_term
        and ((runs[0].group(1) is None and len(norm_term) <= MAX_WORD) or len(norm_term) <= 2)
    )
    return out, exact


def term_pattern(norm_term: str) -> re.Pattern[str]:
    """The match rule as a regular expression over normalised text."""
    head = f"(?<!{_WORD_CH})" if re.match(_WORD_CH, norm_term) else ""
    tail = f"(?!{_WORD_CH})" if re.search(f"{_WORD_CH}$", norm_term) else ""
    return re.compile(head + re.escape(norm_term) + tail)


class TokenHasher:
    """Keyed 64-bit hashes of tokens (hex), memoised: the vocabulary is small."""

    __slots__ = ("_cache", "_key")

    def __init__(self, key: bytes) -> None:
        self._key = key[:64]
        self._cache: dict[str, str] = {}

    def __call__(self, token: str) -> str:
        h = self._cache.get(token)
        if h is None:
            h = hashlib.blake2b(token.encode("utf-8"), key=self._key, digest_size=8).hexdigest()
            if len(self._cache) < 2_000_000:
                self._cache[token] = h
        return h


def highlight_spans(text: str, terms: list[str]) -> list[tuple[int, int]]:
    """Spans of ``text`` (original offsets) where normalised terms match, merged."""
    pieces: list[str] = []
    starts: list[int] = []
    for i, ch in enumerate(text):
        n = unicodedata.normalize("NFKC", ch).casefold()
        if ch.isspace():
            n = " "
        pieces.append(n)
        starts.extend([i] * len(n))
    norm = "".join(pieces)
    starts.append(len(text))
    spans: list[tuple[int, int]] = []
    for t in terms:
        for m in term_pattern(t).finditer(norm):
            if m.end() > m.start():
                spans.append((starts[m.start()], starts[m.end() - 1] + 1))
    spans.sort()
    merged: list[tuple[int, int]] = []
    for s, e in spans:
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(e, merged[-1][1]))
        else:
            merged.append((s, e))
    return merged
