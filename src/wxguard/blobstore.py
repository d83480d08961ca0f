"""Content-addressed, encrypted blob files.

A blob's id is the keyed fingerprint of its plaintext (so equal content is stored once,
and nobody without the key can test whether a known file is in the archive). The
file holds ``seal(data_key, plaintext, aad=id)``. Files are written to a temporary
name, fsynced and renamed, so a crash leaves either the whole file or none; a file
whose database row never committed is an orphan that ``verify`` reports.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path


def fsync_dir(path: Path) -> None:
    """Make a rename or create inside ``path`` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, blob_id: str) -> Path:
        return self.root / blob_id[:2] / blob_id[2:4] / blob_id

    def exists(self, blob_id: str) -> bool:
        return self.path(blob_id).exists()

    def write(self, blob_id: str, sealed: bytes) -> bytes:
        """Durably write a sealed blob; returns the SHA-256 of the file's bytes."""
        final = self.path(blob_id)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.with_name(f".{blob_id}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            view = memoryview(sealed)
            while view:
                n = os.write(fd, view)
                view = view[n:]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, final)
        fsync_dir(final.parent)
        return hashlib.sha256(sealed).digest()

    def read(self, blob_id: str) -> bytes:
        return self.path(blob_id).read_bytes()

    def remove(self, blob_id: str) -> None:
        self.path(blob_id).unlink(missing_ok=True)

    def ids(self) -> Iterator[str]:
        if not self.root.exists():
            return
        for p in self.root.glob("??/??/*"):
            if not p.name.startswith("."):
                yield p.name
