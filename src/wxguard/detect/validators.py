"""Checksum and structure validators: pure predicates over a candidate's characters.

Each returns a short reason string: ``"ok"`` when valid, otherwise why not. The
reason goes into the finding's explanation, so a reviewer sees *why* a number was
taken (or not) for an ID.
"""

from __future__ import annotations

import datetime as _dt
import ipaddress

OK = "ok"

# GB 11643-1999 resident identity number: weights 2^(17-i) mod 11, check "10X98765432".
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
# GB/T 2260 province-level codes; 71/81/82 (Taiwan, Hong Kong, Macau) and 83 appear on
# residence permits for those residents.
PROVINCES = frozenset(
    ("11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37",
     "41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64",
     "65", "71", "81", "82", "83")
)  # fmt: skip


def resident_id(value: str, today: _dt.date | None = None) -> str:
    """GB 11643: 18 characters = region(6) birth date(8) sequence(3) check(1)."""
    v = value.upper()
    if len(v) != 18 or not v[:17].isdigit() or not (v[17].isdigit() or v[17] == "X"):
        return "not 17 digits + check character"
    if v[:2] not in PROVINCES:
        return f"region code {v[:2]} is not a province"
    birth = _date(v[6:14])
    if birth is None:
        return "birth date is not a date"
    if not _dt.date(1900, 1, 1) <= birth <= (today or _dt.date.today()):
        return "birth date out of range"
    s = sum(int(c) * w for c, w in zip(v[:17], _ID_WEIGHTS, strict=True))
    if _ID_CHECK[s % 11] != v[17]:
        return "check digit mismatch"
    return OK


def resident_id_15(value: str) -> str:
    """The pre-1999 15-digit form: region(6) YYMMDD(6) sequence(3), no check digit."""
    if len(value) != 15 or not value.isdigit():
        return "not 15 digits"
    if value[:2] not in PROVINCES:
        return f"region code {value[:2]} is not a province"
    if _date("19" + value[6:12]) is None:
        return "birth date is not a date"
    return OK


def _date(yyyymmdd: str) -> _dt.date | None:
    try:
        return _dt.date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:8]))
    except ValueError:
        return None


def luhn(digits: str) -> bool:
    if not digits.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def card_network(digits: str) -> str | None:
    """Issuer network by IIN prefix and length, or None when no card network uses it."""
    n = len(digits)
    p2, p4 = int(digits[:2]), int(digits[:4])
    if digits[:2] in ("62", "81") and 16 <= n <= 19:
        return "UnionPay"
    if n == 19 and (digits[:4] == "9558" or digits[:5] == "95599"):
        return "UnionPay (legacy domestic)"
    if digits[0] == "4" and n in (13, 16, 19):
        return "Visa"
    if (51 <= p2 <= 55 or 2221 <= p4 <= 2720) and n == 16:
        return "Mastercard"
    if p2 in (34, 37) and n == 15:
        return "American Express"
    if 3528 <= p4 <= 3589 and 16 <= n <= 19:
        return "JCB"
    if digits[:2] == "60" and 16 <= n <= 19:
        return "UnionPay (domestic debit)"
    return None


def bank_card(digits: str) -> str:
    if not 13 <= len(digits) <= 19 or not digits.isdigit():
        return "not 13-19 digits"
    network = card_network(digits)
    if network is None:
        return "no card network issues this prefix and length"
    if not luhn(digits):
        return "Luhn check failed"
    return OK + " " + network


# GB 32100-2015 unified social credit code.
USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_W = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
USCC_DEPTS = frozenset("123456789ANY")  # GB 32100 registration departments


def uscc(value: str) -> str:
    v = value.upper()
    if len(v) != 18 or any(c not in USCC_CHARS for c in v):
        return "not 18 characters of the GB 32100 alphabet"
    if v[0] not in USCC_DEPTS:
        return f"registration department {v[0]} is not assigned"
    if v[2:4] not in PROVINCES and v[2:4] != "10":  # 10xxxx: registered at national level
        return f"region code {v[2:4]} is not a province"
    s = sum(USCC_CHARS.index(c) * w for c, w in zip(v[:17], _USCC_W, strict=True))
    if USCC_CHARS[(31 - s % 31) % 31] != v[17]:
        return "check character mismatch"
    return OK


