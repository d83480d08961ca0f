"""Ingest throughput: parse → normalise → compress → encrypt → ledger → store.

    python benchmarks/ingest.py [--messages 1000000] [--seed 7] [--keep DIR] [--jobs N]

Generates demo WeCom JSONL, then runs ``wxguard ingest`` in a child process (so its
peak RSS is measured alone) and reports messages/second, bytes per message on disk
and peak RSS; then times parse+normalise alone and ``wxguard verify``. When the native code
is built (``wxguard._sealcore``) it also ingests the same file without it
(``WXGUARD_NATIVE=0``: the Python seal loop) into a second archive and prints the ratio.
With ``--jobs N`` it also ingests the same file into another archive with
``wxguard ingest --jobs N`` (one writer, N-1 workers) and prints that rate. There is no
peer product to compare ingest with. Record results in docs/performance.md.
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from wxguard import native
from wxguard.demo.generator import generate
from wxguard.wecom import normalise_bytes


def _run(args: list[str], env: dict[str, str]) -> tuple[float, int]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "wxguard", *args], env=env, check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip
    dt = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return dt, max(peak, before) * 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--messages", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--keep", type=Path, help="keep the data directory here")
    ap.add_argument("--jobs", type=int, default=1, help="also time `ingest --jobs N`")
    ap.add_argument("--no-python", action="store_true",
                    help="skip the run without native code (WXGUARD_NATIVE=0)")  # fmt: skip
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="wxguard-bench-"))
    try:
        src = tmp / "in" / "demo.jsonl"
        t0 = time.perf_counter()
        generate(src, args.messages, args.seed)
        gen_s = time.perf_counter() - t0
        data = args.keep or tmp / "data"
        env = {**os.environ, "WXGUARD_DATA": str(data)}
        subprocess.run([sys.executable, "-m", "wxguard", "init"], env=env, check=True,
                       stdout=subprocess.DEVNULL)  # fmt: skip
        ingest_s, rss = _run(["ingest", str(src)], env)
        db = sum(p.stat().st_size for p in data.glob("archive.db*"))
        verify_s, _ = _run(["verify"], env)
        python_s = 0.0
        if native.ENABLED and not args.no_python:
            env3 = {**env, "WXGUARD_DATA": str(tmp / "data-python"), "WXGUARD_NATIVE": "0"}
            subprocess.run([sys.executable, "-m", "wxguard", "init"], env=env3, check=True,
                           stdout=subprocess.DEVNULL)  # fmt: skip
            python_s, _ = _run(["ingest", str(src)], env3)
        jobs_s = 0.0
        if args.jobs > 1:
            env2 = {**env, "WXGUARD_DATA": str(tmp / "data-jobs")}
            subprocess.run([sys.executable, "-m", "wxguard", "init"], env=env2, check=True,
                           stdout=subprocess.DEVNULL)  # fmt: skip
            jobs_s, _ = _run(["ingest", "--jobs", str(args.jobs), str(src)], env2)

        sample = src.read_bytes().splitlines()[:200_000]
        gc.disable()
        t0 = time.perf_counter()
        for line in sample:
            normalise_bytes(line)
        parse_us = (time.perf_counter() - t0) / len(sample) * 1e6
        gc.enable()

        n = args.messages
        print(f"messages              {n:,}")
        print(f"generate              {gen_s:.1f} s ({n / gen_s:,.0f} msg/s)")
        print(
            f"ingest                {ingest_s:.1f} s  ->  {n / ingest_s:,.0f} msg/s (one process, "
            "process start and final checkpoint included)"
        )
        loop = native.describe()
        print(f"  (seal loop: {loop})")
        if python_s:
            print(
                f"  no native code      {python_s:.1f} s  ->  {n / python_s:,.0f} msg/s "
                f"(WXGUARD_NATIVE=0; native is {python_s / ingest_s:.2f}x)"
            )
        print(
            f"  parse+normalise     {parse_us:.1f} us/msg "
            f"of the {1e6 * ingest_s / n:.1f} us/msg total"
        )
        print(
            f"bytes on disk         {db / n:,.0f} B/msg (database incl. ledger; source JSONL "
            f"{src.stat().st_size / n:,.0f} B/msg)"
        )
        print(f"peak RSS (ingest)     {rss / 2**20:,.0f} MiB")
        if jobs_s:
            print(
                f"ingest --jobs {args.jobs}       {jobs_s:.1f} s  ->  {n / jobs_s:,.0f} msg/s "
                f"(one writer, {args.jobs - 1} worker processes)"
            )
        print(f"verify                {verify_s:.1f} s ({n / verify_s:,.0f} records/s)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
