"""File ingest: read → parse → normalise → seal (dedupe, encrypt, ledger, store).

The pipeline, in order (each stage testable alone):

1. ``read_records``   split a file into records with a locator and a resume position;
2. ``decode``         bytes → canonical objects (WeCom normaliser or interchange reader);
3. ``Sealer.commit``  dedupe by (source, source msg id), encrypt, ledger, store, and commit
                      the file's cursor in the same transaction.

A record that cannot be decoded is quarantined (kept encrypted, reported with its
locator and reason) and the batch goes on. Re-running a file resumes at its cursor.
"""

from __future__ import annotations

import bz2
import codecs
import gc
import gzip
import hashlib
import io
import lzma
import multiprocessing
import os
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, cast

import orjson
import zstandard

from . import interchange, wecom
from .archive import Archive
from .codec import Codec
from .crypto import Fingerprinter
from .seal import Batch, Counts, Prepared, Sealer, prepare

MAX_RECORD = 16 << 20  # bytes; larger records are quarantined, not parsed
OVERSIZED = f"record exceeds the {MAX_RECORD >> 20} MiB limit"  # their quarantine reason
MAX_JSON_ARRAY_FILE = 256 << 20
BATCH_RECORDS = 5000
BATCH_BYTES = 8 << 20
FORMATS = ("auto", "wecom", "jsonl")

Progress = Callable[[int], None]


class IngestError(Exception):
    """A whole file cannot be ingested (unreadable, unknown format)."""


@dataclass
class FileReport:
    path: str
    format: str
    counts: Counts = field(default_factory=Counts)
    error: str = ""
    resumed_at: int = 0
    warnings: list[str] = field(default_factory=list)


@dataclass
class Record:
    locator: str  # "line 12" / "item 3"
    position: int  # resume position after this record
    raw: bytes
    oversized: bool = False


HEAD_BYTES = 1 << 16
DETECT_LINES = 20  # lines of the head tried before the format is declared unknown


def _strip_head(head: bytes) -> bytes:
    return head.lstrip(b"\xef\xbb\xbf \t\r\n")


def detect_format(path: Path, head: bytes) -> str:
    """``jsonl`` (wxguard interchange) or ``wecom`` (decrypted WeCom JSON / JSONL).

    ``head`` is the start of the file, ending at a line boundary (see :func:`read_head`).
    The first line that parses as a JSON object decides, among the first
    :data:`DETECT_LINES` non-empty lines: a bad record at the top of a file (invalid
    UTF-8, a truncated line) is quarantined like any other instead of refusing the file.
    """
    stripped = _strip_head(head)
    if not stripped:
        raise IngestError(f"{path}: file is empty")
    if stripped.startswith(b"["):
        return "wecom"
    tried = 0
    first_problem = ""
    for lineno, line in enumerate(head.removeprefix(b"\xef\xbb\xbf").split(b"\n"), 1):
        if not line.strip():
            continue
        tried += 1
        if tried > DETECT_LINES:
            break
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError:
            try:
                obj = wecom.parse_record(line)[0]
            except wecom.NormaliseError as e:
                first_problem = first_problem or f"line {lineno}: {e}"
                continue
        if isinstance(obj, dict):
            if "v" in obj and "type" in obj:
                return "jsonl"
            if "msgid" in obj or "action" in obj or "msgtype" in obj:
                return "wecom"
        raise IngestError(
            f"{path}: cannot detect the format: line {lineno} is neither a wxguard interchange "
            'line ({"v":..,"type":..}) nor a WeCom message ({"msgid":..}); use --format'
        )
    hint = (
        ": if it is in another encoding (GB18030, UTF-16 without a byte-order mark), convert "
        "it to UTF-8, e.g. iconv -f GB18030 -t UTF-8"
        if "UTF-8" in first_problem
        else "; use --format"
    )
    raise IngestError(
        f"{path}: cannot detect the format: none of the first {min(tried, DETECT_LINES)} "
        f"non-empty lines is JSON ({first_problem}){hint}"
    )


# --------------------------------------------------------------------------- compressed input
#
# Any input file may be compressed with gzip, zstd, xz or bzip2, told by its magic number
# (not its name). Positions — cursors, "byte N" locators, ``resumed_at`` — count bytes of
# the decompressed stream; resuming decompresses up to the cursor again.

_MAGIC = (
    (b"\x1f\x8b", "gzip"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"BZh", "bzip2"),
)
# What reading a (compressed) input raises when the file is damaged or cut short.
READ_ERRORS = (EOFError, OSError, zlib.error, lzma.LZMAError, zstandard.ZstdError)
_ZSTD_FEED = 1 << 10  # compressed bytes per step: one step inflates to 32 MiB at most


