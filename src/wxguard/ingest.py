"""File ingest: read → parse → normalise → seal (dedupe, encrypt, ledger, store).

The pipeline, in order (each stage testable alone):

1. ``inputs``         split a file (compressed or not) into records with a locator and a
                      resume position (``read_lines``, ``read_json_array``);
2. ``decode``         bytes → canonical objects (WeCom normaliser or interchange reader);
3. ``Sealer.commit``  dedupe by (source, source msg id), encrypt, ledger, store, and commit
                      the file's cursor in the same transaction.

A record that cannot be decoded is quarantined (kept encrypted, reported with its
locator and reason) and the batch goes on. Re-running a file resumes at its cursor.
"""

from __future__ import annotations

import gc
import hashlib
import multiprocessing
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import orjson

from . import interchange, wecom
from .archive import Archive
from .codec import Codec
from .crypto import Fingerprinter
from .inputs import (
    MAX_RECORD,
    DamagedInput,
    IngestError,
    Record,
    read_head,
    read_json_array,
    read_lines,
)
from .seal import Batch, Counts, Prepared, Sealer, prepare

OVERSIZED = f"record exceeds the {MAX_RECORD >> 20} MiB limit"  # their quarantine reason
BATCH_RECORDS = 5000
BATCH_BYTES = 8 << 20
FORMATS = ("auto", "wecom", "jsonl")

Progress = Callable[[int], None]


@dataclass
class FileReport:
    path: str
    format: str
    counts: Counts = field(default_factory=Counts)
    error: str = ""
    resumed_at: int = 0
    warnings: list[str] = field(default_factory=list)


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
    batch, nbytes, nrecs, last_pos = Batch(source=source), 0, 0, start
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
            nrecs += 1  # records, not len(batch): that sums five lists, ~0.3 us a record
            last_pos = rec.position
            if nrecs >= BATCH_RECORDS or nbytes >= BATCH_BYTES:
                batch.cursor = (stream, f"{last_pos};head={head}")
                report.counts.add(sealer.commit(batch))
                if progress:
                    progress(consumed[0]() if consumed else last_pos)
                batch, nbytes, nrecs = Batch(source=source), 0, 0
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
