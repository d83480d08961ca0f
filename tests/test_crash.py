"""SIGKILL `wxguard ingest` at random points, re-run: every message exactly once, verify passes."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from conftest import run_cli
from wxguard.archive import Archive
from wxguard.demo.generator import generate
from wxguard.verify import verify

KILLS = 20
MESSAGES = 150_000  # large enough that 20 kills land before the file is done


@pytest.mark.slow
def test_sigkill_loop_exactly_once(tmp_path: Path) -> None:
    src = tmp_path / "in" / "demo.jsonl"
    generate(src, MESSAGES, seed=5)
    data = tmp_path / "data"
    run_cli("init", data=data)
    env = {**os.environ, "WXGUARD_DATA": str(data)}
    rng = random.Random(1)
    killed = 0
    finished = False
    attempts = 0
    while not finished and attempts < 200:
        attempts += 1
        proc = subprocess.Popen(
            [sys.executable, "-m", "wxguard", "ingest", str(src.parent)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        if killed < KILLS:
            time.sleep(rng.uniform(0.2, 1.0))
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
                killed += 1
                continue
        finished = proc.wait(timeout=300) == 0
    assert killed >= KILLS, f"only {killed} kills landed"
    assert finished
    lines = [x for x in src.read_bytes().splitlines() if x]
    unique = len({x.split(b'"msgid":"')[1].split(b'"')[0] for x in lines})
    with Archive.open(data) as a:
        (n,) = a.conn.execute("SELECT count(*) FROM messages").fetchone()
        (distinct,) = a.conn.execute(
            "SELECT count(DISTINCT source_msg_id) FROM messages"
        ).fetchone()
        (q,) = a.conn.execute("SELECT count(*) FROM quarantine").fetchone()
        rep = verify(a)
    assert n == distinct == unique == MESSAGES
    assert q == 0
    assert rep.ok, rep.problems[:3]
    assert rep.unsealed_tail == 0


@pytest.mark.slow
def test_sigkill_with_worker_processes_exactly_once_and_no_orphans(tmp_path: Path) -> None:
    """`ingest --jobs 3`: killing the writer loses or repeats nothing, and its workers
    (which hold no archive state) go away with it instead of lingering."""
    messages = 150_000
    src = tmp_path / "in" / "demo.jsonl"
    generate(src, messages, seed=6)
    data = tmp_path / "data"
    run_cli("init", data=data)
    env = {**os.environ, "WXGUARD_DATA": str(data)}
    rng = random.Random(2)
    killed = 0
    finished = False
    attempts = 0
    while not finished and attempts < 50:
        attempts += 1
        proc = subprocess.Popen(
            [sys.executable, "-m", "wxguard", "ingest", "--jobs", "3", str(src)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        if killed < 6:
            time.sleep(rng.uniform(0.8, 2.0))  # mostly past the workers' start-up
            workers = psutil.Process(proc.pid).children(recursive=True)
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
                killed += 1
                _, alive = psutil.wait_procs(workers, timeout=15)
                assert not alive, f"{len(alive)} worker processes outlived the killed writer"
                continue
        finished = proc.wait(timeout=300) == 0
    assert killed >= 6 and finished
    with Archive.open(data) as a:
        (n,) = a.conn.execute("SELECT count(*) FROM messages").fetchone()
        (distinct,) = a.conn.execute(
            "SELECT count(DISTINCT source_msg_id) FROM messages"
        ).fetchone()
        rep = verify(a)
    assert n == distinct == messages
    assert rep.ok, rep.problems[:3]
