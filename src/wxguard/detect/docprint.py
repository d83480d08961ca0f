"""Fingerprints of confidential documents: exact file hashes and text shingles.

``wxguard fingerprint add FILE`` records a document's md5 and sha256 (WeCom file
messages carry the file's md5, specs/wecom-archive.md §2.2 ``file.md5sum``) and, for
text it can read (text, ``.docx``, ``.xlsx``, ``.pptx``, PDF with a text layer — see
:mod:`.doctext`), keyed hashes of 12-character shingles of its normalised,
whitespace-free text, winnowed: of every ``WINDOW`` consecutive shingles the one with
the smallest hash is kept (Schleimer, Wilkerson and Aiken, "Winnowing", SIGMOD 2003).
The choice depends only on the text inside the window, so a passage of the document
pasted into chat contains the same kept shingles, and any passage of
``GUARANTEED`` characters or more shares at least ``MIN_HITS`` of them, whatever the
key. (Format v1 kept the shingles whose hash was 0 mod 4: a 37-character passage then
went unseen under about one key in forty. v1 files still load and match as before.)
Chat text is looked up shingle by shingle, unsampled. An excerpt is reported as
``CONFIDENTIAL_DOCUMENT``; the same file sent as an attachment matches its md5. Only
hashes are stored (``DATA/fingerprints/*.json``).
"""

from __future__ import annotations

import hashlib
import re
import time
from collections import deque
from collections.abc import Iterable, Sequence
from pathlib import Path

import msgspec

from .api import DetectConfig, Detector, DetectorError, Explanation, Hit, ScanBatch
from .doctext import DocumentText, read_document
from .registered import KeyedHash, key_check, load_items, registered_version, save_item
from .textnorm import normalise

FORMAT = "wxguard-docprint-v2"
K = 12  # characters per shingle
WINDOW = 6  # keep the smallest hash of every 6 consecutive shingles (about 2 in 7)
MIN_HITS = 3
# three disjoint windows of shingles lie inside any passage this long
GUARANTEED = K - 1 + MIN_HITS * WINDOW  # 29 characters
MAX_DOC = 64 << 20
_WS = re.compile(r"\s+")


class DocPrint(msgspec.Struct, kw_only=True):
    format: str
    name: str
    file: str  # the file's name when registered (not its path)
    size: int
    md5: str
    sha256: str
    shingles: list[str]  # keyed 8-byte hashes, hex
    created_at: int
    key_check: str


def shingle_key(keyed: KeyedHash) -> bytes:
    return keyed(b"wxguard-docprint-shingle-key")


def _shingle_hashes(text: str, key: bytes) -> list[str]:
    """The hex hash of every shingle of whitespace-free text, by start."""
    b2 = hashlib.blake2b
    return [b2(text[i : i + K].encode(), key=key, digest_size=8).hexdigest()
            for i in range(len(text) - K + 1)]  # fmt: skip


def winnow(hashes: Sequence[str]) -> set[str]:
    """The smallest hash of every ``WINDOW`` consecutive ones (all of a text shorter than
    one window contributes its smallest). Fixed-width hex compares as the numbers do.
    A deque of candidates keeps this linear for documents of millions of characters."""
    if not hashes:
        return set()
    if len(hashes) <= WINDOW:
        return {min(hashes)}
    kept: set[str] = set()
    window: deque[int] = deque()  # positions whose hashes increase from left to right
    for i, h in enumerate(hashes):
        while window and hashes[window[-1]] >= h:
            window.pop()
        window.append(i)
        if window[0] <= i - WINDOW:
            window.popleft()
        if i >= WINDOW - 1:
            kept.add(hashes[window[0]])
    return kept


