"""WeCom capture rate: pull + RSA unwrap + DecryptData + normalise + seal, through the
compiled test double of the native SDK (tests/wecomdouble), media off.

    python benchmarks/wecom.py --records 50000

Target (issue 6): at least 2× the API's ceiling of ~10,000 messages/s (1,000 per call ×
600 calls/min). Also prints the RSA-2048 unwrap rate alone (one core and all cores),
because one private-key operation per record bounds the pipeline.
"""

from __future__ import annotations

import argparse
import base64
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from cryptography.hazmat.primitives.asymmetric import padding  # noqa: E402

from wecomfix import FakeApi, Fixture, build_library, demo_records, write_config  # noqa: E402
from wxguard.archive import Archive  # noqa: E402
from wxguard.capture.config import load_wecom  # noqa: E402
from wxguard.capture.run import Capture, open_sdk  # noqa: E402
from wxguard.capture.unwrap import Unwrapper  # noqa: E402
from wxguard.demo.generator import generate  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=20_000)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="wxguard-wecom-") as tmp:
        root = Path(tmp)
        t = time.perf_counter()
        generate(root / "demo.jsonl", args.records, seed=9)
        recs = demo_records(root / "demo.jsonl")[: args.records]
        fx = Fixture(root / "fx")
        fx.add(recs)
        fx.write()
        print(f"fixture: {len(recs):,} records in {time.perf_counter() - t:.0f} s")
        lib = build_library(root / "lib")
        api = FakeApi(root / "demo.directory.jsonl")
        Archive.create(root / "data").close()
        write_config(root / "data", lib, fx, api.url)
        cfg = root / "data" / "wecom.toml"
        cfg.write_text(cfg.read_text() + "[pull]\ncalls_per_minute = 10000\n")
        os.environ.update(fx.env())

        key = fx.keys[1]
        wrapped = [
            (1, base64.b64encode(key.public_key().encrypt(os.urandom(16).hex().encode(),
                                                          padding.PKCS1v15())).decode())
            for _ in range(3000)
        ]  # fmt: skip
        for n in sorted({1, args.workers}):
            u = Unwrapper({1: key}, n)
            u.unwrap(wrapped[:100])  # start the pool
            u._cache.clear()
            t = time.perf_counter()
            u.unwrap(wrapped)
            dt = time.perf_counter() - t
            u.close()
            print(f"RSA-2048 unwrap alone, {n} process(es): {len(wrapped) / dt:,.0f} keys/s")

        conn = load_wecom(root / "data")
        with Archive.open(root / "data", write=True) as a:
            cap = Capture(a, conn, open_sdk(conn), workers=args.workers)
            t = time.perf_counter()
            rep = cap.cycle(media=False, directory=False)
            dt = time.perf_counter() - t
            cap.close()
        api.close()
        rate = rep.pull.records / dt
        print(
            f"capture: {rep.pull.records:,} records in {rep.pull.pages} pages, "
            f"{rep.pull.counts.imported:,} imported, {dt:.1f} s → {rate:,.0f} records/s "
            f"({args.workers} unwrap worker(s), {os.cpu_count()} cores)"
        )
        print(f"ratio to the API ceiling of 10,000/s: {rate / 10_000:.2f}× (target ≥ 2×)")


if __name__ == "__main__":
    main()
