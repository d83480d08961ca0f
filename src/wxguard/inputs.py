"""Reading input files: records out of bytes, whatever the file's compression or encoding.

Any input file may be compressed with gzip, zstd, xz or bzip2, told by its magic number
(not its name), and may be UTF-16 with a byte-order mark (read as the UTF-8 it encodes).
Positions — cursors, "byte N" locators, ``resumed_at`` — count bytes of that decompressed
UTF-8 stream; resuming reads up to the cursor again. A file damaged or cut short yields its
records up to the damage, then :class:`DamagedInput` saying where. The exporter writes the
same compressions (:data:`COMPRESSORS`).
"""

from __future__ import annotations

import bz2
import codecs
import gzip
import io
import lzma
import os
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

import orjson
import zstandard

from . import wecom

MAX_RECORD = 16 << 20  # bytes; larger records are quarantined, not parsed
MAX_JSON_ARRAY_FILE = 256 << 20
HEAD_BYTES = 1 << 16


class IngestError(Exception):
    """A whole file cannot be ingested (unreadable, unknown format)."""


@dataclass
class Record:
    locator: str  # "line 12" / "item 3"
    position: int  # resume position after this record
    raw: bytes
    oversized: bool = False


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


class _Converted(io.RawIOBase):
    """A readable byte stream made from another one chunk at a time by :meth:`_next`."""

    _out = b""

    def readable(self) -> bool:
        return True

    def _next(self) -> bytes | None:
        """The next converted bytes (maybe empty); None at the end."""
        raise NotImplementedError

    def readinto(self, b: memoryview) -> int:  # type: ignore[override]
        while not self._out:
            more = self._next()
            if more is None:
                return 0
            self._out = more
        n = min(len(b), len(self._out))
        b[:n] = self._out[:n]
        self._out = self._out[n:]
        return n


class _ZstdReader(_Converted):
    """zstd frames, one after another, decompressed. Unlike zstandard's ``stream_reader``,
    a stream that ends inside a frame (a file still being copied) is an ``EOFError``."""

    def __init__(self, raw: io.BufferedIOBase) -> None:
        self._raw = raw
        self._new = zstandard.ZstdDecompressor().decompressobj
        self._d = self._new()
        self._in_frame = False

    def _next(self) -> bytes | None:
        data = self._raw.read(_ZSTD_FEED)
        if not data:
            if self._in_frame:
                raise EOFError("the zstd stream ends inside a frame")
            return None
        out = []
        while data:
            self._in_frame = True
            out.append(self._d.decompress(data))
            data = b""
            if self._d.eof:  # the frame is complete; another may follow
                data, self._d, self._in_frame = self._d.unused_data, self._new(), False
        return b"".join(out)


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


class _Utf16Reader(_Converted):
    """UTF-16 text (with its byte-order mark) as UTF-8 bytes. Unpaired surrogates pass
    through as invalid UTF-8, so their records are quarantined like any other bad line."""

    def __init__(self, src: io.BufferedIOBase) -> None:
        self._src = src
        self._dec = codecs.getincrementaldecoder("utf-16")("surrogatepass")
        self._eof = False

    def _next(self) -> bytes | None:
        if self._eof:
            return None
        data = self._src.read(1 << 16)
        try:
            text = self._dec.decode(data, final=not data)
        except UnicodeDecodeError:
            text = ""  # an odd byte at the very end: the cut line is held, not read
        self._eof = not data
        return text.encode("utf-8", "surrogatepass")


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


# Writers of the same compressions, by file name suffix (``wxguard export --out x.jsonl.zst``);
# each is entered as a context manager and leaves the file under it open.
COMPRESSORS: dict[str, Callable[[IO[bytes]], Any]] = {
    ".gz": lambda f: gzip.GzipFile(fileobj=f, mode="wb", compresslevel=6),
    ".zst": lambda f: zstandard.ZstdCompressor(level=3).stream_writer(f, closefd=False),
    ".xz": lambda f: lzma.LZMAFile(f, "wb"),  # noqa: SIM115 (entered by the caller)
    ".bz2": lambda f: bz2.BZ2File(f, "wb"),
}
