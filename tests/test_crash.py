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
# Large enough that every kill lands before the file is done on a fast day too: a run
# between kills ingests ~6,000 messages alone (pauses of 0.2-1.0 s, ~0.35 s of start-up) and
# ~20,000 with workers; 150,000 left too little margin once ingest reached ~23,000 msg/s
# (2026-12-07: the worker test's file was done after 5 of its 6 kills).
MESSAGES = 250_000


def _kill_loop(
    data: Path,
    args: list[str],
    kills: int,
    pause: tuple[float, float],
    seed: int,
    check_children: bool = False,
) -> None:
    """Run `wxguard ARGS` again and again, SIGKILLing it after a random pause until
    ``kills`` kills landed, then once to the end. With ``check_children``, every process
    the killed one started must exit too."""
    env = {**os.environ, "WXGUARD_DATA": str(data)}
    rng = random.Random(seed)
    killed = 0
    for _ in range(200):
        proc = subprocess.Popen(
            [sys.executable, "-m", "wxguard", *args],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        if killed < kills:
            time.sleep(rng.uniform(*pause))
            children = _children(proc.pid) if check_children else []
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
                killed += 1
                if check_children:
                    _, alive = psutil.wait_procs(children, timeout=15)
                    assert not alive, f"{len(alive)} child processes outlived the killed one"
                continue
        if proc.wait(timeout=300) == 0:
            break
    else:
        raise AssertionError("the ingest never finished")
    assert killed >= kills, f"only {killed} kills landed"


def _children(pid: int) -> list[psutil.Process]:
    try:
        children: list[psutil.Process] = psutil.Process(pid).children(recursive=True)
    except psutil.Error:  # it already ended
        return []
    return children


def _exactly_once(data: Path, messages: int) -> None:
    with Archive.open(data) as a:
        (n,) = a.conn.execute("SELECT count(*) FROM messages").fetchone()
        (distinct,) = a.conn.execute(
            "SELECT count(DISTINCT source_msg_id) FROM messages"
        ).fetchone()
        (q,) = a.conn.execute("SELECT count(*) FROM quarantine").fetchone()
        rep = verify(a)
    assert n == distinct == messages
    assert q == 0
    assert rep.ok, rep.problems[:3]
    assert rep.unsealed_tail == 0


@pytest.mark.slow
def test_sigkill_loop_exactly_once(tmp_path: Path) -> None:
    src = tmp_path / "in" / "demo.jsonl"
    generate(src, MESSAGES, seed=5)
    data = tmp_path / "data"
    run_cli("init", data=data)
    _kill_loop(data, ["ingest", str(src.parent)], KILLS, (0.2, 1.0), seed=1)
    lines = [x for x in src.read_bytes().splitlines() if x]
    unique = len({x.split(b'"msgid":"')[1].split(b'"')[0] for x in lines})
    assert unique == MESSAGES
    _exactly_once(data, MESSAGES)


@pytest.mark.slow
def test_sigkill_with_worker_processes_exactly_once_and_no_orphans(tmp_path: Path) -> None:
    """`ingest --jobs 3`: killing the writer loses or repeats nothing, and its workers
    (which hold no archive state) go away with it instead of lingering."""
    messages = MESSAGES
    src = tmp_path / "in" / "demo.jsonl"
    generate(src, messages, seed=6)
    data = tmp_path / "data"
    run_cli("init", data=data)
    # pauses mostly past the workers' start-up
    _kill_loop(data, ["ingest", "--jobs", "3", str(src)], 6, (0.8, 2.0), 2, check_children=True)
    _exactly_once(data, messages)
