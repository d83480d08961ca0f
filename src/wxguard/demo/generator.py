"""Demo company generator: decrypted-WeCom-format JSONL for a fictional company.

``generate(out, messages, seed)`` writes three files:

* ``OUT`` — one decrypted WeCom record per line (``specs/wecom-archive.md`` §2 shapes);
* ``OUT.directory.jsonl`` — the company directory (participants with departments,
  conversations with names and rosters incl. a member who left) in interchange form;
* ``OUT.truth.jsonl`` — one line per planted risky item: message id, behaviour,
  entity, the matched string and its span in the message's text view.

Deterministic for a given (messages, seed). All people and data are invented.
"""

from __future__ import annotations

import bisect
import itertools
import random
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from ..textview import text_view
from ..wecom import normalise
from . import content as C
from .plants import ITEM_BEHAVIOUR, PLANTS, Plant, PlantContext

START_MS = 1_790_784_000_000  # 2026-10-01T00:00:00+08:00
SPAN_MS = 30 * 86_400_000
_ID_CHARS = string.ascii_letters + string.digits + "-_"

Rec = dict[str, Any]


@dataclass
class Person:
    id: str
    name: str
    kind: str
    org: str
    department: str = ""
    title: str = ""


@dataclass
class Room:
    id: str
    name: str
    members: list[str]
    external: bool
    approved: bool = True
    left: dict[str, int] = field(default_factory=dict)


def _ext_id(rng: random.Random, prefix: str) -> str:
    return prefix + "".join(rng.choices(_ID_CHARS, k=30))


class Company:
    """The fictional company: employees, customers, bots, groups."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.employees: list[Person] = []
        used: set[str] = set()
        for dept, _en, n in C.DEPARTMENTS:
            for j in range(n):
                if dept == "管理层" and j == 0:
                    name, uid = C.CEO_NAME, "ChenJianGuo"
                else:
                    while True:
                        (s, sp), (g, gp) = rng.choice(C.SURNAMES), rng.choice(C.GIVEN)
                        name, uid = s + g, sp + gp
                        if uid not in used:
                            break
                used.add(uid)
                title = C.TITLES[dept][min(j, len(C.TITLES[dept]) - 1)]
                self.employees.append(Person(uid, name, "internal", C.COMPANY, dept, title))
        self.ceo = self.employees[0]
        self.sales = [p for p in self.employees if p.department.startswith(("销售", "客户成功"))]
        self.customers: list[Person] = []
        for org, _domain, _city in C.CUSTOMERS:
            for _ in range(rng.randint(3, 6)):
                (s, _), (g, _) = rng.choice(C.SURNAMES), rng.choice(C.GIVEN)
                prefix = rng.choice(("wm", "wm", "wo"))
                self.customers.append(
                    Person(_ext_id(rng, prefix), s + g, "external", org, title="采购经理")
                )
        # An outside account wearing the CEO's display name (impersonation plant).
        self.impostor = Person(_ext_id(rng, "wm"), C.CEO_NAME, "external", "微信联系人")
        self.bots = [
            Person(_ext_id(rng, "wb"), "云杉日报机器人", "bot", C.COMPANY),
            Person(_ext_id(rng, "wb"), "工单提醒", "bot", C.COMPANY),
        ]
        self.rogue_bot = Person(_ext_id(rng, "wb"), "返利助手Bot", "bot", "")
        self.rooms: list[Room] = []
        self._make_rooms()

    def _room_id(self) -> str:
        return _ext_id(self.rng, "wr")

    def _make_rooms(self) -> None:
        rng, emp = self.rng, self.employees
        self.rooms.append(Room(self._room_id(), "云杉全员群", [p.id for p in emp], False))
        self.rooms.append(Room(self._room_id(), "销售周会群", [p.id for p in self.sales], False))
        rd = [p.id for p in emp if p.department in ("研发部", "客户成功部")]
        self.rooms.append(Room(self._room_id(), "研发-客户成功对接群", rd, False))
        for org, _d, _c in C.CUSTOMERS:
            cust = [p.id for p in self.customers if p.org == org]
            staff = [p.id for p in rng.sample(self.sales, 3)]
            self.rooms.append(Room(self._room_id(), f"云杉×{org[:4]}项目群", staff + cust, True))
        # A group that left: one member departs mid-month (roster history).
        self.rooms[1].left[self.rooms[1].members[-1]] = START_MS + SPAN_MS // 2
        # Off-list external group (unauthorised external group plant).
        cust = [p.id for p in rng.sample(self.customers, 4)]
        self.unapproved = Room(
            self._room_id(), "私下报价交流群", [self.sales[0].id, *cust], True, approved=False
        )
        self.rooms.append(self.unapproved)

    def everyone(self) -> list[Person]:
        return [*self.employees, *self.customers, self.impostor, *self.bots, self.rogue_bot]


def _mix64(n: int) -> int:
    """SplitMix64's finaliser: a bijection of 64-bit integers that looks random."""
    n &= _U64
    n = ((n ^ (n >> 30)) * 0xBF58476D1CE4E5B9) & _U64
    n = ((n ^ (n >> 27)) * 0x94D049BB133111EB) & _U64
    return n ^ (n >> 31)


