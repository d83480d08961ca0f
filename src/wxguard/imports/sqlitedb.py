"""Opening a client database safely: plaintext SQLite only, read-only, checked first.

Scope rule (``shared/specs/wechat-client-data.md`` preamble, §1.1 notes): a plaintext
database begins with ``SQLite format 3\\0``. Anything else is an encrypted client
database, which we refuse — its owner must export it in plaintext first; we never
decrypt, look for keys or de-obfuscate.

Before a single row is read the whole file is checked (``PRAGMA quick_check``), so a
truncated or corrupt copy fails as a whole: nothing of it is committed.
"""

from __future__ import annotations

import atexit
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path

SQLITE_MAGIC = b"SQLite format 3\x00"
WAL_MAGIC = (b"\x37\x7f\x06\x82", b"\x37\x7f\x06\x83")
_COPIES: list[Path] = []


class ImportFileError(Exception):
    """A whole input file cannot be imported; the message names the file and the problem."""


class EncryptedDatabase(ImportFileError):
    pass


def is_sqlite(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            return f.read(16) == SQLITE_MAGIC
    except OSError:
        return False


def open_plaintext(path: Path, *, check: bool = True) -> sqlite3.Connection:
    """A read-only connection to a verified plaintext SQLite file."""
    try:
        with path.open("rb") as f:
            head = f.read(100)
    except OSError as e:
        raise ImportFileError(f"{path}: cannot read: {e.strerror or e}") from None
    if len(head) == 0:
        raise ImportFileError(f"{path}: file is empty")
    if head[:16] != SQLITE_MAGIC:
        raise EncryptedDatabase(
            f"{path}: not a plaintext SQLite database (it does not begin with "
            "'SQLite format 3'); this is most likely an encrypted WeChat client database. "
            "wxguard imports plaintext only: the device owner must export it in plaintext "
            "first (wxguard never decrypts client databases or extracts keys)"
        )
    if len(head) < 100:
        raise ImportFileError(f"{path}: truncated SQLite file ({len(head)} bytes)")
    wal = path.with_name(path.name + "-wal")
    if wal.is_file() and wal.stat().st_size > 0:
        # WeChat 4.x runs in WAL mode (spec §2.1): the newest messages may be only in the
        # -wal file. Replay it on a private copy; the evidence itself is never touched.
        path = _with_wal(path, wal)
    # immutable=1: never take locks or write beside a copy we must not modify.
    uri = f"file:{path.resolve().as_posix()}?mode=ro&immutable=1"
    try:
        conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
        conn.text_factory = _lenient_text  # names and contacts: invalid UTF-8 never stops us
        conn.execute("PRAGMA query_only = 1")
        if check:
            bad = conn.execute("PRAGMA quick_check(3)").fetchall()
            if bad != [("ok",)]:
                detail = "; ".join(str(r[0]) for r in bad)
                conn.close()
                raise ImportFileError(f"{path}: corrupt SQLite database: {detail}")
    except sqlite3.DatabaseError as e:
        raise ImportFileError(f"{path}: corrupt or truncated SQLite database: {e}") from None
    return conn


def _lenient_text(data: bytes) -> str:
    return data.decode("utf-8", "replace")


def _with_wal(path: Path, wal: Path) -> Path:
    with wal.open("rb") as f:
        if f.read(4) not in WAL_MAGIC:
            raise EncryptedDatabase(
                f"{wal}: not a plaintext SQLite write-ahead log; export the database in plaintext "
                "(with its -wal checkpointed) first"
            )
    tmp = Path(tempfile.mkdtemp(prefix="wxguard-wal-"))
    _COPIES.append(tmp)
    copy = tmp / path.name
    shutil.copyfile(path, copy)
    shutil.copyfile(wal, tmp / wal.name)
    try:
        c = sqlite3.connect(copy)
        c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        c.execute("PRAGMA journal_mode = DELETE")
        c.close()
    except sqlite3.DatabaseError as e:
        raise ImportFileError(f"{path}: its -wal file cannot be replayed: {e}") from None
    return copy


@atexit.register
def _drop_copies() -> None:
    for d in _COPIES:
        shutil.rmtree(d, ignore_errors=True)


def table_rows(
    conn: sqlite3.Connection, table: str, cols: list[str], after: int, fetch: int = 2000
) -> Iterator[tuple[int, dict[str, object]]]:
    """(rowid, {column: value}) of ``table`` past rowid ``after``, in rowid order — the
    resumable reading order of every client table (the cursor is the last rowid).

    Text columns come back as the stored **bytes**: client content may hold invalid UTF-8
    (spec §3.2), which must neither stop the import nor be altered in the kept raw row;
    readers decode with :func:`~.common.as_text`."""
    sel = ", ".join(f'"{c}"' for c in cols)
    factory = conn.text_factory
    conn.text_factory = bytes
    try:
        cur = conn.execute(
            f'SELECT rowid, {sel} FROM "{table}" WHERE rowid > ? ORDER BY rowid', (after,)
        )
        while batch := cur.fetchmany(fetch):
            for r in batch:
                yield r[0], dict(zip(cols, r[1:], strict=True))
    finally:
        conn.text_factory = factory


def tables(conn: sqlite3.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [r[1] for r in conn.execute(f'PRAGMA table_info("{table}")')]


def require_columns(
    conn: sqlite3.Connection, path: Path, table: str, needed: tuple[str, ...]
) -> list[str]:
    """Columns are read by name (schemas drift between builds, spec §8); a table that
    lacks one we need is a schema from a version we do not know."""
    have = columns(conn, table)
    missing = [c for c in needed if c not in have]
    if missing:
        raise ImportFileError(
            f"{path}: table {table} lacks column(s) {', '.join(missing)}: a schema from an "
            "unknown WeChat version; force the format with --input-format only if you are sure"
        )
    return have
