"""Exact-data match: a customer table, matched by keyed hash, firing when fields co-occur.

``wxguard edm add customers customers.csv`` reads a CSV (header row, UTF-8), normalises
each cell by its column's kind (``digits`` for phones / IDs / cards, ``email``,
``name`` for short Chinese names) and keeps only **keyed hashes** of the cells
(HMAC with the archive's fingerprint key) in ``DATA/edm/customers.json``; the CSV is
not copied. In chat, digit runs and e-mail addresses are hashed the same way; when
two or more fields of one record appear in a message — a phone and an ID number, a
name and a phone — that is a ``CUSTOMER_RECORD``; one identifying field alone is a
``CUSTOMER_FIELD``. Names are looked up only in messages that already matched a
number or address, so a common name alone never fires.
"""

from __future__ import annotations

import csv
import io
import re
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import msgspec

from .api import Anchor, DetectConfig, Detector, DetectorError, Explanation, Hit, ScanBatch
from .patterns import digit_run
from .registered import KeyedHash, key_check, load_items, registered_version, save_item
from .textnorm import normalise

FORMAT = "wxguard-edm-v1"
_NAME = re.compile(r"^[\u4e00-\u9fff·]{2,5}$")
_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+")
_DIGITS = re.compile(r"(?<!\d)\d(?:[ \-.]?\d){5,}(?!\d)")
_CJK_RUN = re.compile(r"[\u4e00-\u9fff]{2,}")
MAX_ROWS = 5_000_000


class EdmIndex(msgspec.Struct, kw_only=True):
    format: str
    name: str
    columns: list[str]
    kinds: list[str]
    records: int
    created_at: int
    key_check: str
    entries: dict[str, list[tuple[int, int]]]  # keyed hash (hex) -> [(record, column)]
    # Keyed hashes of the characters names begin with (start_hash): where in a message a
    # name can start. None in indexes made before it was kept: every position is tried.
    name_starts: list[str] | None = None


def start_hash(keyed: KeyedHash, char: str) -> str:
    """The keyed hash of a character a name begins with (its own domain: a name has two
    characters or more, so it never equals a name's hash anyway)."""
    return keyed(b"name-start\x00" + char.encode()).hex()


def canonical(kind: str, value: str) -> str | None:
    v = normalise(value.strip()).text
    if kind == "digits":
        d = re.sub(r"\D", "", v)
        return d if len(d) >= 6 else None
    if kind == "email":
        return v.lower() if "@" in v else None
    if kind == "name":
        return v if _NAME.match(v) else None
    return None


def _kind_of(values: list[str]) -> str:
    vals = [v.strip() for v in values if v.strip()][:200]
    if not vals:
        return "skip"

    def share(pred: Callable[[str], bool]) -> float:
        return sum(map(pred, vals)) / len(vals)

    if share(lambda v: "@" in v) >= 0.8:
        return "email"
    if (
        share(lambda v: len(re.sub(r"\D", "", v)) >= 6 and len(re.sub(r"[\d\s\-+().]", "", v)) <= 1)
        >= 0.8
    ):
        return "digits"
    if share(lambda v: bool(_NAME.match(normalise(v).text))) >= 0.8:
        return "name"
    return "skip"


