"""Structured personal data: Chinese identity documents, phones, cards, codes, addresses.

Every number is validated (check digits, dates, region and issuer tables) before it
counts, and scored by the words around it: ``身份证`` before an 18-digit number
raises it, ``订单号`` lowers it. Digits may carry separators (``138 0013-8000``) and
may touch Chinese characters (``手机13800138000请回电``).
"""

from __future__ import annotations

from . import validators as V
from .api import Anchor
from .patterns import (
    NO_DIGIT_AFTER,
    NO_DIGIT_BEFORE,
    SEP,
    Pattern,
    PatternDetector,
    digit_run,
    digits_of,
)
from .patterns import upper_alnum as _upper

# Patterns that require context are anchored on their context words (anchor "").
# Mobiles, cards and resident IDs share one anchor, a run of 11 or more digits: one
# Hyperscan callback per run instead of three (order and tracking numbers are common).
_LONG_DIGITS = digit_run(11)
# The end of a whole token in an anchor (byte mode): the NUL after each text, or the end of
# the batch's buffer, bounds the last one (see Anchor).
_BOUND = "(?:[^0-9A-Za-z]|$)"


# Cheap tests of a whole digit run (Pattern.runs): a regex runs only where one passes.
def _id18_run(d: str) -> bool:  # 17 digits (+ X) or 18 starting with a province code
    return len(d) == 17 or (len(d) == 18 and d[:2] in V.PROVINCES)


def _mobile_run(d: str) -> bool:  # 11 digits, or 86 / 0086 + 11
    return d[-11:-10] == "1" and (len(d) == 11 or d[:-11] in ("86", "0086"))


# The first digits a card of each length can have (V.card_network; a test enumerates every
# prefix it reads): most long runs in chat (waybills, order numbers) fail this at once.
CARD_FIRST_DIGITS = {13: "4", 14: "", 15: "3", 16: "234568", 17: "368", 18: "368", 19: "34689"}


def _card_run(d: str) -> bool:
    first = CARD_FIRST_DIGITS.get(len(d))
    return first is not None and d[0] in first and V.card_network(d) is not None


# Words that say "this number is not about a person".
_NOT_PERSONAL = (
    "订单", "单号", "快递", "运单", "物流", "流水号", "发票号", "合同号", "工单", "批次",
    "order", "tracking", "invoice", "sku", "serial",
)  # fmt: skip


def _digits(s: str) -> str:
    return digits_of(s)


class ResidentId(PatternDetector):
    id = "pii.cn.resident_id"
    version = "1"
    entities = ("CN_RESIDENT_ID",)
    languages = ("zh",)
    description = (
        "Mainland resident identity number (GB 11643: check digit, birth date, province code); "
        "the 15-digit pre-1999 form only with context"
    )
    _ctx = ("身份证", "身份号", "证件号", "公民身份", "idcard", "idno", "idnumber", "id:", "id号")
    patterns = (
        Pattern(
            "cn-resident-id-18", "CN_RESIDENT_ID",
            NO_DIGIT_BEFORE + f"(?P<v>\\d(?:{SEP}?\\d){{16}}{SEP}?[\\dXx])(?![A-Za-z0-9])"
            + NO_DIGIT_AFTER,
            _LONG_DIGITS, 0.9, V.resident_id, _upper, _ctx, 0.99, suppress=_NOT_PERSONAL,
            suppressed_score=0.3, runs=_id18_run,
        ),
        Pattern(
            "cn-resident-id-15", "CN_RESIDENT_ID",
            NO_DIGIT_BEFORE + "(?P<v>\\d{15})" + NO_DIGIT_AFTER,
            "", 0.3, V.resident_id_15, _digits, _ctx, 0.85, requires_context=True,
            runs=lambda d: len(d) == 15,
        ),
    )  # fmt: skip


_MOBILE_PREFIX = ("13", "145", "146", "147", "148", "149", "150", "151", "152", "153", "155",
                  "156", "157", "158", "159", "162", "165", "166", "167", "17", "18", "190",
                  "191", "192", "193", "195", "196", "197", "198", "199")  # fmt: skip


def _mobile(value: str) -> str:
    if len(value) != 11:
        return "not 11 digits"
    if value.startswith("17") and value[2] == "9":
        return "prefix 179 is not a mobile range"
    return V.OK if value.startswith(_MOBILE_PREFIX) else f"prefix {value[:3]} is not a mobile range"


def _mobile_canon(s: str) -> str:
    d = _digits(s)
    return d[-11:] if len(d) > 11 else d


_PHONE_CTX = ("手机", "电话", "联系", "致电", "来电", "号码", "微信", "手机号", "tel", "mobile",
              "phone", "call", "whatsapp", "cell")  # fmt: skip