def build_print(name: str, path: Path, keyed: KeyedHash) -> tuple[DocPrint, DocumentText]:
    """The fingerprint of ``path`` and the text it was built from (kind, or why none)."""
    try:
        size = path.stat().st_size
        if size > MAX_DOC:
            raise DetectorError(f"{path}: {size:,} bytes exceed the {MAX_DOC >> 20} MiB limit")
        data = path.read_bytes()
    except OSError as e:
        raise DetectorError(f"{path}: cannot read: {e.strerror}") from None
    read = read_document(data)
    text = _WS.sub("", normalise(read.text).text)
    shingles = sorted(winnow(_shingle_hashes(text, shingle_key(keyed))))
    p = DocPrint(
        format=FORMAT, name=name, file=path.name, size=len(data),
        md5=hashlib.md5(data, usedforsecurity=False).hexdigest(),
        sha256=hashlib.sha256(data).hexdigest(), shingles=shingles,
        created_at=int(time.time() * 1000), key_check=key_check(keyed),
    )  # fmt: skip
    return p, read


def prints_dir(data_dir: Path) -> Path:
    return data_dir / "fingerprints"


def save_print(data_dir: Path, p: DocPrint, replace: bool = False) -> Path:
    """Write ``DATA/fingerprints/NAME.json`` (hashes only)."""
    return save_item(prints_dir(data_dir), p.name, p, "fingerprint", replace)


def load_prints(
    folder: Path, keyed: KeyedHash | None, problems: list[str] | None = None
) -> list[DocPrint]:
    return load_items(
        folder, DocPrint, "document fingerprint", keyed, lambda x: x.key_check, problems
    )


class DocumentFingerprint(Detector):
    id = "fingerprint.document"
    version = "1"
    entities = ("CONFIDENTIAL_DOCUMENT",)
    languages = ("zh", "en")
    cost = "expensive"
    description = (
        "Registered confidential documents (DATA/fingerprints/): the same file by md5, or "
        "excerpts pasted into chat by shared 12-character shingles"
    )

    def __init__(self, config: DetectConfig) -> None:
        super().__init__(config)
        folder = prints_dir(config.data_dir) if config.data_dir else None
        keyed = config.keyed_hash
        self.prints = load_prints(folder, keyed, self.load_problems) if folder and keyed else []
        self.key = shingle_key(keyed) if keyed else b""
        self.by_md5 = {p.md5: p for p in self.prints}
        self.by_shingle: dict[str, list[int]] = {}
        for n, p in enumerate(self.prints):
            for h in p.shingles:
                self.by_shingle.setdefault(h, []).append(n)
        self.version = registered_version("1", self.prints)  # type: ignore[misc]

    @property
    def active(self) -> bool:
        return bool(self.prints)

    def scan(self, batch: ScanBatch) -> Iterable[Hit]:
        for i in batch.candidates:
            text = batch.texts[i]
            md5s: Sequence[str] = batch.md5s[i] if batch.md5s else ()
            for md5 in md5s:
                p = self.by_md5.get(md5.lower())
                if p is not None:
                    note = f"the registered file {p.file}"
                    expl = Explanation(
                        pattern=f"fingerprint:{p.name}",
                        validator="md5 match",
                        base_score=0.99,
                        note=note,
                    )
                    yield Hit(i, 0, len(text), "CONFIDENTIAL_DOCUMENT", 0.99, p.md5, expl)
            if len(text) >= K:
                yield from self._excerpts(i, text)

    def _excerpts(self, i: int, text: str) -> Iterable[Hit]:
        kept = [k for k, c in enumerate(text) if not c.isspace()]
        compact = "".join(text[k] for k in kept)
        hits: dict[int, list[int]] = {}
        for start, h in enumerate(_shingle_hashes(compact, self.key)):
            for n in self.by_shingle.get(h, ()):
                hits.setdefault(n, []).append(start)
        for n, starts in hits.items():
            if len(starts) < MIN_HITS:
                continue
            p = self.prints[n]
            s, e = kept[min(starts)], kept[max(starts) + K - 1] + 1
            score = round(min(0.95, 0.6 + 0.05 * len(starts)), 3)
            expl = Explanation(
                pattern=f"fingerprint:{p.name}", validator=f"{len(starts)} shared shingles",
                base_score=0.6, note=f"excerpt of {p.file}",
            )  # fmt: skip
            yield Hit(i, s, e, "CONFIDENTIAL_DOCUMENT", score, p.sha256, expl)


BUILTIN = (DocumentFingerprint,)