_U64 = (1 << 64) - 1


class Generator:
    def __init__(self, messages: int, seed: int) -> None:
        self.n = messages
        self.rng = random.Random(seed)
        self.co = Company(self.rng)
        self.by_id = {p.id: p for p in self.co.everyone()}
        self._recent: list[tuple[str, str, list[str], str]] = []
        self._msgid_n = self.rng.randrange(10**18, 9 * 10**18)
        self.ctx = PlantContext(self.co, self.rng, self._fill)

    # ------------------------------------------------------------------ helpers

    def _msgid(self, t: int, external: bool) -> str:
        # WeCom ids are "<random 64-bit number>_<unix seconds>" (specs/wecom-archive.md §2.1
        # examples): random, not increasing. A mixed counter gives unique random-looking ids
        # (the mix is a bijection), so benchmarks see the index inserts real ids cause.
        self._msgid_n += self.rng.randrange(1, 10**12)
        mid = f"{_mix64(self._msgid_n)}_{t // 1000}"
        return mid + "_external" if external else mid

    def _fill(self, template: str, speaker: Person | None = None) -> str:
        rng = self.rng
        if "{" not in template:
            return template
        return template.format(
            customer=rng.choice(C.CUSTOMERS)[0],
            product=rng.choice(C.PRODUCTS),
            qty=rng.randint(2, 60),
            price=rng.randint(8, 300) * 100,
            date=f"{rng.randint(10, 12)}月{rng.randint(1, 28)}日",
            person=rng.choice(self.co.employees).name,
            city=rng.choice(C.CITIES),
            order=f"YS{rng.randint(20261001, 20261130)}{rng.randint(0, 99999):05d}",
            amount=rng.randint(5, 300),
            # Hard negatives for detectors: long order numbers, tracking numbers, versions.
            order18=f"{rng.randint(20261001, 20261130)}{rng.randint(0, 10**10 - 1):010d}",
            tracking=f"{rng.randint(10**12, 10**13 - 1)}",
            ver=f"{rng.randint(1, 4)}.{rng.randint(0, 12)}.{rng.randint(0, 30)}.{rng.randint(1, 250)}",
            mtg=f"{rng.randint(100, 999)} {rng.randint(100, 999)} {rng.randint(100, 999)}",
        )

    def _conversation(self) -> tuple[Person, list[str], str, bool]:
        """(sender, tolist, roomid, external?) for an ordinary message."""
        rng, co = self.rng, self.co
        r = rng.random()
        if r < 0.33:
            a, b = rng.sample(co.employees, 2)
            return a, [b.id], "", False
        if r < 0.63:
            staff, cust = rng.choice(co.sales), rng.choice(co.customers)
            if rng.random() < 0.4:
                return cust, [staff.id], "", True
            return staff, [cust.id], "", True
        room = rng.choice(co.rooms[:-1])
        sender = self.by_id[rng.choice(room.members)]
        return sender, [m for m in room.members if m != sender.id], room.id, room.external

    # ------------------------------------------------------------------ kinds

    def _body(self, sender: Person, external: bool) -> tuple[str, str, Any]:
        """(msgtype, payload key, payload) of an ordinary message."""
        r = self.rng.random()
        if r < 0.80:
            if sender.kind == "external":
                pool = C.CUSTOMER_REPLIES
            else:
                pool = C.EXTERNAL_TEXT if external else C.INTERNAL_TEXT
            return "text", "text", {"content": self._fill(self.rng.choice(pool))}
        kind = self.rng.choice(ORDINARY_KINDS)
        return KIND_BUILDERS[kind](self, sender)

    def record(self, i: int, t: int) -> tuple[Rec, Plant | None, list[tuple[str, str]]]:
        if i < len(ALL_KINDS) * 3 and i % 3 == 1:
            return self._ordinary(t, forced=ALL_KINDS[i // 3]), None, []
        if i % 97 == 13:
            plant = PLANTS[(i // 97) % len(PLANTS)]
            rec, items = plant.build(self.ctx, t, self._msgid)
            return rec, plant, items
        return self._ordinary(t), None, []

    def _ordinary(self, t: int, forced: str | None = None) -> Rec:
        sender, tolist, roomid, external = self._conversation()
        if forced == "switch":
            return {
                "msgid": self._msgid(t, False),
                "action": "switch",
                "time": t,
                "user": sender.id,
            }
        if forced == "revoke" or (forced is None and self._recent and self.rng.random() < 0.004):
            if self._recent:
                pre, s, tl, room = self._recent[-1]
                return {
                    "msgid": self._msgid(t, False), "action": "recall", "from": s, "tolist": tl,
                    "roomid": room, "msgtime": t, "msgtype": "revoke",
                    "revoke": {"pre_msgid": pre},
                }  # fmt: skip
            forced = None
        if forced in ("agree", "disagree"):
            cust = self.rng.choice(self.co.customers)
            staff = self.rng.choice(self.co.sales)
            return {
                "msgid": self._msgid(t, True), "action": "send", "from": cust.id,
                "tolist": [staff.id], "roomid": "", "msgtime": t, "msgtype": forced,
                forced: {"userid": cust.id, f"{forced}_time": t},
            }  # fmt: skip
        if forced == "markdown":
            sender, external = self.co.bots[0], False
        if forced is not None and forced != "text":
            msgtype, key, payload = KIND_BUILDERS[forced](self, sender)
        else:
            msgtype, key, payload = self._body(sender, external)
        msgid = self._msgid(t, external)
        rec: Rec = {
            "msgid": msgid, "action": "send", "from": sender.id, "tolist": tolist,
            "roomid": roomid, "msgtime": t, "msgtype": msgtype,
        }  # fmt: skip
        if msgtype in ("meeting_voice_call", "voip_doc_share"):
            del rec["roomid"]  # §2.1: official examples omit roomid for these
            rec["voiceid" if msgtype == "meeting_voice_call" else "voipid"] = "gr" + "".join(
                self.rng.choices("0123456789abcdef", k=32)
            )
        if key == "__top__":
            rec.update(payload)
        else:
            rec[key] = payload
        if msgtype == "text" and self.rng.random() < 0.01:
            self._recent.append((msgid, sender.id, tolist, roomid))
            self._recent = self._recent[-8:]
        return rec

    # ------------------------------------------------------------------ run

    def approvals(self) -> dict[str, list[str]]:
        """What the demo company's administrator has approved: its project groups with
        customers, its own mini-programs and bots (the plants use others)."""
        return {
            "external-group": [r.id for r in self.co.rooms if r.external and r.approved],
            "miniprogram": [user for _name, user, _title in C.APPROVED_WEAPPS],
            "bot": [b.id for b in self.co.bots],
        }

    def directory_lines(self) -> list[bytes]:
        out = []
        for p in self.co.everyone():
            part = {"id": p.id, "kind": p.kind, "name": p.name}
            if p.org:
                part["org"] = p.org
            if p.department:
                part["department"] = p.department
            if p.title:
                part["title"] = p.title
            out.append(orjson.dumps({"v": 1, "type": "participant", "participant": part}))
        for room in self.co.rooms:
            roster = []
            for m in room.members:
                entry: dict[str, Any] = {"participant": m, "joined_at": START_MS - 86_400_000 * 30}
                if m in room.left:
                    entry["left_at"] = room.left[m]
                roster.append(entry)
            conv = {"id": room.id, "type": "group", "name": room.name, "roster": roster}
            if room.members:
                conv["owner"] = room.members[0]
            out.append(orjson.dumps({"v": 1, "type": "conversation", "conversation": conv}))
        return out


# Relative chat volume by hour of day (China time) and by weekday (Mon..Sun).
_HOURLY = [0.1, 0.05, 0.02, 0.02, 0.02, 0.05, 0.2, 0.5, 1.5, 4, 5, 4.5, 2, 3, 4.5, 5, 4.5,
           4, 2.5, 1.5, 1.2, 1, 0.6, 0.3]  # fmt: skip
_WEEKDAY = [1.0, 1.0, 1.0, 1.0, 0.95, 0.25, 0.15]


class BusinessClock:
    """Maps message i of n to a time: busy working hours, quiet nights and weekends.

    Monotonic in i, so the stream is in time order as WeCom delivers it.
    """

    def __init__(self, n: int) -> None:
        self.n = n
        weights = []
        for hour in range(SPAN_MS // 3_600_000):
            day = hour // 24  # START_MS is Thursday 2026-10-01 00:00 China time
            holiday = 0.2 if day < 7 else 1.0  # National Day Golden Week, 1-7 October
            weights.append(holiday * _WEEKDAY[(day + 3) % 7] * _HOURLY[hour % 24])
        total = sum(weights)
        self.cum = list(itertools.accumulate(w / total for w in weights))

    def at(self, i: int, jitter: float) -> int:
        q = (i + jitter) / self.n
        slot = min(bisect.bisect_right(self.cum, q), len(self.cum) - 1)
        lo = self.cum[slot - 1] if slot else 0.0
        frac = (q - lo) / (self.cum[slot] - lo) if self.cum[slot] > lo else 0.0
        return START_MS + slot * 3_600_000 + int(min(max(frac, 0.0), 0.999999) * 3_600_000)


def truth_entries(rec: Rec, plant: Plant, items: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """Spans of the planted items in the message's text view (code-point offsets)."""
    msg = normalise(rec)
    text = text_view(msg.payload)
    out = []
    for entity, match in items:
        start = text.find(match) if match else -1
        out.append(
            {
                "msgid": rec["msgid"],
                "behaviour": ITEM_BEHAVIOUR.get(entity, plant.behaviour),
                "entity": entity,
                "match": match,
                "span": [start, start + len(match)] if start >= 0 else None,
                "conversation": msg.conversation,
            }
        )
    return out


def generate(out: Path, messages: int, seed: int = 7) -> dict[str, Any]:
    """Write the demo files; returns a summary."""
    if messages < 1:
        raise ValueError("messages must be at least 1")
    g = Generator(messages, seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    directory = out.with_name(out.name.removesuffix(".jsonl") + ".directory.jsonl")
    truth = out.with_name(out.name.removesuffix(".jsonl") + ".truth.jsonl")
    directory.write_bytes(b"\n".join(g.directory_lines()) + b"\n")
    clock = BusinessClock(messages)
    planted = dup = 0
    dumps = orjson.dumps
    with out.open("wb") as f, truth.open("wb") as tf:
        buf: list[bytes] = []
        for i in range(messages):
            t = clock.at(i, g.rng.random())
            rec, plant, items = g.record(i, t)
            line = dumps(rec)
            buf.append(line)
            if plant is not None:
                planted += 1
                for entry in truth_entries(rec, plant, items):
                    tf.write(dumps(entry) + b"\n")
            if i % 1009 == 500:  # at-least-once delivery: an exact re-delivery
                buf.append(line)
                dup += 1
            if len(buf) >= 4096:
                f.write(b"\n".join(buf) + b"\n")
                buf.clear()
        if buf:
            f.write(b"\n".join(buf) + b"\n")
    return {
        "messages": messages,
        "redelivered_duplicates": dup,
        "planted": planted,
        "seed": seed,
        "files": {"messages": str(out), "directory": str(directory), "truth": str(truth)},
        "people": len(g.co.everyone()),
        "employees": len(g.co.employees),
        "groups": len(g.co.rooms),
        "approvals": g.approvals(),
    }


from .kinds import KIND_BUILDERS, ORDINARY_KINDS  # noqa: E402

ALL_KINDS: list[str] = [*sorted(KIND_BUILDERS), "text", "revoke", "agree", "disagree", "switch"]
Builder = Callable[[Generator, Person], tuple[str, str, Any]]
