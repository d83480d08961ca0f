"""Document fingerprints: the same file by md5, pasted excerpts by shingles, via a real archive."""

from __future__ import annotations

import hashlib
import hmac
import json
import zipfile
from pathlib import Path

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import load, run_cli
from wxguard.archive import Archive
from wxguard.detect.api import DetectConfig, DetectorError
from wxguard.detect.docprint import (
    GUARANTEED,
    WINDOW,
    DocumentFingerprint,
    _shingle_hashes,
    build_print,
    prints_dir,
    save_print,
    shingle_key,
    winnow,
)
from wxguard.detect.doctext import read_document
from wxguard.detect.engine import Engine
from wxguard.detect.textnorm import normalise

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
    save_print(tmp_path, build_print("price-list", doc, _keyed)[0])
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


@settings(max_examples=60, deadline=None)
@given(
    key=st.binary(min_size=32, max_size=32),
    line=st.integers(1, 3),  # the title line is shorter than GUARANTEED
    start=st.integers(0, 40),
    extra=st.integers(0, 10),
)
def test_any_passage_of_the_guaranteed_length_is_found_under_any_key(
    tmp_path_factory: pytest.TempPathFactory, key: bytes, line: int, start: int, extra: int
) -> None:
    # v1 kept the shingles whose hash was 0 mod 4: a 37-character line went unseen under
    # about one key in forty (CI met one). Winnowing keeps a shingle from every window.
    def keyed(data: bytes) -> bytes:
        return hmac.digest(key, b"edm\x00" + data, hashlib.sha256)[:16]

    folder = tmp_path_factory.mktemp("prints")
    doc = folder / "price.txt"
    doc.write_text(PRICE_LIST, encoding="utf-8")
    save_print(folder, build_print("price-list", doc, keyed)[0])
    det = DocumentFingerprint(DetectConfig(data_dir=folder, keyed_hash=keyed))
    text = PRICE_LIST.splitlines()[line]
    start = min(start, len(text) - GUARANTEED)
    passage = text[start : start + GUARANTEED + extra]
    found = Engine([det], lambda v: v).scan([("m", f"发你看看：{passage}")]).findings
    assert [f.entity for f in found] == ["CONFIDENTIAL_DOCUMENT"], passage


@given(st.lists(st.integers(0, 255), max_size=80))
def test_winnowing_keeps_the_smallest_of_every_window(values: list[int]) -> None:
    hashes = [f"{v:02x}" for v in values]
    expected = {min(hashes[i : i + WINDOW]) for i in range(len(hashes) - WINDOW + 1)}
    if 0 < len(hashes) < WINDOW:
        expected = {min(hashes)}
    assert winnow(hashes) == expected


def test_fingerprints_of_format_v1_still_match(tmp_path: Path) -> None:
    # a v1 file (shingles whose hash is 0 mod 4) made before winnowing keeps working
    doc = tmp_path / "price.txt"
    doc.write_text(PRICE_LIST, encoding="utf-8")
    v2, _ = build_print("price-list", doc, _keyed)
    compact = "".join(normalise(PRICE_LIST).text.split())
    every = _shingle_hashes(compact, shingle_key(_keyed))
    sampled = sorted({h for h in every if int(h[:2], 16) % 4 == 0})
    v1 = msgspec.structs.replace(v2, format="wxguard-docprint-v1", shingles=sampled)
    assert v2.format == "wxguard-docprint-v2" and v1.shingles != v2.shingles
    save_print(tmp_path, v1)
    det = DocumentFingerprint(DetectConfig(data_dir=tmp_path, keyed_hash=_keyed))
    excerpt = "边缘控制器E10：渠道底价每台三千四百元，项目报备后可申请特价，审批人为销售副总裁"
    assert [f.entity for f in Engine([det], lambda v: v).scan([("m", excerpt)]).findings] == [
        "CONFIDENTIAL_DOCUMENT"
    ]
    listed = run_cli("fingerprint", "list", "--format", "json", data=tmp_path)
    assert [r["format"] for r in json.loads(listed.stdout)] == ["wxguard-docprint-v1"]
    assert "price-list (wxguard-docprint-v1) may miss short excerpts" in listed.stderr
    assert "--replace" in listed.stderr


def test_a_damaged_fingerprint_leaves_the_others_in_use(
    registered: tuple[Path, DocumentFingerprint], tmp_path: Path
) -> None:
    (prints_dir(tmp_path) / "half-written.json").write_bytes(b'{"name": "half')
    det = DocumentFingerprint(DetectConfig(data_dir=tmp_path, keyed_hash=_keyed))
    (problem,) = det.load_problems
    assert "half-written.json: not a valid document fingerprint file" in problem
    text = "边缘控制器E10：渠道底价每台三千四百元，项目报备后可申请特价"
    assert [f.entity for f in Engine([det], lambda v: v).scan([("m", text)]).findings] == [
        "CONFIDENTIAL_DOCUMENT"
    ]
    listed = run_cli("fingerprint", "list", "--format", "json", data=tmp_path)
    assert [r["name"] for r in json.loads(listed.stdout)] == ["price-list"]
    assert "skipped:" in listed.stderr and "half-written.json" in listed.stderr


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
    assert "机密报价" in read_document(p.read_bytes()).text
    assert read_document(b"\x00\x01binary").text == ""


