"""``wxguard scan`` over a real archive: incremental, versioned, crash-safe; ad-hoc modes."""

from __future__ import annotations

import gzip
import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from conftest import directory_of, load, run_cli
from wxguard.archive import Archive
from wxguard.demo.generator import generate
from wxguard.demo.lexicons import write_demo_lexicons
from wxguard.detect.quality import STRUCTURED_PII
from wxguard.detect.registry import DetectorRegistry
from wxguard.detect.scan import archive_config, scan_archive, stored_findings


def _truth(demo: Path) -> list[dict[str, object]]:
    return [orjson.loads(x) for x in demo.with_name("demo.truth.jsonl").read_bytes().splitlines()]


def test_scan_finds_the_planted_pii_and_stores_no_values(
    archive: Archive, demo: Path, data_dir: Path
) -> None:
    load(archive, directory_of(demo), demo)
    archive.close()
    report = json.loads(run_cli("scan", "--format", "json", data=data_dir).stdout)
    assert report["messages"] > 2900 and not report["faults"] and not report["problems"]
    with Archive.open(data_dir) as a:
        findings = stored_findings(a)
    planted = {(f"wecom:{t['msgid']}", t["entity"]) for t in _truth(demo)
               if t["entity"] in STRUCTURED_PII}  # fmt: skip
    got = {(f.message_id, f.entity) for f in findings if f.entity in STRUCTURED_PII}
    assert planted and planted <= got
    assert len(got - planted) <= 0.01 * report["messages"]
    # The findings table holds fingerprints, never the matched values.
    values = [str(t["match"]) for t in _truth(demo) if t["entity"] in STRUCTURED_PII]
    db = sqlite3.connect(data_dir / "archive.db")
    dump = "\n".join(db.iterdump())
    db.close()
    assert not [v for v in values if v in dump]


def test_scan_is_incremental_and_rescans_after_a_lexicon_change(
    archive: Archive, demo: Path, data_dir: Path
) -> None:
    load(archive, directory_of(demo), demo)
    archive.close()
    first = json.loads(run_cli("scan", "--format", "json", data=data_dir).stdout)
    with Archive.open(data_dir) as a:
        (lex_before,) = a.conn.execute(
            "SELECT count(*) FROM findings WHERE detector = 'lexicon'"
        ).fetchone()
    again = json.loads(run_cli("scan", "--format", "json", data=data_dir).stdout)
    assert first["messages"] > 0 and again["messages"] == 0 and again["findings"] == 0
    assert again["rescanned"] == []
    # An administrator adds lexicons: only the lexicon detector's version changes.
    write_demo_lexicons(data_dir / "lexicons")
    third = json.loads(run_cli("scan", "--format", "json", data=data_dir).stdout)
    assert third["rescanned"] == ["lexicon"]
    assert third["by_entity"].get("PROJECT_CODENAME", 0) > 0
    with Archive.open(data_dir) as a:
        n_lex = a.conn.execute(
            "SELECT count(*) FROM findings WHERE detector = 'lexicon'"
        ).fetchone()
        n_all = a.conn.execute("SELECT count(*) FROM findings").fetchone()
    assert n_all[0] == first["findings"] - lex_before + n_lex[0] and n_lex[0] > lex_before
    full = json.loads(run_cli("scan", "--rescan", "--format", "json", data=data_dir).stdout)
    assert full["findings"] == n_all[0]  # a full rescan rebuilds the same set


def test_interrupted_scan_resumes_without_duplicates(
    archive: Archive, demo: Path, data_dir: Path
) -> None:
    load(archive, directory_of(demo), demo)
    reg = DetectorRegistry.load(archive_config(archive))
    calls = []

    def stop_after_first_batch(n: int) -> None:
        calls.append(n)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        scan_archive(archive, reg, progress=stop_after_first_batch)
    partial = archive.conn.execute("SELECT count(*) FROM findings").fetchone()[0]
    resumed = scan_archive(archive, reg)
    (stored,) = archive.conn.execute("SELECT count(*) FROM messages").fetchone()
    assert resumed.messages == stored - 2000  # the first batch (2,000) had been committed
    total = archive.conn.execute("SELECT count(*) FROM findings").fetchone()[0]
    dupes = archive.conn.execute(
        "SELECT count(*) FROM (SELECT seq, detector, span_start, span_end, entity, explanation, "
        "count(*) c FROM findings GROUP BY 1, 2, 3, 4, 5, 6 HAVING c > 1)"
    ).fetchone()[0]
    assert partial > 0 and total > partial and dupes == 0
    archive.conn.execute("DELETE FROM findings")
    archive.conn.execute("DELETE FROM scan_state")
    assert scan_archive(archive, reg).findings == total


