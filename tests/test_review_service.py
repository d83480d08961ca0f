"""The review service layer and accounts, in process: sign-in rules, pseudonyms,
privileged conversations, sampling, and the ledger as the record of review."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from reviewfix import ATTACKER, EMPLOYEE, HOSTILE_CONV, HOSTILE_NAME, build_review_archive
from wxguard.archive import Archive
from wxguard.audit import events
from wxguard.policy.store import allowlist_add
from wxguard.review import accounts, sampling
from wxguard.review.accounts import SignInError
from wxguard.review.service import QueueQuery, ReviewService
from wxguard.review.settings import ReviewSettings, SettingsError, load_settings
from wxguard.review.workflow import Denied, WorkflowError
from wxguard.verify import verify

S = ReviewSettings()


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_review_archive(tmp_path_factory.mktemp("svc"))


@pytest.fixture
def a(data: Path) -> Iterator[Archive]:
    with Archive.open(data) as arch:
        yield arch


def _user(a: Archive, name: str, *roles: str) -> accounts.User:
    if accounts.get_user(a, name) is None:
        accounts.add_user(a, name, list(roles), "test", S)
    u = accounts.get_user(a, name)
    assert u is not None
    return u


def test_password_policy() -> None:
    bad = {"short1": "at least 12", "password1234": "commonly used",
           "aaaaaaaaaaaaaaaa": "4 different", "bob-is-great-2026": "user name"}  # fmt: skip
    for pw, why in bad.items():
        problem = accounts.password_problem(pw, "bob", S)
        assert problem is not None and why in problem, pw
    assert accounts.password_problem("correct-stable-walrus-9", "bob", S) is None
    assert accounts.password_problem(accounts.generate_password(), "bob", S) is None


def test_sign_in_replay_lockout_and_reset(a: Archive) -> None:
    e = accounts.add_user(a, "carol", ["reviewer"], "test", S)
    now = 1_900_000_000.0
    code = accounts.totp_code(e.totp_secret, now)
    s = accounts.sign_in(a, "carol", e.password, code, S, now=now)
    assert accounts.session_of(a, s.token, S, now=now + 60) is not None
    # the same code cannot be used twice (replay)
    with pytest.raises(SignInError) as err:
        accounts.sign_in(a, "carol", e.password, code, S, now=now + 5)
    assert err.value.reason == "bad or reused code"
    # idle sessions end
    assert accounts.session_of(a, s.token, S, now=now + 60 + 31 * 60) is None
    # four more failures lock the account; then even the right code is refused
    for i in range(4):
        with pytest.raises(SignInError):
            accounts.sign_in(a, "carol", "wrong password!", "000000", S, now=now + 10 + i)
    later = now + 120
    with pytest.raises(SignInError) as err:
        accounts.sign_in(a, "carol", e.password, accounts.totp_code(e.totp_secret, later), S,
                         now=later)  # fmt: skip
    assert err.value.reason == "locked" and "locked" in err.value.public
    failed = events(a, "sign-in-failed", 20, subject="user:carol")
    assert len(failed) == 6 and failed[1].detail["locked"]
    e2 = accounts.reset_user(a, "carol", "admin", S)
    assert e2.totp_secret != e.totp_secret
    t = now + 300
    accounts.sign_in(a, "carol", e2.password, accounts.totp_code(e2.totp_secret, t), S, now=t)
    # neither the password nor the TOTP seed is stored in the clear
    db = (a.data_dir / "archive.db").read_bytes() + (a.data_dir / "archive.db-wal").read_bytes()
    assert e2.password.encode() not in db and e2.totp_secret.encode() not in db
    import base64

    seed = base64.b32decode(e2.totp_secret + "=" * (-len(e2.totp_secret) % 8))
    assert seed not in db


def test_disabled_user_loses_sessions(a: Archive) -> None:
    e = accounts.add_user(a, "dave", ["auditor"], "test", S)
    now = 1_900_000_000.0
    s = accounts.sign_in(a, "dave", e.password, accounts.totp_code(e.totp_secret, now), S,
                         now=now)  # fmt: skip
    accounts.set_disabled(a, "dave", True, "admin")
    assert accounts.session_of(a, s.token, S, now=now + 1) is None
    with pytest.raises(SignInError, match="disabled"):
        accounts.sign_in(a, "dave", e.password, accounts.totp_code(e.totp_secret, now + 60), S,
                         now=now + 60)  # fmt: skip
    with pytest.raises(ValueError, match="unknown role"):
        accounts.add_user(a, "erin", ["root"], "test", S)


def test_settings_errors_name_file_and_key(tmp_path: Path) -> None:
    (tmp_path / "review.toml").write_text("[sign_in]\nmax_failure = 3\n")
    with pytest.raises(SettingsError, match=r"review.toml: \[sign_in\] unknown key 'max_failure'"):
        load_settings(tmp_path)
    (tmp_path / "review.toml").write_text('[privacy]\npseudonyms_for = ["reviewer"]\n')
    assert load_settings(tmp_path).pseudonyms_for == ("reviewer",)


def test_pseudonyms_for_first_line_reviewers(a: Archive) -> None:
    svc = ReviewService(a, ReviewSettings(pseudonyms_for=("reviewer",)))
    rev = svc.viewer(_user(a, "psy-rev", "reviewer"))
    sup = svc.viewer(_user(a, "psy-sup", "reviewer", "supervisor"))
    assert rev.pseudonyms and not sup.pseudonyms
    q = svc.queue(rev, QueueQuery(state="all"))
    names = [s for item in q["items"] for s in item["subjects"]]
    assert names and all(n.startswith("Employee ") for n in names)
    real = [
        s for item in svc.queue(sup, QueueQuery(state="all"))["items"] for s in item["subjects"]
    ]
    assert not any(n.startswith("Employee ") for n in real)
    people = svc.people(rev)["people"]
    assert all(p["org"] == "" for p in people)
    assert HOSTILE_NAME not in str(people)


def test_privileged_conversations_need_legal(a: Archive) -> None:
    allowlist_add(a, "privileged-conversation", HOSTILE_CONV, "counsel", "test")
    svc = ReviewService(a, S)
    key = a.keys.fingerprints.of_id(HOSTILE_CONV).hex()
    with pytest.raises(Denied) as err:
        svc.conversation(svc.viewer(_user(a, "pr-rev", "reviewer")), key)
    assert err.value.permission == "privileged-read"
    page = svc.conversation(svc.viewer(_user(a, "pr-legal", "legal")), key, why="matter 1")
    assert page["privileged"] and page["messages"]
    from wxguard.policy.store import allowlist_remove

    allowlist_remove(a, "privileged-conversation", HOSTILE_CONV, "", "test")


def test_workflow_rules_and_ledger(a: Archive) -> None:
    svc = ReviewService(a, S)
    rev = svc.viewer(_user(a, "wf-rev", "reviewer"))
    rev2 = svc.viewer(_user(a, "wf-rev2", "reviewer"))
    sup = svc.viewer(_user(a, "wf-sup", "supervisor"))
    aud = svc.viewer(_user(a, "wf-aud", "auditor"))
    aid = svc.queue(rev, QueueQuery(state="new", sort="oldest"))["items"][0]["id"]
    with pytest.raises(Denied):
        svc.act(aud, aid, "claim")
    svc.act(rev, aid, "claim")
    with pytest.raises(WorkflowError, match="already claimed"):
        svc.act(rev2, aid, "claim")
    svc.act(rev, aid, "escalate", comment="looks like a real leak")
    with pytest.raises(WorkflowError, match="supervisor"):
        svc.act(rev, aid, "close", disposition="violation")
    with pytest.raises(WorkflowError, match="disposition"):
        svc.act(sup, aid, "close", disposition="maybe")
    svc.act(sup, aid, "close", disposition="violation", comment="confirmed")
    with pytest.raises(WorkflowError, match="closed"):
        svc.act(rev, aid, "claim")
    results = svc.bulk(rev, [aid, 99_999_999], "claim")
    assert [r["ok"] for r in results] == [False, False]
    detail = svc.alert(sup, aid, why="qa")
    steps = [(h["actor"], h["action"]) for h in detail["history"]]
    assert steps == [("wf-rev", "alert-claim"), ("wf-rev", "alert-escalate"),
                     ("wf-sup", "alert-close")]  # fmt: skip
    # the history is read back from the ledger: editing a decision is caught by verify
    seq = detail["history"][-1]["seq"]
    assert verify(a).ok
    a.conn.execute("UPDATE audit SET detail = ? WHERE seq = ?",
                   ('{"disposition":"no-action"}', seq))  # fmt: skip
    try:
        assert not verify(a).ok
    finally:
        a.conn.execute("UPDATE audit SET detail = ? WHERE seq = ?",
                       ('{"comment":"confirmed","disposition":"violation","reason":""}', seq))  # fmt: skip
    assert verify(a).ok


def test_sampling_department_and_policy(a: Archive) -> None:
    svc = ReviewService(a, S)
    sup = svc.viewer(_user(a, "smp-sup", "supervisor"))
    dept = "销售二部（华南）"
    rid = svc.add_sampling_rule(sup, "department", dept, 20.0)
    rows = {r["id"]: r for r in sampling.rules(a)}
    d = svc.directory()
    senders = {s for (s,) in a.conn.execute("SELECT seq FROM samples WHERE rule_id = ?", (rid,))}
    by_fp = {a.keys.fingerprints.of_id(p.id): p for p in d.people.values()}
    eligible = [
        seq for seq, sfp in a.conn.execute("SELECT seq, sender_fp FROM messages")
        if (p := by_fp.get(bytes(sfp))) is not None and p.department == dept
    ]  # fmt: skip
    assert senders <= set(eligible)
    assert 0.12 < len(senders) / len(eligible) < 0.28, (len(senders), len(eligible))
    assert rows[rid]["picked"] == len(senders)
    # re-running picks nothing new (idempotent, keyed choice)
    assert sampling.run(a, d, svc.policies()) == 0
    # a policy rule never samples what the policy already alerted on
    prid = svc.add_sampling_rule(sup, "policy", "confidential-external", 50.0)
    picked = {s for (s,) in a.conn.execute("SELECT seq FROM samples WHERE rule_id = ?", (prid,))}
    alerted = {s for (s,) in a.conn.execute(
        "SELECT seq FROM alert_evidence WHERE policy = 'confidential-external'")}  # fmt: skip
    assert picked and not picked & alerted
    rev = svc.viewer(_user(a, "smp-rev", "reviewer"))
    queue = svc.samples(rev)
    first = queue[0]
    with pytest.raises(sampling.SamplingError, match="note"):
        svc.review_sample(rev, first["rule_id"], first["seq"], "escalate", "")
    svc.review_sample(rev, first["rule_id"], first["seq"], "ok", "")
    with pytest.raises(sampling.SamplingError, match="not waiting"):
        svc.review_sample(rev, first["rule_id"], first["seq"], "ok", "")
    assert events(a, "sample-review", 5, actor="smp-rev")[0].subject == f"message:{first['seq']}"
    assert events(a, "view-message", 5, actor="smp-rev")
    with pytest.raises(Denied):
        svc.add_sampling_rule(rev, "department", dept, 5)
    assert EMPLOYEE and ATTACKER  # the hostile pair exists in this archive too
