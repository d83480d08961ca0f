"""Document fingerprints: the same file by md5, pasted excerpts by shingles, via a real archive."""

from __future__ import annotations

import hashlib
import hmac
import json
import zipfile
from pathlib import Path

import pytest

from conftest import load, run_cli
from wxguard.archive import Archive
from wxguard.detect.api import DetectConfig, DetectorError
from wxguard.detect.docprint import DocumentFingerprint, build_print, document_text, save_print
from wxguard.detect.engine import Engine

PRICE_LIST = (
    "云杉科技2027年渠道底价表（内部资料）\n"
    "智能网关G300：渠道底价每台一千二百八十元，年采购量超过五百台再降百分之六。\n"
    "边缘控制器E10：渠道底价每台三千四百元，项目报备后可申请特价，审批人为销售副总裁。\n"
    "能耗监测平台：首年订阅费按点位计，每点位每年九十六元，三年合同给八五折。\n"
)


def _keyed(data: bytes) -> bytes:
    return hmac.digest(b"k" * 32, b"edm\x00" + data, hashlib.sha256)[:16]


@pytest.fixture
def registered(tmp_path: Path) -> tuple[Path, DocumentFingerprint]:
    doc = tmp_path / "price.txt"
    doc.write_text(PRICE_LIST, encoding="utf-8")
    save_print(tmp_path, build_print("price-list", doc, _keyed))
    return doc, DocumentFingerprint(DetectConfig(data_dir=tmp_path, keyed_hash=_keyed))


def test_pasted_excerpt_is_found_and_spanned(registered: tuple[Path, DocumentFingerprint]) -> None:
    _, det = registered
    assert det.active and det.version.startswith("1+")
    excerpt = "边缘控制器E10：渠道底价每台三千四百元，项目报备后可申请特价"
    text = f"给你看下，{excerpt} 别外传"
    (f,) = Engine([det], lambda v: v).scan([("m", text)]).findings
    assert f.entity == "CONFIDENTIAL_DOCUMENT" and f.score >= 0.75
    # the span runs from the first to the last shared (sampled) shingle: inside the excerpt,
    # covering most of it
    assert text[f.start : f.end] in excerpt and f.end - f.start >= len(excerpt) // 2
    assert f.explanation.note == "excerpt of price.txt"


def test_reformatted_excerpt_still_matches(registered: tuple[Path, DocumentFingerprint]) -> None:
    _, det = registered
    text = "能耗监测平台 ： 首年订阅费按点位计 ， 每点位每年九十六元 ，三年合同给八五折"
    assert len(Engine([det], lambda v: v).scan([("m", text)]).findings) == 1


def test_unrelated_and_short_overlaps_do_not_match(
    registered: tuple[Path, DocumentFingerprint],
) -> None:
    _, det = registered
    e = Engine([det], lambda v: v)
    assert e.scan([("a", "智能网关G300的交付排期能不能提前到11月")]).findings == []
    assert e.scan([("b", "明天上午十点开周会，记得带上本周的销售漏斗")]).findings == []


def test_the_same_file_matches_by_md5(registered: tuple[Path, DocumentFingerprint]) -> None:
    doc, det = registered
    md5 = hashlib.md5(doc.read_bytes()).hexdigest()
    (f,) = Engine([det], lambda v: v).scan([("m", "报价.txt")], [(md5.upper(),)]).findings
    assert f.explanation.validator == "md5 match" and f.score == 0.99


def test_docx_text_is_read(tmp_path: Path) -> None:
    p = tmp_path / "a.docx"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("word/document.xml", "<w:document><w:p><w:t>机密报价</w:t></w:p></w:document>")
    assert "机密报价" in document_text(p.read_bytes(), p.name)
    assert document_text(b"\x00\x01binary", "x.bin") == ""


def test_unreadable_or_misnamed_inputs_fail_clearly(tmp_path: Path) -> None:
    with pytest.raises(DetectorError, match="cannot read"):
        build_print("x", tmp_path / "missing.txt", _keyed)
    doc = tmp_path / "d.txt"
    doc.write_text("abc", encoding="utf-8")
    with pytest.raises(DetectorError, match="kebab-case"):
        save_print(tmp_path, build_print("Bad Name", doc, _keyed))


def test_fingerprint_cli_and_archive_scan_by_md5(
    archive: Archive, demo: Path, data_dir: Path, tmp_path: Path
) -> None:
    load(archive, demo)
    archive.close()
    doc = tmp_path / "price.txt"
    doc.write_text(PRICE_LIST, encoding="utf-8")
    info = json.loads(
        run_cli("fingerprint", "add", "price-list", doc, "--format", "json", data=data_dir).stdout
    )
    assert info["shingles"] > 10
    listed = json.loads(run_cli("fingerprint", "list", "--format", "json", data=data_dir).stdout)
    assert [x["name"] for x in listed] == ["price-list"]
    # a text excerpt through ad-hoc scanning with the archive's key
    p = run_cli("scan", "--text", PRICE_LIST.splitlines()[2], "--format", "json", data=data_dir)
    assert {json.loads(x)["entity"] for x in p.stdout.splitlines()} >= {"CONFIDENTIAL_DOCUMENT"}
    report = json.loads(run_cli("scan", "--format", "json", data=data_dir).stdout)
    assert "fingerprint.document" in report["detectors"]
    run_cli("fingerprint", "remove", "price-list", data=data_dir)
    gone = run_cli("fingerprint", "remove", "price-list", data=data_dir, check=False)
    assert gone.returncode == 1 and "no registered document" in gone.stderr
