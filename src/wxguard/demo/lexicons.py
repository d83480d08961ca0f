"""The demo company's own lexicons: its project codenames and its competitors.

Written into the demo archive's ``lexicons/`` folder, where ``wxguard scan`` picks
up an administrator's lexicons.
"""

from __future__ import annotations

import json
from pathlib import Path

from . import content as C


def _toml_list(items: list[str]) -> str:
    return "[" + ", ".join(json.dumps(x, ensure_ascii=False) for x in items) + "]"


def write_demo_settings(data_dir: Path) -> None:
    """The demo company's lexicons and its own domain (links to it are never suspicious)."""
    write_demo_lexicons(data_dir / "lexicons")
    (data_dir / "detect.toml").write_text(
        f"own_domains = [{json.dumps(C.CORP_DOMAIN)}]\n", encoding="utf-8"
    )


def write_demo_lexicons(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "demo-codenames.toml": (
            'id = "demo-codenames"\nentity = "PROJECT_CODENAME"\nscore = 0.8\n'
            'description = "Yunshan Technology project codenames (demo company)"\n'
            f"terms = {_toml_list(C.CODENAMES)}\n"
        ),
        "demo-competitors.toml": (
            'id = "demo-competitors"\nentity = "COMPETITOR_NAME"\nscore = 0.6\n'
            'description = "Yunshan Technology competitors (demo company)"\n'
            f"terms = {_toml_list(C.COMPETITORS)}\n"
        ),
    }
    out = []
    for name, text in files.items():
        p = folder / name
        p.write_text(text, encoding="utf-8")
        out.append(p)
    return out
