"""The WeCom session-archive connector against a compiled double of the native SDK and a
fake of WeCom's HTTP APIs on loopback (tests/wecomfix.py)."""

from __future__ import annotations

import ctypes.util
import json
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import orjson
import pytest

from conftest import run_cli
from wecomfix import (
    CORP_ID,
    FakeApi,
    Fixture,
    build_library,
    demo_records,
    fixture_env,
    new_rsa,
    write_config,
)
from wxguard.archive import Archive
from wxguard.capture.config import load_wecom
from wxguard.capture.directory import DirectorySync
from wxguard.capture.health import alert_if_stalled, status
from wxguard.capture.pull import CaptureError
from wxguard.capture.run import Capture, open_sdk
from wxguard.capture.sdk import SIGNATURES, LibraryError, load_library
from wxguard.delivery.config import ConfigError
from wxguard.demo.generator import generate
from wxguard.model import message_id
from wxguard.sealed import opened_batches
from wxguard.verify import verify
from wxguard.wecom import normalise_bytes


@pytest.fixture(scope="module")
def lib(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_library(tmp_path_factory.mktemp("sdklib"))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wecomdemo") / "demo.jsonl"
    generate(out, 1200, seed=21)
    return out


@pytest.fixture
def api(corpus: Path) -> Iterator[FakeApi]:
    a = FakeApi(corpus.with_name("demo.directory.jsonl"))
    yield a
    a.close()


class Env:
    def __init__(self, tmp: Path, lib: Path, api: FakeApi) -> None:
        self.fx = Fixture(tmp / "fx")
        self.data = tmp / "data"
        self.lib = lib
        self.api = api
        Archive.create(self.data).close()

    def config(self, extra: str = "", **kw: Any) -> Path:
        return write_config(self.data, self.lib, self.fx, self.api.url, extra=extra, **kw)

    def capture(self, now: float | None = None) -> tuple[Archive, Capture]:
        conn = load_wecom(self.data)
        a = Archive.open(self.data, write=True)
        clock = (lambda: now) if now is not None else time.time
        cap = Capture(a, conn, open_sdk(conn), clock=clock, sleep=lambda s: None, workers=1)
        return a, cap

    def cycle(self, **kw: Any) -> Any:
        with fixture_env(self.fx):
            a, cap = self.capture()
            try:
                return cap.cycle(**kw)
            finally:
                cap.close()
                a.close()


@pytest.fixture
def env(tmp_path: Path, lib: Path, api: FakeApi) -> Env:
    return Env(tmp_path, lib, api)


def stored(data: Path) -> dict[str, Any]:
    """msgid → canonical message dict, read back through the archive's own decryption."""
    with Archive.open(data) as a:
        return {
            m.source_msg_id: msgspec.to_builtins(m)
            for batch in opened_batches(a, 0) for _, _, m in batch
        }  # fmt: skip


# ------------------------------------------------------------------ binding


def test_the_binding_sets_all_17_signatures_and_refuses_other_libraries(
    lib: Path, tmp_path: Path
) -> None:
    cdll = load_library(lib)
    assert len(SIGNATURES) == 17
    for name, (args, res) in SIGNATURES.items():
        assert getattr(cdll, name).argtypes == args
        assert getattr(cdll, name).restype == res
    with pytest.raises(LibraryError, match=r"not there; download libWeWorkFinanceSdk_C\.so"):
        load_library(tmp_path / "missing.so")
    libm = ctypes.util.find_library("m")
    assert libm
    found = next(Path(p) / libm for p in ("/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu",
                                           "/lib64", "/usr/lib64") if (Path(p) / libm).exists())  # fmt: skip
    with pytest.raises(LibraryError, match="missing NewSdk"):
        load_library(found)


# ------------------------------------------------------------------ pulling


def test_pull_archives_every_record_once_with_two_key_versions_and_media(
    env: Env, corpus: Path
) -> None:
    recs = demo_records(corpus)
    env.fx.add(recs[:700], ver=1, gap_every=300, big_every=53)
    env.fx.add(recs[700:], ver=2)
    env.fx.write()
    env.config(extra="", versions=[1, 2])
    (env.data / "wecom.toml").write_text(
        (env.data / "wecom.toml").read_text() + "[pull]\npage_size = 250\n"
    )
    r = run_cli("ingest", "wecom", "--format", "json", data=env.data, env=env.fx.env())
    rep = orjson.loads(r.stdout)
    unique = {x["msgid"] for x in recs}
    assert rep["imported"] == len(unique)
    assert rep["duplicates"] == len(recs) - len(unique) > 0  # re-deliveries (§4 at-least-once)
    assert rep["quarantined"] == 0 and rep["caught_up"] and rep["pages"] == 5
    assert rep["media"]["failed"] == 0 and rep["media"]["done"] == rep["media_queued"] > 50
    # What is stored is exactly what the normaliser makes of each decrypted record.
    got = stored(env.data)
    assert set(got) == unique
    for x in recs[:50] + recs[-50:]:
        want = normalise_bytes(orjson.dumps(x), "wecom")
        assert got[x["msgid"]]["payload"]["kind"] == want.kind
        assert got[x["msgid"]]["sent_at"] == want.sent_at
    # Exactly once: a second run pulls nothing new and does not move the cursor.
    again = orjson.loads(run_cli("ingest", "wecom", "--format", "json", data=env.data,
                                 env=env.fx.env()).stdout)  # fmt: skip
    assert again["imported"] == 0 and again["records"] == 0 and again["cursor"] == rep["cursor"]
    with Archive.open(env.data) as a:
        assert verify(a).ok
        blobs = a.conn.execute("SELECT count(*) FROM message_blobs").fetchone()[0]
        assert blobs == rep["media"]["done"]
        big = a.conn.execute("SELECT max(size) FROM blobs").fetchone()[0]
        assert big > 524288  # assembled from several 512 KiB slices
        st = status(a, load_wecom(env.data), int(time.time() * 1000))
    assert st.level == "ok" and st.gaps == 2 and st.missing_seqs == 6
    assert st.members_seen > 10 and st.media_pending == 0
    calls = env.fx.calls()
    assert any(c.startswith("media Range:bytes=524288-") for c in calls)
    assert calls.count("getchatdata 0 250") == 1


def test_a_downloaded_file_is_the_bytes_tencent_served(env: Env, corpus: Path) -> None:
    recs = [r for r in demo_records(corpus) if r.get("msgtype") in ("file", "image")][:6]
    env.fx.add(recs, big_every=2)
    env.fx.write()
    env.config()
    env.cycle()
    from wxguard.crypto import open_sealed

    with Archive.open(env.data) as a:
        rows = a.conn.execute(
            "SELECT b.id, b.key_id FROM message_blobs mb JOIN blobs b ON b.id = mb.blob_id"
        ).fetchall()
        got = {open_sealed(a.keys.by_id(k), a.blobs.read(i), i.encode()) for i, k in rows}  # type: ignore[arg-type]
    assert got == set(env.fx.media.values())
    # An export carries the fetched files (the sealed messages predate them), and an
    # archive ingesting it has the same bytes.
    out = env.data.parent / "export" / "all.jsonl"
    out.parent.mkdir()
    run_cli("export", "--out", out, data=env.data)
    copy = env.data.parent / "copy"
    run_cli("init", data=copy)
    run_cli("ingest", out, data=copy)
    with Archive.open(copy) as a:
        rows = a.conn.execute("SELECT id, key_id FROM blobs").fetchall()
        again = {open_sealed(a.keys.by_id(k), a.blobs.read(i), i.encode()) for i, k in rows}  # type: ignore[arg-type]
    assert again == got and len(list((out.parent / "all.files").rglob("*"))) > len(got)


def test_a_slice_failing_mid_file_resumes_at_that_slice(env: Env, corpus: Path) -> None:
    recs = [r for r in demo_records(corpus) if r.get("msgtype") == "file"][:1]
    env.fx.add(recs, big_every=1)
    env.fx.write()
    env.config()
    env.fx.faults("media-mid 10001 1")
    rep = env.cycle()
    assert rep.media.retrying == 1 and rep.media.done == 0
    with Archive.open(env.data) as a:
        state, chunks, err = a.conn.execute(
            "SELECT state, chunks, last_error FROM media_queue"
        ).fetchone()
        assert state == "pending" and chunks == 1 and "10001" in err
        a.conn.execute("UPDATE media_queue SET next_at = 0")  # the backoff has passed
    rep = env.cycle()
    assert rep.media.done == 1
    media_calls = [c for c in env.fx.calls() if c.startswith("media")]
    assert media_calls.count("media first") == 1  # never restarted from the beginning
    assert media_calls[1] == media_calls[2]  # the failed slice was asked for again
    assert not (env.data / "capture-partial").exists() or not any(
        (env.data / "capture-partial").iterdir()
    )


def test_bad_md5_restarts_the_file_and_an_unknown_fileid_fails_with_the_reason(
    env: Env, corpus: Path
) -> None:
    recs = [r for r in demo_records(corpus) if r.get("msgtype") == "image"][:2]
    env.fx.add(recs)
    fid0 = recs[0]["image"]["sdkfileid"]
    fid1 = recs[1]["image"]["sdkfileid"]
    env.fx.write()
    from wecomfix import fnv1a

    (env.fx.dir / "media" / fnv1a(fid0)).write_bytes(b"not what the md5 says")
    (env.fx.dir / "media" / fnv1a(fid1)).unlink()
    env.config()
    rep = env.cycle()
    assert rep.media.retrying == 1 and rep.media.failed == 1
    with Archive.open(env.data) as a:
        rows = dict(a.conn.execute("SELECT state, last_error FROM media_queue").fetchall())
    assert "MD5" in rows["pending"]
    assert "bad sdkfileid" in rows["failed"]
    assert "messages" not in rows  # text capture was not held up
    assert len(stored(env.data)) == 2


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize("code", [10001, 10002, 10003])
def test_transient_sdk_errors_are_retried(env: Env, corpus: Path, code: int) -> None:
    env.fx.add(demo_records(corpus)[:30])
    env.fx.write()
    env.config()
    env.fx.faults(f"getchatdata {code} 2")
    rep = env.cycle()
    assert rep.pull.retries == 2 and rep.pull.counts.imported == 30


@pytest.mark.parametrize(
    ("fault", "words"),
    [
        ("10000", "bad request parameter"),
        ("10004", "archive secret"),
        ("10009", "trusted-IP list"),
        ("10010", "data expired"),
        ("10011", "certificate error"),
        ("10005", "bad sdkfileid"),
        ("10006", "decryption failed"),
        ("10007", "no private key"),
        ("10008", "could not parse encrypt_key"),
        ("errcode:301042", "trusted-IP list for the session archive"),
        ("errcode:301052", "renew the 会话内容存档 licence"),
    ],
)
def test_permanent_errors_stop_with_the_cursor_intact(
    env: Env, corpus: Path, fault: str, words: str
) -> None:
    recs = demo_records(corpus)[:40]
    env.fx.add(recs)
    env.fx.write()
    env.config()
    (env.data / "wecom.toml").write_text(
        (env.data / "wecom.toml").read_text() + "[pull]\npage_size = 20\n"
    )
    env.fx.faults(f"getchatdata {fault} 1")
    with pytest.raises(CaptureError, match=words.replace("(", r"\(")):
        env.cycle()
    with Archive.open(env.data) as a:
        assert a.conn.execute("SELECT count(*) FROM messages").fetchone()[0] == 0
        assert a.conn.execute("SELECT count(*) FROM cursors").fetchone()[0] == 0
        st = status(a, load_wecom(env.data), int(time.time() * 1000))
        assert st.failures == 1 and words.split()[0] in st.error
    assert env.cycle().pull.counts.imported == len({r["msgid"] for r in recs})


def test_a_call_that_times_out_is_retried(env: Env, corpus: Path) -> None:
    env.fx.add(demo_records(corpus)[:10])
    env.fx.write()
    env.config()  # network.timeout = 2
    env.fx.faults("getchatdata sleep:4000 1")
    t = time.monotonic()
    rep = env.cycle()
    assert rep.pull.retries == 1 and rep.pull.counts.imported == 10
    assert 1.5 < time.monotonic() - t < 4


def test_the_cli_names_the_problem_and_exits_non_zero(env: Env, corpus: Path) -> None:
    env.fx.add(demo_records(corpus)[:5])
    env.fx.write()
    env.config()
    env.fx.faults("getchatdata errcode:301042 1")
    r = run_cli("ingest", "wecom", data=env.data, env=env.fx.env(), check=False)
    assert r.returncode == 1
    assert "301042" in r.stderr and "可信IP" in r.stderr and "cursor was not moved" in r.stderr


# ------------------------------------------------------------------ keys and garbled records


def test_a_key_version_without_a_private_key_stops_at_that_record(env: Env, corpus: Path) -> None:
    recs = demo_records(corpus)[:60]
    env.fx.add(recs[:25], ver=1)
    env.fx.add(recs[25:], ver=3)  # the admin uploaded a new public key
    env.fx.write()
    env.config(versions=[1])
    with pytest.raises(CaptureError, match=r"publickey_ver 3.*private_keys\.3"):
        env.cycle()
    with Archive.open(env.data) as a:
        assert a.conn.execute("SELECT count(*) FROM messages").fetchone()[0] == 25
        (cursor,) = a.conn.execute("SELECT position FROM cursors").fetchone()
    assert cursor == "25"
    env.config(versions=[1, 3])
    rep = env.cycle()
    assert rep.pull.counts.imported == len({r["msgid"] for r in recs}) - 25


def test_garbled_records_are_quarantined_and_capture_continues(env: Env, corpus: Path) -> None:
    recs = demo_records(corpus)[:20]
    env.fx.add(recs[:5])
    env.fx.add_line(env.fx.record_line(recs[5], garble="ciphertext"))
    env.fx.add_line(env.fx.record_line(recs[6], garble="key"))
    env.fx.add_line(env.fx.record_line(b'{"msgid": "x1", "msgtype": "text", "text": {'))
    env.fx.add_line(f"{env.fx.next_seq}\tbroken\t0\t\t")
    env.fx.next_seq += 1
    env.fx.add(recs[7:])
    env.fx.write()
    env.config()
    rep = env.cycle()
    c = rep.pull.counts
    assert c.quarantined == 4
    assert c.imported == len({r["msgid"] for r in recs}) - 2
    reasons = " | ".join(c.reasons)
    assert "10006: decryption failed" in reasons
    # A garbled wrapped key: RSA either refuses it or (OpenSSL implicit rejection) yields a
    # random key that DecryptData then refuses; both are quarantined.
    # (Both records then have the same reason: count records, not distinct reasons.)
    refused = sum(n for r, n in c.reasons.items() if "10006" in r)
    assert "RSA unwrap failed" in reasons or "10008" in reasons or refused == 2
    assert "decrypted record: malformed JSON" in reasons
    with Archive.open(env.data) as a:
        assert (
            a.conn.execute(
                "SELECT count(*) FROM quarantine WHERE stream = ?", (f"wecom:{CORP_ID}",)
            ).fetchone()[0]
            == 4
        )
        st = status(a, load_wecom(env.data), int(time.time() * 1000))
        assert st.quarantined == 4
        assert verify(a).ok


def test_a_wrong_private_key_quarantines_and_retry_archives_once_it_is_corrected(
    env: Env, corpus: Path
) -> None:
    recs = demo_records(corpus)[:60]
    env.fx.add(recs[:10], ver=1)
    env.fx.add(recs[10:], ver=2)
    env.fx.write()
    env.config(keys={1: env.fx.keys[1], 2: new_rsa()})  # the wrong key for version 2
    rep = env.cycle(media=False)
    # quarantined instead of guessed at, and capture goes on
    assert rep.pull.counts.imported == len({r["msgid"] for r in recs[:10]})
    assert rep.pull.counts.quarantined == 50
    assert any("publickey_ver 2" in r for r in rep.pull.counts.reasons)
    fx = env.fx.env()

    def retry(*extra: str) -> dict[str, Any]:
        r = run_cli("quarantine", "retry", *extra, "--format", "json", data=env.data, env=fx)
        return dict(json.loads(r.stdout))

    # without --capture the encrypted records are named, not tried
    plain = retry()
    assert plain["tried"] == 0 and list(plain["skipped"].values()) == [50]
    assert "retry with --capture" in next(iter(plain["skipped"]))
    # with the key still wrong they stay, with the reason
    still = retry("--capture")
    assert (still["tried"], still["archived"], still["still"]) == (50, 0, 50)
    assert all("publickey_ver 2" in why for why in still["reasons"])
    env.config(keys={1: env.fx.keys[1], 2: env.fx.keys[2]})  # corrected
    fixed = retry("--capture")
    unique = len({r["msgid"] for r in recs[10:]})
    assert (fixed["tried"], fixed["still"]) == (50, 0) and fixed["archived"] == 50
    with Archive.open(env.data) as a:
        assert a.conn.execute("SELECT count(*) FROM quarantine").fetchone()[0] == 0
        archived = a.conn.execute("SELECT count(*) FROM messages").fetchone()[0]
        assert archived == len({r["msgid"] for r in recs[:10]}) + unique
        # media of the retried messages are queued for download, as a pull does
        media = [r for r in recs[10:] if r.get("msgtype") in ("image", "file", "voice", "video")]
        queued = a.conn.execute("SELECT count(*) FROM media_queue").fetchone()[0]
        assert media and queued >= len(media)
        st = status(a, load_wecom(env.data), int(time.time() * 1000))
        assert st.quarantined == 0
        assert verify(a).ok
    # the fetcher then downloads them
    assert env.cycle().media.done >= len(media)


# ------------------------------------------------------------------ crash safety


def test_sigkill_at_random_points_loses_and_duplicates_nothing(env: Env, corpus: Path) -> None:
    recs = demo_records(corpus)[:900]
    env.fx.add(recs, big_every=40)
    env.fx.write()
    env.config()
    (env.data / "wecom.toml").write_text(
        (env.data / "wecom.toml").read_text() + "[pull]\npage_size = 40\n"
    )
    # Pages slow enough (fixed sleeps, not CPU) that most of the 20 runs are cut off on a
    # fast machine too: at 120 ms a page, a fast day finished the work after 8 kills.
    env.fx.faults("getchatdata sleep:250 -1", "media sleep:20 -1")
    rng = random.Random(4)
    kills = 0
    cmd = [sys.executable, "-m", "wxguard", "ingest", "wecom", "--data", str(env.data)]
    import os

    child_env = {**os.environ, **env.fx.env()}
    for _ in range(20):
        p = subprocess.Popen(cmd, env=child_env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)  # fmt: skip
        time.sleep(rng.uniform(0.6, 2.2))
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
            kills += 1
        p.wait()
    assert kills >= 10  # the rest finished first: later runs have less left to do
    env.fx.faults()
    r = orjson.loads(run_cli("ingest", "wecom", "--format", "json", data=env.data,
                             env=env.fx.env()).stdout)  # fmt: skip
    assert r["caught_up"]
    unique = {x["msgid"] for x in recs}
    got = stored(env.data)
    assert set(got) == unique
    with Archive.open(env.data) as a:
        (n,) = a.conn.execute("SELECT count(*) FROM messages").fetchone()
        assert n == len(unique)
        left = a.conn.execute(
            "SELECT state, attempts, last_error FROM media_queue WHERE state != 'done'"
        ).fetchall()
        assert left == []
        links = a.conn.execute("SELECT count(*) FROM message_blobs").fetchone()[0]
        assert links == a.conn.execute("SELECT count(*) FROM media_queue").fetchone()[0]
        rep = verify(a)
        assert rep.ok, rep.problems[:3]


# ------------------------------------------------------------------ directory


def test_directory_names_rosters_with_history_and_consent(env: Env, corpus: Path) -> None:
    recs = demo_records(corpus)
    env.fx.add(recs[:800])
    env.fx.write()
    env.config()
    env.cycle(directory=False)
    api = env.api
    room_id, room = next((k, v) for k, v in api.rooms.items() if not api.external(v))
    leaver = next(iter(room["members"]))
    cust_room = next(k for k, v in api.rooms.items() if api.external(v))
    staff, ext = next(
        (s, x) for s, p in api.people.items() if p["kind"] == "internal"
        for x, q in api.people.items() if q["kind"] == "external"
    )  # fmt: skip
    api.disagree.add(("", next(m for m in api.rooms[cust_room]["members"]
                              if api.people[m]["kind"] == "external")))  # fmt: skip
    api.expire_tokens()
    api.fail_next = [45009]  # frequency limit once: backed off and retried
    conn = load_wecom(env.data)
    with Archive.open(env.data, write=True) as a:
        rep = DirectorySync(a, conn, sleep=lambda s: None).run()
    assert rep.in_scope == len(api.permit) and rep.groups >= 1 and rep.customer_groups >= 1
    assert rep.refusals >= 1 and not [p for p in rep.problems if "45009" in p]
    del room["members"][leaver]
    with Archive.open(env.data, write=True) as a:
        DirectorySync(a, conn, clock=lambda: time.time() + 3600).run()
    room["members"][leaver] = 1_900_000_000
    with Archive.open(env.data, write=True) as a:
        DirectorySync(a, conn, clock=lambda: time.time() + 7200).run()
        from wxguard.policy.store import load_directory

        d = load_directory(a)
        st = status(a, conn, int(time.time() * 1000))
    cv = d.conversations[room_id]
    assert cv.name == room["name"]
    entries = [e for e in cv.roster if e.participant == leaver]
    assert len(entries) == 2 and entries[0].left_at is not None and entries[1].left_at is None
    named = [p for p in d.people.values() if p.name]
    assert len(named) >= len(api.permit)
    assert st.consent_refusals >= 1 and st.members_in_scope == len(api.permit)
    assert "GET msgaudit/get_robot_info" in api.calls or not any(
        p["kind"] == "bot" for p in api.people.values()
    )
    assert staff and ext


# ------------------------------------------------------------------ health


def test_lag_grades_and_a_stall_alerts_once(env: Env, corpus: Path, tmp_path: Path) -> None:
    env.fx.add(demo_records(corpus)[:20])
    env.fx.write()
    env.config()
    (env.data / "alerting.toml").write_text(
        '[[sinks]]\ntype = "webhook"\nname = "soc"\nurl = "http://127.0.0.1:9/hook"\n'
        'secret = "$env:WXG_TEST_HOOK"\n'
    )
    t0 = time.time()
    with fixture_env(env.fx):
        a, cap = env.capture(now=t0)
        cap.cycle(media=False, directory=False)
        cap.close()
    conn = load_wecom(env.data)
    ms = int(t0 * 1000)
    assert status(a, conn, ms).level == "ok"
    assert status(a, conn, ms + 7 * 3600_000).level == "warning"
    crit = status(a, conn, ms + 3 * 86_400_000)
    assert crit.level == "critical" and "lost for good" in " ".join(crit.reasons)
    assert alert_if_stalled(a, conn, ms + 2 * 3600_000)
    assert not alert_if_stalled(a, conn, ms + 3 * 3600_000)  # once per episode
    (kind, payload) = a.conn.execute("SELECT kind, payload FROM outbox").fetchone()
    assert kind == "capture" and "capture stalled" in orjson.loads(payload)["alert"]["name"]
    a.close()


def test_status_cli_check_exit_codes(env: Env, corpus: Path) -> None:
    env.fx.key(1)
    env.config()
    r = run_cli("capture", "status", "--check", data=env.data, check=False)
    assert r.returncode == 2 and "nothing pulled yet" in r.stdout
    env.fx.add(demo_records(corpus)[:5])
    env.fx.write()
    run_cli("ingest", "wecom", "--no-media", data=env.data, env=env.fx.env())
    r = run_cli("capture", "status", "--check", "--format", "json", data=env.data)
    assert orjson.loads(r.stdout)["level"] == "ok"
    r = run_cli("capture", "check", data=env.data, env=env.fx.env())
    assert "Init(" in r.stdout and "token" in r.stdout


# ------------------------------------------------------------------ configuration


@pytest.mark.parametrize(
    ("edit", "key", "words"),
    [
        (lambda s: s.replace('corp_id = "', 'corp_idx = "'), "corp_idx", "unknown field"),
        (lambda s: "\n".join(x for x in s.splitlines() if not x.startswith("corp_id")),
         "corp_id", "missing required field"),
        (lambda s: s.replace("[private_keys]", "[private_keys]\n\"x\" = \"$file:k\""),
         "private_keys.x", "publickey_ver number"),
        (lambda s: s.replace('"$file:keys/wecom-v1.pem"', '"keys/wecom-v1.pem"'),
         "private_keys.1", "by reference"),
        (lambda s: s.replace("timeout = 2", "timeout = 0"), "network.timeout", ">= 1"),
        (lambda s: s + "[pull]\npoll_interval = \"4d\"\n", "pull.poll_interval", "too long"),
        (lambda s: s.replace('library = "', 'library = "/nonexistent'), "library",
         "does not exist"),
    ],
)  # fmt: skip
def test_config_errors_name_the_file_and_key(env: Env, edit: Any, key: str, words: str) -> None:
    env.fx.key(1)
    cfg = env.config()
    cfg.write_text(edit(cfg.read_text()))
    with pytest.raises(ConfigError) as e:
        load_wecom(env.data)
    assert "wecom.toml" in str(e.value) and key in str(e.value) and words in str(e.value)


def test_a_small_or_non_rsa_key_is_refused(env: Env) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    env.fx.key(1)
    env.config()
    p = env.data / "keys" / "wecom-v1.pem"
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    p.write_bytes(small.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))  # fmt: skip
    with pytest.raises(ConfigError, match="1024 bits"):
        load_wecom(env.data)
    p.write_bytes(ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))  # fmt: skip
    with pytest.raises(ConfigError, match="not an RSA key"):
        load_wecom(env.data)


