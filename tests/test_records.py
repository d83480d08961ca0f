"""Legal holds, retention with a fake clock, disposal, certificates, and eDiscovery exports."""

from __future__ import annotations

import collections
import email
import email.policy
import json
import shutil
import subprocess
import zipfile
from pathlib import Path

import jsonschema
import orjson
import pytest

from conftest import directory_of, load, run_cli
from wxguard import audit, disposal, holds, retention
from wxguard.archive import Archive
from wxguard.exports import package
from wxguard.exports.package import ExportError, ExportScope
from wxguard.retention import RetentionError, Rule
from wxguard.search.engine import SearchEngine
from wxguard.verify import verify

YEAR = 366 * 86_400_000


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, demo: Path) -> Path:
    d = tmp_path_factory.mktemp("records") / "data"
    a = Archive.create(d)
    load(a, directory_of(demo), demo)
    a.close()
    return d


@pytest.fixture
def data(built: Path, tmp_path: Path) -> Path:
    d = tmp_path / "data"
    shutil.copytree(built, d)
    return d


def _newest(a: Archive) -> int:
    return int(a.conn.execute("SELECT max(sent_at) FROM messages").fetchone()[0])


def test_compliance_rules_only_extend(data: Path) -> None:
    with Archive.open(data) as a:
        retention.set_rule(a, Rule(name="chat", klass="compliance", keep="3y", kinds=["text"]), "x")
        for bad, why in [
            (Rule(name="chat", klass="compliance", keep="2y", kinds=["text"]), "not surely"),
            (Rule(name="chat", klass="compliance", keep="1000d", kinds=["text"]), "not surely"),
            (Rule(name="chat", klass="operational", keep="9y", kinds=["text"]), "operational"),
            (Rule(name="chat", klass="compliance", keep="5y", kinds=["file"]), "kinds: text"),
        ]:
            with pytest.raises(RetentionError, match=why):
                retention.set_rule(a, bad, "x")
        retention.set_rule(a, Rule(name="chat", klass="compliance", keep="40m", kinds=[]), "x")
        with pytest.raises(RetentionError, match="cannot be removed"):
            retention.remove_rule(a, "chat", "x")
        retention.set_rule(a, Rule(name="ops", klass="operational", keep="90d"), "x")
        retention.set_rule(a, Rule(name="ops", klass="operational", keep="30d"), "x")
        retention.remove_rule(a, "ops", "x")
        assert [r.name for r in retention.rules(a)] == ["chat"]
        with pytest.raises(RetentionError, match="expected a period"):
            retention.set_rule(a, Rule(name="z", klass="operational", keep="forever"), "x")
        # editing the table behind the audit log's back is caught by verify
        a.conn.execute("UPDATE retention_rules SET keep = '1d' WHERE name = 'chat'")
        rep = verify(a)
        assert not rep.ok and "differs from the audit event" in str(rep.problems[0])


