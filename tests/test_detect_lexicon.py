"""Admin lexicons: loading errors name the file, matching rules, proximity, suppression."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from conftest import run_cli
from wxguard.archive import Archive
from wxguard.detect.api import DetectConfig
from wxguard.detect.engine import Engine
from wxguard.detect.lexicon import LexiconDetector
from wxguard.detect.lexiconfile import LexiconError, load_lexicon
from wxguard.detect.registry import DetectorRegistry
from wxguard.review.config_edit import EditError, lexicon_list, save_lexicon


def write(tmp_path: Path, body: str, name: str = "lex.toml") -> Path:
    p = tmp_path / name
    p.write_text(body, encoding="utf-8")
    return p


def detector(tmp_path: Path, body: str, builtin: bool = False) -> LexiconDetector:
    write(tmp_path, body)
    return LexiconDetector(DetectConfig(lexicon_paths=[tmp_path], builtin_lexicons=builtin))


def hits(det: LexiconDetector, text: str) -> list[tuple[str, str]]:
    e = Engine([det], lambda v: v)
    return [(f.entity, text[f.start : f.end]) for f in e.scan([("m", text)]).findings]


BASIC = (
    'id = "codes"\nentity = "PROJECT_CODENAME"\nterms = ["北极星项目", "Project Aurora", "Lynx"]\n'
)


def test_terms_match_on_normalised_text_and_english_word_boundaries(tmp_path: Path) -> None:
    det = detector(tmp_path, BASIC)
    assert hits(det, "关于北極星項目的报价") == [("PROJECT_CODENAME", "北極星項目")]
    assert hits(det, "PROJECT AURORA kickoff") == [("PROJECT_CODENAME", "PROJECT AURORA")]
    assert hits(det, "Project Aurora_底价表.xlsx") == [("PROJECT_CODENAME", "Project Aurora")]
    assert hits(det, "the lynx-2 board") == [("PROJECT_CODENAME", "lynx")]
    assert hits(det, "Lynxes and aurorae") == []  # no match inside a longer English word
    assert hits(det, "北 极 星 项 目") == [("PROJECT_CODENAME", "北 极 星 项 目")]


def test_offsets_are_right_after_multibyte_text_in_earlier_messages(tmp_path: Path) -> None:
    det = detector(tmp_path, BASIC)
    e = Engine([det], lambda v: v)
    items = [("a", "你好😀世界" * 3), ("b", "🎉 lynx 和 北极星项目")]
    got = [(f.message_id, items[1][1][f.start : f.end]) for f in e.scan(items).findings]
    assert got == [("b", "lynx"), ("b", "北极星项目")]


def test_proximity_and_unless(tmp_path: Path) -> None:
    det = detector(
        tmp_path,
        'id = "bias"\nentity = "DISCRIMINATION"\nunless = ["反对", "不认为"]\n'
        '[[near]]\na = ["女生"]\nb = ["不适合"]\nwithin = 6\n',
    )
    assert hits(det, "女生真的不适合做销售") == [("DISCRIMINATION", "女生真的不适合")]
    assert hits(det, "女生做技术支持这种岗位其实都不适合") == []  # too far apart
    assert hits(det, "我们从不认为女生不适合做销售") == []  # anti-bias statement


def test_builtin_lexicons_load_and_version_tracks_content(tmp_path: Path) -> None:
    d1 = detector(tmp_path, BASIC, builtin=True)
    assert {"CONFIDENTIAL_MARKER", "PROFANITY", "PROJECT_CODENAME"} <= set(d1.entities)
    d2 = detector(tmp_path, BASIC.replace("Lynx", "Ocelot"), builtin=True)
    assert d1.version != d2.version and d1.version.startswith("1+")


def test_thousands_of_terms(tmp_path: Path) -> None:
    rng = random.Random(3)
    terms = sorted({"".join(rng.choices("机密客户报价合同项目渠道底价", k=5)) for _ in range(8000)})
    body = 'id = "big"\nentity = "BIG"\nterms = [' + ", ".join(f'"{t}"' for t in terms) + "]\n"
    det = detector(tmp_path, body)
    target = terms[len(terms) // 2]
    assert ("BIG", target) in hits(det, f"请看{target}。")


def test_terms_file_and_regex_patterns(tmp_path: Path) -> None:
    (tmp_path / "more.txt").write_text(
        "# codenames\n青鸾计划\n\nOrion  # trailing comment\n", "utf-8"
    )
    det = detector(
        tmp_path,
        'id = "c"\nentity = "CODE"\nterms_file = "more.txt"\npatterns = ["内部\\\\S{0,2}报价"]\n',
    )
    assert ("CODE", "青鸾计划") in hits(det, "青鸾计划启动")
    assert ("CODE", "Orion") in hits(det, "Orion launch")
    assert ("CODE", "内部底价报价") in hits(det, "这是内部底价报价单")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('id = "x"\nentity = "E"\nterms = ["a"]\n', "'entity' must be UPPER_SNAKE"),
        ('id = "Bad Id"\nentity = "EE"\nterms = ["a"]\n', "'id' must be kebab-case"),
        ('id = "x"\nentity = "EE"\nterms = ["ok", ""]\n', "contains an empty term"),
        ('id = "x"\nentity = "EE"\nterms = ["a"]\ncolour = 1\n', "unknown key(s) colour"),
        ('id = "x"\nentity = "EE"\n', "has no terms"),
        ('id = "x"\nentity = "EE"\npatterns = ["([unclosed"]\n', "patterns[0]"),
        ('id = "x"\nentity = "EE"\nterms = ["a"\n', "invalid TOML"),
        ('id = "x"\nentity = "EE"\nscore = 3\nterms = ["a"]\n', "'score' must be"),
        ('id = "x"\nentity = "EE"\n[[near]]\na = ["a"]\nb = ["b"]\nwithin = 0\n', "'within'"),
    ],
)
def test_bad_lexicons_name_the_file_and_the_problem(
    tmp_path: Path, body: str, message: str
) -> None:
    p = write(tmp_path, body)
    with pytest.raises(LexiconError) as e:
        load_lexicon(p)
    assert str(p) in str(e.value) and message in str(e.value)


def test_bad_encoding_is_named(tmp_path: Path) -> None:
    p = tmp_path / "gbk.toml"
    p.write_bytes('id = "x"\nentity = "EE"\nterms = ["机密"]\n'.encode("gbk"))
    with pytest.raises(LexiconError, match=r"gbk\.toml: not UTF-8 \(byte \d+"):
        load_lexicon(p)


def test_duplicate_lexicon_ids_are_refused(tmp_path: Path) -> None:
    write(tmp_path, BASIC, "a.toml")
    write(tmp_path, BASIC.replace("Lynx", "Puma"), "b.toml")
    det = LexiconDetector(DetectConfig(lexicon_paths=[tmp_path], builtin_lexicons=False))
    assert [x.source for x in det.lexicons] == [str(tmp_path / "a.toml")]
    (problem,) = det.load_problems
    assert "b.toml: id 'codes' is also used by" in problem and "skipped" in problem
    assert hits(det, "Lynx and Puma") == [("PROJECT_CODENAME", "Lynx")]


def test_a_bad_lexicon_file_leaves_the_others_in_force(tmp_path: Path) -> None:
    write(tmp_path, BASIC, "codes.toml")
    write(tmp_path, 'id = "x"\nentity = "EE"\npatterns = ["(oops"]\n', "typo.toml")
    missing = tmp_path / "gone"
    cfg = DetectConfig(lexicon_paths=[tmp_path, missing])
    reg = DetectorRegistry.load(cfg, only=["lexicon"])
    (det,) = reg.detectors
    assert isinstance(det, LexiconDetector)
    text = "北极星项目的报价是机密，别外传"
    assert set(hits(det, text)) == {
        ("PROJECT_CODENAME", "北极星项目"), ("CONFIDENTIAL_MARKER", "机密"),
    }  # fmt: skip
    assert [(p.detector, p.partial, p.label) for p in reg.problems] == [
        ("lexicon", True, "partly loaded"), ("lexicon", True, "partly loaded"),
    ]  # fmt: skip
    reasons = " | ".join(p.reason for p in reg.problems)
    assert "gone: lexicon file or directory does not exist" in reasons
    assert "typo.toml: patterns[0]" in reasons and "skipped" in reasons
    # Mending the file changes the version: the next scan looks at every message again.
    write(tmp_path, 'id = "x"\nentity = "EE"\npatterns = ["oops"]\n', "typo.toml")
    assert LexiconDetector(cfg).version != det.version


def test_lexicon_check_command(tmp_path: Path) -> None:

    good = write(tmp_path, BASIC, "good.toml")
    bad = write(tmp_path, 'id = "x"\nentity = "EE"\npatterns = ["(bad"]\n', "bad.toml")
    p = run_cli("lexicon", "check", good, bad, "--format", "json", check=False)
    res = {r["file"]: r for r in json.loads(p.stdout)}
    assert p.returncode == 1
    assert res[str(good)]["ok"] and res[str(good)]["terms"] == 3
    assert "bad.toml: patterns[0]" in res[str(bad)]["error"]


@pytest.mark.parametrize(
    ("pattern", "items", "want"),
    [
        # \u escapes are rewritten for the Hyperscan pre-filter; look-aheads are kept by Python
        ("我是[\\\\u4e00-\\\\u9fff]{1,2}总(?![结监部])", ["好", "我是王总，请转账", "我是王总结一下"],
         [("1", "我是王总")]),
        # anchored on the start of the text: each message's start, not the batch's
        ("^紧急", ["你好", "紧急：请转账", "不紧急"], [("1", "紧急")]),
        # \N{...} is Python-only: no pre-filter, Python runs it over the batch
        ("\\\\N{BLACK STAR}\\\\d", ["a", "评分★5分", "★"], [("1", "★5")]),
        # never across two messages
        ("报价\\\\S*底价", ["这是报价", "底价表"], []),
        ("ärger\\\\w", ["ÄRGERé", "x"], [("0", "ÄRGERé")]),  # Unicode case-insensitive
    ],
)  # fmt: skip
def test_regexes_run_where_their_prefilter_flags_and_only_there(
    tmp_path: Path, pattern: str, items: list[str], want: list[tuple[str, str]]
) -> None:
    det = detector(tmp_path, f'id = "r"\nentity = "RX"\npatterns = ["{pattern}"]\n')
    e = Engine([det], lambda v: v)
    r = e.scan([(str(k), t) for k, t in enumerate(items)])
    assert [(f.message_id, items[int(f.message_id)][f.start : f.end]) for f in r.findings] == want


def test_a_rule_needs_both_sides_in_the_same_message(tmp_path: Path) -> None:
    det = detector(
        tmp_path, 'id = "n"\nentity = "NEAR"\n[[near]]\na = ["内幕"]\nb = ["买入"]\nwithin = 10\n'
    )
    e = Engine([det], lambda v: v)
    assert not e.scan([("1", "有内幕"), ("2", "买入吧")]).findings
    assert [f.message_id for f in e.scan([("1", "有内幕"), ("2", "内幕，买入吧")]).findings] == [
        "2"
    ]


def test_the_review_editor_refuses_a_lexicon_the_scanner_would_skip(archive: Archive) -> None:
    saved = save_lexicon(archive, "codes", BASIC, "admin")
    assert saved == {"file": "codes", "id": "codes", "terms": 3}
    (archive.data_dir / "lexicons" / "broken.toml").write_text("not toml [", encoding="utf-8")
    with pytest.raises(EditError, match=r"id 'codes' is already used by .*codes\.toml"):
        save_lexicon(archive, "codes-copy", BASIC.replace("Lynx", "Puma"), "admin")
    with pytest.raises(EditError, match=r"already used by .*lexicons/confidential\.toml"):
        save_lexicon(archive, "mine", 'id = "confidential-markers"\nentity = "XX"\nterms = ["a"]\n',
                     "admin")  # fmt: skip
    with pytest.raises(EditError, match=r"lexicons/bad\.toml: invalid TOML"):
        save_lexicon(archive, "bad", 'id = "x"\nentity = "EE"\nterms = ["a"\n', "admin")
    assert sorted(p.name for p in (archive.data_dir / "lexicons").iterdir()) == [
        "broken.toml", "codes.toml",
    ]  # fmt: skip
    rows = {r["id"]: r for r in lexicon_list(archive.data_dir)}
    assert rows["codes"]["terms"] == 3 and "invalid TOML" in rows["broken"]["error"]
