"""The demo company generator: deterministic, complete, with correct ground truth."""

from __future__ import annotations

import hashlib
from pathlib import Path

import orjson

from wxguard.demo.generator import generate
from wxguard.demo.plants import BEHAVIOURS, luhn_complete, resident_id, uscc
from wxguard.textview import text_view
from wxguard.wecom import WECOM_MSGTYPES, normalise_bytes


def _digest(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_deterministic_per_seed(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a" / "d.jsonl", tmp_path / "b" / "d.jsonl", tmp_path / "c" / "d.jsonl"
    generate(a, 1500, seed=3)
    generate(b, 1500, seed=3)
    generate(c, 1500, seed=4)
    for suffix in ("d.jsonl", "d.truth.jsonl", "d.directory.jsonl"):
        assert _digest(a.with_name(suffix)) == _digest(b.with_name(suffix))
    assert _digest(a) != _digest(c)


def test_every_msgtype_and_behaviour_present(demo: Path) -> None:
    kinds = set()
    for line in demo.read_bytes().splitlines():
        m = normalise_bytes(line)
        kinds.add(m.kind)
        assert not m.flags or m.flags == ["msgtime-zero"]
    assert WECOM_MSGTYPES | {"switch"} <= kinds
    truth = [orjson.loads(x) for x in demo.with_name("demo.truth.jsonl").read_bytes().splitlines()]
    assert {t["behaviour"] for t in truth} == set(BEHAVIOURS)


def test_truth_spans_point_at_the_match(demo: Path) -> None:
    by_id = {}
    for line in demo.read_bytes().splitlines():
        m = normalise_bytes(line)
        by_id[m.source_msg_id] = text_view(m.payload)
    truth = [orjson.loads(x) for x in demo.with_name("demo.truth.jsonl").read_bytes().splitlines()]
    spans = 0
    for t in truth:
        text = by_id[t["msgid"]]
        if t["span"] is not None:
            s, e = t["span"]
            assert text[s:e] == t["match"]
            spans += 1
        else:  # conversation- or account-level findings have no span
            assert t["entity"] in ("UNAPPROVED_EXTERNAL_GROUP", "UNVETTED_BOT")
    assert spans > 0.8 * len(truth)


def test_generated_identifiers_are_valid() -> None:
    import random

    rng = random.Random(1)
    for _ in range(200):
        rid = resident_id(rng)
        w = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
        assert (
            "10X98765432"[sum(int(c) * k for c, k in zip(rid[:17], w, strict=True)) % 11] == rid[17]
        )
        card = luhn_complete("62", 16, rng)
        digits = [int(c) for c in card[::-1]]
        total = sum(digits[0::2]) + sum(sum(divmod(2 * d, 10)) for d in digits[1::2])
        assert total % 10 == 0
        code = uscc(rng)
        chars = "0123456789ABCDEFGHJKLMNPQRTUWXY"
        ws = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
        s = sum(chars.index(c) * k for c, k in zip(code[:17], ws, strict=True))
        assert chars[(31 - s % 31) % 31] == code[17]


def test_directory_has_departments_and_roster_history(demo: Path) -> None:
    lines = [
        orjson.loads(x) for x in demo.with_name("demo.directory.jsonl").read_bytes().splitlines()
    ]
    people = [x["participant"] for x in lines if x["type"] == "participant"]
    groups = [x["conversation"] for x in lines if x["type"] == "conversation"]
    employees = [p for p in people if p["kind"] == "internal"]
    assert 45 <= len(employees) <= 55
    assert len({p["department"] for p in employees}) >= 6
    assert {p["kind"] for p in people} == {"internal", "external", "bot"}
    assert len({p["org"] for p in people if p["kind"] == "external"}) >= 5
    assert any("left_at" in e for g in groups for e in g["roster"])
