"""Plaintext WeChat import rate for each client database format.

    python benchmarks/imports.py --messages 1000000

Builds the synthetic device (``wxguard.demo.wechat``: every message kind, groups with
sender prefixes, LZ4/zstd-compressed app messages) once, writes it in each database layout
(PC 3.x, 4.x, Android, iOS), then imports each into a fresh archive with the same code
``wxguard ingest`` runs (detect → read → parse XML → canonical model → seal), and prints
messages/second. Voices are left out of the 1M-row runs (the generator can only afford a
few distinct SILK clips, and a real device's voices are all distinct); SILK → WAV decoding
is measured on its own below. No peer is measured: the tools whose formats we read are
exporters, not archives.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from wxguard.archive import Archive
from wxguard.demo import wechat as W
from wxguard.imports import open_source
from wxguard.imports.plan import plan
from wxguard.imports.run import Importer
from wxguard.imports.silk import to_wav
from wxguard.seal import Counts, Sealer

WRITERS = {
    "wechat-pc3": W.write_pc3,
    "wechat-pc4": W.write_v4,
    "wechat-android": W.write_android,
    "wechat-ios": W.write_ios,
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=1_000_000)
    ap.add_argument("--formats", default=",".join(WRITERS))
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="wxg-imports-"))
    try:
        t0 = time.perf_counter()
        dev = W.build(args.messages, seed=1, voices=False)
        print(f"built {args.messages:,} messages in {time.perf_counter() - t0:.1f} s")
        for fmt in args.formats.split(","):
            src = WRITERS[fmt](tmp / fmt, dev)
            target = src.parent if fmt == "wechat-android" else src
            t0 = time.perf_counter()
            (job,) = plan([target])
            assert job.format == fmt, job
            total = Counts()
            with Archive.create(tmp / f"data-{fmt}") as a:
                source = open_source(job.path, job.format)
                imp = Importer(a, Sealer(a), source.account, source.format)
                for unit in source.units:
                    total.add(imp.run(unit).counts)
                a.seal_checkpoint()
            dt = time.perf_counter() - t0
            assert total.imported == args.messages, (fmt, total)
            print(f"{fmt:16} {total.imported:>10,} messages {dt:7.1f} s "
                  f"{total.imported / dt:>9,.0f} msg/s")  # fmt: skip
            shutil.rmtree(tmp / f"data-{fmt}")
            shutil.rmtree(tmp / fmt)
        voices = [m.voice for m in W.build(60, seed=2).messages if m.voice]
        t0 = time.perf_counter()
        n = 0
        while time.perf_counter() - t0 < 3:
            for v in voices:
                to_wav(v)
                n += 1
        dt = time.perf_counter() - t0
        print(f"SILK → WAV: {n / dt:,.0f} voices/s (0.4 s clips; {n / dt * 0.4:,.0f}× real time)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