def compression_of(head: bytes) -> str | None:
    """``gzip``, ``zstd``, ``xz`` or ``bzip2`` when ``head`` (a file's first bytes) starts
    with that format's magic number, else None."""
    for magic, name in _MAGIC:
        if head.startswith(magic):
            return name
    return None


class DamagedInput(IngestError):
    """A compressed file is corrupt or cut short: what came before is ingested."""


class _ZstdReader(io.RawIOBase):
    """zstd frames, one after another, decompressed. Unlike zstandard's ``stream_reader``,
    a stream that ends inside a frame (a file still being copied) is an ``EOFError``."""

    def __init__(self, raw: io.BufferedIOBase) -> None:
        self._raw = raw
        self._new = zstandard.ZstdDecompressor().decompressobj
        self._d = self._new()
        self._in_frame = False
        self._out = b""

    def readable(self) -> bool:
        return True

    def readinto(self, b: memoryview) -> int:  # type: ignore[override]
        while not self._out:
            data = self._raw.read(_ZSTD_FEED)
            if not data:
                if self._in_frame:
                    raise EOFError("the zstd stream ends inside a frame")
                return 0
            out = []
            while data:
                self._in_frame = True
                out.append(self._d.decompress(data))
                data = b""
                if self._d.eof:  # the frame is complete; another may follow
                    data, self._d, self._in_frame = self._d.unused_data, self._new(), False
            self._out = b"".join(out)
        n = min(len(b), len(self._out))
        b[:n] = self._out[:n]
        self._out = self._out[n:]
        return n


# Readers of a compressed stream (they leave the file they read from open).
_DECOMPRESS: dict[str, Callable[[io.BufferedIOBase], io.BufferedIOBase]] = {
    "gzip": lambda raw: gzip.GzipFile(fileobj=raw, mode="rb"),
    "bzip2": bz2.BZ2File,
    "xz": lambda raw: lzma.LZMAFile(cast(IO[bytes], raw)),  # noqa: SIM115 (holds nothing to close)
    "zstd": lambda raw: io.BufferedReader(_ZstdReader(raw), 1 << 16),
}


@contextmanager
def open_input(path: Path) -> Iterator[tuple[io.BufferedIOBase, str | None, Callable[[], int]]]:
    """``path``'s bytes, decompressed when it is compressed; its compression (or None); and
    how many of the file's own bytes have been read, for progress."""
    with path.open("rb") as raw:
        kind = compression_of(raw.peek(8)[:8])  # peek: a pipe (/dev/stdin) cannot seek back
        size = os.fstat(raw.fileno()).st_size

        def consumed() -> int:
            return size if raw.closed else raw.tell()

        f = raw if kind is None else _DECOMPRESS[kind](raw)
        try:
            bom = f.peek(2)[:2]  # type: ignore[attr-defined]
        except READ_ERRORS:
            bom = b""  # damaged from the start: reported where it is read
        if bom in _UTF16_BOMS:
            f = io.BufferedReader(_Utf16Reader(f), 1 << 16)
            kind = f"{kind}, UTF-16" if kind else "UTF-16"
        yield f, kind, consumed


# Windows tools (PowerShell's `>` among them) write UTF-16 with a byte-order mark.
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


class _Utf16Reader(io.RawIOBase):
    """UTF-16 text (with its byte-order mark) as UTF-8 bytes. Unpaired surrogates pass
    through as invalid UTF-8, so their records are quarantined like any other bad line."""

    def __init__(self, src: io.BufferedIOBase) -> None:
        self._src = src
        self._dec = codecs.getincrementaldecoder("utf-16")("surrogatepass")
        self._out = b""
        self._eof = False

    def readable(self) -> bool:
        return True

    def readinto(self, b: memoryview) -> int:  # type: ignore[override]
        while not self._out and not self._eof:
            data = self._src.read(1 << 16)
            try:
                text = self._dec.decode(data, final=not data)
            except UnicodeDecodeError:
                text = ""  # an odd byte at the very end: the cut line is held, not read
            self._eof = not data
            self._out = text.encode("utf-8", "surrogatepass")
        n = min(len(b), len(self._out))
        b[:n] = self._out[:n]
        self._out = self._out[n:]
        return n