class Mobile(PatternDetector):
    id = "pii.cn.mobile"
    version = "1"
    entities = ("CN_MOBILE",)
    languages = ("zh", "en")
    description = "Mainland mobile numbers (allocated 1xx prefixes), with +86 and separators"
    patterns = (
        Pattern(
            "cn-mobile", "CN_MOBILE",
            NO_DIGIT_BEFORE + f"(?:(?:\\+|00)?86{SEP}?)?(?P<v>1{SEP}?[3-9](?:{SEP}?\\d){{9}})"
            + NO_DIGIT_AFTER,
            _LONG_DIGITS, 0.8, _mobile, _mobile_canon, _PHONE_CTX, 0.95, suppress=_NOT_PERSONAL,
            suppressed_score=0.3, runs=_mobile_run,
        ),
    )  # fmt: skip


def _landline(value: str) -> str:
    if not value.startswith("0") or len(value) not in (10, 11, 12):
        return "not an area code + 7-8 digit number"
    area = value[:3] if value[1] in "12" else value[:4]
    local = value[len(area) :]
    if len(local) not in (7, 8) or local[0] in "01":
        return "local number must be 7-8 digits not starting with 0 or 1"
    return V.OK


class Landline(PatternDetector):
    id = "pii.cn.landline"
    version = "1"
    entities = ("CN_LANDLINE",)
    languages = ("zh",)
    description = "Mainland fixed-line numbers with area code (010, 02x, 0xxx)"
    _area = "0(?:[12]\\d|[3-9]\\d{2})"
    patterns = (
        Pattern(
            "cn-landline-separated", "CN_LANDLINE",
            NO_DIGIT_BEFORE + f"(?P<v>\\(?{_area}\\)?[ \\-]\\d{{3,4}}[ \\-]?\\d{{4}})"
            + NO_DIGIT_AFTER,
            "[^\\d]\\(?0\\d{2,3}\\)?[ \\-]\\d{3}", 0.7, _landline, _digits,
            (*_PHONE_CTX, "座机", "总机", "传真", "fax"), 0.95,
            suppress=_NOT_PERSONAL,
        ),
        Pattern(
            "cn-landline-compact", "CN_LANDLINE",
            NO_DIGIT_BEFORE + f"(?P<v>{_area}\\d{{7,8}})" + NO_DIGIT_AFTER,
            "", 0.3, _landline, _digits, (*_PHONE_CTX, "座机", "总机", "传真", "fax"), 0.9,
            requires_context=True, runs=lambda d: 10 <= len(d) <= 12 and d[0] == "0",
        ),
    )  # fmt: skip


def _card(value: str) -> str:
    reason = V.bank_card(value)
    if reason.startswith(V.OK) and len(value) == 18 and V.resident_id(value) == V.OK:
        return "a valid resident ID number, not taken for a card"
    return reason


class BankCard(PatternDetector):
    id = "pii.bank_card"
    version = "1"
    entities = ("BANK_CARD",)
    languages = ("zh", "en")
    description = (
        "Payment card numbers: Luhn plus issuer prefix and length (UnionPay 62/81 and legacy "
        "domestic ranges, Visa, Mastercard, Amex, JCB)"
    )
    patterns = (
        Pattern(
            "payment-card", "BANK_CARD",
            NO_DIGIT_BEFORE + f"(?P<v>\\d(?:{SEP}?\\d){{12,18}})" + NO_DIGIT_AFTER,
            _LONG_DIGITS, 0.85, _card, _digits,
            ("卡号", "银行卡", "账号", "帐号", "开户行", "信用卡", "借记卡", "储蓄卡", "打到",
             "转到", "户名", "收款", "card", "visa", "mastercard", "account"),
            0.98, suppress=_NOT_PERSONAL, suppressed_score=0.3, runs=_card_run,
        ),
    )  # fmt: skip


# What the validator checks first, in the anchor: an assigned registration department and
# a province (or national, 10) region code, the whole token bounded. An 18-digit order
# number such as 202610097035142183 (region "26") is then not a candidate.
_USCC_ANCHOR = Anchor(
    f"[^0-9A-Za-z][{''.join(sorted(V.USCC_DEPTS))}][0-9A-Z]"
    f"(?:{'|'.join(sorted(V.PROVINCES | {'10'}))})[0-9]{{4}}[0-9A-Z]{{10}}{_BOUND}",
    utf8=False,
)


