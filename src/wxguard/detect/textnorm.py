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
# Hyperscan triggers: a message matching one of these needs the slow path. Both are
# matched on UTF-8 bytes (Hyperscan's UTF-8 mode is 2-4x slower for them):
# * ``SPACED_CJK_TRIGGER``: the last byte of a multi-byte character, spaces or tabs or
#   U+3000, then the lead byte of a three-byte character — a superset of "whitespace
#   between two Chinese characters" (``_REMOVABLE`` below decides exactly);
# * ``mapped_triggers()``: every character the one-to-one map changes and the zero-width
#   characters, as literals.
SPACED_CJK_TRIGGER = "[\\x80-\\xBF](?:[ \\t]|\\xE3\\x80\\x80)+[\\xE3-\\xE9\\xEF]"
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


@cache
def mapped_triggers() -> tuple[bytes, ...]:
    """The UTF-8 encodings of every character the one-to-one map changes and of the
    zero-width characters, for a Hyperscan *literal* database: 0.08 µs per chat message,
    where the same ~4,250 characters as UTF-8 character classes cost 0.31. NUL is left
    out: the engine separates messages with it and removes it from texts."""
    chars = {c for c in one_to_one() if c != "\x00"} | set(ZERO_WIDTH)
    return tuple(sorted(c.encode("utf-8") for c in chars))


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


def normalise(text: str, *, remap: bool = True) -> Normalised:
    """Full normalisation of one text (the slow path; most messages never need it).
    ``remap=False`` skips the one-to-one map, for a text known to hold no character it
    changes and no lone surrogate (the engine knows from its trigger pass)."""
    mapped = map_chars(text) if remap else text
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
