"""End to end through the real `wxguard` command."""

from __future__ import annotations

import errno
import json
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from conftest import directory_of, load, run_cli
from wxguard.archive import DB_NAME as DB
from wxguard.archive import Archive
from wxguard.cli import storage_problem


def test_full_cli_flow(demo: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    out = run_cli("init", data=data)
    assert "Created archive" in out.stdout
    r = run_cli("ingest", directory_of(demo), demo, "--format", "json", data=data)
    res = json.loads(r.stdout)
    assert res["imported"] == 3000 and res["quarantined"] == 0 and res["duplicates"] > 0
    v = json.loads(run_cli("verify", "--format", "json", data=data).stdout)
    assert v["ok"] and v["messages"] == 3000 and v["checkpoints"] >= 1
    s = json.loads(run_cli("stats", "--format", "json", data=data).stdout)
    assert s["messages"] == 3000
    assert sum(s["by_kind"].values()) == 3000
    assert s["participants"]["internal"] >= 45
    assert s["top_senders"][0]["name"]  # names come from the encrypted directory
    assert sum(s["by_day"].values()) == 3000
    assert s["media"]["declared_bytes"] > 0
    text = run_cli("stats", data=data).stdout
    assert "By kind" in text and "Top senders" in text
    # proof round trip
    with sqlite3.connect(data / "archive.db") as c:
        src, mid = c.execute(
            "SELECT source, source_msg_id FROM messages LIMIT 1 OFFSET 100"
        ).fetchone()
    proof = tmp_path / "p.json"
    run_cli("proof", f"{src}:{mid}", "--out", proof, data=data)
    ok = run_cli("proof", "--check", proof)
    assert ok.stdout.startswith("VALID")
    doc = json.loads(proof.read_text())
    doc["message"]["sent_at"] += 1
    proof.write_text(json.dumps(doc))
    bad = run_cli("proof", "--check", proof, check=False)
    assert bad.returncode == 1 and "INVALID" in bad.stdout
    # export, key rotation, verify again
    run_cli("export", "--out", tmp_path / "x.jsonl", data=data)
    assert (tmp_path / "x.jsonl").read_bytes().count(b"\n") > 3000
    assert "Rotated" in run_cli("keys", "rotate", data=data).stdout
    assert run_cli("verify", data=data).stdout.startswith("OK")


def test_demo_command(tmp_path: Path) -> None:
    data = tmp_path / "d"
    r = run_cli("demo", "--no-serve", "--messages", "1200", "--format", "json", data=data)
    res = json.loads(r.stdout)
    assert not list(data.rglob("*.jsonl"))  # no plaintext input left in the data directory
    assert res["ingest"]["imported"] == 1200
    assert res["stats"]["messages"] == 1200
    assert res["generated"]["planted"] > 0


def test_clear_errors(tmp_path: Path) -> None:
    data = tmp_path / "none"
    r = run_cli("verify", data=data, check=False)
    assert r.returncode == 1 and "wxguard init" in r.stderr and "Traceback" not in r.stderr
    run_cli("init", data=data)
    again = run_cli("init", data=data, check=False)
    assert again.returncode == 1 and "refusing to overwrite" in again.stderr
    missing = run_cli("ingest", tmp_path / "nope.jsonl", data=data, check=False)
    assert missing.returncode == 2 and "not a file" in missing.stderr
    nowhere = run_cli("export", "--out", tmp_path / "no" / "x.jsonl", data=data, check=False)
    assert nowhere.returncode == 1 and "x.jsonl: No such file or directory" in nowhere.stderr
    assert "Traceback" not in nowhere.stderr
    (data / "keys" / "kek.key").chmod(0o644)
    perm = run_cli("stats", data=data, check=False)
    assert perm.returncode == 1 and "chmod 600" in perm.stderr


def test_owner_only_files(tmp_path: Path, demo: Path) -> None:
    """Whatever the shell's umask, what wxguard writes is its owner's alone, and `verify`
    warns about a data directory others can enter."""

    def mode(p: Path) -> int:
        return p.stat().st_mode & 0o777

    old = os.umask(0o022)
    try:
        data = tmp_path / "data"
        data.mkdir(mode=0o755)  # made empty by an administrator, say
        run_cli("init", data=data)
        run_cli("ingest", demo, data=data)
        run_cli("export", "--out", tmp_path / "x.jsonl", data=data)
        shared = tmp_path / "shared"
        shared.mkdir()
        (shared / "notes.txt").write_text("not ours")
        in_shared = run_cli("init", data=shared)
        bad = run_cli("init", data=tmp_path / "x.jsonl" / "sub", check=False)
    finally:
        os.umask(old)
    assert mode(data) == 0o700 and mode(data / "keys") == 0o700
    files = [p for p in data.rglob("*") if p.is_file()]
    assert len(files) >= 4 and all(mode(p) == 0o600 for p in files), files
    assert mode(tmp_path / "x.jsonl") == 0o600  # plaintext export
    assert json.loads(run_cli("verify", "--format", "json", data=data).stdout)["warnings"] == []
    data.chmod(0o750)
    v = json.loads(run_cli("verify", "--format", "json", data=data).stdout)
    assert v["ok"] and any("mode 0750" in w and "chmod 700" in w for w in v["warnings"])
    # A directory holding someone else's files keeps its mode; init says so.
    assert mode(shared) == 0o755 and "chmod 700" in in_shared.stderr
    assert mode(shared / DB) == 0o600
    assert bad.returncode == 1 and "cannot create the data directory" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_bad_file_in_batch_does_not_stop_others(tmp_path: Path, demo: Path) -> None:
    data = tmp_path / "data"
    run_cli("init", data=data)
    batch = tmp_path / "batch"
    batch.mkdir()
    (batch / "a.jsonl").write_text("not json at all\n")
    (batch / "b.jsonl").write_bytes(demo.read_bytes()[:20000].rsplit(b"\n", 1)[0] + b"\n")
    r = run_cli("ingest", batch, "--format", "json", data=data, check=False)
    assert r.returncode == 2
    res = json.loads(r.stdout)
    assert res["imported"] > 0
    errs = [f for f in res["files"] if "error" in f]
    assert len(errs) == 1 and "a.jsonl" in errs[0]["error"]
    q = run_cli("quarantine", "--format", "json", data=data)
    assert json.loads(q.stdout) == []


def test_hostile_names_render_inert(tmp_path: Path) -> None:
    data = tmp_path / "data"
    run_cli("init", data=data)
    f = tmp_path / "d.jsonl"
    f.write_text(
        '{"v":1,"type":"participant","participant":{"id":"evil","kind":"external",'
        '"name":"[bold red]BOSS[/] [link=http://x]click[/link]"}}\n'
        '{"v":1,"type":"message","message":{"id":"x:1","source":"x","source_msg_id":"1",'
        '"sender":"evil","conversation":"direct:a|evil","payload":{"kind":"text","content":"hi"}}}\n',
        encoding="utf-8",
    )
    run_cli("ingest", f, data=data)
    out = run_cli("stats", data=data, env={"COLUMNS": "200"}).stdout
    assert "[bold red]BOSS[/]" in out and "[link=http://x]click[/link]" in out


@contextmanager
def _small_disk(where: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` at ``where`` (root only; the test is skipped elsewhere)."""
    where.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                      capture_output=True).returncode:  # fmt: skip
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=True)


def test_a_full_disk_is_a_clear_error_and_keeps_what_was_committed(tmp_path: Path) -> None:
    corpus = tmp_path / "big.jsonl"
    run_cli("demo", "generate", "--out", corpus, "--messages", "20000", "--seed", "3")
    with _small_disk(tmp_path / "small", "4m") as disk:
        data = disk / "d"
        run_cli("init", data=data)
        r = run_cli("ingest", corpus, data=data, check=False)
        assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
        assert "the disk is full" in r.stderr and "resumes where it stopped" in r.stderr
        v = json.loads(run_cli("verify", "--format", "json", data=data).stdout)
        assert v["ok"] and 0 < v["messages"] < 20000  # the batches committed before
        subprocess.run(["mount", "-o", "remount,size=64m", str(disk)], check=True)
        again = json.loads(run_cli("ingest", corpus, "--format", "json", data=data).stdout)
        assert again["files"][0]["resumed_at_byte"] > 0
        v = json.loads(run_cli("verify", "--format", "json", data=data).stdout)
        assert v["ok"] and v["messages"] == 20000


def test_a_read_only_copy_can_be_verified_and_read(tmp_path: Path, demo: Path) -> None:
    # A snapshot taken while a writer is busy: the latest batches are still in the WAL.
    data = tmp_path / "d"
    a = Archive.create(data)
    try:
        load(a, demo)
        assert (data / f"{DB}-wal").stat().st_size > 0
        with _small_disk(tmp_path / "media", "16m") as media:
            shutil.copytree(data, media / "busy")
            a.close()  # and a copy of the closed archive: no WAL, nothing to replay
            shutil.copytree(data, media / "closed")
            assert not (media / "closed" / f"{DB}-wal").exists()
            # a backup made by the wxguard before the quarantine kept sources (schema 7),
            # and one too old to read without migrating
            for name, script in (
                ("v7", "ALTER TABLE quarantine DROP COLUMN source; PRAGMA user_version = 7;"),
                ("v5", "PRAGMA user_version = 5;"),
            ):
                shutil.copytree(data, media / name)
                c = sqlite3.connect(media / name / DB)
                c.executescript(script)
                c.close()
            subprocess.run(["mount", "-o", "remount,ro", str(media)], check=True)
            _check_read_only_copy(media / "busy", demo)
            _check_read_only_copy(media / "closed", demo)
            _check_read_only_copy(media / "v7", demo)
            old = run_cli("stats", data=media / "v5", check=False)
            assert old.returncode == 1 and "Traceback" not in old.stderr
            assert "schema version 5 needs an upgrade" in old.stderr
            assert "open a writable copy of it once" in old.stderr
    finally:
        a.close()


def _check_read_only_copy(copy: Path, demo: Path) -> None:
    v = json.loads(run_cli("verify", "--format", "json", data=copy).stdout)
    assert v["ok"] and v["messages"] == 3000
    s = json.loads(run_cli("stats", "--format", "json", data=copy).stdout)
    assert s["messages"] == 3000
    w = run_cli("ingest", demo, data=copy, check=False)
    assert w.returncode == 1 and "mounted writable" in w.stderr, w.stderr
    assert "Traceback" not in w.stderr


def test_storage_problems_are_told_apart() -> None:
    full = storage_problem(sqlite3.OperationalError("database or disk is full"))
    assert full and full.startswith("the disk is full") and "rolled back" in full
    quota = storage_problem(OSError(errno.EDQUOT, "Disk quota exceeded", "/data/blobs/x"))
    assert quota and "the disk is full (/data/blobs/x)" in quota
    io = storage_problem(OSError(errno.EIO, "Input/output error"))
    assert io and "Input/output error" in io and "wxguard verify" in io
    bad = storage_problem(sqlite3.DatabaseError("database disk image is malformed"))
    assert bad and "damaged" in bad and "backup" in bad
    assert storage_problem(OSError(errno.ENOENT, "No such file")) is None
    assert storage_problem(ValueError("x")) is None


def test_a_scheduled_folder_ingest_lists_only_files_with_news(tmp_path: Path, demo: Path) -> None:
    lines = demo.read_bytes().splitlines(keepends=True)
    folder = tmp_path / "pulls"
    folder.mkdir()
    for day in range(3):
        (folder / f"day{day}.jsonl").write_bytes(b"".join(lines[day * 100 : day * 100 + 100]))
    data = tmp_path / "data"
    run_cli("init", data=data)
    first = run_cli("ingest", folder, data=data).stdout
    assert all(f"day{d}.jsonl: 100 imported" in first for d in range(3))
    (folder / "day3.jsonl").write_bytes(b"".join(lines[300:400]))
    again = run_cli("ingest", folder, data=data).stdout
    assert "day3.jsonl: 100 imported" in again and "day0" not in again
    assert "3 more files had nothing new" in again


def test_every_cli_module_imports_first() -> None:
    """The command modules import one another; each must also work as the first one a
    program (a plugin, a test) imports, in a fresh interpreter."""
    import sys

    import wxguard

    names = sorted(p.stem for p in Path(wxguard.__file__).parent.glob("cli*.py"))
    assert "cli_ingest" in names and "cli_detect" in names
    procs = {
        n: subprocess.Popen([sys.executable, "-c", f"import wxguard.{n}"], stderr=subprocess.PIPE)
        for n in names
    }
    failed = {n: p.communicate()[1].decode()[-300:] for n, p in procs.items() if p.wait()}
    assert not failed, failed