def test_disposal_keeps_held_data_and_verify_reports_tombstones(data: Path) -> None:
    with Archive.open(data, write=True) as a:
        conv, n_conv = collections.Counter(
            bytes(r[0]) for r in a.conn.execute("SELECT conv_fp FROM messages")
        ).most_common(1)[0]
        d = SearchEngine(a).directory
        of_id = a.keys.fingerprints.of_id
        conv_id = next(c.id for c in d.conversations.values() if of_id(c.id) == conv)
        before = SearchEngine(a).search("客户").total
        retention.set_rule(a, Rule(name="all-1y", klass="operational", keep="1y"), "officer")
        h = holds.place(
            a, "matter-1", holds.HoldScope(conversations=[conv_id]), "litigation", "counsel"
        )
        now = _newest(a) + 2 * YEAR
        p = retention.plan(a, now)
        total = a.conn.execute("SELECT count(*) FROM messages").fetchone()[0]
        assert len(p.dispose) == total - n_conv and p.held == {h.id: n_conv}
        assert retention.plan(a, _newest(a) + 86_400_000).dispose == []  # not yet expired
        rep = disposal.apply(a, "officer", now)
        assert rep.messages == total - n_conv and rep.held == n_conv
        left = {bytes(r[0]) for r in a.conn.execute("SELECT conv_fp FROM messages")}
        assert left == {conv}
        assert a.conn.execute("SELECT count(*) FROM findings WHERE seq NOT IN "
                              "(SELECT seq FROM messages)").fetchone()[0] == 0  # fmt: skip
        # the index forgets disposed messages
        eng = SearchEngine(a)
        after = eng.search("客户")
        assert 0 < after.total < before
        assert all(bytes(of_id(x.message.conversation)) == conv for x in after.hits)
        v = verify(a)
        assert v.ok, v.problems
        assert v.tombstones == rep.messages and v.disposed == {"message": rep.messages}
        assert v.disposed_by_rule == {"all-1y": rep.messages}
        # the certificate is signed; altering it is detected
        cert = orjson.loads(Path(rep.certificate_path).read_bytes())
        assert disposal.check_certificate(cert, a.keys.public_key)
        assert cert["holds_in_force"][0]["kept"] == n_conv
        cert["disposed"]["messages"] -= 1
        with pytest.raises(RetentionError, match="altered"):
            disposal.check_certificate(cert)
        # release the hold: the rest goes, and whole buckets are crypto-shredded
        holds.release(a, h.id, "matter closed", "counsel")
        keys = a.conn.execute("SELECT count(*) FROM data_keys WHERE wrapped IS NOT NULL").fetchone()
        rep2 = disposal.apply(a, "officer", now)
        assert rep2.messages == n_conv
        assert len(rep2.keys_destroyed) == keys[0] > 0
        assert a.conn.execute("SELECT count(*) FROM messages").fetchone()[0] == 0
        assert a.conn.execute(
            "SELECT count(*) FROM data_keys WHERE wrapped IS NOT NULL"
        ).fetchone()[0] == 0  # fmt: skip
        v = verify(a)
        assert v.ok and v.tombstones == total
        assert SearchEngine(a).search("客户").total == 0
        actions = [e.action for e in audit.events(a, limit=50)]
        assert {"hold-place", "hold-release", "disposal", "retention-rule-set"} <= set(actions)


def test_hold_rows_are_checked_against_the_ledger(data: Path) -> None:
    with Archive.open(data) as a:
        h = holds.place(a, "m", holds.HoldScope(query="合同"), "case 9", "counsel")
        assert holds.count_covered(a, h) == SearchEngine(a).search("合同").total
        with pytest.raises(holds.HoldError, match="not a known participant"):
            holds.place(a, "x", holds.HoldScope(custodians=["nobody"]), "r", "c")
        a.conn.execute('UPDATE holds SET scope = \'{"query":"x"}\' WHERE id = ?', (h.id,))
        assert any("differs" in str(p) for p in verify(a).problems)


def test_cli_retention_needs_yes_and_certificate_checks(data: Path) -> None:
    run_cli("retention", "set", "ops", "--keep", "1d", "--class", "operational", data=data)
    plan = orjson.loads(run_cli("retention", "plan", "--format", "json", data=data).stdout)
    assert plan["messages"] > 0
    r = run_cli("retention", "apply", data=data, check=False)
    assert r.returncode == 2 and "--yes" in r.stderr
    with Archive.open(data) as a:
        assert a.conn.execute("SELECT count(*) FROM messages").fetchone()[0] == plan["messages"]
    out = orjson.loads(run_cli("retention", "apply", "--yes", "--format", "json", data=data).stdout)
    assert out["messages"] == plan["messages"]
    ok = run_cli("retention", "certificate", out["certificate"], "--data", data)
    assert "VALID" in ok.stdout
    v = run_cli("verify", data=data)
    assert "Disposed under retention" in v.stdout


# --------------------------------------------------------------------------- exports


def test_two_person_rule(data: Path) -> None:
    with Archive.open(data) as a:
        e = package.request(a, ExportScope(query="合同"), ["csv"], "case 1", "alice", True)
        assert e.state == "requested"
        with pytest.raises(ExportError, match="second person"):
            package.run(a, e.id, "alice", data.parent / "out")
        with pytest.raises(ExportError, match="someone other than alice"):
            package.approve(a, e.id, "alice")
        assert package.approve(a, e.id, "bob").state == "approved"
        with pytest.raises(ExportError, match="exactly one"):
            package.request(a, ExportScope(), ["csv"], "r", "alice", False)
        with pytest.raises(ExportError, match="formats"):
            package.request(a, ExportScope(query="x"), ["docx"], "r", "alice", False)