def build_index(name: str, data: bytes, source: str, keyed: KeyedHash) -> EdmIndex:
    """Hash a CSV's cells; errors name the file and the row."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise DetectorError(
            f"{source}: not UTF-8 (byte {e.start}); save the CSV as UTF-8"
        ) from None
    rows = list(csv.reader(io.StringIO(text)))
    if len(rows) < 2:
        raise DetectorError(f"{source}: needs a header row and at least one record")
    if len(rows) > MAX_ROWS:
        raise DetectorError(f"{source}: {len(rows):,} rows exceed the limit of {MAX_ROWS:,}")
    header, body = rows[0], rows[1:]
    for n, r in enumerate(body, 2):
        if len(r) != len(header):
            raise DetectorError(
                f"{source}: row {n} has {len(r)} cells, the header has {len(header)}"
            )
    kinds = [_kind_of([r[c] for r in body]) for c in range(len(header))]
    if all(k == "skip" for k in kinds):
        raise DetectorError(f"{source}: no column looks like phones, ID numbers, e-mail or names")
    entries: dict[str, list[tuple[int, int]]] = {}
    starts: set[str] = set()
    for rec, r in enumerate(body):
        for col, kind in enumerate(kinds):
            if kind == "skip":
                continue
            c = canonical(kind, r[col])
            if c is not None:
                entries.setdefault(keyed(c.encode()).hex(), []).append((rec, col))
                if kind == "name":
                    starts.add(c[0])
    return EdmIndex(format=FORMAT, name=name, columns=header, kinds=kinds, records=len(body),
                    created_at=int(time.time() * 1000), key_check=key_check(keyed),
                    entries=entries,
                    name_starts=sorted(start_hash(keyed, ch) for ch in starts))  # fmt: skip


def edm_dir(data_dir: Path) -> Path:
    return data_dir / "edm"


def save_index(data_dir: Path, idx: EdmIndex, replace: bool = False) -> Path:
    """Write ``DATA/edm/NAME.json`` (keyed hashes only)."""
    return save_item(edm_dir(data_dir), idx.name, idx, "table", replace)


def load_indexes(
    folder: Path, keyed: KeyedHash | None, problems: list[str] | None = None
) -> list[EdmIndex]:
    return load_items(folder, EdmIndex, "exact-data index", keyed, lambda x: x.key_check, problems)


def _number_candidates(m: re.Match[str]) -> list[tuple[int, int, str]]:
    """Every contiguous run of separator-delimited pieces of 6-19 digits: "138 0013 8000" is
    one number, "13812345678 440305…" is two; "+86 138…" also yields its last 11 digits."""
    pieces = [(p.start() + m.start(), p.end() + m.start(), p.group())
              for p in re.finditer(r"\d+", m.group())]  # fmt: skip
    out = []
    for a in range(len(pieces)):
        digits = ""
        for b in range(a, len(pieces)):
            digits += pieces[b][2]
            if len(digits) > 19:
                break
            if len(digits) >= 6:
                out.append((pieces[a][0], pieces[b][1], digits))
                if len(digits) > 11 and digits.startswith("86"):
                    out.append((pieces[a][0], pieces[b][1], digits[-11:]))
    return out


class ExactDataMatch(Detector):
    id = "edm.customer"
    version = "1"
    entities = ("CUSTOMER_RECORD", "CUSTOMER_FIELD")
    languages = ("zh", "en")
    description = (
        "Registered customer tables (DATA/edm/): keyed hashes of cells; two fields of one "
        "record together are a CUSTOMER_RECORD, one identifying field a CUSTOMER_FIELD"
    )

    def __init__(self, config: DetectConfig) -> None:
        super().__init__(config)
        self.keyed = config.keyed_hash
        folder = edm_dir(config.data_dir) if config.data_dir else None
        self.indexes = (
            load_indexes(folder, self.keyed, self.load_problems) if folder and self.keyed else []
        )
        self.version = registered_version("1", self.indexes)  # type: ignore[misc]
        self._starts = [set(x.name_starts) if x.name_starts is not None else None
                        for x in self.indexes]  # fmt: skip
        # character -> its start hash: chat repeats a few thousand characters, so each is
        # hashed once per process, not once per message
        self._char_hash: dict[str, str] = {}

    @property
    def active(self) -> bool:
        return bool(self.indexes)

    def anchors(self) -> list[Anchor]:
        return [digit_run(6), Anchor("@")]

    def scan(self, batch: ScanBatch) -> Iterable[Hit]:
        if not self.indexes or self.keyed is None:
            return
        keyed = self.keyed
        for i in batch.candidates:
            text = batch.texts[i]
            spans: list[tuple[int, int, str]] = []
            for m in _DIGITS.finditer(text):
                for s, e, d in _number_candidates(m):
                    spans.append((s, e, keyed(d.encode()).hex()))
            for m in _EMAIL.finditer(text):
                spans.append((m.start(), m.end(), keyed(m.group().lower().encode()).hex()))
            if not spans:
                continue
            yield from self._match(i, text, spans, keyed)

    def _can_start(self, starts: set[str] | None, char: str, keyed: KeyedHash) -> bool:
        if starts is None:
            return True
        h = self._char_hash.get(char)
        if h is None:
            if len(self._char_hash) >= 100_000:
                self._char_hash.clear()
            h = self._char_hash[char] = start_hash(keyed, char)
        return h in starts

    def _match(
        self, i: int, text: str, spans: list[tuple[int, int, str]], keyed: KeyedHash
    ) -> Iterable[Hit]:
        for idx, starts in zip(self.indexes, self._starts, strict=True):
            found: dict[int, dict[int, tuple[int, int]]] = {}  # record -> column -> span
            for s, e, h in spans:
                for rec, col in idx.entries.get(h, ()):
                    found.setdefault(rec, {})[col] = (s, e)
            if not found:
                continue
            names = [c for c, k in enumerate(idx.kinds) if k == "name"]
            if names:
                for m in _CJK_RUN.finditer(text):
                    run = m.group()
                    for a in range(len(run)):
                        if not self._can_start(starts, run[a], keyed):
                            continue  # no registered name begins with this character
                        for n in (2, 3, 4):
                            if a + n <= len(run):
                                h = keyed(run[a : a + n].encode()).hex()
                                for rec, col in idx.entries.get(h, ()):
                                    if rec in found and col in names:
                                        found[rec][col] = (m.start() + a, m.start() + a + n)
            for rec, cols in found.items():
                s = min(a for a, _ in cols.values())
                e = max(b for _, b in cols.values())
                fields = [idx.columns[c] for c in sorted(cols)]
                two = len(cols) >= 2
                expl = Explanation(
                    pattern=f"edm:{idx.name}", validator=f"fields {', '.join(fields)}",
                    base_score=0.95 if two else 0.6,
                    note=f"{len(cols)} field(s) of one record of {idx.records:,}",
                )  # fmt: skip
                entity = "CUSTOMER_RECORD" if two else "CUSTOMER_FIELD"
                yield Hit(i, s, e, entity, expl.base_score, f"{idx.name}#{rec}", expl)


BUILTIN = (ExactDataMatch,)