def test_unreadable_or_misnamed_inputs_fail_clearly(tmp_path: Path) -> None:
    with pytest.raises(DetectorError, match="cannot read"):
        build_print("x", tmp_path / "missing.txt", _keyed)
    doc = tmp_path / "d.txt"
    doc.write_text("abc", encoding="utf-8")
    with pytest.raises(DetectorError, match="kebab-case"):
        save_print(tmp_path, build_print("Bad Name", doc, _keyed)[0])


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


# --------------------------------------------------------------------------- document kinds


def _pdf(lines: list[str], encrypt: str | None = None) -> bytes:
    """A real PDF (reportlab, Adobe's Song font as the PDF exports use), one line per row."""
    from io import BytesIO

    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    buf = BytesIO()
    c = canvas.Canvas(buf, encrypt=encrypt)
    for n, line in enumerate(lines):
        if n and n % 3 == 0:
            c.showPage()
        c.setFont("STSong-Light", 11)
        c.drawString(40, 800 - 20 * (n % 3), line)
    c.save()
    return buf.getvalue()


def _zip(path: Path, parts: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, body in parts.items():
            z.writestr(name, body)
    return path


def _engine_for(tmp_path: Path, doc: Path) -> Engine:
    p, read = build_print("doc", doc, _keyed)
    assert read.text and p.shingles, read.note
    save_print(tmp_path, p, replace=True)
    det = DocumentFingerprint(DetectConfig(data_dir=tmp_path, keyed_hash=_keyed))
    return Engine([det], lambda v: v)


def test_pdf_text_is_read_across_pages_and_excerpts_match(tmp_path: Path) -> None:
    lines = PRICE_LIST.splitlines()
    doc = tmp_path / "底价表.pdf"
    doc.write_bytes(_pdf(lines))
    read = read_document(doc.read_bytes())
    assert read.kind == "pdf" and read.note == ""
    for line in lines:  # every line, the fourth on the second page
        assert line in read.text
    (f,) = _engine_for(tmp_path, doc).scan([("m", f"发你一段：{lines[3]}")]).findings
    assert f.entity == "CONFIDENTIAL_DOCUMENT" and f.explanation.note == "excerpt of 底价表.pdf"


def test_xlsx_rows_read_in_order_with_shared_and_inline_strings(tmp_path: Path) -> None:
    shared = (
        "<sst><si><t>客户</t></si><si><t>渠道底价</t></si>"
        "<si><r><t>华东</t></r><r><t>电力集团</t></r></si><si><t>A&amp;B 能源</t></si></sst>"
    )
    sheet1 = (
        '<worksheet><sheetData><row r="1"><c r="A1" t="s"><v>0</v></c>'
        '<c r="B1" t="s"><v>1</v></c></row>'
        '<row r="2"><c r="A2" t="s"><v>2</v></c><c r="B2"><v>1280</v></c>'
        '<c r="C2" t="inlineStr"><is><t>年采购五百台以上再降百分之六</t></is></c></row>'
        '<row r="3"/></sheetData></worksheet>'
    )
    sheet2 = (
        '<worksheet><sheetData><row r="1"><c r="A1" t="s"><v>3</v></c>'
        '<c r="B1" t="str"><f>B2*2</f><v>2560</v></c><c r="C1"/></row></sheetData></worksheet>'
    )
    doc = _zip(tmp_path / "prices.xlsx", {
        "xl/workbook.xml": "<workbook/>", "xl/sharedStrings.xml": shared,
        "xl/worksheets/sheet10.xml": sheet2, "xl/worksheets/sheet2.xml": sheet1,
    })  # fmt: skip
    read = read_document(doc.read_bytes())
    assert read.kind == "xlsx"
    assert (
        read.text
        == "客户\t渠道底价\n华东电力集团\t1280\t年采购五百台以上再降百分之六\nA&B 能源\t2560\t"
    )
    # a row copied out of Excel into chat (cells tab-separated) matches the registered rows
    engine = _engine_for(tmp_path, doc)
    (f,) = engine.scan([("m", "华东电力集团\t1280\t年采购五百台以上再降百分之六")]).findings
    assert f.explanation.note == "excerpt of prices.xlsx"


def test_pptx_slides_read_in_numeric_order(tmp_path: Path) -> None:
    def slide(*paras: str) -> str:
        body = "".join(f"<a:p><a:r><a:t>{p}</a:t></a:r></a:p>" for p in paras)
        return f"<p:sld><p:cSld><p:spTree>{body}</p:spTree></p:cSld></p:sld>"

    doc = _zip(tmp_path / "plan.pptx", {
        "ppt/presentation.xml": "<p:presentation/>",
        "ppt/slides/slide10.xml": slide("第十页：明年三月发布G400"),
        "ppt/slides/slide2.xml": slide("第二页：收购计划代号青松", "目标估值不超过八亿元"),
        "ppt/slides/_rels/slide2.xml.rels": "<Relationships/>",
    })  # fmt: skip
    read = read_document(doc.read_bytes())
    assert read.kind == "pptx"
    assert (
        read.text == "第二页：收购计划代号青松\n目标估值不超过八亿元\n\n第十页：明年三月发布G400\n"
    )


def test_docx_entities_tabs_and_split_runs(tmp_path: Path) -> None:
    xml = (
        '<w:document><w:body><w:p><w:r><w:t>机</w:t></w:r><w:r><w:t xml:space="preserve">'
        "密 </w:t></w:r><w:r><w:tab/><w:t>R&amp;D &lt;内部&gt;</w:t></w:r></w:p>"
        "<w:p><w:r><w:t>第二段</w:t></w:r></w:p></w:body></w:document>"
    )
    doc = _zip(tmp_path / "memo.docx", {"word/document.xml": xml})
    read = read_document(doc.read_bytes())
    assert read.kind == "docx" and read.text == "机密 \tR&D <内部>\n第二段\n"


@pytest.mark.parametrize(
    ("data", "note"),
    [
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(512), "legacy binary Office"),
        (b"\x89PNG\r\n\x1a\n" + bytes(64), "not text, PDF or an Office Open XML"),
        (b"%PDF-1.7\n1 0 obj garbage", "a damaged PDF"),
        (b"PK\x03\x04 truncated zip", "damaged zip"),
    ],
)
def test_unreadable_kinds_say_why(data: bytes, note: str) -> None:
    read = read_document(data)
    assert read.text == "" and read.kind == "" and note in read.note


