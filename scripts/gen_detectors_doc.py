"""Regenerate the registry tables in docs/detectors.md (between the BEGIN/END markers).

python scripts/gen_detectors_doc.py          # rewrite the file
python scripts/gen_detectors_doc.py --check  # exit 1 if it is stale (the tests do this)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from wxguard.detect.api import DetectConfig
from wxguard.detect.lexiconfile import builtin_lexicon_files, load_lexicon
from wxguard.detect.linear import shipped_model
from wxguard.detect.namemodel import names_model
from wxguard.detect.registry import DetectorRegistry

DOC = Path(__file__).resolve().parent.parent / "docs" / "detectors.md"
BEGIN, END = "<!-- BEGIN generated: scripts/gen_detectors_doc.py -->", "<!-- END generated -->"
MODELS = ("offensive-zh", "offensive-en", "phishing-url", "scam-en")


def _cell(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


def generated() -> str:
    reg = DetectorRegistry.load(DetectConfig())
    lines = [
        BEGIN,
        "",
        "| id | version | entities | cost | languages | what it finds |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for d in sorted(reg.detectors, key=lambda d: d.id):
        version = "1+<lexicon digest>" if d.id == "lexicon" else d.version
        lines.append(
            f"| `{d.id}` | {version} | {', '.join(d.entities)} | {d.cost} | "
            f"{', '.join(d.languages)} | {_cell(d.description)} |"
        )
    lines += ["", "Built-in lexicons (`src/wxguard/detect/lexicons/`):", "",
              "| lexicon | entity | terms | regexes | proximity rules | suppressed by | about |",
              "| --- | --- | --- | --- | --- | --- | --- |"]  # fmt: skip
    for f in builtin_lexicon_files():
        x = load_lexicon(f)
        unless = ", ".join(x.unless) if x.unless else ""
        lines.append(
            f"| `{x.id}` | {x.entity} | {len(x.terms)} | {len(x.patterns)} | {len(x.near)} | "
            f"{_cell(unless)} | {_cell(x.description)} |"
        )
    lines += ["", "Shipped models (`src/wxguard/detect/models/`, cards inside each file):", "",
              "| model | task | trained on | licence | held out | precision | recall | F1 |",
              "| --- | --- | --- | --- | --- | --- | --- | --- |"]  # fmt: skip
    for name in MODELS:
        c = shipped_model(name).card
        m = c.metrics
        lines.append(
            f"| `{name}` v{c.version} | {_cell(c.task)} | {_cell(c.trained_on)} | "
            f"{_cell(c.licence)} | {_cell(c.split)} | {m['precision']:.3f} | {m['recall']:.3f} | "
            f"{m['f1']:.3f} |"
        )
    c2 = names_model().card
    m = c2.measured
    lines.append(
        f"| `{c2.name}` v{c2.version} | Chinese person names (segmentation into words and name "
        f"tokens; not trained) | {_cell(c2.built_from)} | {_cell(c2.licence)} | "
        f"{_cell(c2.tuning)} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} |"
    )
    lines += ["", END]
    return "\n".join(lines)


def render(text: str) -> str:
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    return head + generated() + tail


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    current = DOC.read_text("utf-8")
    new = render(current)
    if args.check:
        if new != current:
            sys.exit(f"{DOC} is stale: run python scripts/gen_detectors_doc.py")
        return
    DOC.write_text(new, encoding="utf-8")
    print(f"wrote {DOC}")


if __name__ == "__main__":
    main()