def hk_id(value: str) -> str:
    """Hong Kong identity card: 1-2 letters, 6 digits, check digit 0-9 or A (mod 11)."""
    v = value.upper().replace("(", "").replace(")", "")
    letters = v[:-7]
    if not (1 <= len(letters) <= 2 and letters.isalpha() and v[-7:-1].isdigit()):
        return "not 1-2 letters + 6 digits + check"
    padded = letters.rjust(2, " ")
    vals = [36 if c == " " else ord(c) - 55 for c in padded] + [int(c) for c in v[-7:-1]]
    s = sum(x * w for x, w in zip(vals, range(9, 1, -1), strict=True))
    check = (11 - s % 11) % 11
    if ("A" if check == 10 else str(check)) != v[-1]:
        return "check digit mismatch"
    return OK


_TW_LETTERS = "ABCDEFGHJKLMNPQRSTUVXYWZIO"  # A=10 ... in this order


def tw_id(value: str) -> str:
    """Taiwan national identification number: letter, 1/2 (sex), 8 digits, mod 10."""
    v = value.upper()
    if len(v) != 10 or not v[0].isalpha() or not v[1:].isdigit() or v[1] not in "12":
        return "not a letter + 1/2 + 8 digits"
    n = _TW_LETTERS.index(v[0]) + 10
    s = (
        n // 10
        + (n % 10) * 9
        + sum(int(c) * w for c, w in zip(v[1:9], range(8, 0, -1), strict=True))
    )
    s += int(v[9])
    return OK if s % 10 == 0 else "check digit mismatch"


# ISO 13616 lengths by country (the SWIFT IBAN registry); other prefixes are not IBANs —
# without this, one in 97 tracking numbers like "JD6862427669883" would pass mod 97.
_IBAN_LEN = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BR": 29, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20,
    "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27,
    "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30,
    "KZ": 20, "LB": 28, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MD": 24, "ME": 22,
    "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15, "PK": 24, "PL": 28, "PS": 29,
    "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24, "SE": 24, "SI": 19, "SK": 24, "SM": 27,
    "TN": 24, "TR": 26, "UA": 29, "VG": 24, "XK": 20,
}  # fmt: skip


IBAN_COUNTRIES = tuple(sorted(_IBAN_LEN))


def iban(value: str) -> str:
    v = value.replace(" ", "").upper()
    if not (15 <= len(v) <= 34 and v[:2].isalpha() and v[2:4].isdigit() and v.isalnum()):
        return "not an IBAN shape"
    want = _IBAN_LEN.get(v[:2])
    if want is None:
        return f"{v[:2]} is not a country that issues IBANs"
    if len(v) != want:
        return f"{v[:2]} IBANs have {want} characters"
    digits = "".join(str(int(c, 36)) for c in v[4:] + v[:4])
    return OK if int(digits) % 97 == 1 else "mod 97 check failed"


def us_ssn(value: str) -> str:
    d = "".join(c for c in value if c.isdigit())
    if len(d) != 9:
        return "not 9 digits"
    area, group, serial = d[:3], d[3:5], d[5:]
    if area in ("000", "666") or area[0] == "9":
        return f"area {area} is never issued"
    if group == "00" or serial == "0000":
        return "zero group or serial is never issued"
    if d in ("078051120", "219099999", "123456789"):
        return "a well-known example number"
    return OK


def ipv4(value: str) -> str:
    parts = value.split(".")
    if len(parts) != 4 or any(not p.isdigit() or len(p) > 3 for p in parts):
        return "not four dotted numbers"
    if any(int(p) > 255 or (len(p) > 1 and p[0] == "0") for p in parts):
        return "octet out of range"
    return OK


def ipv6(value: str) -> str:
    try:
        ipaddress.IPv6Address(value)
    except ValueError:
        return "not an IPv6 address"
    return OK if value.count(":") >= 3 else "too short to be taken for an address"