class Uscc(PatternDetector):
    id = "pii.cn.uscc"
    version = "1"
    entities = ("CN_USCC",)
    languages = ("zh",)
    description = "Unified social credit codes of organisations (GB 32100 check character)"
    patterns = (
        Pattern(
            "cn-uscc", "CN_USCC",
            "(?<![0-9A-Za-z])(?P<v>[0-9A-HJ-NP-RTUW-Y]{2}\\d{6}[0-9A-HJ-NP-RTUW-Y]{10})"
            "(?![0-9A-Za-z])",
            _USCC_ANCHOR, 0.9, V.uscc, _upper,
            ("信用代码", "税号", "纳税人识别号", "营业执照", "开票", "uscc", "taxid"), 0.99,
        ),
    )  # fmt: skip


class Passport(PatternDetector):
    id = "pii.cn.passport"
    version = "1"
    entities = ("CN_PASSPORT",)
    languages = ("zh", "en")
    description = "Chinese passport numbers (E/G + 8 digits, E + letter + 7); context required"
    patterns = (
        Pattern(
            "cn-passport", "CN_PASSPORT",
            "(?<![0-9A-Za-z])(?P<v>[EG]\\d{8}|E[A-HJ-NP-Z]\\d{7}|[DSP]E?\\d{7})(?![0-9A-Za-z])",
            "[DEGPS][A-Z]?\\d{7}", 0.4, None, _upper,
            ("护照", "passport", "出境", "签证", "visa", "出国"), 0.95, requires_context=True,
        ),
    )  # fmt: skip


# Whole IDs only, bounded like their regexes: an express waybill such as SF8605271917261
# holds "F8605271" but is not a candidate, which kept the HK and TW regexes running on ~6%
# of chat.
_HK_ANCHOR = Anchor(
    f"[^0-9A-Za-z][A-Z]{{1,2}}[0-9]{{6}}(?:\\([0-9A]\\)|[0-9A]{_BOUND})", utf8=False
)
_TW_ANCHOR = Anchor(f"[^0-9A-Za-z][A-Z][12][0-9]{{8}}{_BOUND}", utf8=False)


class HmtId(PatternDetector):
    id = "pii.cn.hmt_id"
    version = "1"
    entities = ("HK_ID", "MACAU_ID", "TW_ID", "CN_HMT_PERMIT")
    languages = ("zh", "en")
    description = (
        "Hong Kong ID (check digit), Taiwan ID (check digit), Macau ID, and the mainland "
        "travel permits (港澳通行证, 回乡证, 台胞证; with context)"
    )
    _permit_ctx = ("通行证", "回乡证", "台胞证", "往来", "permit", "证件号")
    patterns = (
        Pattern(
            "hk-id", "HK_ID",
            "(?<![0-9A-Za-z])(?P<v>[A-Z]{1,2}\\d{6}\\([0-9A]\\)|[A-Z]{1,2}\\d{6}[0-9A])"
            "(?![0-9A-Za-z])",
            _HK_ANCHOR, 0.75, V.hk_id, _upper,
            ("香港", "身份证", "hkid", "identity card"), 0.95,
        ),
        Pattern(
            "tw-id", "TW_ID",
            "(?<![0-9A-Za-z])(?P<v>[A-Z][12]\\d{8})(?![0-9A-Za-z])",
            _TW_ANCHOR, 0.75, V.tw_id, _upper,
            ("台湾", "臺灣", "身份证", "身分證", "taiwan"), 0.95,
        ),
        Pattern(
            "macau-id", "MACAU_ID",
            NO_DIGIT_BEFORE + "(?P<v>[1578]\\d{6}\\(?\\d\\)?)" + NO_DIGIT_AFTER,
            "", 0.3, None, _digits, ("澳门", "澳門", "macau", "macao", "bir"), 0.9,
            requires_context=True,
        ),
        Pattern(
            "hmt-permit", "CN_HMT_PERMIT",
            "(?<![0-9A-Za-z])(?P<v>[CW][A-Z0-9]?\\d{7,8}|[HM]\\d{8}(?:\\d{2})?)(?![0-9A-Za-z])",
            "", 0.3, None, _upper, _permit_ctx, 0.9, requires_context=True,
        ),
        Pattern(
            "tw-compatriot-permit", "CN_HMT_PERMIT",
            NO_DIGIT_BEFORE + "(?P<v>\\d{8})" + NO_DIGIT_AFTER,
            "", 0.3, None, _digits, ("台胞证",), 0.9, requires_context=True, window=8,
        ),
    )  # fmt: skip


_PROVINCE_ABBR = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"


def _plate(value: str) -> str:
    return V.OK if any(c.isdigit() for c in value) else "no digit: a word, not a plate"


