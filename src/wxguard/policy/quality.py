"""Measured policy quality on the demo company's ground truth.

A behaviour's alerted messages are the evidence messages of every alert raised by a
policy of that behaviour. Against the truth file's planted messages of the same
behaviour: precision = alerted ∩ planted / alerted, recall = alerted ∩ planted /
planted. Used by ``benchmarks/policies.py`` and by the tests, so the figure printed
and the figure guarded are computed the same way.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import orjson

from ..archive import Archive
from ..detect.quality import Score
from ..model import message_id


def score_behaviours(archive: Archive, truth: Path, source: str = "wecom") -> dict[str, Score]:
    planted: dict[str, set[str]] = defaultdict(set)
    for line in truth.read_bytes().splitlines():
        if line.strip():
            e = orjson.loads(line)
            planted[e["behaviour"]].add(message_id(source, e["msgid"]))
    alerted: dict[str, set[str]] = defaultdict(set)
    for behaviour, src, msgid in archive.conn.execute(
        "SELECT a.behaviour, m.source, m.source_msg_id FROM alert_evidence e "
        "JOIN alerts a ON a.id = e.alert_id JOIN messages m ON m.seq = e.seq"
    ):
        alerted[behaviour].add(message_id(src, msgid))
    out = {}
    for b in sorted(set(planted) | set(alerted)):
        t, a = planted[b], alerted[b]
        out[b] = Score(tp=len(t & a), fp=len(a - t), fn=len(t - a))
    return out
