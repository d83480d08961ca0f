"""The Chinese person-name model: a word dictionary and name-character statistics.

A name is found by segmenting a run of Chinese characters into its most probable
reading, where a reading is a sequence of dictionary words *and* name tokens
(surname + one or two given-name characters). ``这批货黄志强负责跟进`` reads best
with ``黄志强`` as one name token between words; ``今天很高兴`` reads best as words
(``高兴`` is a far likelier word than 高 + 兴 is a name). Every quantity is a *cost*,
``round(-ln p × SCALE)``, so a reading's cost is a sum of small integers.

The model is one file (``detect/models/names-zh.xz``, LZMA-compressed UTF-8 lines),
built at development time by ``scripts/build_names_model.py`` from jieba's word
dictionary and ngender's given-name character counts (both MIT; see the card)::

    wxguard-names-v1
    {"card": {...}, "params": {...}}       one JSON object
    S<TAB>surname<TAB>cost                 single or compound surnames
    G<TAB>character<TAB>cost               given-name characters
    F<TAB>character<TAB>cost               characters of transliterated foreign names
    W<TAB>word<TAB>cost                    dictionary words

The ``F`` table and the ``foreign_cost`` parameter are optional (a model without them
finds no transliterated names).

An administrator may replace it (``detect.toml``: ``[models] names-zh = "path"``); a
missing or damaged file is an error naming the file and the line.
"""

from __future__ import annotations

import json
import lzma
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from .api import DetectorError

FORMAT = "wxguard-names-v1"
NAME = "names-zh"
SCALE = 8  # costs are -ln(p) in eighths of a nat
PREFIX = -1  # a dictionary key that is only the beginning of longer words
MAX_WORD = 6  # longest dictionary word kept
T = TypeVar("T")
PARAMS = ("name_cost", "given1_cost", "given2_cost", "context_bonus", "unknown_cost")
OPTIONAL_PARAMS = ("foreign_cost",)
MAX_FOREIGN = 8  # longest transliterated name part read as one token (希策尔斯贝格 is 6)


@dataclass(frozen=True)
class NameCard:
    name: str
    version: str
    built_from: str
    licence: str
    tuning: str
    measured: dict[str, float] = field(default_factory=dict)


@dataclass
class NameModel:
    card: NameCard
    surnames: dict[str, int]  # single characters and compound surnames
    given: dict[str, int]
    words: dict[str, int]  # word -> cost, or PREFIX for the beginning of a longer word
    name_cost: int  # prior cost of a name token, against any dictionary word
    given1_cost: int  # a one-character given name (王芳) ...
    given2_cost: int  # ... or a two-character one (王秀英)
    context_bonus: int  # an honorific, cue, role or verb beside the name
    unknown_cost: int  # a character not in the dictionary
    compound: frozenset[str] = frozenset()
    foreign: dict[str, int] = field(default_factory=dict)  # transliteration characters
    foreign_cost: int = 0  # prior cost of a transliterated name (with ``foreign``)

    def cost(self, word: str) -> int | None:
        """The dictionary cost of ``word`` (None when it is not a word)."""
        c = self.words.get(word)
        return None if c is None or c == PREFIX else c

    def name_token_cost(self, cand: str) -> tuple[int, int] | None:
        """(cost, surname length) of reading ``cand`` as a name, None if it cannot be one."""
        sl = 2 if cand[:2] in self.compound and len(cand) > 2 else 1
        sc = self.surnames.get(cand[:sl])
        if sc is None:
            return None
        rest = cand[sl:]
        if len(rest) == 1:
            g = self.given.get(rest)
            return None if g is None else (self.name_cost + sc + self.given1_cost + g, sl)
        if len(rest) == 2:
            g1, g2 = self.given.get(rest[0]), self.given.get(rest[1])
            if g1 is None or g2 is None:
                return None
            return self.name_cost + sc + self.given2_cost + g1 + g2, sl
        return None

    def foreign_tokens(self, run: str, s: int) -> list[tuple[int, int, bool]]:
        """The transliterated-name readings starting at ``run[s]``: (end, cost, whether it
        has a dot) for each end two or more characters on, over transliteration characters
        and the ``·`` between a name's parts (``皮尔斯·布鲁斯南``, ``西恩·潘``)."""
        foreign = self.foreign
        out: list[tuple[int, int, bool]] = []
        if not foreign or run[s] not in foreign:
            return out
        cost = self.foreign_cost
        part = 0
        dotted = False
        e = s
        n = len(run)
        while e < n:
            c = run[e]
            k = foreign.get(c)
            if k is None:
                if c != "·" or part < 2 or e + 1 >= n or run[e + 1] not in foreign:
                    break
                part, dotted = 0, True  # a new part of the name begins after the dot
                e += 1
                continue
            part += 1
            if part > MAX_FOREIGN:
                break
            cost += k
            e += 1
            if part >= 2 or dotted:
                out.append((e, cost, dotted))
        return out

    def words_cost(self, text: str) -> int:
        """The cost of the cheapest reading of ``text`` as dictionary words only."""
        return self.best_reading(text, {})[0]

    def best_reading(
        self, text: str, extra: dict[int, list[tuple[int, int, T]]]
    ) -> tuple[int, list[tuple[int, int, T]]]:
        """The cheapest reading of ``text`` as dictionary words and the ``extra`` tokens
        (start -> [(end, cost, tag)]): its cost, and the extra tokens on it, in order."""
        n = len(text)
        best = [0] + [1 << 30] * n
        back = [0] * (n + 1)
        tags: list[T | None] = [None] * (n + 1)
        words, unknown = self.words, self.unknown_cost
        for s in range(n):
            b = best[s]
            c = words.get(text[s])
            c = unknown if c is None or c == PREFIX else c
            if b + c < best[s + 1]:
                best[s + 1], back[s + 1], tags[s + 1] = b + c, s, None
            for e in range(s + 2, (n if s + MAX_WORD > n else s + MAX_WORD) + 1):
                c = words.get(text[s:e])
                if c is None:
                    break
                if c != PREFIX and b + c < best[e]:
                    best[e], back[e], tags[e] = b + c, s, None
            for e, c, tag in extra.get(s, ()):
                if b + c < best[e]:
                    best[e], back[e], tags[e] = b + c, s, tag
        on_path: list[tuple[int, int, T]] = []
        e = n
        while e > 0:
            s, on = back[e], tags[e]
            if on is not None:
                on_path.append((s, e, on))
            e = s
        return best[n], on_path[::-1]


