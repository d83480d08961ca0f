"""Money amounts in chat, in Arabic or Chinese numerals, normalised to fen (or cents).

``三万五千元``, ``1.2万``, ``¥48,000``, ``RMB 5k``, ``48万``, ``壹仟元整`` all become
one value in fen (1/100 yuan), so policies can say "amount ≥ 10,000 yuan" whatever
the writing. A number only counts as money with a currency sign or unit (``元``,
``块``, ``¥``, ``RMB``) or a ten-thousand unit (``万``/``亿``) plus a money word nearby.
Red packets carry their amount in the text view (``红包 ¥888.00``). A finding keeps the
exact amount only as the fingerprint of its value (``CNY:88800``); its explanation
gives the order of magnitude (policies that compare amounts read the message itself).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal, InvalidOperation

from .api import Anchor, Detector, Explanation, Hit, ScanBatch

_CN_DIGITS = {
    "零": 0, "〇": 0, "一": 1, "壹": 1, "二": 2, "贰": 2, "两": 2, "三": 3, "叁": 3, "四": 4,
    "肆": 4, "五": 5, "伍": 5, "六": 6, "陆": 6, "七": 7, "柒": 7, "八": 8, "捌": 8, "九": 9,
    "玖": 9,
}  # fmt: skip
_CN_SMALL = {"十": 10, "拾": 10, "百": 100, "佰": 100, "千": 1000, "仟": 1000}
_CN_BIG = {"万": 10_000, "亿": 100_000_000}
_CN_NUM = "零〇一壹二贰两三叁四肆五伍六陆七柒八捌九玖十拾百佰千仟万亿"
_UNIT_MULT = {"": 1, "k": 1000, "千": 1000, "w": 10_000, "万": 10_000, "亿": 100_000_000,
              "百万": 1_000_000, "千万": 10_000_000}  # fmt: skip

_CURRENCY_BEFORE = r"(?:[¥￥$]|rmb|cny|人民币|usd|us\$)"
_CURRENCY_AFTER = r"(?:元|块钱|块|rmb|人民币|美元|美金|刀)"
_ARABIC = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
_UNIT = r"(?:百万|千万|万|亿|千|k|w)"
_MONEY_RX = re.compile(
    rf"(?P<pre>{_CURRENCY_BEFORE})\s?(?P<a1>{_ARABIC})\s?(?P<u1>{_UNIT})?(?:{_CURRENCY_AFTER})?"
    rf"|(?<![\d.,])(?P<a2>{_ARABIC})\s?(?P<u2>{_UNIT})?\s?(?P<post>{_CURRENCY_AFTER})"
    rf"|(?<![\d.,])(?P<a3>{_ARABIC})(?P<u3>万|亿)"
    rf"|(?P<cn>[{_CN_NUM}]{{2,}})(?P<cnpost>元整|元|块钱|块)?",
    re.IGNORECASE,
)
# Where a match of _MONEY_RX can begin: a currency sign or word's first character, a CN
# numeral, or the first digit of a run of digits, dots and commas (inside such a run every
# digit follows [\d.,], which the Arabic branches' look-behind refuses). Python's re tries
# all four branches of _MONEY_RX at every position, ~6 µs for a 24-character message.
_MONEY_START = re.compile(rf"[¥￥$rcu人{_CN_NUM}]|\d[\d.,]*", re.IGNORECASE)
_USD = re.compile(r"\$|usd|美元|美金|刀", re.IGNORECASE)
_MONEY_WORDS = (
    "转账", "转", "打款", "付款", "汇款", "收款", "红包", "报价", "价格", "优惠", "便宜", "折扣",
    "返点", "回扣", "定金", "尾款", "预算", "合同额", "金额", "费用", "账户",
    "price", "pay", "transfer", "quote", "discount",
)  # fmt: skip


def money_matches(text: str) -> Iterator[re.Match[str]]:
    """The matches of ``_MONEY_RX.finditer(text)``, trying it only where one can begin."""
    search, match = _MONEY_START.search, _MONEY_RX.match
    pos = 0
    while (start := search(text, pos)) is not None:
        m = match(text, start.start())
        if m is not None:
            yield m
            pos = m.end()
        else:
            pos = start.end()


def chinese_number(text: str) -> int | None:
    """``三万五千`` → 35000, ``十二`` → 12, ``一千零五`` → 1005; None if not a number."""
    total, section, digit = 0, 0, None
    seen_any = False
    for ch in text:
        if ch in _CN_DIGITS:
            digit = _CN_DIGITS[ch]
            seen_any = True
        elif ch in _CN_SMALL:
            section += (1 if digit is None else digit) * _CN_SMALL[ch]
            digit = None
            seen_any = True
        elif ch in _CN_BIG:
            section += digit or 0
            if section == 0:
                return None
            total = (total + section) * _CN_BIG[ch] if ch == "亿" else total + section * _CN_BIG[ch]
            section, digit = 0, None
        else:
            return None
    if not seen_any:
        return None
    return total + section + (digit or 0)


def magnitude(sign: str, minor: int) -> str:
    """The order of magnitude of an amount — what a stored explanation may say. The exact
    amount is in the (encrypted) message and, as a fingerprint, in the finding's value."""
    units = minor // 100
    if units == 0:
        return f"amount under {sign}1"
    low = 10 ** (len(str(units)) - 1)
    return f"amount of the order of {sign}{low:,} ({sign}{low:,}–{sign}{low * 10 - 1:,})"


