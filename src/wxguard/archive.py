"""The embedded archive: one data directory holding an SQLite (WAL) database, encrypted
content-addressed blob files, a config file and (by default) the key file.

Layout::

    DATA/wxguard.toml      configuration (key reference)
    DATA/archive.db        records, ledger, wrapped keys
    DATA/blobs/ab/cd/ID    encrypted blobs, content-addressed by keyed fingerprint
    DATA/keys/kek.key      key-encryption key (0600) unless kept elsewhere

Exactly one writer at a time (an ``flock`` on ``DATA/lock``); readers may run alongside.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import stat
import time
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from .blobstore import BlobStore
from .codec import Codec
from .crypto import KeyProblem, key_id, load_kek, new_key, write_key_file
from .keyring import KeyRing
from .ledger import GENESIS, Frontier, chain_next, sign_checkpoint
from .msgkey import dedupe_key_py
from .schema import check_readable, migrate

DB_NAME = "archive.db"
CONFIG_NAME = "wxguard.toml"
DEFAULT_KEY_REF = "$file:keys/kek.key"
CHECKPOINT_EVERY = 100_000
# WAL pages a bulk writer lets accumulate before SQLite checkpoints them (see bulk_writes);
# 16,384 pages of 4 KiB is 64 MiB of WAL at most, between checkpoints.
BULK_WAL_PAGES = 16_384
BULK_WAL_BYTES = 64 << 20


class ArchiveError(Exception):
    """A problem with the archive that the user must act on; the text says what."""


def resolve_data_dir(data: Path | None) -> Path:
    if data is not None:
        return data
    env = os.environ.get("WXGUARD_DATA")
    return Path(env) if env else Path("wxguard-data")


def _now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True)
class Checkpoint:
    id: int
    size: int
    root: bytes
    chain: bytes
    at: int
    signature: bytes


def _read_only(path: Path, write: bool) -> bool:
    return not write and not os.access(path.parent, os.W_OK)


def _connect(path: Path, write: bool = True) -> sqlite3.Connection:
    """Open the archive database. A reader whose data directory it cannot write to (a
    backup on read-only media, a snapshot) opens it read-only: SQLite needs to write the
    shared-memory file beside a WAL database otherwise."""
    target: str | Path = path
    uri = False
    if _read_only(path, write):
        wal = path.with_name(path.name + "-wal")
        # Nobody can be writing there: without a WAL to replay the file is all there is.
        mode = "ro" if wal.exists() and wal.stat().st_size else "ro&immutable=1"
        target, uri = f"file:{quote(str(path.resolve()))}?mode={mode}", True
    try:
        conn = sqlite3.connect(target, isolation_level=None, check_same_thread=False, uri=uri)
    except sqlite3.OperationalError as e:
        raise ArchiveError(_unopenable(path, e)) from None
    try:
        if not uri:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA busy_timeout=10000")
        conn.execute("PRAGMA cache_size=-65536")
        conn.create_function("wx_msgkey", 1, dedupe_key_py, deterministic=True)
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.OperationalError as e:
        conn.close()
        raise ArchiveError(_unopenable(path, e)) from None
    except sqlite3.DatabaseError as e:
        conn.close()
        raise ArchiveError(
            f"archive database {path} is corrupted or not a wxguard database ({e})"
        ) from None
    return conn


def _unopenable(path: Path, e: sqlite3.OperationalError) -> str:
    return (
        f"archive database {path} cannot be opened ({e}): check that this user can read and "
        "write the data directory and that its disk is mounted writable"
    )


def exposure(data_dir: Path) -> str | None:
    """Why users other than the archive's owner can reach into it, or None. The directory
    alone decides: nothing inside a 0700 directory can be opened by anyone else."""
    try:
        mode = stat.S_IMODE(data_dir.stat().st_mode)
    except FileNotFoundError:
        return None
    if not mode & (stat.S_IRWXG | stat.S_IRWXO):
        return None
    return (
        f"data directory {data_dir} is accessible by group/others (mode {mode:04o}): its "
        f"database holds metadata and the audit trail in the clear; run: chmod 700 {data_dir}"
    )


class Archive:
    """An open archive. Use :meth:`create` or :meth:`open`; close when done."""

    def __init__(self, data_dir: Path, conn: sqlite3.Connection, kek: bytes, lock: int | None):
        self.data_dir = data_dir
        self.conn = conn
        self._lock_fd = lock
        self.keys = KeyRing(conn, kek)
        self.blobs = BlobStore(data_dir / "blobs")
        self.codec = Codec()
        self._load_ledger_state()

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    def create(cls, data_dir: Path, kek_ref: str | None = None) -> Archive:
        db = data_dir / DB_NAME
        if db.exists() or (data_dir / CONFIG_NAME).exists():
            raise ArchiveError(f"{data_dir} already holds an archive; refusing to overwrite it")
        # Owner only: the database holds metadata (times, kinds, audit trail, review users)
        # in the clear beside the sealed bodies. A directory that already holds other
        # files keeps its mode (`wxguard init` then warns, see :func:`exposure`).
        try:
            if not data_dir.is_dir() or not any(data_dir.iterdir()):
                data_dir.mkdir(parents=True, exist_ok=True)
                os.chmod(data_dir, 0o700)
        except OSError as e:
            raise ArchiveError(
                f"cannot create the data directory {data_dir}: {e.strerror}"
            ) from None
        ref = kek_ref or DEFAULT_KEY_REF
        if ref.startswith("$env:"):
            kek = load_kek(ref)
        else:
            path = Path(ref[6:] if ref.startswith("$file:") else ref)
            path = path if path.is_absolute() else data_dir / path
            if path.exists():
                kek = load_kek(str(path))
            else:
                kek = new_key()
                write_key_file(path, kek)
        lock = cls._acquire_lock(data_dir)
        # SQLite gives the WAL and shared-memory files the database file's mode.
        os.close(os.open(db, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        conn = _connect(db)
        migrate(conn)
        conn.execute("BEGIN IMMEDIATE")
        meta = {
            "kek_id": key_id(kek),
            "created_at": str(_now_ms()),
            "ledger_size": "0",
            "ledger_head": GENESIS.hex(),
            "frontier": "",
        }
        conn.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", meta.items())
        KeyRing.create_secrets(conn, kek)
        conn.execute("COMMIT")
        fd = os.open(data_dir / CONFIG_NAME, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(
                "# wxguard archive configuration (docs/operations.md)\n"
                f"format = 1\nkek = {_toml_str(ref)}\n"
            )
        return cls(data_dir, conn, kek, lock)

    @classmethod
    def open(cls, data_dir: Path, *, write: bool = False, kek_ref: str | None = None) -> Archive:
        db = data_dir / DB_NAME
        if not db.exists():
            raise ArchiveError(
                f"no archive in {data_dir}: run `wxguard init --data {data_dir}` first"
            )
        ref = kek_ref or read_config(data_dir).get("kek", DEFAULT_KEY_REF)
        kek = load_kek(str(ref), data_dir)
        conn = _connect(db, write)
        try:
            if _read_only(db, write):
                check_readable(conn)  # it cannot be migrated
            else:
                migrate(conn)
            row = conn.execute("SELECT value FROM meta WHERE key = 'kek_id'").fetchone()
        except sqlite3.DatabaseError as e:
            conn.close()
            raise ArchiveError(f"archive database {db} is corrupted ({e})") from None
        except RuntimeError as e:
            conn.close()
            raise ArchiveError(f"{db}: {e}") from None
        if row is None:
            raise ArchiveError(f"archive database {db} has no key metadata; it is damaged")
        if row[0] != key_id(kek):
            from .keys import finish_pending_rotation

            if finish_pending_rotation(data_dir, row[0]):
                conn.close()
                return cls.open(data_dir, write=write, kek_ref=kek_ref)
            conn.close()
            raise KeyProblem(
                f"the key-encryption key ({ref}) does not belong to the archive in {data_dir}: "
                f"archive expects key id {row[0]}, the key given has id {key_id(kek)}"
            )
        lock = cls._acquire_lock(data_dir) if write else None
        return cls(data_dir, conn, kek, lock)

    @staticmethod
    def _acquire_lock(data_dir: Path) -> int:
        try:
            fd = os.open(data_dir / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as e:
            raise ArchiveError(
                f"cannot open {data_dir} for writing ({e.strerror}): check that this user can "
                "write the data directory and that its disk is mounted writable"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise ArchiveError(
                f"another wxguard process is writing to {data_dir}; wait for it to finish"
            ) from None
        return fd

    def close(self) -> None:
        self.conn.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ ledger

    def meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _load_ledger_state(self) -> None:
        self.ledger_size = int(self.meta("ledger_size") or 0)
        self.ledger_head = bytes.fromhex(self.meta("ledger_head") or GENESIS.hex())
        self.frontier = Frontier.load(self.ledger_size, self.meta("frontier") or "")
        self._pending_ledger: list[tuple[int, str, str, bytearray, bytearray]] = []

    def ledger_append(self, kind: str, ref: str, leaf: bytes) -> int:
        """Queue a ledger record in the current transaction; returns its seq."""
        self.ledger_size += 1
        self.ledger_head = chain_next(self.ledger_head, leaf)
        self.frontier.append(leaf)
        # bytearray, not bytes: sqlite3 binds a bytearray directly but looks a bytes value
        # up in its adapter registry first (~1 us each on Python 3.11; see docs/performance.md).
        self._pending_ledger.append(
            (self.ledger_size, kind, ref, bytearray(leaf), bytearray(self.ledger_head))
        )
        return self.ledger_size

    def ledger_extend(
        self, rows: list[tuple[int, str, str, bytearray, bytearray]], head: bytes,
        frontier: list[tuple[int, bytes]],
    ) -> None:  # fmt: skip
        """Queue ledger records appended outside :meth:`ledger_append` (the seal loop,
        ``wxguard.seal.seal_messages``): ``rows`` continue the ledger from its current size,
        ``head`` and ``frontier`` are the chain value and Merkle frontier after them."""
        if rows and rows[0][0] != self.ledger_size + 1:
            raise ValueError(f"ledger rows start at {rows[0][0]}, not {self.ledger_size + 1}")
        self.ledger_size += len(rows)
        self.ledger_head = head
        self.frontier = Frontier(self.ledger_size, frontier)
        self._pending_ledger += rows

    def bulk_writes(self) -> None:
        """Tune this connection for a writer of large transactions (ingest, capture).

        SQLite checkpoints the WAL into the database once it passes
        ``wal_autocheckpoint`` pages (1,000 by default, 4 MiB): a batch of 5,000 sealed
        messages writes more than that, so every commit also copied its pages into the
        database and synced it — the pages a batch shares with the next one (index
        leaves, the ledger's and the dedupe keys' right edges) once per batch. Letting the
        WAL reach :data:`BULK_WAL_PAGES` pages first checkpoints them once per ~16 batches:
        the commit went from ~5.7 to ~3.3 µs per message (docs/performance.md).
        ``journal_size_limit`` truncates the WAL back after a checkpoint, so an idle
        ``ingest --follow`` does not keep the space. Durability is unchanged: every commit
        still syncs the WAL (``synchronous=FULL``)."""
        self.conn.execute(f"PRAGMA wal_autocheckpoint={BULK_WAL_PAGES}")
        self.conn.execute(f"PRAGMA journal_size_limit={BULK_WAL_BYTES}")

    def next_seq(self) -> int:
        return self.ledger_size + 1

    def begin(self) -> None:
        """Start a write transaction. Another process (``wxguard serve`` recording an audit
        event beside a running scan) may have extended the ledger since this one last wrote:
        SQLite's write lock now serialises us, so pick up its state before appending."""
        self.conn.execute("BEGIN IMMEDIATE")
        if self.meta("ledger_size") != str(self.ledger_size):
            self._load_ledger_state()

    def commit(self) -> None:
        """Flush queued ledger rows and state, then commit the transaction."""
        c = self.conn
        if self._pending_ledger:
            c.executemany(
                "INSERT INTO ledger (seq, kind, ref, leaf, chain) VALUES (?, ?, ?, ?, ?)",
                self._pending_ledger,
            )
            self._pending_ledger = []
            c.executemany(
                "UPDATE meta SET value = ? WHERE key = ?",
                [
                    (str(self.ledger_size), "ledger_size"),
                    (self.ledger_head.hex(), "ledger_head"),
                    (self.frontier.dump(), "frontier"),
                ],
            )
        c.execute("COMMIT")

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """``begin`` … ``commit``, rolled back (ledger state included) on any exception."""
        self.begin()
        try:
            yield
            self.commit()
        except BaseException:
            self.rollback()
            raise

    def rollback(self) -> None:
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")
        self.keys.forget_uncommitted()
        self._load_ledger_state()

    def last_checkpoint(self) -> Checkpoint | None:
        row = self.conn.execute(
            "SELECT id, size, root, chain, at, signature FROM checkpoints ORDER BY id DESC LIMIT 1"
        ).fetchone()
        return None if row is None else Checkpoint(*row)

    def checkpoint_if_due(self, force: bool = False) -> Checkpoint | None:
        """Sign a checkpoint (in the current transaction) when one is due."""
        last = self.last_checkpoint()
        last_size = last.size if last else 0
        if self.ledger_size == last_size:
            return None
        if not force and self.ledger_size - last_size < CHECKPOINT_EVERY:
            return None
        at = _now_ms()
        root = self.frontier.root()
        sig = sign_checkpoint(self.keys.signing, self.ledger_size, root, self.ledger_head, at)
        cur = self.conn.execute(
            "INSERT INTO checkpoints (size, root, chain, at, signature) VALUES (?, ?, ?, ?, ?)",
            (self.ledger_size, root, self.ledger_head, at, sig),
        )
        return Checkpoint(
            int(cur.lastrowid or 0), self.ledger_size, root, self.ledger_head, at, sig
        )

    def seal_checkpoint(self) -> Checkpoint | None:
        """Sign a checkpoint over everything appended so far (own transaction)."""
        with self.transaction():
            cp = self.checkpoint_if_due(force=True)
        return cp


def _toml_str(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def read_config(data_dir: Path) -> dict[str, Any]:
    path = data_dir / CONFIG_NAME
    if not path.exists():
        return {}
    try:
        with path.open("rb") as f:
            cfg = tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise ArchiveError(f"{path}: invalid configuration: {e}") from None
    unknown = sorted(set(cfg) - {"format", "kek"})
    if unknown:
        raise ArchiveError(f"{path}: unknown configuration key(s): {', '.join(unknown)}")
    if cfg.get("format", 1) != 1:
        raise ArchiveError(f"{path}: key 'format' must be 1")
    kek = cfg.get("kek")
    if kek is not None and not isinstance(kek, str):
        raise ArchiveError(f'{path}: key \'kek\' must be a string like "$file:PATH" or "$env:NAME"')
    return cfg
