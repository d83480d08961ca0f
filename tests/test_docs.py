"""Documentation contracts: the schema is current, commands are documented."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import orjson
import typer.main

from conftest import directory_of, load
from wxguard.archive import Archive
from wxguard.cli import app
from wxguard.interchange import export_jsonl, json_schema

ROOT = Path(__file__).resolve().parents[1]


def test_committed_schema_is_current() -> None:
    committed = json.loads((ROOT / "docs/schema/interchange-v1.schema.json").read_text("utf-8"))
    assert committed == json.loads(json.dumps(json_schema())), "run scripts/gen_schema.py"


def test_exported_lines_validate_against_schema(archive: Archive, demo: Path) -> None:
    load(archive, directory_of(demo), demo)
    buf = io.BytesIO()
    export_jsonl(archive, buf)
    validator = jsonschema.Draft202012Validator(json_schema())
    lines = buf.getvalue().splitlines()
    for line in lines[:: max(1, len(lines) // 500)]:
        validator.validate(orjson.loads(line))


def _commands() -> list[str]:
    click_app = typer.main.get_command(app)
    names = []
    for name, cmd in click_app.commands.items():  # type: ignore[attr-defined]
        subs = getattr(cmd, "commands", {})
        if not subs or getattr(cmd, "invoke_without_command", False):
            names.append(name)  # a group is a command of its own only if it runs alone
        for sub in subs:
            names.append(f"{name} {sub}")
    return names


def test_every_command_is_documented() -> None:
    ops = (ROOT / "docs/operations.md").read_text("utf-8")
    missing = [c for c in _commands() if f"`wxguard {c}`" not in ops]
    assert not missing, f"undocumented commands: {missing}"


def test_detector_tables_in_docs_are_current() -> None:
    """docs/detectors.md lists every registered detector, lexicon and model card as they are."""
    p = subprocess.run(
        [sys.executable, str(ROOT / "scripts/gen_detectors_doc.py"), "--check"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr


def test_every_default_policy_and_sink_type_is_documented() -> None:
    from wxguard.delivery.config import SINK_TYPES
    from wxguard.policy.pack import load_policies

    pol = (ROOT / "docs/policies.md").read_text("utf-8")
    missing = [p.id for p in load_policies(None).policies if f"| `{p.id}` |" not in pol]
    assert not missing, f"default policies missing from docs/policies.md: {missing}"
    ops = (ROOT / "docs/operations.md").read_text("utf-8")
    assert all(f'type = "{t}"' in ops for t in SINK_TYPES), "sink type missing from operations.md"