def test_export_package_formats_and_proofs(data: Path, tmp_path: Path) -> None:
    out_dir = tmp_path / "pkg"
    with Archive.open(data) as a:
        e = package.request(a, ExportScope(query="合同"), ["rsmf", "eml", "pdf", "csv", "jsonl"],
                            "matter 42", "alice", False)  # fmt: skip
        done = package.run(a, e.id, "alice", out_dir)
        n = SearchEngine(a).search("合同").total
    assert done.state == "done" and done.messages == n
    manifest = json.loads((out_dir / "manifest.json").read_text())
    assert len(manifest["messages"]) == n
    # RSMF: an e-mail with X-RSMF-Version and one rsmf.zip whose manifest validates
    schema = json.loads((Path(package.__file__).parent / "rsmf_schema_2_0_0.json").read_text())
    events = 0
    for f in (out_dir / "rsmf").glob("*.rsmf"):
        msg = email.message_from_bytes(f.read_bytes(), policy=email.policy.default)
        assert msg["X-RSMF-Version"] == "2.0.0"
        (att,) = list(msg.iter_attachments())
        assert att.get_filename() == "rsmf.zip"
        with zipfile.ZipFile(__import__("io").BytesIO(att.get_content())) as z:
            m = json.loads(z.read("rsmf_manifest.json"))
        jsonschema.validate(m, schema, format_checker=jsonschema.FormatChecker())
        ids = {p["id"] for p in m["participants"]}
        assert all(ev["participant"] in ids for ev in m["events"])
        events += len(m["events"])
    assert events == n
    # EML parses with the email package and carries the transcript
    emls = list((out_dir / "eml").rglob("*.eml"))
    assert emls
    texts = ""
    for f in emls:
        msg = email.message_from_bytes(f.read_bytes(), policy=email.policy.default)
        assert msg["Subject"] and msg["From"]
        body = msg.get_body(("plain",))
        assert body is not None
        texts += body.get_content()
    assert texts.count("合同") >= n
    # the PDF's text contains the messages
    pdf = subprocess.run(["pdftotext", "-enc", "UTF-8", str(out_dir / "transcript.pdf"), "-"],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert pdf.count("合同") >= n
    rows = (out_dir / "messages.csv").read_text("utf-8-sig").splitlines()
    assert len(rows) >= n + 1
    assert len((out_dir / "messages.jsonl").read_text().splitlines()) == n
    # every proof verifies offline, file hashes hold; tampering is caught
    ok = run_cli("proof", "--check", out_dir / "manifest.json")
    assert f"{n} message proofs verified" in ok.stdout
    one = run_cli("proof", "--check", out_dir / manifest["messages"][0]["proof"])
    assert "VALID" in one.stdout
    csv_path = out_dir / "messages.csv"
    csv_path.write_bytes(csv_path.read_bytes().replace("合同".encode(), "合约".encode(), 1))
    bad = run_cli("proof", "--check", out_dir / "manifest.json", check=False)
    assert bad.returncode == 1 and "messages.csv has been altered" in bad.stdout


def test_person_export_and_cli(data: Path, tmp_path: Path) -> None:
    with Archive.open(data) as a:
        d = SearchEngine(a).directory
        person = next(p for p in d.people.values() if str(p.kind) == "external")
        of_id = a.keys.fingerprints.of_id
        mine = {
            s for s, cf, sf in a.conn.execute("SELECT seq, conv_fp, sender_fp FROM messages")
            if bytes(sf) == of_id(person.id) or any(
                e.participant == person.id
                for c in d.conversations.values() if of_id(c.id) == bytes(cf) for e in c.roster
            )
        }  # fmt: skip
    r = run_cli("discovery", "request", "--person", person.id, "--reason", "DSAR 2026-11",
                "--formats", "jsonl,rsmf", "--format", "json", data=data)  # fmt: skip
    eid = orjson.loads(r.stdout)["id"]
    out_dir = tmp_path / "dsar"
    run_cli("discovery", "run", str(eid), "--out", out_dir, data=data)
    lines = (out_dir / "messages.jsonl").read_text().splitlines()
    assert len(lines) == len(mine) > 0
    assert "VALID" in run_cli("proof", "--check", out_dir / "manifest.json").stdout
    again = run_cli("discovery", "run", str(eid), "--out", tmp_path / "x", data=data, check=False)
    assert again.returncode == 1 and "already written" in again.stderr
    listed = orjson.loads(run_cli("discovery", "list", "--format", "json", data=data).stdout)
    assert listed[0]["state"] == "done"
