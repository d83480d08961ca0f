"""Chinese person names: the most probable reading of each run of Chinese characters.

Each run is segmented into dictionary words and name tokens (a single or compound
surname and one or two given-name characters) by the cheapest total cost under the
shipped names model (``namemodel.py``; jieba's word dictionary and ngender's
given-name character counts, both MIT). ``今天很高兴`` stays words; ``这批货黄志强
负责跟进`` reads as words, a name and words. Context measured in characters lowers a
name's cost and raises its score: an honorific after (``王芳女士``, ``李经理``), a cue
or role before (``联系人``, ``收件人：``, ``记者``), a verb after (``表示``), a list
(``张伟、李娜``). A surname and a title (``张先生``, ``王总``) is not a name.
Transliterated foreign names (``巴洛特利``, ``皮尔斯·布鲁斯南``) are read the same
way, as runs of transliteration characters (``TRANSLITERATION``) that no cheaper
reading as words explains. Names in Latin letters (``总监Eric``, ``Mike表示``) count only
beside context; nicknames are out of its reach (docs/detectors.md has its measured quality).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from .api import Anchor, DetectConfig, Detector, DetectorError, Explanation, Hit, ScanBatch
from .namemodel import NAME as NAMES_MODEL
from .namemodel import SCALE, NameModel, names_model

COMPOUND = ("欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "令狐", "长孙",
            "宇文", "司徒", "夏侯", "轩辕", "端木", "独孤", "南宫", "西门", "百里", "呼延", "澹台",
            "太史", "申屠", "闻人", "万俟", "钟离")  # fmt: skip
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁"
    "任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武"
    "戴莫孔向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮"
    "柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解牟艾尤阳时穆农司卓古"
    "吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟应臧闵苟邬边卞姬师和仇栾隋商刁沙荣巫"
    "寇桑郎甄丛仲虞敖巩明佘池查麻苑迟邝官封谈匡鞠惠荆乐冀郁胥南班储原栗燕楚鄢劳谌奚皮粟冼蔺楼盘满闻"
    "位厉伊仝区郜海阚花权强帅屠豆朴盖练廉禹井祖漆巴丰支卿国狄平计索宣晋相初门云容敬来扈晁芮都普阙浦"
    "戈伏鹿薄邸雍辜羊阿乌母裘亓修邰赫杭况那宿鲜印逯隆茹诸战慕危玉银亢嵇公哈湛宾戎勾茅利於呼居揭干但"
    "尉冶斯元束檀衣信展阴昝智幸奉植衡富尧闭由"
)
HONORIFICS = ("先生", "女士", "小姐", "老师", "总", "经理", "主任", "同学", "医生", "律师", "教授",
              "师傅", "阿姨", "叔叔", "老板", "董事长", "总监", "主管", "助理", "工", "博士", "处长",
              "局长", "科长", "部长", "院长", "校长", "书记", "县长", "市长", "省长", "委员")  # fmt: skip
# Roles written right before a name ("副部长蒋耀平", "总裁任志刚", "记者王芳").
ROLES = ("部长", "总裁", "主席", "总统", "总理", "董事长", "经理", "主任", "教练", "主帅", "导演",
         "演员", "歌手", "记者", "作者", "编辑", "球员", "队长", "市长", "省长", "县长", "局长",
         "书记", "院长", "校长", "教授", "博士", "律师", "医生", "法官", "检察官", "警官", "厂长",
         "创始人", "总监", "老总", "行长", "会长", "代表", "委员", "专家", "分析师", "研究员",
         "发言人", "嘉宾", "选手", "冠军", "先生", "女士", "员工", "销售", "客服", "老师", "同学")  # fmt: skip
# Verbs and marks right after a name ("林旭东则表示", "曹鹏飞说", "姜山：").
AFTER = ("表示", "认为", "指出", "介绍", "透露", "强调", "坦言", "告诉", "称", "说", "曾", "则",
         "也", "还", "等", "：", ":", "在", "已", "将", "被", "和", "与", "的")  # fmt: skip
CUES = ("联系人", "收件人", "收货人", "负责人", "户名", "姓名", "名叫", "叫", "我是", "客户", "同事",
        "找", "问", "告诉", "通知", "转告", "联系", "请", "和", "跟", "与", "给", "@", "致", "由")  # fmt: skip


# Marks after a name that count like a verb (the name is the subject or the addressee).
AFTER_MARKS = ("：", ":")
LIST_MARKS = ("、", "/", "／")
# The characters Chinese writes foreign names with (Xinhua's transliteration tables, the
# common core); the model costs each by how often jieba's transliterated names use it.
TRANSLITERATION = (
    "阿埃艾爱安昂奥巴拜班邦保鲍贝本比彼宾波伯博布查达戴丹道德登迪蒂丁东杜多厄恩尔法凡菲费芬"
    "丰弗伏福盖甘冈戈格根贡古瓜圭哈海汉豪赫亨胡华霍基吉加贾杰捷金卡凯坎康考柯科克肯孔库夸奎"
    "昆拉莱赖兰朗劳勒雷蕾里利莉丽列林琳隆卢鲁路伦罗洛吕马玛迈麦曼芒梅门蒙米敏莫姆穆纳娜奈"
    "内尼涅宁纽努诺欧帕派佩彭皮珀普齐奇恰乔切钦琼丘萨塞赛桑森沙莎尚舍什施舒斯松苏索塔泰坦"
    "特滕提廷图托瓦旺威韦维温沃乌西希锡谢辛休雅亚扬耶伊因英尤约泽扎詹兹佐翰逊顿默瑟罕茨热"
    "夫摩文当狄汀娃妮丝芙黛薇露珊伍潘迭瑞史密南"
)
# A run of Chinese characters, with the dots that join the parts of a foreign name.
RUN = re.compile(r"[\u3400-\u9fff]+(?:·[\u3400-\u9fff]+)*")
# A name in Latin letters written into Chinese text ("总监Eric", "Mike表示", "@Lisa",
# "联系人：Tom Smith"): a word of letters only, or two or three capitalised ones, not part of
# a longer token (an address, a file name, a number).
LATIN = re.compile(
    r"(?<![A-Za-z0-9_.\-/'’])(?:[A-Z][a-z]{1,24}(?: [A-Z][a-z]{1,24}){1,2}|[A-Za-z]{3,25})"
    r"(?![A-Za-z0-9_\-/'’@]|\.[A-Za-z0-9])"
)
MAX_RUN = 400  # longer runs are segmented in pieces (keeps an enormous message linear)
_HON = frozenset(HONORIFICS)
_AFTER = frozenset(v for v in AFTER if len(v) > 1) | frozenset(AFTER_MARKS)
_BEFORE = frozenset(c for c in CUES if len(c) > 1) | frozenset(ROLES)
_SEPARATORS = "：: ，,"
# A name token ending in, or followed by, these is part of a place or an organisation's name.
_PLACE1 = frozenset("路街巷村镇乡县省州岛湾寺庙庄")
_PLACE2 = frozenset(("银行", "广场", "公司", "集团", "大厦", "酒店", "宾馆", "公园", "地产", "大学",
                     "学院", "中学", "小学", "医院", "商场", "超市", "科技", "实业", "传媒", "国际",
                     "竞技", "财富", "金融", "汽车", "证券", "基金", "保险", "控股", "股份", "物流",
                     "速运", "快递", "电器", "影业", "体育", "研究", "工作", "美居", "置业", "投资",
                     "资本", "商城", "网络", "文化", "酒业", "药业", "食品", "服饰", "家居", "足球",
                     "球队", "俱乐"))  # fmt: skip


def _is_cjk(c: str) -> bool:
    return "\u3400" <= c <= "\u9fff"


def _score(why: list[str]) -> float:
    """A name's score from its context words: an honorific beside it is the strongest sign,
    otherwise each kind of context adds 0.1 to 0.6 (at most 0.9)."""
    return 0.85 if any(w in _HON for w in why) else min(0.9, 0.6 + 0.1 * len(why))


def _place_after(text: str, end: int) -> bool:
    """Whether a place or organisation word follows ``text[:end]`` ("…路", "…广场", "…证券"),
    or the end of a title or a team of a fixture ("《鹿鼎记》", "霍芬海vs比勒菲")."""
    return (
        text[end : end + 1] in _PLACE1
        or text[end : end + 2] in _PLACE2
        or text[end : end + 1] == "》"
        or "vs" in text[end : end + 3].lower()  # "霍芬|海vs": the rest of the team's name too
    )


def _in_transliteration(run: str, s: int, e: int, model: NameModel) -> bool:
    """Whether ``run[s:e]`` is written only in transliteration characters and runs on into
    another one that does not begin or end a Chinese word there: a piece of a foreign word
    (斯迪格 of 斯迪格尔), not a Chinese name (马丽多次, 金莎特别: 多次 and 特别 are words)."""
    foreign = model.foreign
    if not foreign or not all(c in foreign for c in run[s:e]):
        return False
    left = s > 0 and run[s - 1] in foreign and (s < 2 or model.cost(run[s - 2 : s]) is None)
    right = e < len(run) and run[e] in foreign and model.cost(run[e : e + 2]) is None
    return left or right


def _title_or_team_before(text: str, start: int) -> bool:
    """Whether ``text[start:]`` begins a title or the second team of a fixture."""
    return text[start - 1 : start] == "《" or "vs" in text[max(0, start - 3) : start].lower()


class ChineseName(Detector):
    id = "pii.cn.person_name"
    version = "4"  # 3: transliterated names; 4: Latin-letter names, organisation/title/vs checks
    entities = ("PERSON_NAME",)
    languages = ("zh",)
    cost = "expensive"
    description = (
        "Chinese person names: the cheapest reading of each Chinese run as dictionary words "
        "and name tokens (surname + given-name characters), with context (honorific after, "
        "cue or role before, verbs, lists), transliterated names beside context, names in "
        "Latin letters beside a role, verb or mention; model shipped in the package"
    )

    def __init__(self, config: DetectConfig) -> None:
        super().__init__(config)
        self._overrides = config.models
        self._model: NameModel | None = None  # loaded on first use (under a second, ~60 MB)
        replacement = config.models.get(NAMES_MODEL)
        if replacement is not None and not Path(replacement).is_file():
            raise DetectorError(f"names model {replacement}: cannot read: no such file")

    def anchors(self) -> Sequence[Anchor]:
        return ()  # nearly every Chinese message has a surname character: look at all

    @property
    def model(self) -> NameModel:
        if self._model is None:
            self._model = names_model(self._overrides)
        return self._model

    def scan(self, batch: ScanBatch) -> Iterable[Hit]:
        model = self.model
        for i in batch.candidates:
            text = batch.texts[i]
            chinese = False
            for m in RUN.finditer(text):
                chinese = True
                s0, e0 = m.span()
                for a in range(s0, e0, MAX_RUN):
                    yield from self._run(model, i, text, a, min(e0, a + MAX_RUN))
            if chinese:
                yield from self._latin(i, text)

    def _latin(self, i: int, text: str) -> Iterable[Hit]:
        """Names in Latin letters, in Chinese text, read from their context alone: a role or
        cue word before ("总监Eric", "负责人julia"), an honorific or a verb of two or more
        characters after ("Mike表示", "Lisa女士"), or a chat mention ("@Lisa"). One-character
        cues (跟, 请, 总) and lists are not enough here: beside them, Latin words are as
        often brands, products and games (bet365、bwin; War3、DotA). An all-capital word is an
        acronym (CEO, VIP), not a name."""
        for m in LATIN.finditer(text):
            word = m.group()
            s, e = m.span()
            lead = text[max(0, s - 6) : s].rstrip(_SEPARATORS)
            if not (_is_cjk(text[e : e + 1]) or (lead and (_is_cjk(lead[-1]) or lead[-1] == "@"))):
                continue  # no Chinese beside it, so no context either (and English text is fast)
            if word.isupper():
                continue
            why = [w for w in self._context(text, s, e) if len(w) > 1 and w != "name list"]
            if s and text[s - 1] == "@" and (s < 2 or not text[s - 2].isascii()
                                             or not text[s - 2].isalnum()):  # fmt: skip
                why.append("@")  # a mention, not an e-mail address
            if not why:
                continue
            expl = Explanation(
                pattern="latin-name-context",
                context=why,
                base_score=0.6,
                note=f"{len(word)}-letter name in Latin letters, read from its context",
            )
            yield Hit(i, s, e, "PERSON_NAME", _score(why), word, expl)

    @staticmethod
    def _context(text: str, s: int, e: int) -> list[str]:
        """The context words around text[s:e]: at most one after it and one before it."""
        why: list[str] = []
        a1, a2, a3 = text[e : e + 1], text[e : e + 2], text[e : e + 3]
        if a1 in _HON or a2 in _HON or a3 in _HON:
            why.append(a1 if a1 in _HON else a2 if a2 in _HON else a3)
        elif a2 in _AFTER or a1 in _AFTER:
            why.append(a2 if a2 in _AFTER else a1)
        prev = text[s - 1] if s else ""
        lead = text[max(0, s - 6) : s].rstrip(_SEPARATORS)
        if lead[-2:] in _BEFORE or lead[-3:] in _BEFORE:
            why.append(lead[-2:] if lead[-2:] in _BEFORE else lead[-3:])
        elif prev == "@":
            why.append("@")
        elif prev in LIST_MARKS or a1 in LIST_MARKS:
            why.append("name list")
        return why

    def _run(self, model: NameModel, i: int, text: str, s0: int, e0: int) -> Iterable[Hit]:
        run = text[s0:e0]
        n = len(run)
        # Name tokens first: a run without any needs no segmenting.
        # start -> [(end, cost with the context bonus, (context words, cost without it, kind))]
        names: dict[int, list[tuple[int, int, tuple[list[str], int, str]]]] = {}
        for s in range(n - 1):
            if _title_or_team_before(text, s0 + s):
                continue  # "《轩辕剑外传》", "vs比勒菲"
            foreign = model.foreign_tokens(run, s)
            if any(_place_after(text, s0 + e) for e, _, _ in foreign):
                foreign = []  # "阿穆尔湾", "贝里琉岛": a place, and no part of it a name
            for e, cost, dotted in foreign:
                why = self._context(text, s0 + s, s0 + e)
                if not why and not dotted:
                    continue  # alone, a transliteration is as often a place or a club (巴勒莫)
                bonus = len(why) * model.context_bonus
                names.setdefault(s, []).append((e, cost - bonus, (why, cost, "foreign")))
            if run[s] not in model.surnames and run[s : s + 2] not in model.surnames:
                continue
            for e in (s + 2, s + 3, s + 4):
                if e > n:
                    break
                nc = model.name_token_cost(run[s:e])
                if nc is None:
                    continue
                cost, sl = nc
                g = s0 + s + sl
                if text[g : g + 1] in _HON or text[g : g + 2] in _HON or text[g : g + 3] in _HON:
                    break  # "张先生", "王总": a surname and a title, not a name
                if run[e - 1] in _PLACE1 or _place_after(text, s0 + e):
                    continue  # "林达海广场", "吴江路": part of a place or organisation name
                why = self._context(text, s0 + s, s0 + e)
                if not why and _in_transliteration(run, s, e, model):
                    continue  # "斯迪格" of "斯迪格尔法案": part of a foreign word
                bonus = len(why) * model.context_bonus
                names.setdefault(s, []).append((e, cost - bonus, (why, cost, "chinese")))
        if not names:
            return
        for s, e, (why, base, kind) in model.best_reading(run, names)[1]:
            cand = run[s:e]
            lo = (model.words_cost(cand) - base) / SCALE
            what = "transliterated name" if kind == "foreign" else "name"
            expl = Explanation(
                pattern="foreign-name-model" if kind == "foreign" else "cn-name-model",
                context=why,
                base_score=0.6,
                note=f"{len(cand)}-character {what}; {lo:+.1f} nats over its reading as words",
            )
            yield Hit(i, s0 + s, s0 + e, "PERSON_NAME", _score(why), cand, expl)


BUILTIN = (ChineseName,)
