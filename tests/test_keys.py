"""Key-encryption-key rotation re-wraps everything and survives interruption."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from conftest import load
from wxguard.archive import Archive
from wxguard.crypto import KeyProblem, encode_kek, key_id, load_kek, new_key
from wxguard.keys import rotate_kek
from wxguard.verify import verify


def test_rotate_file_key(archive: Archive, demo: Path, data_dir: Path, tmp_path: Path) -> None:
    load(archive, demo)
    archive.close()
    old_copy = tmp_path / "old.key"
    shutil.copy(data_dir / "keys" / "kek.key", old_copy)
    os.chmod(old_copy, 0o600)
    rotate_kek(data_dir)
    with Archive.open(data_dir) as a:
        assert verify(a).ok
    with pytest.raises(KeyProblem, match="does not belong"):
        Archive.open(data_dir, kek_ref=str(old_copy))
    assert not (data_dir / "keys" / "kek.key.new").exists()


def test_interrupted_rotation_is_completed_on_open(archive: Archive, data_dir: Path) -> None:
    from wxguard.crypto import write_key_file
    from wxguard.keyring import rewrap_all

    key = data_dir / "keys" / "kek.key"
    old = load_kek(str(key))
    new = new_key()
    write_key_file(key.with_name("kek.key.new"), new)
    archive.begin()
    rewrap_all(archive.conn, old, new)
    archive.commit()
    archive.close()  # "crash" before the rename
    with Archive.open(data_dir) as a:
        assert a.meta("kek_id") == key_id(new)
    assert load_kek(str(key)) == new and not key.with_name("kek.key.new").exists()


def test_rotate_env_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROT_KEK", encode_kek(new_key()))
    d = tmp_path / "d"
    Archive.create(d, "$env:ROT_KEK").close()
    with pytest.raises(Exception, match="new-key-out"):
        rotate_kek(d)
    out = tmp_path / "new.key"
    rotate_kek(d, out)
    monkeypatch.setenv("ROT_KEK", out.read_text().strip())
    Archive.open(d).close()