def _fail(path: Path, what: str) -> DetectorError:
    return DetectorError(f"names model {path}: {what}")


def load_names_model(path: Path | str) -> NameModel:
    """Read a names model file; errors name the file (and line) and what is wrong."""
    p = Path(path)
    try:
        raw = lzma.decompress(p.read_bytes())
    except OSError as e:
        raise _fail(p, f"cannot read: {e.strerror}") from None
    except lzma.LZMAError as e:
        raise _fail(p, f"not an xz file: {e}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise _fail(p, f"not UTF-8 at byte {e.start}") from None
    lines = text.split("\n")
    if lines[0] != FORMAT:
        raise _fail(p, f"line 1: format {lines[0][:40]!r}, expected {FORMAT!r}")
    try:
        head: dict[str, Any] = json.loads(lines[1]) if len(lines) > 1 else {}
        card = NameCard(**head["card"])
        params = {k: int(head["params"][k]) for k in PARAMS}
        params |= {k: int(head["params"][k]) for k in OPTIONAL_PARAMS if k in head["params"]}
    except (ValueError, KeyError, TypeError) as e:
        raise _fail(p, f"line 2: bad header ({type(e).__name__}: {e})") from None
    tables: dict[str, dict[str, int]] = {"S": {}, "G": {}, "F": {}, "W": {}}
    for no, line in enumerate(lines[2:], start=3):
        if not line:
            continue
        parts = line.split("\t")
        if len(parts) != 3 or parts[0] not in tables or not parts[1] or not parts[2].isdigit():
            raise _fail(p, f"line {no}: expected KIND<TAB>TEXT<TAB>COST, got {line[:40]!r}")
        tables[parts[0]][parts[1]] = int(parts[2])
    if not tables["S"] or not tables["G"] or not tables["W"]:
        raise _fail(p, "surnames, given-name characters and words must all be present")
    if tables["F"] and "foreign_cost" not in params:
        raise _fail(p, "an F table (transliteration characters) needs params.foreign_cost")
    words = tables["W"]
    for w in list(words):
        if len(w) > MAX_WORD:
            del words[w]
            continue
        for k in range(2, len(w)):
            words.setdefault(w[:k], PREFIX)
    return NameModel(
        card=card,
        surnames=tables["S"],
        given=tables["G"],
        words=words,
        compound=frozenset(s for s in tables["S"] if len(s) == 2),
        foreign=tables["F"],
        **params,
    )


def dump_names_model(
    card: NameCard,
    params: dict[str, int],
    surnames: dict[str, int],
    given: dict[str, int],
    words: dict[str, int],
    foreign: dict[str, int] | None = None,
) -> bytes:
    """Serialise a model (used by the build script); the inverse of ``load_names_model``."""
    if not set(PARAMS) <= set(params) <= set(PARAMS) | set(OPTIONAL_PARAMS):
        raise ValueError(f"params must be {PARAMS}, optionally with {OPTIONAL_PARAMS}")
    head = {"card": card.__dict__, "params": params}
    out = [FORMAT, json.dumps(head, ensure_ascii=False, sort_keys=True)]
    for kind, table in (("S", surnames), ("G", given), ("F", foreign or {}), ("W", words)):
        out += [f"{kind}\t{k}\t{v}" for k, v in sorted(table.items())]
    return lzma.compress(("\n".join(out) + "\n").encode("utf-8"), preset=9)


@lru_cache(maxsize=4)
def _cached(path: str) -> NameModel:
    return load_names_model(path)


def names_model(overrides: dict[str, Path] | None = None) -> NameModel:
    """The shipped names model, or the administrator's replacement for it (loaded once per
    process: the dictionary is about 60 MB in memory)."""
    if overrides and NAME in overrides:
        model = _cached(str(overrides[NAME]))
        if model.card.name != NAME:
            raise DetectorError(
                f"names model {overrides[NAME]}: its card names {model.card.name!r}, not {NAME!r}"
            )
        return model
    ref = resources.files("wxguard").joinpath(f"detect/models/{NAME}.xz")
    return _cached(str(ref))