def test_message_ids_match_file_ingest(env: Env, corpus: Path) -> None:
    """Capture and a file import of the same decrypted records dedupe against each other."""
    recs = [r for r in demo_records(corpus) if r.get("msgtype") == "text"][:50]
    env.fx.add(recs)
    env.fx.write()
    env.config()
    env.cycle(media=False)
    f = env.data.parent / "same.jsonl"
    f.write_bytes(b"\n".join(orjson.dumps(r) for r in recs) + b"\n")
    r = orjson.loads(run_cli("ingest", str(f), "--format", "json", data=env.data).stdout)
    assert r["imported"] == 0
    assert message_id("wecom", recs[0]["msgid"]) == f"wecom:{recs[0]['msgid']}"


def test_the_review_app_shows_capture_health_and_serves_captured_media(
    env: Env, corpus: Path
) -> None:
    from wxguard.review import accounts
    from wxguard.review.service import ReviewService
    from wxguard.review.settings import ReviewSettings

    recs = [r for r in demo_records(corpus) if r.get("msgtype") == "file"][:3]
    env.fx.add(recs)
    env.fx.write()
    env.config()
    env.cycle(directory=False)
    with Archive.open(env.data, write=True) as a:
        s = ReviewSettings()
        accounts.add_user(a, "lee", ["legal", "reviewer"], "test", s)
        user = accounts.get_user(a, "lee")
        assert user is not None
        svc = ReviewService(a, s)
        v = svc.viewer(user)
        (cap,) = svc.dashboard(v)["capture"]
        assert cap["level"] == "ok" and cap["records"] == 3 and cap["media_pending"] == 0
        (seq,) = a.conn.execute("SELECT min(msg_seq) FROM media_queue").fetchone()
        mv = svc.message(v, seq)
        (f,) = mv.files
        assert f["blob_id"]
        data, _name = svc.download(v, seq, f["blob_id"], why="test")
    assert data in env.fx.media.values()
