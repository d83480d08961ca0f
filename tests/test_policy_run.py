"""Policies over a real archive: context, windows, sequences, aggregation, history runs,
inventory, allowlists and the audit trail."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import run_cli
from policyfix import (
    BOT_OK,
    BOT_ROGUE,
    CEO,
    CUST,
    CUST2,
    FIN,
    IMPOSTOR,
    LAWYER,
    MARKETING,
    NOW_MS,
    ROOM_INT,
    ROOM_OK,
    ROOM_SIDE,
    SALES,
    directory,
    evidence,
    ingest_and_evaluate,
    rec,
    write,
)  # fmt: skip
from wxguard.archive import Archive
from wxguard.audit import events
from wxguard.policy.store import (
    alert_detail,
    allowlist_add,
    inventory,
    list_alerts,
    load_directory,
    set_status,
)
from wxguard.verify import verify

T0 = NOW_MS - 3 * 86_400_000
MIN = 60_000
WEAPP_OK, WEAPP_NEW = "wx1111111111111111@app", "wx9999999999999999@app"
RID = "11010519491231002X"


def _setup(a: Archive, tmp: Path) -> Path:
    allowlist_add(a, "external-group", ROOM_OK, "project group", "test")
    allowlist_add(a, "marketing-account", MARKETING, "official account", "test")
    allowlist_add(a, "privileged-conversation", f"direct:{LAWYER}|{SALES}"
                  if LAWYER < SALES else f"direct:{SALES}|{LAWYER}", "counsel", "test")  # fmt: skip
    set_status(a, "miniprogram", WEAPP_OK, "approved", "ours", "test")
    set_status(a, "bot", BOT_OK, "approved", "ours", "test")
    return directory(tmp / "dir.jsonl")


def test_context_policies_end_to_end(archive: Archive, tmp_path: Path) -> None:
    d = _setup(archive, tmp_path)
    w = {"msgtype": "weapp"}
    msgs = [
        rec(SALES, [CUST], T0, **w, weapp={"title": "返利", "username": WEAPP_NEW, "displayname": "极速返利"}),
        rec(SALES, [CUST], T0 + MIN, **w, weapp={"title": "报修", "username": WEAPP_OK, "displayname": "服务台"}),
        rec(BOT_ROGUE, [SALES, CUST], T0 + 2 * MIN, ROOM_OK, msgtype="markdown", info={"content": "领取返利 https://fanli-bot.cn/r/1"}),
        rec(BOT_OK, [SALES, CUST], T0 + 3 * MIN, ROOM_OK, msgtype="markdown", info={"content": "今日日报"}),
        rec(IMPOSTOR, [FIN], T0 + 4 * MIN, text="在吗？有急事"),
        rec(CEO, [FIN], T0 + 5 * MIN, text="在吗？有急事"),
        rec(SALES, [CUST, CUST2], T0 + 6 * MIN, ROOM_SIDE, text="价格在这个群里单独说"),
        rec(SALES, [CUST], T0 + 7 * MIN, ROOM_OK, text="价格按合同执行"),
        rec(SALES, [FIN], T0 + 8 * MIN, ROOM_INT, text="周会改到下午"),
        rec(MARKETING, [CUST], T0 + 9 * MIN, text=f"【内部资料】开户示例 身份证号 {RID}"),
        rec(SALES, [LAWYER], T0 + 10 * MIN, text=f"这是涉诉客户的身份证号 {RID}"),
        rec(SALES, [CUST], T0 + 11 * MIN, text=f"客户身份证号 {RID}"),
    ]  # fmt: skip
    ids = [m["msgid"] for m in msgs]
    s = ingest_and_evaluate(archive, d, write(tmp_path / "m.jsonl", msgs))
    assert s.messages == len(msgs)
    assert evidence(archive, "unverified-third-party") == {ids[0], ids[2]}
    assert evidence(archive, "impersonation-executive") == {ids[4]}
    assert evidence(archive, "unapproved-external-group") == {ids[6]}
    assert evidence(archive, "pii-external") == {ids[10], ids[11]}  # not the marketing account
    assert evidence(archive, "confidential-external") == set()

    alerts = {a["policy"]: a for a in list_alerts(archive)}
    assert alerts["impersonation-executive"]["severity"] == "critical"
    pii = [a for a in list_alerts(archive, policy="pii-external")]
    restricted = [a for a in pii if a["restricted"]]
    assert len(pii) == 2 and len(restricted) == 1
    dirx = load_directory(archive)
    detail = alert_detail(archive, restricted[0]["id"], dirx)
    assert detail["evidence"] and "findings" not in detail["evidence"][0]
    open_one = alert_detail(archive, next(a for a in pii if not a["restricted"])["id"], dirx)
    [ev] = open_one["evidence"]
    assert ev["findings"][0]["entity"] == "CN_RESIDENT_ID" and RID not in str(open_one)
    assert open_one["subjects"] == [{"name": "张伟", "department": "销售一部"}]
    assert open_one["policy_version"] == 1 and len(open_one["policy_digest"]) == 16

    inv = {(r["kind"], r["id"]): r for r in inventory(archive, dirx)}
    assert inv[("miniprogram", WEAPP_NEW)]["status"] == "new"
    assert inv[("miniprogram", WEAPP_NEW)]["top_users"] == [{"name": "张伟", "uses": 1}]
    assert inv[("miniprogram", WEAPP_OK)]["status"] == "approved"
    assert inv[("bot", BOT_ROGUE)]["uses"] == 1 and inv[("domain", "fanli-bot.cn")]["uses"] == 1
    assert inv[("miniprogram", WEAPP_NEW)]["first_seen"] == T0

    # Approving the mini-program is audited; later messages with it no longer alert.
    before = set_status(archive, "miniprogram", WEAPP_NEW, "approved", "vetted", "reviewer-1")
    assert before == "new"
    ev0 = events(archive, "inventory-status")[0]
    assert (ev0.actor, ev0.subject, ev0.detail["to"]) == (
        "reviewer-1",
        f"miniprogram:{WEAPP_NEW}",
        "approved",
    )
    later = rec(SALES, [CUST], T0 + 20 * MIN, **w, weapp={"title": "返利", "username": WEAPP_NEW})
    ingest_and_evaluate(archive, write(tmp_path / "m2.jsonl", [later]))
    assert later["msgid"] not in evidence(archive, "unverified-third-party")
    rep = verify(archive)
    assert rep.ok and rep.audit_events == len(events(archive)) >= 6


def test_tampered_audit_event_fails_verify(archive: Archive) -> None:
    set_status(archive, "domain", "example.cn", "rejected", "phishing", "reviewer-1")
    assert verify(archive).ok
    archive.conn.execute("UPDATE audit SET actor = 'someone-else'")
    rep = verify(archive)
    assert not rep.ok and "record differs from what the ledger sealed" in str(rep.problems[0])
    archive.conn.execute("DELETE FROM audit")
    assert "audit event is missing" in str(verify(archive).problems[0])


def test_window_needs_three_items_within_ten_minutes(archive: Archive, tmp_path: Path) -> None:
    d = _setup(archive, tmp_path)
    fast = [rec(SALES, [CUST], T0 + i * 2 * MIN, text=f"客户电话 1380013800{i}") for i in range(3)]
    slow = [rec(SALES, [CUST2], T0 + i * 8 * MIN, text=f"客户电话 1390013900{i}") for i in range(3)]
    ingest_and_evaluate(
        archive, d, write(tmp_path / "m.jsonl", sorted(fast + slow, key=lambda r: r["msgtime"]))
    )
    assert evidence(archive, "pii-bulk-external") == {m["msgid"] for m in fast}


def test_window_spanning_two_runs_still_closes(archive: Archive, tmp_path: Path) -> None:
    d = _setup(archive, tmp_path)
    msgs = [rec(SALES, [CUST], T0 + i * MIN, text=f"客户电话 1380013800{i}") for i in range(3)]
    ingest_and_evaluate(archive, d, write(tmp_path / "a.jsonl", msgs[:2]))
    assert evidence(archive, "pii-bulk-external") == set()
    ingest_and_evaluate(archive, write(tmp_path / "b.jsonl", msgs[2:]))
    assert evidence(archive, "pii-bulk-external") == {m["msgid"] for m in msgs}


def test_sequence_link_then_payment(archive: Archive, tmp_path: Path) -> None:
    d = _setup(archive, tmp_path)
    link = "邮箱即将过期 https://yunshan-tech.com.login-verify.cn/auth?u=8"
    pay = "马上给这个账户转48万，合同稍后补"
    in_order = [rec(CUST, [FIN], T0, text=link), rec(CUST, [FIN], T0 + 5 * MIN, text=pay)]
    reversed_ = [rec(CUST2, [FIN], T0, text=pay), rec(CUST2, [FIN], T0 + 5 * MIN, text=link)]
    too_late = [rec(CUST, [SALES], T0, text=link), rec(CUST, [SALES], T0 + 45 * MIN, text=pay)]
    allm = sorted(in_order + reversed_ + too_late, key=lambda r: r["msgtime"])
    ingest_and_evaluate(archive, d, write(tmp_path / "m.jsonl", allm))
    assert evidence(archive, "phishing-link-then-payment") == {m["msgid"] for m in in_order}


def test_alerts_aggregate_per_conversation_and_window(archive: Archive, tmp_path: Path) -> None:
    d = _setup(archive, tmp_path)
    tok = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
    msgs = [
        rec(SALES, [FIN], T0, text=f"token {tok}"),
        rec(SALES, [FIN], T0 + 10 * MIN, text=f"token again {tok}"),
        rec(SALES, [CEO], T0 + 11 * MIN, text=f"token {tok}"),
        rec(SALES, [FIN], T0 + 3 * 60 * MIN, text=f"new token {tok}"),
    ]
    ingest_and_evaluate(archive, d, write(tmp_path / "m.jsonl", msgs))
    got = sorted(
        (a["messages"], a["first_at"]) for a in list_alerts(archive, policy="secrets-in-chat")
    )
    assert got == [(1, T0 + 11 * MIN), (1, T0 + 3 * 60 * MIN), (2, T0)]


def test_new_policy_starts_now_and_history_runs_once(archive: Archive, tmp_path: Path) -> None:
    d = _setup(archive, tmp_path)
    old = [rec(SALES, [FIN], T0, text="谁有破解版的 Office？")]
    ingest_and_evaluate(archive, d, write(tmp_path / "a.jsonl", old))
    assert evidence(archive, "ip-violation") == {old[0]["msgid"]}
    # An administrator adds a policy for pirated-game talk after the fact.
    pol = archive.data_dir / "policies"
    pol.mkdir()
    (pol / "games.yaml").write_text(
        "id: pirated-games\nversion: 1\nname: Games\nbehaviour: ip_violation\nseverity: low\n"
        "when:\n  findings: {entities: [IP_VIOLATION]}\n", "utf-8")  # fmt: skip
    new = [rec(SALES, [FIN], T0 + MIN, text="破解版游戏群里有")]
    s = ingest_and_evaluate(archive, write(tmp_path / "b.jsonl", new))
    assert s.started_at_end == ["pirated-games"]
    assert evidence(archive, "pirated-games") == {new[0]["msgid"]}
    s = ingest_and_evaluate(archive, only=["pirated-games"], since_ms=T0 - 86_400_000)
    assert evidence(archive, "pirated-games") == {old[0]["msgid"], new[0]["msgid"]}
    assert s.evidence == 1
    again = ingest_and_evaluate(archive, only=["pirated-games"], since_ms=T0 - 86_400_000)
    assert again.evidence == 0 and again.alerts_created == 0
    runs = events(archive, "policy-retro-run")
    assert len(runs) == 2 and runs[0].subject == "pirated-games"


def test_scan_cli_runs_policies_and_history_by_policy(tmp_path: Path) -> None:
    data = tmp_path / "data"
    run_cli("init", data=data)
    msgs = [rec(SALES, [CUST], NOW_MS - 5 * 86_400_000, text=f"身份证号 {RID} 请办理")]
    run_cli(
        "ingest", directory(tmp_path / "dir.jsonl"), write(tmp_path / "m.jsonl", msgs), data=data
    )
    r = run_cli("scan", data=data)
    assert "Policies: 1 messages evaluated, 1 new alerts" in r.stdout
    r = run_cli("alerts", "list", "--format", "json", data=data)
    assert '"pii-external"' in r.stdout
    r = run_cli("scan", "--policy", "pii-external", "--since", "90d", "--format", "json", data=data)
    assert '"alerts_created": 0' in r.stdout
    r = run_cli("scan", "--policy", "no-such", data=data, check=False)
    assert r.returncode == 1 and "unknown policy no-such" in r.stderr
    r = run_cli("alerts", "show", "1", data=data)
    assert "CN_RESIDENT_ID" in r.stdout and RID not in r.stdout
    r = run_cli("inventory", "approve", "domain", "example.com", "--note", "ours", data=data)
    assert "unseen → approved" in r.stdout
    r = run_cli("verify", data=data)
    assert "2 audit events" in r.stdout and "warning" not in r.stdout


def test_interrupted_evaluation_resumes_without_loss_or_duplicates(
    archive: Archive, tmp_path: Path
) -> None:
    from conftest import DEMO_MESSAGES, directory_of, load
    from wxguard.demo.generator import generate
    from wxguard.demo.lexicons import write_demo_settings
    from wxguard.detect.registry import DetectorRegistry
    from wxguard.detect.scan import archive_config, scan_archive
    from wxguard.policy.service import run_policies

    demo = tmp_path / "demo" / "demo.jsonl"
    generate(demo, DEMO_MESSAGES, seed=5)
    write_demo_settings(archive.data_dir)
    load(archive, directory_of(demo), demo)
    reg = DetectorRegistry.load(archive_config(archive))
    scan_archive(archive, reg)
    ids = [d.id for d in reg.detectors]

    def crash(n: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_policies(archive, detector_ids=ids, progress=crash)
    first = archive.conn.execute("SELECT count(*) FROM alert_evidence").fetchone()[0]
    assert first > 0  # the first batch committed
    run_policies(archive, detector_ids=ids)
    got = archive.conn.execute("SELECT policy, seq FROM alert_evidence ORDER BY 1, 2").fetchall()
    # A clean evaluation from scratch finds exactly the same evidence.
    for t in ("alert_evidence", "alerts", "policy_state", "inventory", "inventory_users"):
        archive.conn.execute(f"DELETE FROM {t}")
    run_policies(archive, detector_ids=ids)
    want = archive.conn.execute("SELECT policy, seq FROM alert_evidence ORDER BY 1, 2").fetchall()
    assert got == want and len(want) > first
    uses = archive.conn.execute("SELECT sum(uses) FROM inventory").fetchone()[0]
    assert uses > 0


def test_applies_to_and_exceptions() -> None:
    from wxguard.model import Participant, ParticipantKind
    from wxguard.policy.evaluate import PolicyEngine
    from wxguard.policy.facts import Directory, Event, FindingFact
    from wxguard.policy.spec import parse_policy

    p = parse_policy(
        "id: sales-only\nversion: 1\nname: n\nbehaviour: custom\nseverity: low\n"
        "applies_to: {departments: [销售一部], except_titles: [总监]}\n"
        "when: {findings: {entities: [X]}}\n", "t.yaml", None)  # fmt: skip
    d = Directory(people={
        "a": Participant(id="a", kind=ParticipantKind.INTERNAL, department="销售一部", title="销售经理"),
        "b": Participant(id="b", kind=ParticipantKind.INTERNAL, department="销售一部", title="销售总监"),
        "c": Participant(id="c", kind=ParticipantKind.INTERNAL, department="研发部"),
    })  # fmt: skip
    f = FindingFact("lexicon", "1", "X", 0, 1, 0.9, "00", {})

    def fires(sender: str) -> bool:
        ev = Event(1, "m", 0, "text", sender, ["z"], f"direct:{sender}|z", "direct", findings=[f])
        return bool(PolicyEngine([p], d).feed(ev))

    assert fires("a") and not fires("b") and not fires("c")


def test_an_old_hit_from_a_history_run_opens_its_own_alert(archive: Archive) -> None:
    from wxguard.policy.facts import Event
    from wxguard.policy.pack import load_policies
    from wxguard.policy.store import record_hit

    p = load_policies(None).get("secrets-in-chat")
    assert p is not None

    def ev(seq: int, at: int) -> Event:
        return Event(seq, f"m{seq}", at, "text", SALES, [FIN], "direct:LiNa|ZhangWei", "direct")

    archive.begin()
    now = record_hit(archive, p, "direct:LiNa|ZhangWei", [(ev(1, T0), [])], [SALES], False)
    old = record_hit(archive, p, "direct:LiNa|ZhangWei", [(ev(2, T0 - 86_400_000), [])],
                     [SALES], False)  # fmt: skip
    near = record_hit(archive, p, "direct:LiNa|ZhangWei", [(ev(3, T0 - 10 * MIN), [])],
                      [SALES], False)  # fmt: skip
    again = record_hit(archive, p, "direct:LiNa|ZhangWei", [(ev(1, T0), [])], [SALES], False)
    archive.commit()
    assert now is not None and old is not None and near is not None
    assert now.created and old.created and old.alert_id != now.alert_id
    assert not near.created and near.alert_id == now.alert_id
    assert again is None  # evidence is never recorded twice