def test_scan_since_only_looks_at_recent_messages(
    archive: Archive, demo: Path, data_dir: Path
) -> None:
    load(archive, directory_of(demo), demo)
    (last,) = archive.conn.execute("SELECT max(sent_at) FROM messages").fetchone()
    archive.close()
    import datetime as dt

    day = dt.datetime.fromtimestamp(last / 1000, dt.timezone(dt.timedelta(hours=8))).date()
    r = json.loads(
        run_cli("scan", "--since", day.isoformat(), "--format", "json", data=data_dir).stdout
    )
    assert 0 < r["messages"] < 500
    bad = run_cli("scan", "--since", "last tuesday", data=data_dir, check=False)
    assert bad.returncode != 0 and "not a date" in bad.stderr


def test_adhoc_text_and_input_file(tmp_path: Path) -> None:
    p = run_cli("scan", "--text", "身份证 320102199308213883 手机13800138000", "--format", "json",
                data=tmp_path / "none")  # fmt: skip
    lines = [json.loads(x) for x in p.stdout.splitlines()]
    assert [x["entity"] for x in lines] == ["CN_RESIDENT_ID", "CN_MOBILE"]
    assert "320102199308213883" not in p.stdout  # one JSON finding per line, no values
    inp = tmp_path / "in.jsonl"
    inp.write_text(
        '{"id": "a", "text": "密码是 Hunter2!x"}\n'
        "not json\n"
        '{"id": 7, "text": "card 4111 1111 1111 1111"}\n'
        '{"text": "no id"}\n'
        '["a", "list"]\n'
        '{"id": 3}\n'
        '{"id": "b", "text": "手机 13900139000"}\n',
        encoding="utf-8",
    )
    p = run_cli("scan", "--input", inp, "--format", "json", data=tmp_path / "none", check=False)
    assert p.returncode == 2  # each bad line named with its problem, the others scanned
    got = [(x["message_id"], x["entity"]) for x in map(json.loads, p.stdout.splitlines())]
    assert got == [("a", "PASSWORD"), ("7", "BANK_CARD"), ("b", "CN_MOBILE")]
    assert "line 2: skipped: not JSON" in p.stderr
    assert 'line 4: skipped: "id" must be a string or number' in p.stderr
    assert "line 5: skipped: not a JSON object" in p.stderr
    assert 'line 6: skipped: "text" must be a string' in p.stderr
    text = run_cli("scan", "--text", "手机 13800138000", data=tmp_path / "none").stdout
    assert "CN_MOBILE" in text and "13800138000" in text
    # A compressed input is read through; one cut short is scanned up to the cut, then named.
    packed = gzip.compress(inp.read_bytes() * 300)
    inp.write_bytes(packed)
    p = run_cli("scan", "--input", inp, "--format", "json", data=tmp_path / "none", check=False)
    assert p.returncode == 2 and len(p.stdout.splitlines()) == 3 * 300
    inp.write_bytes(packed[: len(packed) // 2])
    p = run_cli("scan", "--input", inp, "--format", "json", data=tmp_path / "none", check=False)
    assert p.returncode == 1 and 0 < len(p.stdout.splitlines()) < 3 * 300
    assert re.search(
        r"in.jsonl: cannot read gzip data after line \d+: Compressed file ended", p.stderr
    )
    piped = subprocess.run(
        [sys.executable, "-m", "wxguard", "scan", "--input", "-", "--format", "json"],
        input=gzip.compress('{"id": "p", "text": "手机 13900139000"}\n'.encode()),
        capture_output=True,
        env={**os.environ, "WXGUARD_DATA": str(tmp_path / "none")}, check=True,
    )  # fmt: skip
    assert [json.loads(x)["message_id"] for x in piped.stdout.splitlines()] == ["p"]
    gone = run_cli("scan", "--input", tmp_path / "nope", data=tmp_path / "none", check=False)
    assert gone.returncode == 1 and "nope: cannot read: No such file" in gone.stderr


def test_detectors_command_lists_builtins_and_bad_lexicons_fail_clearly(tmp_path: Path) -> None:
    out = json.loads(run_cli("detectors", "--format", "json", data=tmp_path / "none").stdout)
    ids = {d["id"]: d for d in out["detectors"]}
    assert ids["pii.cn.resident_id"]["version"] == "1" and "CN_RESIDENT_ID" in ids[
        "pii.cn.resident_id"]["entities"]  # fmt: skip
    bad = tmp_path / "bad.toml"
    bad.write_text('id = "x"\nentity = "EE"\npatterns = ["(oops"]\n', encoding="utf-8")
    p = run_cli("detectors", "--lexicon", bad, "--format", "json", data=tmp_path / "none")
    problems = json.loads(p.stdout)["problems"]
    assert problems[0]["detector"] == "lexicon" and "bad.toml: patterns[0]" in problems[0]["reason"]
    assert problems[0]["partial"]  # the built-in lexicons are still in force
    # the other detectors still load, the lexicon detector too
    assert len(json.loads(p.stdout)["detectors"]) == 26
    assert (
        "partly loaded: lexicon"
        in run_cli("detectors", "--lexicon", bad, data=tmp_path / "none").stderr
    )


def test_cheap_only_skips_expensive_detectors_and_keeps_their_state(
    archive: Archive, demo: Path, data_dir: Path
) -> None:
    load(archive, demo)
    archive.close()
    cheap = json.loads(run_cli("scan", "--cheap-only", "--format", "json", data=data_dir).stdout)
    assert "classify.offensive" not in cheap["detectors"] and "pii.cn.mobile" in cheap["detectors"]
    full = json.loads(run_cli("scan", "--format", "json", data=data_dir).stdout)
    # the expensive ones now catch up from the first message; the cheap ones have nothing new
    assert full["messages"] == cheap["messages"]
    assert set(full["by_entity"]) >= {"OFFENSIVE"} and "CN_MOBILE" not in full["by_entity"]


def test_a_since_run_then_a_full_run_store_nothing_twice(
    archive: Archive, demo: Path, data_dir: Path, tmp_path: Path
) -> None:
    load(archive, demo)
    reg = DetectorRegistry.load(archive_config(archive))
    scan_archive(archive, reg)  # every detector now has state
    more = tmp_path / "more.jsonl"
    generate(more, 400, seed=99)  # new messages arrive
    load(archive, more)
    (last,) = archive.conn.execute("SELECT max(sent_at) FROM messages").fetchone()
    recent = scan_archive(archive, reg, since_ms=last - 30 * 86_400_000)  # does not move state
    assert recent.messages > 0
    scan_archive(archive, reg)  # the incremental run looks at the new messages again
    total = archive.conn.execute("SELECT count(*) FROM findings").fetchone()[0]
    archive.conn.execute("DELETE FROM findings")
    archive.conn.execute("DELETE FROM scan_state")
    assert scan_archive(archive, reg).findings == total  # the same as one clean full run


def test_adhoc_input_skips_an_overlong_line_and_goes_on(tmp_path: Path) -> None:
    inp = tmp_path / "big.jsonl"
    with inp.open("w", encoding="utf-8") as f:
        f.write('{"id": "a", "text": "手机 13800138000"}\n')
        f.write('{"id": "huge", "text": "' + "x" * (17 << 20) + '"}\n')
        f.write('{"id": "b", "text": "手机 13900139000"}\n')
    p = run_cli("scan", "--input", inp, "--format", "json", data=tmp_path / "none", check=False)
    assert p.returncode == 2 and "line 2: skipped: longer than 16 MiB" in p.stderr
    assert [json.loads(x)["message_id"] for x in p.stdout.splitlines()] == ["a", "b"]
