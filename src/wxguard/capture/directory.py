"""The company directory from WeCom's HTTP APIs (``shared/specs/wecom-archive.md`` §3).

One :func:`sync` pass:

* in-scope members (``msgaudit/get_permit_user_list``, §3.2; POST, GET as fallback);
* names of members (``user/get``, §3.9), external contacts (``externalcontact/get``,
  §3.7, with the contact's company) and bots (``msgaudit/get_robot_info``, §3.5);
* every group seen in the stream: internal groups through ``msgaudit/groupchat/get``
  (§3.6), customer groups through ``externalcontact/groupchat/get`` (§3.8) when the
  first answers "only support inner room". Rosters keep history: a member who is no
  longer listed gets ``left_at`` (the time the change was seen), one who comes back a
  new entry, so policies can ask who was in which group when;
* consent (§3.3, §3.4) for every member ↔ external pair in a one-to-one chat (≤ 100 per
  call) and every customer group.

Names are enrichment: what the APIs do not answer (no privilege, contact deleted) keeps
what the archive already knew, and the problem is reported, not fatal. Everything is
written in one transaction; the directory version in ``meta`` tells readers to reload.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..archive import Archive
from ..model import ChatType, Conversation, Participant, ParticipantKind, RosterEntry
from ..policy.store import load_directory
from ..seal import Batch, Sealer
from .api import ApiError, Client
from .config import Connector

CONSENT_BATCH = 100  # §3.3: at most 100 pairs per check_single_agree


@dataclass
class DirectoryReport:
    in_scope: int = 0
    people: int = 0
    groups: int = 0
    customer_groups: int = 0
    joined: int = 0
    left: int = 0
    consent_checked: int = 0
    refusals: int = 0
    problems: list[str] = field(default_factory=list)

    def problem(self, text: str) -> None:
        if len(self.problems) < 50:
            self.problems.append(text)


def clients(c: Connector, sleep: Callable[[float], None] = time.sleep) -> tuple[Client, Client]:
    net = c.cfg.network
    archive = Client(net.api_base, c.cfg.corp_id, c.secret, timeout=max(5, net.timeout * 2),
                     proxy=net.proxy, sleep=sleep)  # fmt: skip
    contacts = archive
    if c.contacts_secret:
        contacts = Client(
            net.api_base, c.cfg.corp_id, c.contacts_secret, timeout=max(5, net.timeout * 2),
            proxy=net.proxy, sleep=sleep,
        )  # fmt: skip
    return archive, contacts


def _merge(old: Participant | None, new: Participant) -> Participant:
    if old is None:
        return new
    return Participant(
        id=new.id, kind=new.kind, name=new.name or old.name, org=new.org or old.org,
        department=new.department or old.department, title=new.title or old.title,
    )  # fmt: skip


def roster_update(
    old: list[RosterEntry], current: dict[str, int | None], now_ms: int
) -> tuple[list[RosterEntry], int, int]:
    """The roster with history after seeing ``current`` (member → join time in ms):
    (roster, joined, left)."""
    out = [RosterEntry(participant=e.participant, joined_at=e.joined_at, left_at=e.left_at)
           for e in old]  # fmt: skip
    open_by = {e.participant: e for e in out if e.left_at is None}
    joined = left = 0
    for e in open_by.values():
        if e.participant not in current:
            e.left_at = now_ms
            left += 1
    for pid, at in current.items():
        cur = open_by.get(pid)
        if cur is not None:
            if cur.joined_at is None and at:
                cur.joined_at = at
            continue
        last_left = max((x.left_at or 0 for x in out if x.participant == pid), default=0)
        start = at if at and at > last_left else (now_ms if last_left else at)
        out.append(RosterEntry(participant=pid, joined_at=start or None))
        joined += 1
    return out, joined, left


class DirectorySync:
    def __init__(
        self,
        archive: Archive,
        conn: Connector,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        sealer: Sealer | None = None,
    ) -> None:
        self.a = archive
        self.c = conn
        self.clock = clock
        # Share the puller's sealer when there is one: it caches rosters and known people.
        self.sealer = sealer
        self.api, self.contacts = clients(conn, sleep)

    def _now(self) -> int:
        return int(self.clock() * 1000)

    def run(self) -> DirectoryReport:
        rep = DirectoryReport()
        d = load_directory(self.a)
        people: dict[str, Participant] = {}
        in_scope = self._permit_list(rep)
        known = dict(d.people)
        for uid in in_scope:
            known.setdefault(uid, Participant(id=uid, kind=ParticipantKind.INTERNAL))
        for p in list(known.values()):
            got = self._person(p, rep)
            if got is not None and got != d.people.get(p.id):
                people[p.id] = got
        convs: list[Conversation] = []
        for cv in d.conversations.values():
            if cv.type != ChatType.GROUP or not cv.id:
                continue
            got_cv = self._group(cv, known, people, rep)
            if got_cv is not None:
                convs.append(got_cv)
        consent = self._consent(d.conversations.values(), known, rep)
        now = self._now()
        of_id = self.a.keys.fingerprints.of_id
        sealer = self.sealer or Sealer(self.a)
        sealer.begin()
        conn = self.a.conn
        conn.execute("INSERT OR IGNORE INTO capture_state (stream) VALUES (?)", (self.c.stream,))
        if in_scope:
            conn.execute("UPDATE capture_members SET in_scope = 0 WHERE stream = ?",
                         (self.c.stream,))  # fmt: skip
            conn.executemany(
                "INSERT INTO capture_members (stream, member_fp, in_scope) VALUES (?, ?, 1) "
                "ON CONFLICT (stream, member_fp) DO UPDATE SET in_scope = 1",
                [(self.c.stream, of_id(u)) for u in in_scope],
            )
        if consent:
            conn.executemany(
                "INSERT INTO consent VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (member_fp, external_fp, room_fp) DO UPDATE SET "
                "status = excluded.status, changed_at = excluded.changed_at, "
                "checked_at = excluded.checked_at",
                consent,
            )
        conn.execute(
            "UPDATE capture_state SET directory_at = ? WHERE stream = ?", (now, self.c.stream)
        )
        conn.execute(
            "INSERT INTO meta (key, value) VALUES ('directory_version', ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (str(now),),
        )
        sealer.commit(Batch(participants=list(people.values()), conversations=convs))
        rep.people = len(people)
        return rep

    # -------------------------------------------------------------- calls

    def _permit_list(self, rep: DirectoryReport) -> list[str]:
        try:
            doc = self.api.call("msgaudit/get_permit_user_list", body={})
        except ApiError as e:
            if e.code not in (43001, 43002, -2):
                rep.problem(str(e))
                return []
            try:  # §3.2: the method is disputed; some deployments answer GET only
                doc = self.api.call("msgaudit/get_permit_user_list")
            except ApiError as e2:
                rep.problem(str(e2))
                return []
        ids = [str(x) for x in doc.get("ids") or [] if isinstance(x, str) and x]
        rep.in_scope = len(ids)
        return ids

    def _person(self, p: Participant, rep: DirectoryReport) -> Participant | None:
        try:
            if p.kind == ParticipantKind.INTERNAL:
                doc = self.contacts.call("user/get", query={"userid": p.id})
                depts = doc.get("department") or []
                new = Participant(
                    id=p.id, kind=p.kind, name=str(doc.get("name") or ""),
                    title=str(doc.get("position") or ""),
                    department="" if p.department else ",".join(str(x) for x in depts),
                )  # fmt: skip
            elif p.kind == ParticipantKind.EXTERNAL:
                doc = self.contacts.call("externalcontact/get", query={"external_userid": p.id})
                ec = doc.get("external_contact") or {}
                new = Participant(
                    id=p.id, kind=p.kind, name=str(ec.get("name") or ""),
                    org=str(ec.get("corp_full_name") or ec.get("corp_name") or ""),
                    title=str(ec.get("position") or ""),
                )  # fmt: skip
            else:
                doc = self.api.call("msgaudit/get_robot_info", query={"robot_id": p.id})
                data = doc.get("data") or {}
                new = Participant(id=p.id, kind=p.kind, name=str(data.get("name") or ""))
        except ApiError as e:
            if e.transient:
                rep.problem(str(e))
            elif len(rep.problems) < 10 or e.code not in (60011, 84061, 60111, 40003):
                rep.problem(f"{e} ({p.kind} {p.id})")
            return None
        return _merge(p, new)

    def _group(
        self,
        cv: Conversation,
        known: dict[str, Participant],
        people: dict[str, Participant],
        rep: DirectoryReport,
    ) -> Conversation | None:
        members: dict[str, int | None] = {}
        try:
            doc = self.api.call("msgaudit/groupchat/get", body={"roomid": cv.id})
            name, owner = str(doc.get("roomname") or ""), str(doc.get("creator") or "")
            for m in doc.get("members") or []:
                if isinstance(m, dict) and m.get("memberid"):
                    members[str(m["memberid"])] = _ms(m.get("jointime"))
            rep.groups += 1
        except ApiError as e:
            if "inner room" not in str(e) and e.code not in (86001, 301052):
                rep.problem(f"{e} (group {cv.id})")
                return None
            try:  # a customer group (§3.6 → §3.8)
                doc = self.contacts.call(
                    "externalcontact/groupchat/get", body={"chat_id": cv.id, "need_name": 1}
                )
            except ApiError as e2:
                rep.problem(f"{e2} (group {cv.id})")
                return None
            g = doc.get("group_chat") or {}
            name, owner = str(g.get("name") or ""), str(g.get("owner") or "")
            for m in g.get("member_list") or []:
                if not isinstance(m, dict) or not m.get("userid"):
                    continue
                uid = str(m["userid"])
                members[uid] = _ms(m.get("join_time"))
                if uid not in known and m.get("type") == 2:
                    p = Participant(id=uid, kind=ParticipantKind.EXTERNAL,
                                    name=str(m.get("name") or ""))  # fmt: skip
                    known[uid] = people[uid] = p
            rep.customer_groups += 1
        roster, joined, left = roster_update(cv.roster, members, self._now())
        rep.joined += joined
        rep.left += left
        new = Conversation(id=cv.id, type=cv.type, name=name or cv.name, owner=owner or cv.owner,
                           roster=roster)  # fmt: skip
        return None if new == cv else new

    def _consent(
        self, convs: Any, known: dict[str, Participant], rep: DirectoryReport
    ) -> list[tuple[bytes, bytes, bytes, str, int | None, int]]:
        of_id = self.a.keys.fingerprints.of_id
        now = self._now()
        pairs: list[tuple[str, str]] = []
        rooms: list[str] = []
        for cv in convs:
            ids = {e.participant for e in cv.roster}
            kinds = {i: known[i].kind if i in known else None for i in ids}
            ext = [i for i, k in kinds.items() if k == ParticipantKind.EXTERNAL]
            if not ext:
                continue
            if cv.type == ChatType.DIRECT:
                staff = [i for i, k in kinds.items() if k == ParticipantKind.INTERNAL]
                pairs.extend((s, x) for s in staff for x in ext)
            else:
                rooms.append(cv.id)
        rows: list[tuple[bytes, bytes, bytes, str, int | None, int]] = []
        for i in range(0, len(pairs), CONSENT_BATCH):
            chunk = pairs[i : i + CONSENT_BATCH]
            body = {"info": [{"userid": u, "exteranalopenid": x} for u, x in chunk]}  # sic §3.3
            try:
                doc = self.api.call("msgaudit/check_single_agree", body=body)
            except ApiError as e:
                rep.problem(str(e))
                break
            for a in doc.get("agreeinfo") or []:
                if isinstance(a, dict) and a.get("userid") and a.get("exteranalopenid"):
                    rows.append(self._consent_row(of_id(str(a["userid"])), a, b"", now))
        for room in rooms:
            try:
                doc = self.api.call("msgaudit/check_room_agree", body={"roomid": room})
            except ApiError as e:
                rep.problem(f"{e} (group {room})")
                continue
            for a in doc.get("agreeinfo") or []:
                if isinstance(a, dict) and a.get("exteranalopenid"):
                    rows.append(self._consent_row(b"", a, of_id(room), now))
        rep.consent_checked = len(rows)
        rep.refusals = sum(r[3] == "Disagree" for r in rows)
        return rows

    def _consent_row(
        self, member_fp: bytes, a: dict[str, Any], room_fp: bytes, now: int
    ) -> tuple[bytes, bytes, bytes, str, int | None, int]:
        status = str(a.get("agree_status") or "")
        if status not in ("Agree", "Disagree", "Default_Agree"):
            status = "Unknown"
        ext = self.a.keys.fingerprints.of_id(str(a["exteranalopenid"]))
        return (member_fp, ext, room_fp, status, _ms(a.get("status_change_time")), now)


def _ms(seconds: Any) -> int | None:
    """API times are UTC seconds (§3.3, §3.6)."""
    return int(seconds) * 1000 if isinstance(seconds, int) and seconds > 0 else None