def _damaged(path: Path, kind: str | None, at: int, e: BaseException) -> DamagedInput:
    what = f"{kind} data" if kind else "the file"
    if at == 0:
        return DamagedInput(f"{path}: cannot read {what} ({e or type(e).__name__})")
    return DamagedInput(
        f"{path}: cannot read {what} after byte {at} of its content ({e or type(e).__name__}); "
        "everything before it is ingested — replace the file with a complete copy and ingest "
        "it again to resume there"
    )


def read_head(path: Path) -> bytes:
    """The file's first :data:`HEAD_BYTES` bytes (decompressed), completed to the end of the
    line they stop in (at most :data:`MAX_RECORD` bytes more), so format detection sees
    whole records. A compressed file damaged early gives what could be read."""
    parts: list[bytes] = []
    with open_input(path) as (f, kind, _):
        try:
            got = 0
            while got < HEAD_BYTES:
                part = f.read(min(8192, HEAD_BYTES - got))
                if not part:
                    break
                parts.append(part)
                got += len(part)
            if got == HEAD_BYTES and not parts[-1].endswith(b"\n"):
                parts.append(f.readline(MAX_RECORD))
        except READ_ERRORS as e:
            if not parts:
                raise _damaged(path, kind, 0, e) from None
            # else reported, with its position, when the records are read
    return b"".join(parts)


def _skip(f: io.BufferedIOBase, n: int) -> None:
    while n > 0:
        part = f.read(min(n, 1 << 20))
        if not part:
            return
        n -= len(part)


def read_lines(
    path: Path, start: int, consumed: list[Callable[[], int]] | None = None,
    held: list[str] | None = None,
) -> Iterator[Record]:  # fmt: skip
    """The file's records, one per line, from byte ``start`` of its (decompressed) content.
    For a compressed file, ``consumed`` (when given) receives a function telling how much of
    the file itself was read: the progress to show.

    A last line without a line end that is not a whole JSON object is being written (a
    file another program appends to): it is not yielded — the cursor stays before it, so the
    next run reads it whole — and ``held`` receives a note saying so."""
    with open_input(path) as (f, kind, tell):
        if consumed is not None and kind is not None:
            consumed.append(tell)
        lineno = 0 if start == 0 else -1  # unknown line numbers after a resume
        offset = start
        try:
            if kind is None:
                f.seek(start)
            else:
                _skip(f, start)
            while True:
                line = f.readline(MAX_RECORD + 1)
                if not line:
                    return
                oversized = False
                if len(line) > MAX_RECORD and not line.endswith(b"\n"):
                    oversized = True
                    head = line[: 1 << 20]
                    while line and not line.endswith(b"\n"):
                        offset += len(line)
                        line = f.readline(1 << 20)
                    offset += len(line)
                    line = head
                else:
                    offset += len(line)
                if lineno >= 0:
                    lineno += 1
                locator = f"line {lineno}" if lineno > 0 else f"byte {offset - len(line)}"
                if line.strip() == b"":
                    continue
                if not oversized and not line.endswith(b"\n") and not _whole(line):
                    if held is not None:
                        held.append(
                            f"{path}: {locator} has no line end and is not a whole JSON "
                            "object — still being written? It is left for the next run"
                        )
                    return
                yield Record(locator, offset, line.rstrip(b"\r\n"), oversized)
        except READ_ERRORS as e:
            raise _damaged(path, kind, offset, e) from None


def _whole(line: bytes) -> bool:
    try:
        wecom.parse_record(line)
    except wecom.NormaliseError:
        return False
    return True


def read_json_array(path: Path, start: int) -> Iterator[Record]:
    with open_input(path) as (f, kind, _):
        try:
            data = f.read(MAX_JSON_ARRAY_FILE + 1)
        except READ_ERRORS as e:
            raise _damaged(path, kind, 0, e) from None
    if len(data) > MAX_JSON_ARRAY_FILE:
        raise IngestError(
            f"{path}: a JSON array file of more than {MAX_JSON_ARRAY_FILE} bytes is too large; "
            "convert it to JSONL"
        )
    try:
        items = orjson.loads(data)
    except orjson.JSONDecodeError as e:
        raise IngestError(f"{path}: malformed JSON array: {e}") from None
    if not isinstance(items, list):
        raise IngestError(f"{path}: expected a JSON array of WeCom messages")
    for i in range(start, len(items)):
        yield Record(f"item {i + 1}", i + 1, orjson.dumps(items[i]))


def _stream_id(path: Path) -> str:
    return f"file:{path.resolve()}"


