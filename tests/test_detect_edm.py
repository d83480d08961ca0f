"""Exact-data match: a generated customer table, registered as keyed hashes, found in chat."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from conftest import run_cli
from wxguard.archive import Archive
from wxguard.demo.plants import mobile, resident_id
from wxguard.detect.api import DetectConfig, DetectorError
from wxguard.detect.engine import Engine
from wxguard.detect.exactdata import (
    ExactDataMatch,
    build_index,
    edm_dir,
    load_indexes,
    save_index,
    start_hash,
)
from wxguard.detect.registry import DetectorRegistry
from wxguard.detect.scan import archive_config


def _customers(n: int = 200, seed: int = 4) -> list[list[str]]:
    rng = random.Random(seed)
    surnames, given = "王李张刘陈杨赵黄周吴", "芳娜伟洋静帆敏磊秀英华强军丽"
    return [[rng.choice(surnames) + "".join(rng.choices(given, k=rng.randint(1, 2))), mobile(rng),
             resident_id(rng), f"c{i}@example.cn", f"备注{i}"] for i in range(n)]  # fmt: skip


def _csv(rows: list[list[str]]) -> bytes:
    head = "姓名,手机,身份证号,邮箱,备注\n"
    return (head + "\n".join(",".join(r) for r in rows) + "\n").encode("utf-8")


def _keyed(data: bytes) -> bytes:
    import hashlib
    import hmac

    return hmac.digest(b"k" * 32, b"edm\x00" + data, hashlib.sha256)[:16]


def test_index_holds_only_keyed_hashes_and_classifies_columns() -> None:
    rows = _customers()
    idx = build_index("customers", _csv(rows), "c.csv", _keyed)
    assert idx.kinds == ["name", "digits", "digits", "email", "skip"]
    blob = json.dumps(idx.entries)
    assert rows[0][1] not in blob and rows[0][2] not in blob and "example.cn" not in blob


def test_fields_of_one_record_together_are_a_customer_record(tmp_path: Path) -> None:
    rows = _customers()
    save_index(tmp_path, build_index("customers", _csv(rows), "c.csv", _keyed))
    det = ExactDataMatch(DetectConfig(data_dir=tmp_path, keyed_hash=_keyed))
    assert det.active and det.version.startswith("1+")
    e = Engine([det], lambda v: v)
    name, mob, rid = rows[1][0], rows[1][1], rows[1][2]
    mixed = f"{name}的手机 {mob[:3]} {mob[3:7]} {mob[7:]}，证件 {rid}"
    (f,) = e.scan([("a", mixed)]).findings
    assert f.entity == "CUSTOMER_RECORD" and f.score >= 0.9
    assert f.explanation.validator == "fields 姓名, 手机, 身份证号"
    assert mixed[f.start : f.end].startswith(name)
    (g,) = e.scan([("b", f"回电 {mob}")]).findings
    assert g.entity == "CUSTOMER_FIELD" and g.score == 0.6
    # a name alone, or numbers of two different customers, are not a record
    assert e.scan([("c", f"{name}明天到")]).findings == []
    other = e.scan([("d", f"{rows[1][1]} {rows[2][2]}")]).findings
    assert {x.entity for x in other} == {"CUSTOMER_FIELD"}


def test_names_are_looked_for_where_a_registered_name_can_start(tmp_path: Path) -> None:
    rows = _customers()
    idx = build_index("customers", _csv(rows), "c.csv", _keyed)
    # keyed hashes of the ten surnames the names begin with, nothing readable
    assert idx.name_starts == sorted(start_hash(_keyed, c) for c in "王李张刘陈杨赵黄周吴")
    old = tmp_path / "old"
    save_index(tmp_path, idx)
    # an index made before name_starts was kept: every position is tried, same findings
    legacy = json.loads((edm_dir(tmp_path) / "customers.json").read_text("utf-8"))
    del legacy["name_starts"]
    (edm_dir(old)).mkdir(parents=True)
    (edm_dir(old) / "customers.json").write_text(json.dumps(legacy), "utf-8")
    new_det = ExactDataMatch(DetectConfig(data_dir=tmp_path, keyed_hash=_keyed))
    old_det = ExactDataMatch(DetectConfig(data_dir=old, keyed_hash=_keyed))
    assert old_det.indexes[0].name_starts is None
    rng = random.Random(9)
    msgs = []
    for k in range(60):
        name, mob = rows[k][0], rows[k][1]
        pad = "".join(
            rng.choices("客户下午来公司签合同请尽快安排车辆接送王李", k=rng.randint(0, 12))
        )
        msgs.append((f"m{k}", f"{pad}{name}{pad[:3]}电话{mob}" if k % 3 else f"联系{mob}{pad}"))

    def found(det: ExactDataMatch) -> list[tuple[str, int, int, str]]:
        return [(f.message_id, f.start, f.end, f.entity)
                for f in Engine([det], lambda v: v).scan(msgs).findings]  # fmt: skip

    with_starts = found(new_det)
    assert with_starts == found(old_det)
    assert sum(e == "CUSTOMER_RECORD" for *_, e in with_starts) == 40


def test_nothing_registered_means_the_detector_is_inactive(tmp_path: Path) -> None:
    det = ExactDataMatch(DetectConfig(data_dir=tmp_path, keyed_hash=_keyed))
    assert not det.active and Engine([det], lambda v: v).detectors == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\xff\xfe\x00garbage", "not UTF-8"),
        ("姓名,手机\n".encode(), "needs a header row and at least one record"),
        ("姓名,手机\n王芳,13800138000,extra\n".encode(), "row 2 has 3 cells"),
        (b"a,b\nx,y\n", "no column looks like"),
    ],
)
def test_bad_tables_are_named(content: bytes, message: str) -> None:
    with pytest.raises(DetectorError) as e:
        build_index("t", content, "bad.csv", _keyed)
    assert "bad.csv" in str(e.value) and message in str(e.value)


def test_edm_cli_end_to_end(archive: Archive, data_dir: Path, tmp_path: Path) -> None:
    rows = _customers(50)
    archive.close()
    src = tmp_path / "customers.csv"
    src.write_bytes(_csv(rows))
    out = json.loads(
        run_cli("edm", "add", "customers", src, "--format", "json", data=data_dir).stdout
    )
    assert out["records"] == 50
    again = run_cli("edm", "add", "customers", src, data=data_dir, check=False)
    assert again.returncode != 0 and "--replace" in again.stderr
    listed = json.loads(run_cli("edm", "list", "--format", "json", data=data_dir).stdout)
    assert listed[0]["columns"] == ["姓名", "手机", "身份证号", "邮箱"]
    text = f"客户{rows[3][0]} 电话{rows[3][1]}"
    lines = run_cli("scan", "--text", text, "--format", "json", data=data_dir).stdout.splitlines()
    assert "CUSTOMER_RECORD" in {json.loads(x)["entity"] for x in lines}
    with Archive.open(data_dir) as a:
        assert archive_config(a).keyed_hash is not None
    run_cli("edm", "remove", "customers", data=data_dir)
    assert json.loads(run_cli("edm", "list", "--format", "json", data=data_dir).stdout) == []


def test_a_table_made_under_another_key_is_refused(tmp_path: Path) -> None:
    def other(data: bytes) -> bytes:
        return _keyed(b"other" + data)

    rows = _customers(5)
    save_index(tmp_path, build_index("customers", _csv(rows), "c.csv", _keyed))
    save_index(tmp_path, build_index("restored", _csv(_customers(5, seed=9)), "r.csv", other))
    (edm_dir(tmp_path) / "torn.json").write_bytes(b'{"name": "torn", "rec')
    reg = DetectorRegistry()
    det = reg.add(ExactDataMatch, DetectConfig(data_dir=tmp_path, keyed_hash=_keyed))
    assert isinstance(det, ExactDataMatch) and [x.name for x in det.indexes] == ["customers"]
    assert [(p.detector, p.partial) for p in reg.problems] == [("edm.customer", True)] * 2
    reasons = " | ".join(p.reason for p in reg.problems)
    assert "restored.json: made with another archive's key" in reasons
    assert "torn.json: not a valid exact-data index file" in reasons
    # The tables that load keep matching.
    found = Engine([det], lambda v: v).scan([("m", f"{rows[0][0]} {rows[0][1]}")]).findings
    assert [f.entity for f in found] == ["CUSTOMER_RECORD"]
    with pytest.raises(DetectorError, match="another archive's key"):  # asked for alone
        load_indexes(edm_dir(tmp_path), _keyed)


def test_remove_refuses_names_outside_the_folder(archive: Archive, data_dir: Path) -> None:
    archive.close()
    outside = data_dir / "victim.json"
    outside.write_text("{}", encoding="utf-8")
    p = run_cli("edm", "remove", "../victim", data=data_dir, check=False)
    assert p.returncode == 1 and "no exact-data table named '../victim'" in p.stderr
    assert outside.exists()
