"""Inclusion proofs: built from the archive, checked offline (also with the stdlib alone)."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import wxguard.proofcheck as proofcheck
from conftest import load
from wxguard.archive import Archive, ArchiveError
from wxguard.ingest import ingest_file
from wxguard.proof import build_proof
from wxguard.proofcheck import ProofError, check
from wxguard.seal import Sealer


@pytest.fixture
def loaded(archive: Archive, demo: Path) -> Archive:
    load(archive, demo)
    return archive


def _some_ids(a: Archive, n: int) -> list[str]:
    rows = a.conn.execute("SELECT source, source_msg_id FROM messages ORDER BY seq").fetchall()
    step = max(1, len(rows) // n)
    return [f"{s}:{m}" for s, m in rows[::step]][:n]


def test_proofs_check(loaded: Archive) -> None:
    for mid in _some_ids(loaded, 8):
        doc = build_proof(loaded, mid)
        res = check(doc, loaded.keys.public_key)
        assert res["message_id"] == mid
        assert res["message"]["id"] == mid


def test_bare_msgid_is_accepted(loaded: Archive) -> None:
    mid = _some_ids(loaded, 1)[0]
    assert build_proof(loaded, mid.split(":", 1)[1])["message_id"] == mid
    with pytest.raises(ArchiveError, match="no archived message"):
        build_proof(loaded, "nope")


def _mutations(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    out = []
    d = copy.deepcopy(doc)
    d["message"]["payload"]["kind"] = "markdown"
    out.append(("differs from the committed", d))
    d = copy.deepcopy(doc)
    d["record"]["index"] += 1
    out.append(("inclusion path", d))
    d = copy.deepcopy(doc)
    if d["path"]:
        d["path"][0] = "00" * 32
        out.append(("inclusion path", d))
    d = copy.deepcopy(doc)
    d["checkpoint"]["at"] += 1
    out.append(("signature", d))
    d = copy.deepcopy(doc)
    d["record"]["stored_digest"] = "11" * 32
    out.append(("inclusion path", d))
    return out


def test_tampered_proofs_fail(loaded: Archive) -> None:
    doc = build_proof(loaded, _some_ids(loaded, 3)[1])
    for expected, bad in _mutations(doc):
        with pytest.raises(ProofError, match=expected):
            check(bad)
    with pytest.raises(ProofError, match="different key"):
        check(doc, b"\x01" * 32)


def test_standalone_checker_with_stdlib_only(loaded: Archive, tmp_path: Path) -> None:
    doc = build_proof(loaded, _some_ids(loaded, 2)[1])
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    doc["message"]["sender"] = "mallory"
    bad.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    script = Path(proofcheck.__file__)
    # -I -S: no site-packages, so `cryptography` is absent and the RFC 8032 code path runs
    probe = subprocess.run(
        [sys.executable, "-I", "-S", "-c", "import cryptography"], capture_output=True
    )
    assert probe.returncode != 0
    ok = subprocess.run(
        [sys.executable, "-I", "-S", str(script), str(good)], capture_output=True, text=True
    )
    assert ok.returncode == 0 and ok.stdout.startswith("VALID"), ok.stdout + ok.stderr
    no = subprocess.run(
        [sys.executable, "-I", "-S", str(script), str(bad)], capture_output=True, text=True
    )
    assert no.returncode == 1 and "INVALID" in no.stdout


def test_unsealed_tail_needs_a_checkpoint(archive: Archive, tmp_path: Path) -> None:
    f = tmp_path / "m.jsonl"
    f.write_bytes(
        b'{"msgid":"z1","action":"send","from":"a","tolist":["b"],"roomid":"","msgtime":1,'
        b'"msgtype":"text","text":{"content":"hi"}}\n'
    )
    ingest_file(archive, Sealer(archive), f)  # no seal_checkpoint: fewer than CHECKPOINT_EVERY
    with pytest.raises(ArchiveError, match="not yet covered"):
        build_proof(archive, "wecom:z1")
    archive.seal_checkpoint()
    check(build_proof(archive, "wecom:z1"))


@settings(max_examples=8, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=40), min_size=1, max_size=25), st.data())
def test_property_any_archived_message_proves(texts: list[str], data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        a = Archive.create(Path(tmp) / "d")
        f = Path(tmp) / "in.jsonl"
        f.write_bytes(b"".join(
            orjson.dumps({"msgid": f"p{i}", "action": "send", "from": "a", "tolist": ["b"], "roomid": "",
                          "msgtime": 1_700_000_000_000 + i, "msgtype": "text", "text": {"content": t}}) + b"\n"
            for i, t in enumerate(texts)
        ))  # fmt: skip
        load(a, f)
        i = data.draw(st.integers(0, len(texts) - 1))
        doc = build_proof(a, f"wecom:p{i}")
        assert check(doc)["message"]["payload"]["content"] == texts[i]
        a.close()