def stored_cursor(archive: Archive, stream: str, head: str) -> int:
    """Where ``stream`` stopped, if its cursor was written for the same input (``head``)."""
    row = archive.conn.execute(
        "SELECT position FROM cursors WHERE stream = ?", (stream,)
    ).fetchone()
    if row is None:
        return 0
    pos, _, cur_head = str(row[0]).partition(";head=")
    return int(pos) if cur_head == head else 0


# --------------------------------------------------------------------------- --jobs
#
# Parsing, normalising, fingerprinting and compressing a record do not depend on where it
# lands in the ledger, so `wxguard ingest --jobs N` does them in N-1 worker processes and
# keeps one writer — this process — for what does: dedupe, encryption bound to the ledger
# position, the ledger and the transaction with the cursor. Chunks come back in input order
# and are sealed in batches exactly as without workers, so a crash loses or repeats nothing.

PREPARE_CHUNK = 1000  # records per task
PREPARE_AHEAD = 3 * BATCH_RECORDS  # records in flight at most
_worker: tuple[Fingerprinter, Codec, str] | None = None


def _worker_init(fingerprint_key: bytes, source: str, writer: int) -> None:
    global _worker
    _worker = (Fingerprinter(fingerprint_key), Codec(), source)
    gc.disable()  # preparing builds no reference cycles (as in the writer)
    threading.Thread(target=_exit_with_parent, args=(writer,), daemon=True).start()


