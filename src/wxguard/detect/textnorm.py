"""Normalisation for matching, with offsets mapped back to the original text.

Detectors match on a normalised view of each message and report spans in the
*original* text (code points of :func:`wxguard.textview.text_view`). Two kinds of
change are made:

* **one-to-one** replacements, which keep every offset: full-width letters, digits
  and the symbols that matter in identifiers (``１３８``, ``ｅｍａｉｌ＠…``, the
  ideographic space) to ASCII; traditional to simplified Chinese, character by
  character (OpenCC's ``TSCharacters`` table, shipped by ``opencc-python-reimplemented``);
  Cyrillic and Greek look-alikes of Latin letters (``pаypal`` with a Cyrillic ``а``);
  lone surrogates to U+FFFD.
* **removals**, which need an offset map: zero-width and soft-hyphen characters, and
  whitespace between two Chinese characters (``身 份 证`` → ``身份证``). Separators
  inside digit runs (``1 3 8-0013-8000``) are *not* removed — number patterns accept
  them instead, so ``2 13800138000`` never fuses into one number.

Full-width Chinese punctuation (，：；！？（）) is left alone: it is in nearly every
Chinese message, and patterns accept both forms where it matters (``密码：``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

# Full-width forms that matter inside identifiers, e-mail addresses, URLs and tokens.
_FULLWIDTH_KEEP = (
    [chr(c) for c in range(0xFF10, 0xFF1A)]  # ０-９
    + [chr(c) for c in range(0xFF21, 0xFF3B)]  # Ａ-Ｚ
    + [chr(c) for c in range(0xFF41, 0xFF5B)]  # ａ-ｚ
    + list("＠．－＿／＋＝＃＄％＆＊～")
)

# Latin look-alikes (Cyrillic, Greek, Latin small capitals and dotless i).
_HOMOGLYPHS = {
    "а": "a", "в": "b", "е": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p", "с": "c",
    "т": "t", "у": "y", "х": "x", "і": "i", "ј": "j", "ѕ": "s", "ԁ": "d", "ԛ": "q", "ԝ": "w",
    "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P", "С": "C",
    "Т": "T", "Х": "X", "І": "I", "Ј": "J", "Ѕ": "S", "Ү": "Y",
    "α": "a", "ο": "o", "ν": "v", "ρ": "p", "τ": "t", "υ": "u", "ι": "i", "κ": "k",
    "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M", "Ν": "N",
    "Ο": "O", "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X", "ı": "i",
}  # fmt: skip

ZERO_WIDTH = "\u00ad\u180e\u200b\u200c\u200d\u200e\u200f\u2060\u2061\u2062\u2063\u2064\ufeff"
CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
# Hyperscan-compatible triggers: a message matching one of these needs the slow path.
# (Kept free of look-arounds so the same text works as a Python regex and a Hyperscan one.)
REMOVAL_TRIGGER = f"[{ZERO_WIDTH}]|[{CJK}][ \t\u3000]+[{CJK}]"
_REMOVABLE = re.compile(f"[{ZERO_WIDTH}]|(?<=[{CJK}])[ \\t\\u3000]+(?=[{CJK}])")
_SURROGATE = re.compile("[\ud800-\udfff]")


@cache
def one_to_one() -> dict[str, str]:
    """The offset-preserving character map (built once per process)."""
    table: dict[str, str] = {c: chr(ord(c) - 0xFEE0) for c in _FULLWIDTH_KEEP}
    table["\u3000"] = " "
    table["\x00"] = " "
    table.update(_HOMOGLYPHS)
    text = resources.files("opencc").joinpath("dictionary/TSCharacters.txt").read_text("utf-8")
    for line in text.splitlines():
        trad, _, simp = line.partition("\t")
        first = simp.split(" ", 1)[0]
        if len(trad) == 1 and len(first) == 1 and trad != first:
            table[trad] = first
    return table


def _ranges(chars: list[str]) -> list[tuple[int, int]]:
    points = sorted({ord(c) for c in chars})
    out: list[tuple[int, int]] = []
    for p in points:
        if out and out[-1][1] == p - 1:
            out[-1] = (out[-1][0], p)
        else:
            out.append((p, p))
    return out


def _class_literal(ranges: list[tuple[int, int]]) -> str:
    def lit(cp: int) -> str:
        c = chr(cp)
        return "\\" + c if c in "\\]^-[" else c

    return "[" + "".join(lit(a) if a == b else f"{lit(a)}-{lit(b)}" for a, b in ranges) + "]"


@cache
def mapped_triggers() -> tuple[str, ...]:
    """Character classes (literal characters, Hyperscan and Python alike) of everything
    the one-to-one map changes, in chunks short enough for Hyperscan's pattern limit.
    NUL is left out: the engine uses it to separate messages and removes it from texts."""
    ranges = _ranges([c for c in one_to_one() if c != "\x00"])
    return tuple(_class_literal(ranges[i : i + 400]) for i in range(0, len(ranges), 400))


@cache
def _translation() -> dict[int, str]:
    return {ord(k): v for k, v in one_to_one().items()}


@dataclass(frozen=True, slots=True)
class Normalised:
    """A normalised text and the way back to the original's offsets."""

    text: str
    # Original index of each normalised character, or None when offsets are unchanged.
    kept: tuple[int, ...] | None = None
    original_length: int = -1

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Map a half-open span of the normalised text to the original text."""
        kept = self.kept
        if kept is None:
            return start, end
        if start >= len(kept):
            n = self.original_length
            return n, n
        return kept[start], (kept[end - 1] + 1 if end > start else kept[start])

    def original_index(self, i: int) -> int:
        kept = self.kept
        if kept is None:
            return i
        return kept[i] if i < len(kept) else self.original_length


def map_chars(text: str) -> str:
    """Apply the one-to-one map (offsets unchanged)."""
    return _SURROGATE.sub("\ufffd", text).translate(_translation())


def normalise(text: str) -> Normalised:
    """Full normalisation of one text (the slow path; most messages never need it)."""
    mapped = map_chars(text)
    removed = [(m.start(), m.end()) for m in _REMOVABLE.finditer(mapped)]
    if not removed:
        return Normalised(mapped, None, len(text))
    kept: list[int] = []
    pieces: list[str] = []
    pos = 0
    for a, b in removed:
        pieces.append(mapped[pos:a])
        kept.extend(range(pos, a))
        pos = b
    pieces.append(mapped[pos:])
    kept.extend(range(pos, len(mapped)))
    return Normalised("".join(pieces), tuple(kept), len(text))


def normalise_term(term: str) -> str:
    """How a lexicon term or context word is compared: normalised, lower case."""
    return normalise(term).text.lower()
