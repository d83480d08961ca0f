"""Checksum validators: table cases plus properties (every single-character error is caught)."""

from __future__ import annotations

import datetime as dt
import random
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wxguard.demo.plants import luhn_complete, resident_id, uscc
from wxguard.detect import validators as V
from wxguard.detect.pii import CARD_FIRST_DIGITS

TODAY = dt.date(2026, 11, 23)


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("440305200102091203", True),
        ("320102199308213883", True),
        ("440305200102091204", False),  # check digit
        ("200305200102091203", False),  # region 20 is not a province
        ("440305200102301203", False),  # 30 February
        ("440305203001011203", False),  # born in the future
        ("44030520010209120", False),  # too short
    ],
)
def test_resident_id_table(value: str, ok: bool) -> None:
    assert (V.resident_id(value, TODAY) == V.OK) is ok


@given(st.integers(0, 2**32), st.integers(0, 16), st.integers(1, 9))
def test_resident_id_catches_every_single_digit_error(seed: int, pos: int, delta: int) -> None:
    good = resident_id(random.Random(seed))
    assert V.resident_id(good, TODAY) == V.OK
    d = (int(good[pos]) + delta) % 10
    bad = good[:pos] + str(d) + good[pos + 1 :]
    # GB 11643's mod-11 weights catch any single substitution (the date may also break).
    assert V.resident_id(bad, TODAY) != V.OK


@given(st.integers(0, 2**32), st.sampled_from([16, 19]), st.data())
def test_luhn_catches_every_single_digit_error(seed: int, length: int, data: st.DataObject) -> None:
    card = luhn_complete("62", length, random.Random(seed))
    assert V.luhn(card)
    assert V.bank_card(card).startswith(V.OK)
    pos = data.draw(st.integers(0, length - 1))
    d = (int(card[pos]) + data.draw(st.integers(1, 9))) % 10
    assert not V.luhn(card[:pos] + str(d) + card[pos + 1 :])


@pytest.mark.parametrize(
    ("number", "verdict"),
    [
        ("4111111111111111", "ok Visa"),
        ("5555555555554444", "ok Mastercard"),
        ("378282246310005", "ok American Express"),
        ("3530111333300000", "ok JCB"),
        ("6212260200112233445", None),  # UnionPay prefix, Luhn decides
        ("1234567812345670", "no card network"),  # Luhn-valid, but no network issues 1xxx
        ("4111111111111112", "Luhn check failed"),
    ],
)
def test_bank_card_networks(number: str, verdict: str | None) -> None:
    got = V.bank_card(number)
    if verdict is None:
        assert got.startswith(("ok UnionPay", "Luhn"))
    else:
        assert got.startswith(verdict)


@given(st.integers(0, 2**32), st.integers(0, 17), st.data())
def test_uscc_catches_every_single_character_error(
    seed: int, pos: int, data: st.DataObject
) -> None:
    code = uscc(random.Random(seed))
    assert V.uscc(code) == V.OK
    other = data.draw(st.sampled_from([c for c in V.USCC_CHARS if c != code[pos]]))
    assert V.uscc(code[:pos] + other + code[pos + 1 :]) != V.OK


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("GB82WEST12345698765432", True),
        ("DE89370400440532013000", True),
        ("GB82WEST12345698765433", False),
        ("JD6862427669883", False),  # a tracking number that passes mod 97 by chance
        ("DE8937040044053201300", False),  # wrong length for DE
    ],
)
def test_iban(value: str, ok: bool) -> None:
    assert (V.iban(value) == V.OK) is ok


@pytest.mark.parametrize(
    ("func", "value", "ok"),
    [
        (V.hk_id, "A123456(3)", True),
        (V.hk_id, "A123456(4)", False),
        (V.tw_id, "A123456789", True),
        (V.tw_id, "A123456788", False),
        (V.us_ssn, "536-22-1234", True),
        (V.us_ssn, "666-22-1234", False),
        (V.us_ssn, "078-05-1120", False),
        (V.ipv4, "10.20.30.40", True),
        (V.ipv4, "10.20.300.40", False),
        (V.ipv6, "2001:db8::8a2e:370:7334", True),
        (V.ipv6, "12:30:00", False),
    ],
)
def test_other_validators(func: object, value: str, ok: bool) -> None:
    assert callable(func)
    assert (func(value) == V.OK) is ok


@given(st.text(alphabet=string.printable + "０１２３身份证", max_size=40))
def test_validators_never_raise(s: str) -> None:
    for f in (V.resident_id, V.resident_id_15, V.bank_card, V.uscc, V.iban, V.us_ssn,
              V.hk_id, V.tw_id, V.ipv4, V.ipv6):  # fmt: skip
        assert isinstance(f(s), str)


def test_card_first_digits_cover_every_network() -> None:
    """pii.CARD_FIRST_DIGITS (a quick test before card_network) never rejects a run that
    card_network accepts: every 5-digit prefix (all it reads) at every card length."""
    for n in range(13, 20):
        allowed = CARD_FIRST_DIGITS[n]
        for prefix in range(100_000):
            digits = f"{prefix:05d}".ljust(n, "0")
            if V.card_network(digits) is not None:
                assert digits[0] in allowed, (n, digits)
