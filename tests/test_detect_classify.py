"""Shipped classifiers: loading (and its errors), offensive content, phishing URLs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wxguard.detect.api import DetectConfig, DetectorError
from wxguard.detect.classify import Offensive, Scam
from wxguard.detect.engine import Engine
from wxguard.detect.linear import FORMAT, dump_model, load_model, shipped_model
from wxguard.detect.url import SuspiciousUrl

TINY = {
    "format": FORMAT,
    "card": {"name": "tiny", "version": "1", "task": "t", "trained_on": "hand-made",
             "licence": "CC0", "split": "none", "metrics": {"f1": 1.0}, "threshold": 0.5},
    "ngram_min": 1, "ngram_max": 3, "lowercase": True, "bias": -2.0,
    "weights": {"bad": 3.0, "ba": 0.5, "good": -1.0},
}  # fmt: skip


def test_a_small_model_file_round_trips_and_scores(tmp_path: Path) -> None:
    p = tmp_path / "tiny.json"
    p.write_bytes(dump_model(TINY))
    m = load_model(p)
    prob, grams = m.score("So BAD")  # lower-cased: "bad" (3.0) and "ba" (0.5) count once each
    assert prob == pytest.approx(1 / (1 + 2.718281828 ** -(-2.0 + 3.0 + 0.5)), rel=1e-3)
    assert grams == ["bad", "ba"]  # the n-grams that raised it, strongest first
    low, none = m.score("a ba")  # only "ba" (0.5) carries weight: sigmoid(-1.5) = 0.18
    assert low == pytest.approx(0.1824, abs=1e-3)
    assert none == []  # below the threshold nothing needs explaining


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read"),
        (b"{not json", "not a wxguard-linear-v1 model"),
        (json.dumps({**TINY, "format": "other"}).encode(), "format 'other'"),
        (json.dumps({**TINY, "ngram_max": 0}).encode(), "n-gram range"),
        (json.dumps({k: v for k, v in TINY.items() if k != "weights"}).encode(), "weights"),
    ],
)
def test_bad_model_files_are_named(tmp_path: Path, content: bytes | None, message: str) -> None:
    p = tmp_path / "m.json"
    if content is not None:
        p.write_bytes(content)
    with pytest.raises(DetectorError) as e:
        load_model(p)
    assert str(p) in str(e.value) and message in str(e.value)


def test_shipped_models_have_cards_with_measured_quality() -> None:
    # phishing-url v1 scored 0.968 on PhishTank + ISCX held out, but flagged 97% of the
    # links cited in software documentation; v2 trades some of that F1 for ordinary links
    models = (("offensive-zh", 0.8), ("offensive-en", 0.8), ("phishing-url", 0.9),
              ("scam-en", 0.9))  # fmt: skip
    for name, floor in models:
        m = shipped_model(name)
        assert m.card.name == name and m.card.licence and m.card.trained_on
        assert m.card.metrics["f1"] >= floor
        assert 1000 <= len(m.weights) <= 20_000
    url = shipped_model("phishing-url").card.metrics
    assert url["cited_links_held_out_items"] > 1000 and url["cited_links_held_out_flagged"] < 0.05
    scam = shipped_model("scam-en").card.metrics  # ordinary English, not SMS
    assert scam["tweets_held_out_items"] > 3000 and scam["tweets_held_out_flagged"] < 0.01


@pytest.fixture(scope="module")
def offensive() -> Engine:
    return Engine([Offensive(DetectConfig())], lambda v: v)


@pytest.mark.parametrize(
    "text",
    # ("女的就是干不了销售" scores 0.4 here; the discrimination lexicon is what catches it)
    ["你是不是脑子进水了，这点事都办不好", "真是个废物，客户都被你搞丢了", "Shut up, you useless idiot."],
)  # fmt: skip
def test_offensive_messages(offensive: Engine, text: str) -> None:
    (f,) = offensive.scan([("m", text)]).findings
    assert f.entity == "OFFENSIVE" and (f.start, f.end) == (0, len(text))
    assert f.explanation.pattern.startswith("model:offensive-")
    assert f.explanation.context  # the n-grams that raised it


@pytest.mark.parametrize(
    "text",
    [
        "公司一贯反对性别歧视，招聘只看能力，从不认为女生不适合做销售",  # anti-bias statement
        "我们反对任何种族歧视，所有客户一视同仁",  # race, anti-bias
        "公司不会因为地域、民族或性别区别对待任何候选人",  # region/ethnicity, anti-bias
        "黑人客户和白人客户享受同样的服务标准",  # mentions race, neutral
        "We oppose racism and sexism in hiring.",
        "明天上午十点开周会，记得带上本周的销售漏斗",
        "合同草案_远航汽车配件.docx",
        "Please update the CRM before Friday, thanks.",
        "好",
    ],
)
def test_ordinary_and_anti_bias_messages(offensive: Engine, text: str) -> None:
    assert offensive.scan([("m", text)]).findings == []


def test_url_model_flags_a_phishing_shaped_link_the_rules_miss() -> None:
    det = SuspiciousUrl(DetectConfig(own_domains=["yunshan-tech.com"]))
    url = "http://secure-update.account-verify-login.xyz/wp-admin/includes/webscr.php?cmd=login"
    entity, score, why = det.judge(url) or ("", 0.0, "")
    assert entity == "SUSPICIOUS_URL" and score >= 0.45 and why.startswith("phishing-url model")
    assert det.judge("https://www.yunshan-tech.com/login") is None  # own domain: never


@pytest.mark.parametrize(
    "url",
    [
        "http://www.grupo-norte.com.ar/wp-content/plugins/dhl/index.php",
        "http://kamerlingtuin.nl/images/new/doc/index.php?email=zhang@yunshan-tech.com",
        "http://dreamhomesrealty.net/includes/css/files/index.php",
        "http://fitnessgym.com.br/wp-includes/js/mail/owa/",
    ],
)
def test_the_model_alone_reports_a_link_it_is_sure_of(url: str) -> None:
    # a compromised site's folder serving a fake mail or parcel page: no cue, no brand host
    det = SuspiciousUrl(DetectConfig())
    assert det._cues(url) == []
    entity, _score, why = det.judge(url) or ("", 0.0, "")
    assert entity == "SUSPICIOUS_URL" and why.startswith("phishing-url model p=")


def test_the_model_alone_threshold_is_a_setting(tmp_path: Path) -> None:
    from wxguard.detect.scan import data_dir_config

    url = "http://dreamhomesrealty.net/includes/css/files/index.php"  # p ~ 1.0, no cue
    default = SuspiciousUrl(data_dir_config(tmp_path))
    assert default.judge(url) is not None and default.version == "4"
    (tmp_path / "detect.toml").write_text("url_model_alone = false\n", "utf-8")
    never = SuspiciousUrl(data_dir_config(tmp_path))
    # only beside a cue now, and the version says so (the next scan looks again)
    assert never.judge(url) is None and never.version == "4+alone0"
    assert never.judge(url.replace("index.php", "login.php")) is not None
    (tmp_path / "detect.toml").write_text("url_model_alone = 0.5\n", "utf-8")
    assert SuspiciousUrl(data_dir_config(tmp_path)).version == "4+alone0.5"
    for bad in ("0.2", "2", '"high"', "true"):
        (tmp_path / "detect.toml").write_text(f"url_model_alone = {bad}\n", "utf-8")
        with pytest.raises(DetectorError, match=r"url_model_alone' must be a score from 0\.5"):
            data_dir_config(tmp_path)


@pytest.mark.parametrize(
    ("url", "cue"),
    [
        # a phished brand's name where the brand would not put it (p 0.72 to 0.79 here:
        # below the model-alone threshold, reported because of the cue)
        ("http://jtadeo.com/appstudio/Project2/nsb/Rss/CHASE/step2.php",
         "'chase' named in a link of another site"),
        # a name of five letters or fewer counts only as a word of its own
        ("http://jtadeo.com/appstudio/Project2/nsb/Rss/chased/step2.php", None),
        ("http://spielwerk.de/applet", None),
        ("http://verifydropboxfiles.com/", "'dropbox' inside the name verifydropboxfiles.com"),
        ("https://medokofo.ml/int/nsw/data/UntitledNotebook1.html", "free top-level domain"),
        ("https://amankan-akun-anda317.webnode.com/", "free hosting"),
    ],
)  # fmt: skip
def test_phishing_cues_beside_a_middling_score(url: str, cue: str | None) -> None:
    det = SuspiciousUrl(DetectConfig())
    p, _ = det.model.score(url, top=0)
    assert 0.5 <= p < det.alone  # the model alone would not report it
    if cue is None:
        assert det._cues(url) == [] and det.judge(url) is None
        return
    assert det._cues(url) == [cue]
    entity, _score, why = det.judge(url) or ("", 0.0, "")
    assert entity == "SUSPICIOUS_URL" and why.endswith(f"with {cue}")


@pytest.mark.parametrize(
    "url",
    [
        "http://allegro.pl/show_item.php?item=5066323276",  # the brand's own site (p 0.79)
        "https://www.example-shop.com/cart?utm_source=facebook",  # a query, not the path
    ],
)
def test_brand_cues_leave_a_brands_own_site_and_queries_alone(url: str) -> None:
    assert SuspiciousUrl._cues(url) == []
    assert SuspiciousUrl(DetectConfig()).judge(url) is None


CHAT_LINKS = (  # ordinary links pasted into business chat, written for this test
    "https://www.hengtai-valves.com/products/ball-valve-dn50",
    "https://www.siemens.com/cn/zh/products/automation.html",
    "https://www.sse.com.cn/disclosure/listedinfo/announcement/",
    "https://www.szse.cn/disclosure/index.html",
    "https://github.com/yunshan/gateway-sdk/releases",
    "https://gitee.com/openharmony/docs",
    "https://www.zhihu.com/question/31415926",
    "https://mp.weixin.qq.com/s/3kFq9xZpT2mUv8bQ",
    "https://docs.qq.com/doc/DSk1aVnRpbWJhZmVz",
    "https://pan.baidu.com/s/1Qx7r2mZ?pwd=k8s2",
    "https://www.aliyun.com/product/ecs",
    "https://help.aliyun.com/zh/oss/user-guide/overview",
    "https://cloud.tencent.com/document/product/213",
    "https://www.huaweicloud.com/product/ecs.html",
    "https://item.jd.com/100038004405.html",
    "https://detail.tmall.com/item.htm?id=652349872345",
    "https://www.bilibili.com/video/BV1xx411c7mD",
    "https://www.36kr.com/p/2345678901234",
    "https://www.gov.cn/zhengce/content/2024-03/15/content_6939541.htm",
    "https://www.miit.gov.cn/jgsj/txs/index.html",
    "https://www.cninfo.com.cn/new/disclosure/stock?stockCode=600519",
    "https://www.feishu.cn/hc/zh-CN/articles/360024984973",
    "https://meeting.tencent.com/dm/b8kAxL9pQ",
    "https://www.dingtalk.com/download",
    "https://www.yuque.com/yunshan/handbook/onboarding",
    "https://www.jianshu.com/p/8f2e3c4d5a6b",
    "https://www.csdn.net/",
    "https://blog.csdn.net/weixin_43210987/article/details/129876543",
    "https://www.amap.com/place/B0FFH1ABCD",
    "https://map.baidu.com/poi/上海虹桥站",
    "https://www.ctrip.com/",
    "https://hotels.ctrip.com/hotels/detail/?hotelId=436187",
    "https://www.12306.cn/index/",
    "https://www.xiaohongshu.com/explore/64f1a2b3000000001e03",
    "https://www.douyin.com/video/7234567890123456789",
    "https://www.nvidia.cn/data-center/a100/",
    "https://www.schneider-electric.cn/zh/product-range/61118-easy-tesys/",
    "https://www.abb.com.cn/",
    "https://www.mi.com/shop/buy/detail?product_id=19270",
    "https://www.apple.com.cn/iphone/",
    "https://www.linkedin.com/company/yunshan-tech/",
    "https://zoom.us/j/98765432101",
    "https://calendly.com/sales-team/30min",
    "https://www.notion.so/Q3-roadmap-1a2b3c4d5e6f",
    "https://drive.google.com/file/d/1AbCdEfGhIjK/view",
    "https://www.dropbox.com/s/abc123xyz/quote.pdf?dl=0",
    "https://yunshan.feishu.cn/docx/Tj8mdA2bXo",
    "https://www.qcc.com/firm/8a3f2b1c9d7e6f5a4b3c.html",
    "https://www.tianyancha.com/company/3151234567",
    "https://www.chinatax.gov.cn/chinatax/n810341/index.html",
)


def test_ordinary_chat_links_are_left_alone() -> None:
    # phishing-url v1 (trained against ISCX's 282 sites only) scored 35 of these >= 0.8
    det = SuspiciousUrl(DetectConfig(own_domains=["yunshan-tech.com"]))
    flagged = [(u, v[2]) for u in CHAT_LINKS if (v := det.judge(u)) is not None]
    assert len(CHAT_LINKS) == 50 and len(flagged) <= 2, flagged


def test_an_administrator_can_replace_a_shipped_model(tmp_path: Path) -> None:
    from wxguard.detect.registry import DetectorRegistry
    from wxguard.detect.scan import data_dir_config

    tiny = {**TINY, "card": {**TINY["card"], "name": "offensive-zh"}}  # type: ignore[dict-item]
    (tmp_path / "zh.json").write_bytes(dump_model(tiny))
    (tmp_path / "detect.toml").write_text('[models]\noffensive-zh = "zh.json"\n', "utf-8")
    det = Offensive(data_dir_config(tmp_path))
    assert det.zh.card.trained_on == "hand-made" and det.en.card.name == "offensive-en"
    # a replacement that is missing: that detector is reported, the others load
    (tmp_path / "detect.toml").write_text('[models]\noffensive-zh = "gone.json"\n', "utf-8")
    reg = DetectorRegistry.load(data_dir_config(tmp_path))
    problem = {p.detector: p.reason for p in reg.problems}["classify.offensive"]
    assert "gone.json: cannot read" in problem and len(reg.detectors) > 10
    # a file whose card is another model's is refused
    (tmp_path / "detect.toml").write_text('[models]\nphishing-url = "zh.json"\n', "utf-8")
    with pytest.raises(DetectorError, match="its card names 'offensive-zh'"):
        SuspiciousUrl(data_dir_config(tmp_path))
    (tmp_path / "detect.toml").write_text('[models]\nnope = "zh.json"\n', "utf-8")
    with pytest.raises(DetectorError, match="unknown model"):
        data_dir_config(tmp_path)


@pytest.fixture(scope="module")
def scam() -> Engine:
    return Engine([Scam(DetectConfig())], lambda v: v)


@pytest.mark.parametrize(
    "text",
    [
        "URGENT! You have won a £2,000 cash prize. To claim call 09061234567 now. T&Cs apply",
        "Congratulations! You have been selected for a FREE holiday. Text WIN to 85233 to "
        "claim your reward, 150p/msg",
        "Your mobile number has won our weekly draw! Call 0871 234 5678 to collect your "
        "prize before it expires",
    ],
)
def test_scam_messages(scam: Engine, text: str) -> None:
    (f,) = scam.scan([("m", text)]).findings
    assert f.entity == "SCAM_MESSAGE" and (f.start, f.end) == (0, len(text))
    assert f.score >= 0.8 and f.explanation.pattern == "model:scam-en v1"
    assert f.explanation.context and "English lines scored: 1" in f.explanation.suppressions[0]


@pytest.mark.parametrize(
    "text",
    [
        # business English with the words prize draws use
        "We won the tender! Great work everyone, drinks on me on Friday.",
        "Please claim your travel expenses before the end of the month.",
        "Call me when you land, the client wants to meet at 10am tomorrow.",
        "Free parking is available at the customer's office, text me when you arrive.",
        "Can you send the quotation for 200 units by Friday? They need it urgently.",
        "Congratulations on closing the Shenzhen deal, the bonus will be paid in December.",
        "Please update the CRM before Friday, thanks.",
        "The demo of the IoT platform went well, they want a formal quote.",
        # Latin letters that are not English, and Chinese
        "-----BEGIN OPENSSH PRIVATE KEY-----\nJT8zfkBjmS6PPIb8kyITbyL/l50P8rgCGyvKOCN+nx5DZiu01"
        "QLVceAgnbNGfTG0tpvvq/prFPu0DK1eR/uFlTTuYdICyfctV4Vo8apH\n-----END OPENSSH PRIVATE KEY-----",
        "恭喜您中奖了，请回复WIN领取",
        "report_final_v2.xlsx",
    ],
)
def test_scam_leaves_business_english_alone(scam: Engine, text: str) -> None:
    assert scam.scan([("m", text)]).findings == []


def test_scam_scores_a_huge_english_paste_quickly(scam: Engine) -> None:
    """The first lines and characters only: a 10 MB text costs what a long message does."""
    import time

    lure = "URGENT! You have won a £2,000 cash prize. To claim call 09061234567 now.\n"
    big = lure + "Please review the attached minutes and send comments by Friday.\n" * 160_000
    t0 = time.perf_counter()
    (f,) = scam.scan([("m", big)]).findings
    assert time.perf_counter() - t0 < 5 and f.entity == "SCAM_MESSAGE"