def test_office_files_without_text_or_of_another_kind(tmp_path: Path) -> None:
    other = _zip(tmp_path / "a.zip", {"readme.txt": "hello"})
    assert "not a Word, Excel or PowerPoint" in read_document(other.read_bytes()).note
    empty = _zip(tmp_path / "e.docx", {"word/document.xml": "<w:document/>"})
    assert read_document(empty.read_bytes()).note == "a Word document with no text"


def test_zip_member_bomb_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from wxguard.detect import doctext

    monkeypatch.setattr(doctext, "MAX_PART", 1000)
    doc = _zip(tmp_path / "big.docx", {"word/document.xml": "<w:t>x</w:t>" * 500})
    read = read_document(doc.read_bytes())
    assert read.text == "" and "word/document.xml unpacks to 6,000 bytes" in read.note
    # many members each under the limit, more than MAX_UNPACKED in all
    monkeypatch.setattr(doctext, "MAX_PART", 10_000)
    monkeypatch.setattr(doctext, "MAX_UNPACKED", 15_000)
    slides = {f"ppt/slides/slide{n}.xml": "<a:t>x</a:t>" * 500 for n in range(1, 4)}
    deck = _zip(tmp_path / "many.pptx", {"ppt/presentation.xml": "<p/>", **slides})
    read = read_document(deck.read_bytes())
    assert read.text == "" and "more than 15,000 bytes" in read.note


def test_password_protected_and_scanned_pdfs_are_md5_only(tmp_path: Path) -> None:
    locked = read_document(_pdf(["机密"], encrypt="s3cret"))
    assert locked.text == "" and "password-protected PDF" in locked.note
    blank = read_document(_pdf([]))
    assert blank.text == "" and "no text layer" in blank.note


def test_fingerprint_add_reports_what_it_read(
    data_dir: Path, archive: Archive, tmp_path: Path
) -> None:
    archive.close()
    pdf = tmp_path / "q4.pdf"
    pdf.write_bytes(_pdf(PRICE_LIST.splitlines()))
    info = json.loads(
        run_cli("fingerprint", "add", "q4", pdf, "--format", "json", data=data_dir).stdout
    )
    assert info["text"] == "pdf" and info["characters"] > 100 and info["shingles"] > 10
    old = tmp_path / "old.doc"
    old.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(512))
    shown = " ".join(run_cli("fingerprint", "add", "old", old, data=data_dir).stdout.split())
    assert "md5 only" in shown and "save it unprotected as .docx/.xlsx/.pptx" in shown
    p = run_cli("scan", "--text", PRICE_LIST.splitlines()[1], "--format", "json", data=data_dir)
    assert {json.loads(x)["entity"] for x in p.stdout.splitlines()} >= {"CONFIDENTIAL_DOCUMENT"}
