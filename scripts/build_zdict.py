"""Build the shipped zstd dictionary from *generated* demo data only.

The dictionary is public and trained on invented content, so compressed sizes in an
archive reveal nothing about other archived messages (a dictionary trained on an
archive's own messages would: see docs/architecture.md, "Compression").

    python scripts/build_zdict.py --force  # writes src/wxguard/data/zdict-v1.bin
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import zstandard

from wxguard.demo.generator import generate
from wxguard.model import JSON_ENCODER
from wxguard.wecom import normalise_bytes

OUT = Path(__file__).resolve().parents[1] / "src/wxguard/data/zdict-v1.bin"


def main() -> None:
    if OUT.exists() and "--force" not in sys.argv:
        sys.exit(
            f"{OUT} exists. Archives depend on it byte for byte: never change it once released; "
            "add zdict-v2.bin and a new codec byte instead (--force only before a first release)."
        )
    samples = []
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "d.jsonl"
        generate(src, 20_000, seed=101)
        with src.open("rb") as f:
            for line in f:
                raw = line.rstrip(b"\n")
                samples.append(JSON_ENCODER.encode(normalise_bytes(raw)) + raw)
    d = zstandard.train_dictionary(32_768, samples, level=3, threads=1)
    OUT.write_bytes(d.as_bytes())
    print(f"wrote {OUT} ({len(d.as_bytes())} bytes)")


if __name__ == "__main__":
    main()