def to_fen(amount: str, unit: str) -> int | None:
    try:
        value = Decimal(amount.replace(",", "")) * _UNIT_MULT[unit.lower()] * 100
    except (InvalidOperation, KeyError):
        return None
    return int(value) if value >= 1 else None


class MoneyAmount(Detector):
    id = "txn.money"
    version = "1"
    entities = ("MONEY_AMOUNT",)
    languages = ("zh", "en")
    description = "Money amounts (Arabic and Chinese numerals, 万/亿/k units) normalised to fen"

    def anchors(self) -> Sequence[Anchor]:
        return [
            Anchor("[¥￥$]|rmb|cny|人民币|usd", caseless=True),
            Anchor("\\d(?:元|块|美元|美金|刀|万|亿|\\s?(?:k|w)\\s?元)", caseless=True),
            Anchor("\\d\\s(?:元|块|万|亿)"),
            Anchor(f"[{_CN_NUM}][{_CN_NUM}](?:元|块)|[{_CN_NUM}]万"),
        ]

    def scan(self, batch: ScanBatch) -> Iterable[Hit]:
        for i in batch.candidates:
            text = batch.texts[i]
            low = batch.lower(i)
            for m in money_matches(text):
                fen, how = self._value(m)
                if fen is None:
                    continue
                near = low[max(0, m.start() - 12) : m.end() + 12]
                ctx = [w for w in _MONEY_WORDS if w in near]
                explicit = bool(m.group("pre") or m.group("post") or m.group("cnpost"))
                if not explicit and not ctx:
                    continue  # "3万" with no money word: a count, not an amount
                score = 0.8 if ctx else 0.6
                usd = _USD.search(m.group())
                sign, code = ("US$", "USD") if usd else ("¥", "CNY")
                expl = Explanation(
                    pattern=how, context=ctx[:4], base_score=0.6,
                    note=magnitude(sign, fen),
                )  # fmt: skip
                end = m.start() + len(m.group().rstrip())
                yield Hit(i, m.start(), end, "MONEY_AMOUNT", score, f"{code}:{fen}", expl)

    @staticmethod
    def _value(m: re.Match[str]) -> tuple[int | None, str]:
        for a, u, how in (("a1", "u1", "currency-sign"), ("a2", "u2", "amount-unit"),
                          ("a3", "u3", "wan-yi")):  # fmt: skip
            if m.group(a):
                return to_fen(m.group(a), m.group(u) or ""), how
        n = chinese_number(m.group("cn"))
        if n is None or (not m.group("cnpost") and n < 10_000):
            return None, ""
        return n * 100, "chinese-numerals"


BUILTIN = (MoneyAmount,)