class LicencePlate(PatternDetector):
    id = "pii.cn.licence_plate"
    version = "1"
    entities = ("CN_LICENCE_PLATE",)
    languages = ("zh",)
    description = "Mainland vehicle plates (province + letter + 5, or 6 for new-energy vehicles)"
    patterns = (
        Pattern(
            "cn-plate", "CN_LICENCE_PLATE",
            f"(?P<v>[{_PROVINCE_ABBR}][A-HJ-NP-Z][·• \\-]?"
            "(?:[A-HJ-NP-Z0-9]{5,6}|[A-HJ-NP-Z0-9]{4}[挂学警港澳]))(?![0-9A-Za-z])",
            f"[{_PROVINCE_ABBR}][A-HJ-NP-Z]", 0.75, _plate, _upper,
            ("车牌", "牌照", "车号", "plate", "停车", "车辆"), 0.95,
        ),
    )  # fmt: skip


class Email(PatternDetector):
    id = "pii.email"
    version = "1"
    entities = ("EMAIL",)
    languages = ("zh", "en")
    description = "E-mail addresses (ASCII local part and domain; touching Chinese is fine)"
    patterns = (
        Pattern(
            "email", "EMAIL",
            "(?<![A-Za-z0-9._%+\\-])(?P<v>[A-Za-z0-9._%+\\-]{1,64}@[A-Za-z0-9\\-]{1,63}"
            "(?:\\.[A-Za-z0-9\\-]{1,63})*\\.[A-Za-z]{2,24})(?![A-Za-z])",
            "@", 0.85, None, str.lower,
        ),
    )  # fmt: skip


class IpAddress(PatternDetector):
    id = "pii.ip"
    version = "1"
    entities = ("IP_ADDRESS",)
    languages = ("zh", "en")
    description = "IPv4 and IPv6 addresses (version numbers suppressed)"
    patterns = (
        Pattern(
            "ipv4", "IP_ADDRESS",
            "(?<![\\d.])(?P<v>\\d{1,3}(?:\\.\\d{1,3}){3})(?![\\d]|\\.\\d)",
            "\\d\\.\\d{1,3}\\.\\d{1,3}\\.\\d", 0.6, V.ipv4, str,
            ("ip", "服务器", "server", "地址", "host", "登录", "ssh", "内网", "外网"), 0.85,
            suppress=("版本", "version", "ver", "v"), suppressed_score=0.2, window=6,
        ),
        Pattern(
            "ipv6", "IP_ADDRESS",
            "(?<![0-9A-Fa-f:])(?P<v>(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4})(?![0-9A-Fa-f:])",
            "[0-9A-Fa-f]{0,4}:[0-9A-Fa-f]{0,4}:[0-9A-Fa-f]{0,4}:", 0.7, V.ipv6, str.lower,
            ("ip", "服务器", "server", "地址", "host", "ipv6"), 0.9,
        ),
    )  # fmt: skip


class Iban(PatternDetector):
    id = "pii.iban"
    version = "1"
    entities = ("IBAN",)
    languages = ("en",)
    description = "International bank account numbers (ISO 13616 length and mod-97 check)"
    patterns = (
        Pattern(
            "iban", "IBAN",
            "(?<![0-9A-Za-z])(?P<v>[A-Z]{2}\\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?)"
            "(?![0-9A-Za-z])",
            f"(?:{'|'.join(V.IBAN_COUNTRIES)})\\d{{2}} ?[A-Z0-9]{{4}}", 0.9, V.iban, _upper,
            ("iban", "swift", "bic"), 0.98,
        ),
    )  # fmt: skip


class UsSsn(PatternDetector):
    id = "pii.us_ssn"
    version = "1"
    entities = ("US_SSN",)
    languages = ("en",)
    description = "US social security numbers (issuance rules; undashed form only with context)"
    _ctx = ("ssn", "social security", "社会安全", "社安号")
    patterns = (
        Pattern(
            "us-ssn", "US_SSN", NO_DIGIT_BEFORE + "(?P<v>\\d{3}-\\d{2}-\\d{4})" + NO_DIGIT_AFTER,
            "[^\\d]\\d{3}-\\d{2}-\\d{4}", 0.6, V.us_ssn, _digits, _ctx, 0.95,
            suppress=(*_NOT_PERSONAL, "phone", "电话"),
        ),
        Pattern(
            "us-ssn-compact", "US_SSN", NO_DIGIT_BEFORE + "(?P<v>\\d{9})" + NO_DIGIT_AFTER,
            "", 0.3, V.us_ssn, _digits, _ctx, 0.9, requires_context=True,
        ),
    )  # fmt: skip


BUILTIN = (
    ResidentId, Mobile, Landline, BankCard, Uscc, Passport, HmtId, LicencePlate, Email,
    IpAddress, Iban, UsSsn,
)  # fmt: skip
