"""Chinese person names: the cheapest reading of each Chinese run as words and name tokens."""

from __future__ import annotations

import lzma
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wxguard.detect.api import DetectConfig, DetectorError
from wxguard.detect.engine import Engine
from wxguard.detect.namemodel import FORMAT, NameCard, dump_names_model, load_names_model
from wxguard.detect.names import MAX_RUN, SURNAMES, TRANSLITERATION, ChineseName
from wxguard.detect.registry import DetectorRegistry
from wxguard.detect.scan import data_dir_config

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine([ChineseName(DetectConfig())], lambda v: v)


def names(engine: Engine, text: str) -> list[str]:
    return [text[f.start : f.end] for f in engine.scan([("m", text)]).findings]


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("请联系王芳女士确认开票信息", "王芳"),
        ("收件人：李秀英，电话见附件", "李秀英"),
        ("副部长蒋耀平曾率调研组", "蒋耀平"),
        ("林旭东则表示同意", "林旭东"),
        ("这个事找欧阳明辉经理", "欧阳明辉"),
        ("张伟、李娜、刘洋三位下午到", "李娜"),
        ("麻烦 @陈静 看一下报价", "陈静"),
        # no context at all: the name reading is simply the likelier one
        ("昨天刘建国去了仓库", "刘建国"),
        ("这批货黄志强负责跟进", "黄志强"),
        ("合同让孙丽娟签字后寄回", "孙丽娟"),
        ("已转给财务部的何晓东处理", "何晓东"),
        # written only in transliteration characters, followed by a word that begins with one
        ("马丽多次强调交期", "马丽"),
        ("金莎特别交代过", "金莎"),
        # transliterated names: beside context, or parts joined by a dot
        ("主帅穆里尼奥表示不满", "穆里尼奥"),
        ("请联系史密斯先生确认", "史密斯"),
        ("客户詹姆斯说下周签约", "詹姆斯"),
        ("由皮尔斯·布鲁斯南主演", "皮尔斯·布鲁斯南"),
        ("下午和迈克尔·乔丹合影", "迈克尔·乔丹"),
        ("导演西恩·潘执导", "西恩·潘"),
    ],
)
def test_names_in_context(engine: Engine, text: str, name: str) -> None:
    assert name in names(engine, text)


@pytest.mark.parametrize(
    "text",
    [
        "今天很高兴见到大家",  # 高兴
        "明天上午十点开周会",  # 明天, 周会
        "请张先生明天过来",  # a surname and a title, not a name
        "银行卡号码发我",  # 银行
        "方案我已经发到群里",  # 方案
        "周末去平安银行办业务",  # 周末, 平安
        "我们要建设文明城市",  # 文明
        "谢谢大家的支持",  # 谢谢 (jieba tags it a person name)
        "走高速公路马上到",  # 高速, 马上
        "王总说下周二开会",  # a surname and a title
        "方总好，这是最新报价",
        "于是我们决定签约",  # 于是
        "黄金价格上涨",  # 黄金
        "张家口的客户",  # a place
        "明天去梁建华大厦开会",  # name-shaped, but part of a building's name
        "送到吴江路仓库",  # a street
        "客户是金鹏科技",  # a company
        # transliterations without context are as often places, brands or clubs
        "下周去巴勒莫开会",
        "船停在阿穆尔湾",  # a place (湾), so no part of it either
        "斯图加特的客户",
        "伊拉克的客户下单了",
        "加拿大和澳大利亚的市场",
        "我们用特斯拉的车",
        "亚马逊的订单已发货",
        "贝里琉岛",
        # organisations, titles and the teams of a fixture (detector v4)
        "普益财富有关专家表示",  # a firm: 财富 after it
        "平安证券的客户",
        "我在看《鹿鼎记》",  # a title
        "《轩辕剑外传.汉之云》豪华版",
        "推荐：霍芬海vs比勒菲",  # football clubs
        "桑坦德竞技vs西班牙人",
        "格拉斯-斯迪格尔法案",  # 斯迪格 runs on into 尔: part of a foreign word
    ],
)
def test_words_shaped_like_names(engine: Engine, text: str) -> None:
    assert names(engine, text) == []


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("销售总监Eric下周到上海", ["Eric"]),
        ("Mike表示同意这个报价", ["Mike"]),
        ("负责人julia已经确认", ["julia"]),
        ("Jenny女士您好，合同已寄出", ["Jenny"]),
        ("麻烦 @Lisa 看一下报价", ["Lisa"]),
        ("联系人：Tom Smith，电话见附件", ["Tom Smith"]),
        # no context of two characters or more, or not a name-shaped word
        ("和Lisa确认一下", []),  # one-character cues are not enough for Latin words
        ("请发到lisa@corp.com，谢谢", []),  # an e-mail address, not a mention
        ("账号是admin@Server，密码另发", []),  # "@" after a letter: not a mention either
        ("CEO表示同意", []),  # an acronym
        ("bet365、bwin都开出了赔率", []),  # a list of brands
        ("文件在 report.docx 里，负责人确认了", []),  # a file name
        ("访问www.example.com/Apple表示", []),  # part of an address
        ("Please confirm the quote, Lisa.", []),  # English text: not this detector's
    ],
)
def test_names_in_latin_letters_need_context(engine: Engine, text: str, found: list[str]) -> None:
    assert names(engine, text) == found
    for f in engine.scan([("m", text)]).findings:
        assert f.explanation.pattern == "latin-name-context" and f.explanation.context