def _exit_with_parent(parent: int) -> None:
    """A worker waits on its task queue forever: if the writer is killed (SIGKILL, OOM)
    nothing tells it, so it watches for being re-parented (also when the writer died
    before this worker finished starting) and exits."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)


def _worker_prepare(recs: list[tuple[bytes, bool]]) -> list[Prepared | str]:
    """The prepared message, or the reason to quarantine it, of each (raw, oversized)."""
    assert _worker is not None, "worker not initialised"
    fp, codec, source = _worker
    salts = os.urandom(16 * len(recs))
    out: list[Prepared | str] = []
    for k, (raw, oversized) in enumerate(recs):
        if oversized:
            out.append(OVERSIZED)
            continue
        try:
            m = wecom.normalise_bytes(raw, source)
        except wecom.NormaliseError as e:
            out.append(str(e))
            continue
        out.append(prepare(m, raw, salts[16 * k : 16 * k + 16], fp, codec))
    return out


class Preparer:
    """Worker processes preparing WeCom records for one writer (``ingest --jobs``).

    Workers are spawned (fresh interpreters), so a program using this must guard its
    main module with ``if __name__ == "__main__":``, as the ``wxguard`` command does."""

    def __init__(self, archive: Archive, jobs: int, source: str = "wecom") -> None:
        if jobs < 2:
            raise ValueError("a Preparer needs --jobs 2 or more (one writer, the rest workers)")
        self.workers = jobs - 1
        self.source = source
        # spawn: fresh interpreters, never a fork of this one (its SQLite connection,
        # the progress bar's thread).
        self._pool = ProcessPoolExecutor(
            self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_worker_init,
            initargs=(archive.keys.fingerprint_key, source, os.getpid()),
        )

    def __enter__(self) -> Preparer:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._pool.shutdown(wait=e is None, cancel_futures=True)

    def prepared(self, records: Iterable[Record]) -> Iterator[tuple[Record, Prepared | str]]:
        """Each record with its prepared message or quarantine reason, in input order. Up
        to :data:`PREPARE_AHEAD` records are in flight: more than a batch, so the workers
        keep going while the writer commits one (memory stays flat on any file size)."""
        pending: deque[tuple[list[Record], Future[list[Prepared | str]]]] = deque()
        chunk: list[Record] = []

        def submit() -> None:
            task = [(r.raw, r.oversized) for r in chunk]
            pending.append((chunk, self._pool.submit(_worker_prepare, task)))

        for rec in records:
            chunk.append(rec)
            if len(chunk) >= PREPARE_CHUNK:
                submit()
                chunk = []
                while len(pending) * PREPARE_CHUNK > PREPARE_AHEAD:
                    yield from _results(pending.popleft())
        if chunk:
            submit()
        while pending:
            yield from _results(pending.popleft())


def _results(
    done: tuple[list[Record], Future[list[Prepared | str]]],
) -> Iterator[tuple[Record, Prepared | str]]:
    recs, future = done
    yield from zip(recs, future.result(), strict=True)


def ingest_file(
    archive: Archive,
    sealer: Sealer,
    path: Path,
    fmt: str = "auto",
    source: str = "wecom",
    progress: Progress | None = None,
    preparer: Preparer | None = None,
) -> FileReport:
    """Ingest one file in batches, each committed with the file's cursor. With a
    ``preparer`` (``--jobs``), WeCom records are parsed and prepared in its workers."""
    if fmt not in FORMATS:
        raise IngestError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if not path.is_file():
        raise IngestError(f"{path}: not a file")
    if not os.access(path, os.R_OK):
        raise IngestError(f"{path}: not readable")
    head_bytes = read_head(path)
    if fmt == "auto":
        fmt = detect_format(path, head_bytes)
    else:
        _check_forced(path, head_bytes, fmt)
    report = FileReport(str(path), fmt)
    stream = _stream_id(path)
    # A cursor is only valid for the same file: keyed by a digest of its first 4 KiB.
    head = hashlib.sha256(head_bytes[:4096]).hexdigest()[:16]
    is_array = fmt == "wecom" and _strip_head(head_bytes)[:1] == b"["
    start = stored_cursor(archive, stream, head)
    report.resumed_at = start
    consumed: list[Callable[[], int]] = []
    records: Iterable[Record] = (
        read_json_array(path, start)
        if is_array
        else read_lines(path, start, consumed, report.warnings)
    )
    damage: list[DamagedInput] = []
    records = _until_damaged(records, damage)
    decoder = interchange.Decoder(path.parent) if fmt == "jsonl" else None
    batch, nbytes, last_pos = Batch(), 0, start
    sealer.begin()
    gc_was_enabled = gc.isenabled()
    gc.disable()  # ingest builds no reference cycles; GC scans of held batches cost ~half the time
    # Workers prepare WeCom records of the preparer's source; anything else is decoded here.
    items: Iterable[tuple[Record, Prepared | str | None]] = (
        preparer.prepared(records)
        if preparer is not None and decoder is None and preparer.source == source
        else ((rec, None) for rec in records)
    )
    try:
        for rec, item in items:
            if item is None:
                _decode_into(batch, rec, fmt, source, decoder, sealer)
            elif isinstance(item, str):
                batch.quarantine.append((rec.locator, item, rec.raw))
            else:
                batch.prepared.append((item, rec.raw))
            nbytes += len(rec.raw)
            last_pos = rec.position
            if len(batch) >= BATCH_RECORDS or nbytes >= BATCH_BYTES:
                batch.cursor = (stream, f"{last_pos};head={head}")
                report.counts.add(sealer.commit(batch))
                if progress:
                    progress(consumed[0]() if consumed else last_pos)
                batch, nbytes = Batch(), 0
                sealer.begin()
        batch.cursor = (stream, f"{last_pos};head={head}")
        report.counts.add(sealer.commit(batch))
        if progress:
            progress(consumed[0]() if consumed else last_pos)
    except BaseException:
        if archive.conn.in_transaction:
            sealer.abort()
        raise
    finally:
        if gc_was_enabled:
            gc.enable()
    if damage:
        report.error = str(damage[0])
    return report


def _check_forced(path: Path, head: bytes, fmt: str) -> None:
    """Refuse a forced format the file plainly is not: every record would be quarantined
    and the cursor moved past them, so a re-run with the right format would find nothing
    new. A file whose format cannot be told is read as forced (that is what forcing is for)."""
    try:
        seen = detect_format(path, head)
    except IngestError:
        return
    if seen != fmt:
        name = {"wecom": "decrypted WeCom records", "jsonl": "wxguard interchange JSONL"}
        raise IngestError(
            f"{path}: --input-format {fmt} was given but the file holds {name[seen]}; "
            f"drop --input-format (auto-detection reads it as {seen}) or correct it"
        )


def _until_damaged(records: Iterable[Record], damage: list[DamagedInput]) -> Iterator[Record]:
    """``records`` up to where the file is damaged; the damage is put in ``damage`` instead
    of raised, so that the records before it are sealed and their cursor committed."""
    try:
        yield from records
    except DamagedInput as e:
        damage.append(e)


def _decode_into(
    batch: Batch,
    rec: Record,
    fmt: str,
    source: str,
    decoder: interchange.Decoder | None,
    sealer: Sealer,
) -> None:
    if rec.oversized:
        batch.quarantine.append((rec.locator, OVERSIZED, rec.raw))
        return
    try:
        if decoder is None:
            batch.messages.append((wecom.normalise_bytes(rec.raw, source), rec.raw))
        else:
            decoder.decode_into(batch, rec.raw, sealer)
    except (wecom.NormaliseError, interchange.InterchangeError) as e:
        batch.quarantine.append((rec.locator, str(e), rec.raw))
