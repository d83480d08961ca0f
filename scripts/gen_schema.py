"""Regenerate docs/schema/interchange-v1.schema.json from the model (a test checks it)."""

from __future__ import annotations

import json
from pathlib import Path

from wxguard.interchange import json_schema

OUT = Path(__file__).resolve().parents[1] / "docs/schema/interchange-v1.schema.json"

if __name__ == "__main__":
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {OUT}")