def test_context_raises_the_score_and_is_explained(engine: Engine) -> None:
    bare = engine.scan([("m", "昨天刘建国去了仓库")]).findings[0]
    titled = engine.scan([("m", "请联系刘建国经理")]).findings[0]
    assert bare.score == 0.6 and titled.score == 0.85
    assert titled.explanation.context == ["经理", "联系"] and bare.explanation.context == []
    assert bare.explanation.pattern == "cn-name-model"
    assert "3-character name" in bare.explanation.note and "nats" in bare.explanation.note
    [foreign] = engine.scan([("m", "主帅穆里尼奥表示不满")]).findings
    assert foreign.explanation.pattern == "foreign-name-model"
    assert foreign.explanation.context == ["表示", "主帅"] and foreign.score == 0.8
    assert "4-character transliterated name" in foreign.explanation.note


def test_spans_point_into_the_original_text(engine: Engine) -> None:
    # a run longer than MAX_RUN is segmented in pieces; full-width and traditional
    # characters are normalised for matching but spans are the original's
    filler = "我们今天讨论一下项目进度" * (MAX_RUN // 10)
    text = filler + "，聯繫人：黃志強先生"
    [f] = engine.scan([("m", text)]).findings
    assert text[f.start : f.end] == "黃志強" and f.start > MAX_RUN


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet="王李张高明天周末文件黄志强建国丽娟经理先生说、，：·斯特拉", max_size=60))
def test_findings_are_surname_names_or_transliterations(text: str) -> None:
    eng = Engine([ChineseName(DetectConfig())], lambda v: v)
    result = eng.scan([("m", text)])
    assert not result.faults
    for f in result.findings:
        span = text[f.start : f.end]
        assert 0 <= f.start < f.end <= len(text) and f.end - f.start >= 2
        if f.explanation.pattern == "cn-name-model":
            assert span[0] in SURNAMES and len(span) <= 4
        else:  # transliteration characters, parts of two or more joined by single dots
            assert f.explanation.pattern == "foreign-name-model"
            assert set(span) <= set(TRANSLITERATION) | {"·"}
            parts = span.split("·")
            assert len(parts[0]) >= 2 and all(parts) and (len(parts) > 1 or f.explanation.context)


def _tiny(path: Path, word_cost: int, name: str = "names-zh", foreign: int | None = None) -> Path:
    """A hand-made model: surname 甲, given-name characters 乙 and 丙, a few words; with
    ``foreign``, transliteration characters 戊 and 己 and that prior cost."""
    card = NameCard(name=name, version="t", built_from="hand-made", licence="n/a", tuning="none")
    params = {"name_cost": 10, "given1_cost": 2, "given2_cost": 2, "context_bonus": 16,
              "unknown_cost": 120}  # fmt: skip
    chars = {}
    if foreign is not None:
        params["foreign_cost"] = foreign
        chars = {"戊": 5, "己": 5}
    words = {"甲乙": word_cost, "今天": 20, "来": 15, "了": 10, "戊己": 100}
    path.write_bytes(dump_names_model(card, params, {"甲": 5}, {"乙": 5, "丙": 5}, words, chars))
    return path


def test_a_replacement_model_decides_transliterated_names(tmp_path: Path) -> None:
    # 戊己 is a word costing 100; as a transliteration it costs the prior + 5 + 5, less the
    # context bonus of "联系" (16) before it. No F table: no transliterated names at all.
    text = "联系戊己"

    def found(model: Path) -> list[str]:
        det = ChineseName(DetectConfig(models={"names-zh": model}))
        return [
            text[f.start : f.end] for f in Engine([det], lambda v: v).scan([("m", text)]).findings
        ]

    assert found(_tiny(tmp_path / "a.xz", 200, foreign=50)) == ["戊己"]  # 60 - 16 < 100
    assert found(_tiny(tmp_path / "b.xz", 200, foreign=120)) == []  # 130 - 16 > 100
    assert found(_tiny(tmp_path / "c.xz", 200)) == []
    assert load_names_model(tmp_path / "a.xz").foreign == {"戊": 5, "己": 5}


