"""Normalisation for matching, and the offset map back to the original text."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wxguard.detect.textnorm import ZERO_WIDTH, map_chars, normalise, one_to_one


@pytest.mark.parametrize(
    ("original", "normalised"),
    [
        ("手机１３８００１３８０００", "手机13800138000"),
        ("ｅｍａｉｌ＠ｘ．ｃｏｍ", "email@x.com"),
        ("機密文件請勿外傳", "机密文件请勿外传"),
        ("pаypal", "paypal"),  # Cyrillic а
        ("身 份 证", "身份证"),
        ("身\u3000份证", "身份证"),
        ("机\u200b密", "机密"),
        ("1 3 8-0013-8000", "1 3 8-0013-8000"),  # number separators stay (patterns accept them)
        ("hello world", "hello world"),  # spaces between Latin words stay
        ("你好，世界！", "你好，世界！"),  # Chinese punctuation stays
    ],
)
def test_normalise_table(original: str, normalised: str) -> None:
    assert normalise(original).text == normalised


def test_lone_surrogates_become_replacement_characters() -> None:
    n = normalise("a\ud800b")
    assert n.text == "a\ufffdb"
    assert n.text.encode("utf-8")


_ALPHABET = "机密身份证号码 abc123０１２機傳а\u200b\u200d\u3000\t"


@given(st.text(alphabet=_ALPHABET, max_size=60))
def test_every_kept_character_maps_back_to_its_original(s: str) -> None:
    n = normalise(s)
    table = one_to_one()
    for j, ch in enumerate(n.text):
        o = n.original_index(j)
        src = s[o]
        assert ch == table.get(src, src)
    # removed characters are exactly zero-width ones and whitespace between Chinese characters
    kept = {n.original_index(j) for j in range(len(n.text))}
    for o, ch in enumerate(s):
        if o not in kept:
            assert ch in ZERO_WIDTH or ch in " \t\u3000"


@given(st.text(alphabet=_ALPHABET, max_size=60), st.data())
def test_span_mapping_covers_the_same_characters(s: str, data: st.DataObject) -> None:
    n = normalise(s)
    if not n.text:
        return
    a = data.draw(st.integers(0, len(n.text) - 1))
    b = data.draw(st.integers(a + 1, len(n.text)))
    oa, ob = n.span(a, b)
    assert 0 <= oa < ob <= len(s)
    # the original span, normalised, gives back the normalised span's characters
    assert normalise(s[oa:ob]).text == n.text[a:b]


@given(st.text(max_size=80))
def test_one_to_one_map_keeps_length(s: str) -> None:
    assert len(map_chars(s)) == len(s)
