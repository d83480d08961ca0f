"""Policy quality and speed on the demo company's ground truth.

    python benchmarks/policies.py [--messages 50000] [--seed 7]

Generates the demo company, ingests it, applies its approvals, scans with every
detector, then evaluates the default policy pack. Prints, per behaviour, precision
and recall of the alerted messages against the planted ones (target: recall ≥ 0.95,
precision ≥ 0.8 for every behaviour), and the evaluation rate in messages/second
(decrypting each message, reading its findings, all policies, inventory, alerts).
No peer product evaluates WeChat policies, so there is no ratio to print.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from wxguard.archive import Archive
from wxguard.demo.generator import generate
from wxguard.demo.lexicons import write_demo_settings
from wxguard.demo.setup import apply_approvals
from wxguard.detect.registry import DetectorRegistry
from wxguard.detect.scan import archive_config, scan_archive
from wxguard.ingest import ingest_file
from wxguard.policy.quality import score_behaviours
from wxguard.policy.service import run_policies
from wxguard.seal import Sealer

TARGET_RECALL, TARGET_PRECISION = 0.95, 0.8


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--messages", type=int, default=50_000)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="wxguard-bench-") as tmp:
        src = Path(tmp) / "in" / "demo.jsonl"
        summary = generate(src, args.messages, args.seed)
        data = Path(tmp) / "data"
        Archive.create(data).close()
        write_demo_settings(data)
        with Archive.open(data, write=True) as a:
            sealer = Sealer(a)
            for f in (src.with_name("demo.directory.jsonl"), src):
                ingest_file(a, sealer, f)
            a.seal_checkpoint()
            apply_approvals(a, summary["approvals"])
            reg = DetectorRegistry.load(archive_config(a))
            scan_archive(a, reg)
            t0 = time.perf_counter()
            s, pset = run_policies(a, detector_ids=[d.id for d in reg.detectors])
            dt = time.perf_counter() - t0
            scores = score_behaviours(a, src.with_name("demo.truth.jsonl"))
    print(f"demo: {args.messages:,} messages, {summary['planted']} planted, seed {args.seed}")
    print(f"policies: {len(pset.enabled)} enabled; {s.alerts_created} alerts over "
          f"{s.evidence} messages")  # fmt: skip
    print(f"evaluation: {s.messages:,} messages in {dt:.2f} s = {s.messages / dt:,.0f} msg/s")
    print(f"{'behaviour':32s} {'planted':>7s} {'alerted':>7s} {'P':>5s} {'R':>5s}  target")
    ok = True
    for b, sc in scores.items():
        met = sc.recall >= TARGET_RECALL and sc.precision >= TARGET_PRECISION
        ok &= met
        print(f"{b:32s} {sc.tp + sc.fn:7d} {sc.tp + sc.fp:7d} {sc.precision:5.2f} "
              f"{sc.recall:5.2f}  {'met' if met else 'MISSED'}")  # fmt: skip
    print("all behaviours meet the target" if ok else "some behaviours miss the target")


if __name__ == "__main__":
    main()