def test_a_replacement_model_is_loaded_and_decides(tmp_path: Path) -> None:
    # the shipped model knows nothing of 甲乙; a replacement decides whether it is a name
    cfg = DetectConfig(models={"names-zh": _tiny(tmp_path / "cheap.xz", word_cost=200)})
    found = Engine([ChineseName(cfg)], lambda v: v).scan([("m", "今天甲乙来了")]).findings
    assert [(f.start, f.end) for f in found] == [(2, 4)]
    cfg = DetectConfig(models={"names-zh": _tiny(tmp_path / "dear.xz", word_cost=5)})
    assert Engine([ChineseName(cfg)], lambda v: v).scan([("m", "今天甲乙来了")]).findings == []
    # through detect.toml in the data directory
    (tmp_path / "detect.toml").write_text('[models]\nnames-zh = "cheap.xz"\n', "utf-8")
    det = ChineseName(data_dir_config(tmp_path))
    assert det.model.card.built_from == "hand-made" and det.model.words["甲乙"] == 200


def test_a_missing_or_foreign_replacement_is_reported(tmp_path: Path) -> None:
    (tmp_path / "detect.toml").write_text('[models]\nnames-zh = "gone.xz"\n', "utf-8")
    reg = DetectorRegistry.load(data_dir_config(tmp_path))
    problem = {p.detector: p.reason for p in reg.problems}["pii.cn.person_name"]
    assert "gone.xz: cannot read" in problem and len(reg.detectors) > 10
    other = _tiny(tmp_path / "other.xz", 200, name="offensive-zh")
    det = ChineseName(DetectConfig(models={"names-zh": other}))
    result = Engine([det], lambda v: v).scan([("m", "今天甲乙来了")])
    assert result.findings == [] and "its card names 'offensive-zh'" in result.faults[0].reason


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"plain text", "not an xz file"),
        (lzma.compress(b"something-else\n{}"), "line 1: format 'something-else'"),
        (lzma.compress(f"{FORMAT}\n{{}}".encode()), "line 2: bad header"),
        (lzma.compress(b"\xff\xfe"), "not UTF-8 at byte 0"),
    ],
)
def test_a_damaged_model_file_is_named(tmp_path: Path, content: bytes, message: str) -> None:
    bad = tmp_path / "bad.xz"
    bad.write_bytes(content)
    with pytest.raises(DetectorError, match=message) as e:
        load_names_model(bad)
    assert str(bad) in str(e.value)


def test_a_bad_line_is_named(tmp_path: Path) -> None:
    good = lzma.decompress(_tiny(tmp_path / "t.xz", 200).read_bytes()).decode()
    lines = good.splitlines()
    lines.insert(4, "W\t词\tcheap")
    (tmp_path / "t.xz").write_bytes(lzma.compress("\n".join(lines).encode()))
    with pytest.raises(DetectorError, match="line 5: expected KIND<TAB>TEXT<TAB>COST"):
        load_names_model(tmp_path / "t.xz")
    (tmp_path / "t.xz").write_bytes(lzma.compress("\n".join(lines[:2]).encode()))
    with pytest.raises(DetectorError, match="must all be present"):
        load_names_model(tmp_path / "t.xz")


def test_the_build_script_makes_a_loadable_model(tmp_path: Path) -> None:
    # the same inputs as the real build (jieba's dict.txt, ngender's charfreq.csv), in miniature
    (tmp_path / "dict.txt").write_text(
        "今天 900 t\n高兴 800 a\n谢谢 700 nr\n刘建国 50 nr\n仓库 300 n\n了 5000 ul\n", "utf-8"
    )
    (tmp_path / "charfreq.csv").write_text("char,male,female\n建,900,100\n国,800,50\n", "utf-8")
    out = tmp_path / "model.xz"
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build_names_model.py"), "--jieba-dict",
         str(tmp_path / "dict.txt"), "--given-chars", str(tmp_path / "charfreq.csv"),
         "--out", str(out)],
        check=True, capture_output=True,
    )  # fmt: skip
    model = load_names_model(out)
    assert "刘建国" not in model.words  # a three-character name jieba tagged: left to the model
    assert {"今天", "高兴", "谢谢", "仓库", "了"} <= set(model.words)
    assert model.words["谢谢"] > model.words["高兴"]  # a two-character nr word keeps a tenth
    assert set(model.given) == {"建", "国"} and model.surnames["王"] < model.surnames["刘"]
    found = ChineseName(DetectConfig(models={"names-zh": out}))
    hits = Engine([found], lambda v: v).scan([("m", "今天刘建国很高兴")]).findings
    assert [(h.start, h.end) for h in hits] == [(2, 5)]


def test_a_transliteration_table_without_its_prior_is_named(tmp_path: Path) -> None:
    good = lzma.decompress(_tiny(tmp_path / "t.xz", 200).read_bytes()).decode()
    lines = good.splitlines()
    lines.insert(2, "F\t戊\t5")
    (tmp_path / "t.xz").write_bytes(lzma.compress("\n".join(lines).encode()))
    with pytest.raises(DetectorError, match=r"F table .* needs params\.foreign_cost"):
        load_names_model(tmp_path / "t.xz")
