"""Chinese person names, by surname, given-name characters and context — no model.

A candidate is a surname (single or compound) followed by one or two characters
common in given names. Alone that is weak (``高兴``, ``周末``), so the score comes
from context measured in characters: an honorific or role right after
(``王芳女士``, ``陈总``, ``李经理``), a cue right before (``联系人``, ``叫``, ``户名``),
or a list of names (``张伟、李娜``). Common words shaped like names are listed and
skipped. Transliterated foreign names and nicknames are out of its reach (see
docs/detectors.md for its measured recall).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from .api import Anchor, DetectConfig, Detector, Explanation, Hit, ScanBatch

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
# Characters common in given names (written from general knowledge, not from any data set).
GIVEN = (
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华建文辉玲婷志红鹏飞宇浩凯健俊帆雪琳晨欣博怡佳"
    "鑫倩瑶婧颖馨悦琪雯璐露璇萱梓涵轩睿哲昊然泽宸瀚子晗彤妍可诗琦嘉欢梦菲蕾岚莉萍燕凤珍琴云莲洁"
    "梅淑惠珠翠雅芝玉萍红娥芬芳燕彩春菊兰凤洁梅琳素云莲真环雪荣爱妹霞香月莺媛艳瑞凡佳嘉琼勤珍贞莉"
    "桂娣叶璧璐娅琦晶妍茜秋珊莎锦黛青倩婷姣婉娴瑾颖露瑶怡婵雁蓓纨仪荷丹蓉眉君琴蕊薇菁梦岚苑婕馨瑗"
    "琰韵融园艺咏卿聪澜纯毓悦昭冰爽琬茗羽希宁欣飘育滢馥筠柔竹霭凝晓欢霄枫芸菲寒伊亚宜可姬舒影荔枝"
    "思丽伟刚勇毅俊峰强军平保东文辉力明永健世广志义兴良海山仁波宁贵福生龙元全国胜学祥才发武新利清"
    "飞彬富顺信子杰涛昌成康星光天达安岩中茂进林有坚和彪博诚先敬震振壮会思群豪心邦承乐绍功松善厚庆"
    "磊民友裕河哲江超浩亮政谦亨奇固之轮翰朗伯宏言若鸣朋斌梁栋维启克伦翔旭鹏泽晨辰士以建家致树炎德"
    "行时泰盛雄琛钧冠策腾楠榕风航弘一二三耀黎懿辰宝鹤骏驰煜炜烨钰铭锐锋晖曦昕昱晟暄璟瑜琨珏玮璋"
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
# Words shaped like surname + given name that are not names.
NOT_NAMES = frozenset(
    (
        "高兴",
        "高强",
        "高明",
        "高超",
        "高飞",
        "高速",
        "高峰",
        "高新",
        "高达",
        "王者",
        "张开",
        "方便",
        "方案",
        "金融",
        "金额",
        "周末",
        "周一",
        "周二",
        "周三",
        "周四",
        "周五",
        "周六",
        "周日",
        "周年",
        "明天",
        "明白",
        "明年",
        "明星",
        "明确",
        "明显",
        "安全",
        "安排",
        "安装",
        "安心",
        "文件",
        "文化",
        "文明",
        "于是",
        "江湖",
        "马上",
        "严重",
        "程序",
        "程度",
        "时间",
        "时候",
        "平安",
        "平台",
        "平时",
        "常见",
        "常用",
        "白色",
        "黄金",
        "华为",
        "万一",
        "万元",
        "全国",
        "全新",
        "全体",
        "国家",
        "国际",
        "国庆",
        "和平",
        "和谐",
        "海关",
        "海外",
        "海洋",
        "林业",
        "石油",
        "司机",
        "包括",
        "成功",
        "成本",
        "成为",
        "成立",
        "成果",
        "任务",
        "任何",
        "向东",
        "关心",
        "关键",
        "宁可",
        "温和",
        "温度",
        "强大",
        "康复",
        "乐观",
        "元旦",
        "通知",
        "利润",
        "利用",
        "利益",
        "信心",
        "信息",
        "展会",
        "展示",
        "宣传",
        "富强",
        "武汉",
        "齐全",
        "易用",
        "平均",
        "祝福",
        "管理",
        "计划",
        "计算",
        "毕业",
        "雷达",
        "风险",
        "谈判",
        "来回",
        "来源",
        "都是",
        "都有",
        "车辆",
        "孔子",
        "丰富",
        "支持",
        "支付",
        "支援",
        "章程",
        "连续",
        "简单",
        "尚未",
        "鲁迅",
        "秦朝",
        "汉朝",
        "于新",
        "宋朝",
        "唐朝",
        "史上",
        "毛利",
        "景气",
        "路上",
        "路线",
        "施工",
        "左右",
        "应该",
        "应用",
        "党建",
        "华东",
        "华南",
        "华北",
        "许可",
        "许多",
        "银行",
        "农行",
        "韩国",
        "海军",
        "公安",
        "张家",
        "南昌",
        "商家",
        "和学",
        "于一",
        "苏富",
        "富龙",
    )
)


class ChineseName(Detector):
    id = "pii.cn.person_name"
    version = "1"
    entities = ("PERSON_NAME",)
    languages = ("zh",)
    cost = "expensive"
    description = (
        "Chinese person names: surname + common given-name characters, scored by context "
        "(honorific after, cue before, name lists); no model, nothing downloaded"
    )

    def __init__(self, config: DetectConfig) -> None:
        super().__init__(config)
        surname = "|".join(COMPOUND) + "|[" + SURNAMES + "]"
        given = f"[{GIVEN}]"
        self._rx = re.compile(f"(?P<name>(?:{surname}){given}{given}?)")
        self._hon = tuple(sorted(HONORIFICS, key=len, reverse=True))

    def anchors(self) -> Sequence[Anchor]:
        return [Anchor(f"[{SURNAMES}][{GIVEN}]")]

    def scan(self, batch: ScanBatch) -> Iterable[Hit]:
        for i in batch.candidates:
            text = batch.texts[i]
            for m in self._rx.finditer(text):
                hit = self._judge(i, text, m.start(), m.end())
                if hit is not None:
                    yield hit

    def _judge(self, i: int, text: str, s: int, e: int) -> Hit | None:
        cand = text[s:e]
        after = text[e : e + 4]
        before = text[max(0, s - 4) : s]
        # A three-character match followed by an honorific may have eaten its first character
        # ("王芳总" is 王芳 + 总): prefer the reading that leaves the honorific whole.
        hon = next((h for h in self._hon if after.startswith(h)), "")
        if not hon and len(cand) == 3:
            hon = next((h for h in self._hon if h[0] == cand[-1] and text.startswith(h, e - 1)), "")
            if hon:
                e -= 1
                cand = cand[:-1]
        if cand in NOT_NAMES or cand[:2] in NOT_NAMES:
            return None
        if any(text.startswith(h, s + 1) for h in self._hon):
            return None  # "张先生", "王总": a surname and a title, not a name
        cue = next((c for c in CUES if before.endswith(c)), "")
        role = next((r for r in ROLES if text[max(0, s - 6) : s].endswith(r)), "")
        verb = next((v for v in AFTER if text.startswith(v, e)), "")
        listed = bool(re.match(r"[、，,和及]", text[e : e + 1])) and bool(
            re.search(r"[、，,：:]$", before)
        )
        three = len(cand) == 3 or cand[:2] in COMPOUND
        if hon:
            score, why = 0.85, [hon]
        elif role and (verb or three):
            score, why = 0.8, [role, verb] if verb else [role]
        elif cue and len(cue) >= 2:
            score, why = 0.75, [cue]
        elif role or (three and verb and verb not in ("的", "在", "和", "与")):
            score, why = 0.6, [role or verb]
        elif cue or listed:
            score, why = 0.55, [cue or "name list"]
        else:
            return None
        expl = Explanation(pattern="cn-name", context=why, base_score=0.4,
                           note=f"{len(cand)}-character name")  # fmt: skip
        return Hit(i, s, e, "PERSON_NAME", score, cand, expl)


BUILTIN = (ChineseName,)
