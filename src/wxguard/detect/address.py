"""Chinese postal addresses: administrative divisions, roads, numbers, buildings, rooms.

An address is a run of components in their usual order — province, city, district,
town, road, street number, building, unit/room — anchored on a province or
municipality name or on a road + number. It counts when it has enough structure to
locate a home or an office: a street number with a road, or a building and a room,
or three administrative levels ending in a road or a residential compound.
``收货地址``, ``住址``, ``寄到`` nearby raise the score.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from .api import Anchor, Detector, Explanation, Hit, ScanBatch

PROVINCES = (
    "北京", "天津", "上海", "重庆", "河北", "山西", "辽宁", "吉林", "黑龙江", "江苏", "浙江", "安徽",
    "福建", "江西", "山东", "河南", "湖北", "湖南", "广东", "海南", "四川", "贵州", "云南", "陕西",
    "甘肃", "青海", "台湾", "内蒙古", "广西", "西藏", "宁夏", "新疆", "香港", "澳门",
)  # fmt: skip
_H = "[\u4e00-\u9fff]"
_PROVINCE = (
    f"(?:{'|'.join(PROVINCES)})(?:省|市|自治区|壮族自治区|回族自治区|维吾尔自治区|特别行政区)?"
)
_CITY = f"{_H}{{2,4}}?(?:市|自治州|地区|盟)"
_DISTRICT = f"{_H}{{1,4}}?(?:区|县|旗)"
_TOWN = f"{_H}{{1,4}}?(?:镇|乡|街道)"
_ROAD = "[\u4e00-\u9fff0-9]{1,8}?(?:大道|路|街|巷|弄|胡同|道)"
_NUMBER = "\\d{1,5}(?:[-之]\\d{1,4})?号(?:院)?"
_BUILDING = (
    "[\u4e00-\u9fffA-Za-z0-9]{1,10}?(?:大厦|广场|中心|花园|小区|公寓|园区|大楼|科技园|写字楼|苑|城)"
)
_UNIT = "(?:[A-Za-z0-9]{1,3}(?:栋|幢|座|号楼|单元)|\\d{1,5}(?:室|房|层|楼))"
_ADDRESS = re.compile(
    f"(?P<prov>{_PROVINCE})?(?P<city>{_CITY})?(?P<dist>{_DISTRICT})?(?P<area>{_DISTRICT})?"
    f"(?P<town>{_TOWN})?"
    f"(?P<road>{_ROAD})?(?P<num>{_NUMBER})?(?P<bld>{_BUILDING})?(?P<unit>(?:{_UNIT}){{0,3}})"
)
_CONTEXT = ("地址", "住址", "收货", "寄到", "送到", "家住", "住在", "位于", "办公室在", "公司在", "来访",
            "address", "邮寄")  # fmt: skip


# Characters that begin the words around an address rather than the address itself.
_LEAD = frozenset("在到于去来从往至是的家寄住送址司我你他她们请就也都和与跟把被让给：:，, 收件发")
_SUFFIXES = ("壮族自治区", "回族自治区", "维吾尔自治区", "特别行政区", "自治区", "自治州", "大道", "胡同",
             "街道", "地区", "市", "州", "盟", "区", "县", "旗", "镇", "乡", "路", "街", "巷", "弄", "道")  # fmt: skip


def _suffix_len(component: str) -> int:
    return next((len(x) for x in _SUFFIXES if component.endswith(x)), 0)


class ChineseAddress(Detector):
    id = "pii.cn.address"
    version = "1"
    entities = ("CN_ADDRESS",)
    languages = ("zh",)
    cost = "expensive"
    description = (
        "Chinese postal addresses: division → road → number → building → room, anchored on a "
        "province or a road and number; context words raise the score"
    )

    def anchors(self) -> Sequence[Anchor]:
        return [
            Anchor("|".join(PROVINCES)),
            Anchor("(?:路|街|道|巷|弄)\\d{1,5}号"),
            Anchor("\\d{1,5}(?:室|房)"),
        ]

    def scan(self, batch: ScanBatch) -> Iterable[Hit]:
        for i in batch.candidates:
            text = batch.texts[i]
            pos = 0
            while pos < len(text):
                m = _ADDRESS.search(text, pos)
                if m is None:
                    break
                if m.end() == m.start():
                    pos = m.end() + 1
                    continue
                hit = self._judge(batch, i, m)
                if hit is not None:
                    yield hit
                pos = m.end()

    @staticmethod
    def _judge(batch: ScanBatch, i: int, m: re.Match[str]) -> Hit | None:
        parts = [k for k in ("prov", "city", "dist", "area", "town", "road", "num", "bld", "unit")
                 if m.group(k)]  # fmt: skip
        admin = sum(1 for k in ("prov", "city", "dist", "area", "town") if m.group(k))
        room = bool(re.search("[室房]", m.group("unit") or ""))
        located = (
            ("road" in parts and "num" in parts)
            or ("bld" in parts and "unit" in parts)
            or (admin >= 3 and ("road" in parts or "bld" in parts))
            or (admin >= 2 and room)
        )
        if not located:
            return None
        s, e = m.span()
        if not m.group("prov"):  # "寄到杭州市…", "公司在海淀区…": the match began too early
            first = next(k for k in ("city", "dist", "area", "town", "road", "num", "bld", "unit")
                         if m.group(k))  # fmt: skip
            name_len = len(m.group(first)) - _suffix_len(m.group(first))
            while m.string[s] in _LEAD and name_len > 2:
                s += 1
                name_len -= 1
        low = batch.lower(i)
        ctx = [w for w in _CONTEXT if w in low[max(0, s - 10) : s]]
        score = min(0.95, 0.45 + 0.08 * len(parts) + (0.15 if ctx else 0.0))
        expl = Explanation(pattern="cn-address", validator="components " + "+".join(parts),
                           context=ctx, base_score=0.45)  # fmt: skip
        return Hit(i, s, e, "CN_ADDRESS", round(score, 3), m.string[s:e], expl)


BUILTIN = (ChineseAddress,)
