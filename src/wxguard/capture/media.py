"""Media downloads: ``GetMediaData`` in slices, resumable, verified, never blocking text.

A message's attachments are queued (``media_queue``) in the transaction that seals the
message; this module works the queue afterwards, so a slow or failing download never
holds up capture. Per file (``shared/specs/wecom-archive.md`` §1.8):

* slices of ≤ 512 KiB, the first with an empty index, then the ``outindexbuf`` the SDK
  returned; each slice is sealed (AES-GCM, records key) into ``DATA/capture-partial/ID/N``
  and the row's progress committed, so a crash or a failed slice resumes at that slice;
* at the end the bytes are checked against the message's ``md5sum`` when it has one
  (it may be empty, and Tencent's occasionally mismatches: a mismatch restarts the file),
  stored as an encrypted blob, linked to the message and ledgered, in one transaction;
* transient failures back off (30 s doubling, 1 h max) up to ``media.max_attempts``;
  permanent ones (bad sdkfileid 10005, expired 10010) mark the file ``failed`` with the
  reason. ``wxguard capture status`` shows the backlog.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..archive import Archive
from ..crypto import open_sealed, seal
from ..seal import Batch, Sealer
from .config import Connector
from .sdk import FinanceSdk, SdkError

BACKOFF_MS = 30_000
MAX_BACKOFF_MS = 3_600_000
PARTIAL_DIR = "capture-partial"
COMPLETE = "#complete"  # next_index once the last slice is stored


@dataclass
class MediaReport:
    done: int = 0
    retrying: int = 0
    failed: int = 0
    skipped: int = 0
    bytes: int = 0


class MediaFetcher:
    def __init__(
        self,
        archive: Archive,
        conn: Connector,
        sdk: FinanceSdk,
        sealer: Sealer,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.a = archive
        self.c = conn
        self.sdk = sdk
        self.sealer = sealer
        self.clock = clock
        self.partial = archive.data_dir / PARTIAL_DIR

    def _now(self) -> int:
        return int(self.clock() * 1000)

    def run(self, limit: int | None = None, progress: Callable[[int], None] | None = None
            ) -> MediaReport:  # fmt: skip
        """Work due items of the queue (oldest first); returns what happened."""
        rep = MediaReport()
        n = self.c.cfg.media.per_pass if limit is None else limit
        ids = [r[0] for r in self.a.conn.execute(
            "SELECT id FROM media_queue WHERE state = 'pending' AND next_at <= ? "
            "ORDER BY id LIMIT ?", (self._now(), n))]  # fmt: skip
        for item in ids:
            self.fetch(item, rep)
            if progress:
                progress(1)
        return rep

    def _dir(self, item: int) -> Path:
        return self.partial / str(item)

    def fetch(self, item: int, rep: MediaReport) -> None:
        conn = self.a.conn
        row = conn.execute(
            "SELECT msg_seq, enc, md5, size, sent_at, attempts, next_index, chunks, got "
            "FROM media_queue WHERE id = ?",
            (item,),
        ).fetchone()
        seq, enc, md5, size, sent_at, attempts, index, chunks, got = row
        sdkfileid = open_sealed(self.a.keys.records, enc, _sdkfileid_aad(seq)).decode()
        if size is not None and size > self.c.cfg.media.max_bytes:
            self._finish(item, "skipped", f"{size} bytes is over media.max_bytes")
            rep.skipped += 1
            return
        d = self._dir(item)
        d.mkdir(parents=True, exist_ok=True)
        aad = f"media-part\x00{item}".encode()
        try:
            while index != COMPLETE:  # COMPLETE: every slice is here, the blob is not yet
                sl = self.sdk.get_media_data(sdkfileid, index)
                part = d / f"{chunks}.part"
                tmp = part.with_suffix(".tmp")
                with tmp.open("wb") as f:
                    f.write(
                        seal(self.a.keys.records, sl.data, aad + b"\x00" + str(chunks).encode())
                    )
                    f.flush()
                    os.fsync(f.fileno())
                tmp.replace(part)
                chunks, got = chunks + 1, got + len(sl.data)
                index = COMPLETE if sl.finished else sl.next_index
                with self.a.transaction():
                    conn.execute(
                        "UPDATE media_queue SET chunks = ?, got = ?, next_index = ?, "
                        "updated_at = ? WHERE id = ?",
                        (chunks, got, index, self._now(), item),
                    )
                if sl.finished:
                    break
                if not index:
                    raise SdkError("GetMediaData", 10002)  # unfinished but no next index
                if size is not None and got > max(size, 0) + (1 << 20):
                    raise ValueError(f"more bytes than the message's {size}")
        except SdkError as e:
            self._failed_attempt(item, attempts, str(e), e.transient, rep)
            return
        except ValueError as e:
            self._restart(item, attempts, str(e), rep)
            return
        data = b"".join(
            open_sealed(self.a.keys.records, (d / f"{i}.part").read_bytes(),
                        aad + b"\x00" + str(i).encode())
            for i in range(chunks)
        )  # fmt: skip
        if md5 and hashlib.md5(data, usedforsecurity=False).hexdigest() != md5.lower():
            self._restart(item, attempts, "MD5 of the downloaded bytes does not match the "
                          "message's md5sum", rep)  # fmt: skip
            return
        self.sealer.begin()
        try:
            att = self.sealer.put_blob(data, sent_at)
            conn.execute("INSERT OR IGNORE INTO message_blobs VALUES (?, ?)", (seq, att.blob_id))
            conn.execute(
                "UPDATE media_queue SET state = 'done', blob_id = ?, attempts = attempts + 1, "
                "last_error = '', next_index = '', updated_at = ? WHERE id = ?",
                (att.blob_id, self._now(), item),
            )
            self.sealer.commit(Batch())
        except BaseException:
            self.sealer.abort()
            raise
        shutil.rmtree(d, ignore_errors=True)
        rep.done += 1
        rep.bytes += len(data)

    def _failed_attempt(
        self, item: int, attempts: int, error: str, transient: bool, rep: MediaReport
    ) -> None:
        attempts += 1
        if not transient or attempts >= self.c.cfg.media.max_attempts:
            why = error if not transient else f"{error} (gave up after {attempts} attempts)"
            self._finish(item, "failed", why, attempts)
            rep.failed += 1
            return
        wait = min(MAX_BACKOFF_MS, BACKOFF_MS * 2 ** (attempts - 1))
        with self.a.transaction():
            self.a.conn.execute(
                "UPDATE media_queue SET attempts = ?, next_at = ?, last_error = ?, updated_at = ? "
                "WHERE id = ?",
                (attempts, self._now() + wait, error, self._now(), item),
            )
        rep.retrying += 1

    def _restart(self, item: int, attempts: int, error: str, rep: MediaReport) -> None:
        """The whole file again (a bad MD5 is usually fixed by a new download, §1.8)."""
        shutil.rmtree(self._dir(item), ignore_errors=True)
        with self.a.transaction():
            self.a.conn.execute(
                "UPDATE media_queue SET chunks = 0, got = 0, next_index = '' WHERE id = ?",
                (item,),
            )
        self._failed_attempt(item, attempts, error, True, rep)

    def _finish(self, item: int, state: str, error: str, attempts: int | None = None) -> None:
        with self.a.transaction():
            self.a.conn.execute(
                "UPDATE media_queue SET state = ?, last_error = ?, "
                "attempts = coalesce(?, attempts), updated_at = ? WHERE id = ?",
                (state, error, attempts, self._now(), item),
            )
        shutil.rmtree(self._dir(item), ignore_errors=True)


def file_fp(archive: Archive, sdkfileid: str) -> bytes:
    """The key of a media file in ``media_queue`` (a keyed fingerprint of its sdkfileid)."""
    return archive.keys.fingerprints.of_bytes(sdkfileid.encode(), b"sdkfileid")


def _sdkfileid_aad(seq: int) -> bytes:
    return f"sdkfileid\x00{seq}".encode()


def seal_sdkfileid(archive: Archive, seq: int, sdkfileid: str) -> bytes:
    return seal(archive.keys.records, sdkfileid.encode(), _sdkfileid_aad(seq))


def retry_failed(archive: Archive) -> int:
    """Put failed downloads back in the queue (after a configuration fix)."""
    with archive.transaction():
        cur = archive.conn.execute(
            "UPDATE media_queue SET state = 'pending', attempts = 0, next_at = 0 "
            "WHERE state = 'failed'"
        )
    return cur.rowcount
