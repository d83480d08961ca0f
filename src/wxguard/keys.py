"""Key-encryption-key rotation: re-wrap every data key and secret under a new KEK.

Crash-safe order for a key file: write ``KEY.new`` (fsynced) → re-wrap in one
transaction → rename ``KEY.new`` over ``KEY``. If a crash falls between commit and
rename, :meth:`Archive.open` finds the archive on the pending key and completes the
rename. The old key is not kept: back up the new one.
"""

from __future__ import annotations

import os
from pathlib import Path

from .archive import DEFAULT_KEY_REF, Archive, ArchiveError, read_config
from .blobstore import fsync_dir
from .crypto import KeyProblem, key_id, load_kek, new_key, write_key_file
from .keyring import rewrap_all


def key_path(data_dir: Path, ref: str) -> Path | None:
    if ref.startswith("$env:"):
        return None
    p = Path(ref[6:] if ref.startswith("$file:") else ref)
    return p if p.is_absolute() else data_dir / p


def finish_pending_rotation(data_dir: Path, expected_id: str) -> bool:
    """Complete an interrupted rotation if ``KEY.new`` is the key the archive is on."""
    ref = str(read_config(data_dir).get("kek", DEFAULT_KEY_REF))
    path = key_path(data_dir, ref)
    if path is None:
        return False
    pending = path.with_name(path.name + ".new")
    if not pending.exists():
        return False
    try:
        if key_id(load_kek(str(pending))) != expected_id:
            return False
    except KeyProblem:
        return False
    os.replace(pending, path)
    return True


def rotate_kek(data_dir: Path, new_key_out: Path | None = None) -> str:
    ref = str(read_config(data_dir).get("kek", DEFAULT_KEY_REF))
    path = key_path(data_dir, ref)
    with Archive.open(data_dir, write=True) as a:
        old = load_kek(ref, data_dir)
        new = new_key()
        if path is None:
            if new_key_out is None:
                raise ArchiveError(
                    f"the key comes from {ref}; give --new-key-out FILE to receive the new key"
                )
            target = new_key_out
        else:
            target = path.with_name(path.name + ".new")
            target.unlink(missing_ok=True)
        if target.exists():
            raise ArchiveError(f"{target} already exists; refusing to overwrite a key")
        write_key_file(target, new)
        a.begin()
        try:
            n = rewrap_all(a.conn, old, new)
            a.commit()
        except BaseException:
            a.rollback()
            target.unlink(missing_ok=True)
            raise
        if path is not None:
            os.replace(target, path)
            fsync_dir(path.parent)
            return (
                f"Rotated the key-encryption key ({n} keys re-wrapped); new key id "
                f"{key_id(new)} in {path}. Back it up now."
            )
        return (
            f"Re-wrapped {n} keys under a new key (id {key_id(new)}) written to {target}. "
            f"Set {ref[5:]} to its contents before the next run; "
            "the old key no longer opens the archive."
        )
