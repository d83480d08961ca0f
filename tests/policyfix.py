"""A tiny company and message builders for policy tests (WeCom records + directory)."""

from __future__ import annotations

import itertools
import time
from pathlib import Path
from typing import Any

import orjson

from conftest import load
from wxguard.archive import Archive
from wxguard.detect.api import DetectConfig
from wxguard.detect.registry import DetectorRegistry
from wxguard.detect.scan import archive_config, scan_archive
from wxguard.policy.run import PolicyRunSummary
from wxguard.policy.service import run_policies

SALES, CEO, FIN = "ZhangWei", "ChenJianGuo", "LiNa"
CUST = "wm" + "C" * 30
CUST2 = "wm" + "D" * 30
LAWYER = "wo" + "L" * 30
IMPOSTOR = "wm" + "X" * 30
BOT_OK, BOT_ROGUE = "wb" + "A" * 30, "wb" + "R" * 30
MARKETING = "YunshanMarketing"
ROOM_OK, ROOM_SIDE, ROOM_INT = "wr" + "1" * 20, "wr" + "2" * 20, "wr" + "3" * 20
NOW_MS = int(time.time() * 1000)
_ids = itertools.count(1)

PEOPLE = [
    {
        "id": SALES,
        "kind": "internal",
        "name": "张伟",
        "department": "销售一部",
        "title": "销售经理",
    },
    {"id": CEO, "kind": "internal", "name": "陈建国", "department": "管理层", "title": "总经理"},
    {"id": FIN, "kind": "internal", "name": "李娜", "department": "财务部", "title": "会计"},
    {"id": MARKETING, "kind": "internal", "name": "云杉科技", "department": "市场部"},
    {"id": CUST, "kind": "external", "name": "王客户", "org": "华辰物流"},
    {"id": CUST2, "kind": "external", "name": "赵客户", "org": "远航"},
    {"id": LAWYER, "kind": "external", "name": "刘律师", "org": "某律所"},
    {"id": IMPOSTOR, "kind": "external", "name": "陈建国", "org": "微信联系人"},
    {"id": BOT_OK, "kind": "bot", "name": "日报机器人"},
    {"id": BOT_ROGUE, "kind": "bot", "name": "返利助手"},
]
ROOMS = [(ROOM_OK, [SALES, CUST]), (ROOM_SIDE, [SALES, CUST, CUST2]), (ROOM_INT, [SALES, FIN])]


def directory(path: Path) -> Path:
    lines = [orjson.dumps({"v": 1, "type": "participant", "participant": p}) for p in PEOPLE]
    for rid, members in ROOMS:
        conv = {"id": rid, "type": "group", "name": rid[:6],
                "roster": [{"participant": m, "joined_at": 0} for m in members]}  # fmt: skip
        lines.append(orjson.dumps({"v": 1, "type": "conversation", "conversation": conv}))
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def rec(sender: str, to: list[str], t: int, room: str = "", **body: Any) -> dict[str, Any]:
    """A decrypted WeCom record; ``text="..."`` or ``msgtype=..., <payload key>=...``."""
    r: dict[str, Any] = {"msgid": f"m{next(_ids)}", "action": "send", "from": sender,
                         "tolist": to, "roomid": room, "msgtime": t}  # fmt: skip
    if "text" in body:
        r.update(msgtype="text", text={"content": body.pop("text")})
    r.update(body)
    return r


def write(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"\n".join(orjson.dumps(r) for r in records) + b"\n")
    return path


def ingest_and_evaluate(
    a: Archive, *files: Path, only: list[str] | None = None, since_ms: int | None = None
) -> PolicyRunSummary:
    load(a, *files)
    cfg = archive_config(a)
    reg = DetectorRegistry.load(cfg)
    scan_archive(a, reg)
    s, pset = run_policies(a, only=only, since_ms=since_ms,
                           detector_ids=[d.id for d in reg.detectors])  # fmt: skip
    assert not pset.problems
    return s


def evidence(a: Archive, policy: str) -> set[str]:
    """Source message ids that are evidence of alerts of one policy."""
    return {
        r[0] for r in a.conn.execute(
            "SELECT m.source_msg_id FROM alert_evidence e JOIN messages m ON m.seq = e.seq "
            "WHERE e.policy = ?", (policy,))
    }  # fmt: skip


__all__ = ["DetectConfig"]
