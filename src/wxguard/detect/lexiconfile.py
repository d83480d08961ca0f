"""Lexicon files: the TOML format admins write, read and validated with errors that name
the file and the key.

A lexicon (format in ``docs/detectors.md``)::

    id = "confidential-markers"          # stable, kebab-case
    entity = "CONFIDENTIAL_MARKER"
    score = 0.8
    terms = ["机密", "内部资料", "confidential"]
    terms_file = "more-terms.txt"        # optional: one term per line, # comments
    patterns = ["内部\\\\S{0,4}报价"]      # optional: Python regexes
    unless = ["反对", "不认为"]            # optional: suppress a hit when one of these is
    unless_within = 12                   # within this many characters of it
    [[near]]                             # fires when an `a` term and a `b` term are
    a = ["内幕", "消息"]                   # within `within` characters of each other
    b = ["股票", "买入"]
    within = 20

Matching is :mod:`.lexicon`'s.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from .api import DetectorError

_ID = re.compile(r"^[a-z0-9][a-z0-9\-]{0,62}$")
_ENTITY = re.compile(r"^[A-Z][A-Z0-9_]{1,62}$")
_KEYS = {
    "id", "entity", "score", "description", "terms", "terms_file", "patterns", "near", "unless",
    "unless_within",
}  # fmt: skip
_NEAR_KEYS = {"a", "b", "within", "entity", "score"}
MAX_TERMS = 200_000


class LexiconError(DetectorError):
    pass


@dataclass
class NearRule:
    a: list[str]
    b: list[str]
    within: int
    entity: str
    score: float


@dataclass
class Lexicon:
    id: str
    entity: str
    score: float
    source: str
    description: str = ""
    terms: list[str] = field(default_factory=list)
    patterns: list[re.Pattern[str]] = field(default_factory=list)
    near: list[NearRule] = field(default_factory=list)
    unless: list[str] = field(default_factory=list)
    unless_within: int = 12
    digest: str = ""


def _terms(value: object, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise LexiconError(f"{where}: must be a list of strings")
    out = []
    for t in value:
        t = t.strip()
        if not t:
            raise LexiconError(f"{where}: contains an empty term")
        out.append(t)
    return out


def _decode(data: bytes, path: Path) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise LexiconError(
            f"{path}: not UTF-8 (byte {e.start}: {data[e.start : e.start + 1]!r}); "
            "save the file as UTF-8"
        ) from None


def load_lexicon(path: Path) -> Lexicon:
    """Read and validate one lexicon file; errors name the file and the key."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise LexiconError(f"{path}: cannot read: {e.strerror}") from None
    try:
        doc = tomllib.loads(_decode(data, path))
    except tomllib.TOMLDecodeError as e:
        raise LexiconError(f"{path}: invalid TOML: {e}") from None
    unknown = sorted(set(doc) - _KEYS)
    if unknown:
        raise LexiconError(f"{path}: unknown key(s) {', '.join(unknown)}")
    lid, entity = doc.get("id"), doc.get("entity")
    if not isinstance(lid, str) or not _ID.match(lid):
        raise LexiconError(f"{path}: key 'id' must be kebab-case like 'confidential-markers'")
    if not isinstance(entity, str) or not _ENTITY.match(entity):
        raise LexiconError(f"{path}: key 'entity' must be UPPER_SNAKE like 'CONFIDENTIAL_MARKER'")
    score = doc.get("score", 0.8)
    if not isinstance(score, int | float) or not 0 < score <= 1:
        raise LexiconError(f"{path}: key 'score' must be a number in (0, 1]")
    lex = Lexicon(lid, entity, float(score), str(path), str(doc.get("description", "")))
    lex.terms = _terms(doc.get("terms", []), f"{path}: key 'terms'")
    if "terms_file" in doc:
        lex.terms += _terms_file(path, doc["terms_file"])
    for i, pat in enumerate(_terms(doc.get("patterns", []), f"{path}: key 'patterns'")):
        try:
            lex.patterns.append(re.compile(pat, re.IGNORECASE))
        except re.error as e:
            raise LexiconError(f"{path}: patterns[{i}] {pat!r} does not compile: {e}") from None
    lex.unless = _terms(doc.get("unless", []), f"{path}: key 'unless'")
    uw = doc.get("unless_within", 12)
    if not isinstance(uw, int) or not 1 <= uw <= 200:
        raise LexiconError(f"{path}: key 'unless_within' must be an integer 1-200")
    lex.unless_within = uw
    near = doc.get("near", [])
    if not isinstance(near, list):
        raise LexiconError(f"{path}: 'near' must be an array of tables ([[near]])")
    for i, rule in enumerate(near):
        lex.near.append(_near_rule(rule, f"{path}: near[{i}]", lex))
    if not (lex.terms or lex.patterns or lex.near):
        raise LexiconError(f"{path}: has no terms, patterns or near rules")
    if len(lex.terms) > MAX_TERMS:
        raise LexiconError(f"{path}: {len(lex.terms)} terms exceed the limit of {MAX_TERMS}")
    lex.digest = hashlib.sha256(data).hexdigest()[:12]
    return lex


def _terms_file(path: Path, name: object) -> list[str]:
    if not isinstance(name, str):
        raise LexiconError(f"{path}: key 'terms_file' must be a file name")
    tpath = path.parent / name
    try:
        text = _decode(tpath.read_bytes(), tpath)
    except OSError as e:
        raise LexiconError(f"{path}: terms_file {tpath}: cannot read: {e.strerror}") from None
    return [s for line in text.splitlines() if (s := line.split("#", 1)[0].strip())]


def _near_rule(rule: object, where: str, lex: Lexicon) -> NearRule:
    if not isinstance(rule, dict):
        raise LexiconError(f"{where}: must be a table")
    unknown = sorted(set(rule) - _NEAR_KEYS)
    if unknown:
        raise LexiconError(f"{where}: unknown key(s) {', '.join(unknown)}")
    within = rule.get("within", 20)
    if not isinstance(within, int) or not 1 <= within <= 500:
        raise LexiconError(f"{where}: 'within' must be an integer number of characters 1-500")
    entity = rule.get("entity", lex.entity)
    if not isinstance(entity, str) or not _ENTITY.match(entity):
        raise LexiconError(f"{where}: 'entity' must be UPPER_SNAKE")
    return NearRule(
        _terms(rule.get("a"), f"{where}: 'a'"),
        _terms(rule.get("b"), f"{where}: 'b'"),
        within,
        entity,
        float(rule.get("score", lex.score)),
    )


def builtin_lexicon_files() -> list[Path]:
    root = resources.files("wxguard").joinpath("detect/lexicons")
    return sorted(Path(str(p)) for p in root.iterdir() if p.name.endswith(".toml"))


def lexicon_files(paths: Iterable[Path]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out.extend(sorted(p.glob("*.toml")))
        elif p.exists():
            out.append(p)
        else:
            raise LexiconError(f"{p}: lexicon file or directory does not exist")
    return out
