"""Pull the WeCom session archive: page → unwrap → decrypt → normalise → seal, exactly once.

``shared/specs/wecom-archive.md`` §1.4 is the flow. Per page (``GetChatData``, at most
1,000 records after the stored seq, §1.5):

1. the envelope's ``errcode`` is checked (301042, 301052 … arrive with rc 0);
2. each record's ``encrypt_random_key`` is base64-decoded and RSA-decrypted (PKCS#1
   v1.5, §1.6) with the private key of its ``publickey_ver`` — in worker processes when
   the machine has several cores, since RSA-2048 is the pipeline's cost;
3. ``DecryptData`` (the native library) gives the plaintext JSON, which the foundation's
   normaliser turns into a canonical message;
4. one SQLite transaction seals the page's messages, queues their media downloads,
   updates capture health, and moves the cursor to the page's last seq.

A record that cannot be unwrapped, decrypted or parsed is quarantined (the encrypted
record or the plaintext kept, sealed) and capture continues. A record whose
``publickey_ver`` has no configured private key stops the pull *at that record*: the
records before it commit, the cursor stays on it, and the error says which key to add.
Transient SDK and server errors are retried with backoff; permanent ones stop with the
cursor intact.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from .. import wecom
from ..archive import Archive
from ..model import Agree, Disagree, Message, ParticipantKind, classify_participant
from ..seal import Batch, Counts, Sealer
from ..textview import attachments_of
from .codes import server_problem
from .config import Connector
from .media import file_fp, seal_sdkfileid
from .sdk import FinanceSdk, SdkError
from .unwrap import Unwrapper


class CaptureError(Exception):
    """The pull cannot go on; ``transient`` says whether waiting can help."""

    def __init__(self, message: str, *, code: int = 0, transient: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.transient = transient


@dataclass
class PullReport:
    pages: int = 0
    records: int = 0
    counts: Counts = field(default_factory=Counts)
    caught_up: bool = False
    last_seq: int = 0
    media_queued: int = 0
    retries: int = 0


# ------------------------------------------------------------------ the puller


def _record_fields(rec: Any, i: int) -> tuple[int, str, int, str, str] | str:
    if not isinstance(rec, dict):
        return f"chatdata[{i}] is not an object"
    seq, msgid, ver = rec.get("seq"), rec.get("msgid"), rec.get("publickey_ver")
    ekey, emsg = rec.get("encrypt_random_key"), rec.get("encrypt_chat_msg")
    if not isinstance(seq, int) or seq < 0:
        return f"chatdata[{i}] has no valid seq"
    if not isinstance(msgid, str) or not msgid:
        return f"record seq {seq} has no msgid"
    if not isinstance(ver, int) or isinstance(ver, bool):
        return f"record seq {seq} has no valid publickey_ver"
    if not isinstance(ekey, str) or not isinstance(emsg, str) or not ekey or not emsg:
        return f"record seq {seq} lacks encrypt_random_key or encrypt_chat_msg"
    return seq, msgid, ver, ekey, emsg


class Puller:
    """Pulls one corp's archive into an open (write-locked) archive."""

    def __init__(
        self,
        archive: Archive,
        conn: Connector,
        sdk: FinanceSdk,
        *,
        sealer: Sealer | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        workers: int | None = None,
    ) -> None:
        self.a = archive
        self.c = conn
        self.sdk = sdk
        self.sealer = sealer or Sealer(archive)
        self.clock = clock
        self.sleep = sleep
        n = workers if workers is not None else (os.cpu_count() or 1)
        self.unwrapper = Unwrapper(conn.keys, n)
        self._last_call = 0.0
        self._min_interval = 60.0 / conn.cfg.pull.calls_per_minute
        self.fp = archive.keys.fingerprints
        self._ensure_state()

    def close(self) -> None:
        self.unwrapper.close()

    # -------------------------------------------------------------- state

    def _ensure_state(self) -> None:
        if (
            self.a.conn.execute(
                "SELECT 1 FROM capture_state WHERE stream = ?", (self.c.stream,)
            ).fetchone()
            is None
        ):
            with self.a.transaction():
                self.a.conn.execute(
                    "INSERT OR IGNORE INTO capture_state (stream) VALUES (?)", (self.c.stream,)
                )

    def cursor(self) -> int:
        row = self.a.conn.execute(
            "SELECT position FROM cursors WHERE stream = ?", (self.c.stream,)
        ).fetchone()
        return int(row[0]) if row else 0

    def record_failure(self, e: CaptureError) -> None:
        """Remember the error for ``capture status`` (own transaction)."""
        code = e.code
        with self.a.transaction():
            self.a.conn.execute(
                "UPDATE capture_state SET last_pull_at = ?, failures = failures + 1, "
                "error_code = ?, error = ? WHERE stream = ?",
                (self._now_ms(), code, str(e), self.c.stream),
            )

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    # -------------------------------------------------------------- fetching

    def _throttle(self) -> None:
        wait = self._last_call + self._min_interval - time.monotonic()
        if wait > 0:
            self.sleep(wait)
        self._last_call = time.monotonic()

    def fetch(self, seq: int, report: PullReport | None = None) -> list[Any]:
        """One ``GetChatData`` call with retries; the envelope's records."""
        pull = self.c.cfg.pull
        delay = 0.5
        for attempt in range(pull.max_retries + 1):
            self._throttle()
            try:
                raw = self.sdk.get_chat_data(seq, pull.page_size)
                env = orjson.loads(raw) if raw else None
                if not isinstance(env, dict):
                    raise SdkError("GetChatData", 10002)
                code = env.get("errcode", 0)
                if code:
                    p = server_problem(int(code), str(env.get("errmsg", "")))
                    raise CaptureError(
                        f"GetChatData after seq {seq}: WeCom error {code}: {p.text}",
                        code=int(code), transient=p.transient,
                    )  # fmt: skip
                records = env.get("chatdata") or []
                if not isinstance(records, list):
                    raise SdkError("GetChatData", 10002)
                return records
            except orjson.JSONDecodeError:
                err: CaptureError | SdkError = SdkError("GetChatData", 10002)
            except (SdkError, CaptureError) as e:
                err = e
            if not err.transient or attempt == pull.max_retries:
                if isinstance(err, SdkError):
                    raise CaptureError(
                        f"{err} (after seq {seq}, {attempt + 1} attempt(s))",
                        code=err.code, transient=err.transient,
                    ) from None  # fmt: skip
                raise err
            if report is not None:
                report.retries += 1
            self.sleep(min(delay, 30.0))
            delay *= 2
        raise AssertionError("unreachable")

    # -------------------------------------------------------------- one page

    def page(self, report: PullReport) -> bool:
        """Pull, decrypt and seal one page; True when the archive is caught up."""
        start = self.cursor()
        records = self.fetch(start, report)
        report.pages += 1
        limit = self.c.cfg.pull.page_size
        if not records:
            self._mark_caught_up()
            report.caught_up = True
            return True
        fields = [_record_fields(r, i) for i, r in enumerate(records)]
        good = [f for f in fields if not isinstance(f, str)]
        stop: CaptureError | None = None
        for i, f in enumerate(fields):
            if not isinstance(f, str) and f[2] not in self.c.keys:
                have = ", ".join(str(v) for v in sorted(self.c.keys))
                stop = CaptureError(
                    f"record seq {f[0]} (msgid {f[1]}) is encrypted with publickey_ver {f[2]}, "
                    f"but {self.c.path.name} has private keys only for version(s) {have}: add "
                    f'private_keys.{f[2]} = "$file:…" with that version\'s private key '
                    "(the cursor stays on this record)",
                    code=10007,
                )  # fmt: skip
                fields = fields[:i]
                good = [g for g in fields if not isinstance(g, str)]
                break
        keys = self.unwrapper.unwrap([(g[2], g[3]) for g in good])
        unwrapped = dict(zip((g[0] for g in good), keys, strict=True))
        source = self.c.cfg.pull.source
        batch = Batch(source=source)
        last = start
        for i, f in enumerate(fields):
            if isinstance(f, str):
                rs = records[i].get("seq") if isinstance(records[i], dict) else None
                if isinstance(rs, int) and not isinstance(rs, bool):
                    last = max(last, rs)  # quarantined, but the cursor moves past it
                batch.quarantine.append(
                    (f"page after seq {start}, item {i}", f, orjson.dumps(records[i]))
                )
                continue
            seq, msgid, ver, _ekey, emsg = f
            last = max(last, seq)
            locator = f"seq {seq} msgid {msgid}"
            key = unwrapped[seq]
            if isinstance(key, str):
                batch.quarantine.append((locator, key, orjson.dumps(records[i])))
                continue
            try:
                plain = self.sdk.decrypt_data(key, emsg.encode("ascii", "replace"))
            except SdkError as e:
                # OpenSSL's implicit rejection turns a wrong RSA key into a random "key", so a
                # wrong private key shows up here, as 10006/10008 from DecryptData.
                why = f"{e} (record of publickey_ver {ver})"
                batch.quarantine.append((locator, why, orjson.dumps(records[i])))
                continue
            try:
                m = wecom.normalise_bytes(plain, source)
            except wecom.NormaliseError as e:
                batch.quarantine.append((locator, f"decrypted record: {e}", plain))
                continue
            batch.messages.append((m, plain))
        if not fields:
            raise stop or CaptureError("empty page")
        if last <= start:
            raise CaptureError(
                f"GetChatData after seq {start}: none of the {len(records)} records has a valid "
                "seq after it, so the cursor cannot move; this is not a well-formed answer",
                code=10002,
            )
        batch.cursor = (self.c.stream, str(last))
        page_seqs = sorted(g[0] for g in good)
        batch.on_sealed = lambda sealed: self._after_seal(
            sealed, start, page_seqs, len(batch.quarantine), report
        )
        self.sealer.begin()
        counts = self.sealer.commit(batch)
        report.counts.add(counts)
        report.records += len(fields)
        report.last_seq = last
        if stop is not None:
            raise stop
        if len(records) < limit:
            self._mark_caught_up()
            report.caught_up = True
            return True
        return False

    def _mark_caught_up(self) -> None:
        with self.a.transaction():
            now = self._now_ms()
            self.a.conn.execute(
                "UPDATE capture_state SET last_pull_at = ?, last_ok_at = ?, caught_up_at = ?, "
                "backlog_msg_at = NULL, failures = 0, error_code = 0, error = '', "
                "stall_alerted_at = NULL WHERE stream = ?",
                (now, now, now, self.c.stream),
            )

    # -------------------------------------------------------------- quarantine retry

    def open_kept(self, raws: list[bytes]) -> list[bytes | str]:
        """The plaintext of each encrypted record kept in the quarantine, or why it still
        cannot be read (``wxguard quarantine retry --capture``, after a private key was
        corrected: a wrong key for a version quarantines instead of stopping)."""
        out: list[bytes | str] = []
        todo: list[tuple[int, int, str, str]] = []  # (index, publickey_ver, key, message)
        for i, raw in enumerate(raws):
            try:
                rec = orjson.loads(raw)
            except orjson.JSONDecodeError:
                out.append("the kept record is not JSON")
                continue
            f = _record_fields(rec, i)
            if isinstance(f, str):
                out.append(f)
                continue
            _seq, _msgid, ver, ekey, emsg = f
            if ver not in self.c.keys:
                out.append(f"{self.c.path.name} has no private key for publickey_ver {ver}")
                continue
            out.append(b"")
            todo.append((i, ver, ekey, emsg))
        keys = self.unwrapper.unwrap([(ver, ekey) for _, ver, ekey, _ in todo])
        for (i, ver, _ekey, emsg), key in zip(todo, keys, strict=True):
            if isinstance(key, str):
                out[i] = key
                continue
            try:
                out[i] = self.sdk.decrypt_data(key, emsg.encode("ascii", "replace"))
            except SdkError as e:
                out[i] = f"{e} (record of publickey_ver {ver})"
        return out

    def after_retry(self, sealed: list[tuple[int, Message]], left_quarantine: int) -> None:
        """In the retry's transaction: what a page does for its messages (media to fetch,
        members, consent), and the stream's quarantine count goes down."""
        _newest, refusals = self._message_effects(sealed, PullReport())
        self.a.conn.execute(
            "UPDATE capture_state SET quarantined = max(0, quarantined - ?), "
            "refusals = refusals + ? WHERE stream = ?",
            (left_quarantine, refusals, self.c.stream),
        )

    def _after_seal(
        self,
        sealed: list[tuple[int, Message]],
        start: int,
        seqs: list[int],
        quarantined: int,
        report: PullReport,
    ) -> None:
        """In the page's transaction: media to fetch, health, gaps, consent."""
        conn, now, stream = self.a.conn, self._now_ms(), self.c.stream
        newest, refusals = self._message_effects(sealed, report)
        gaps, missing, prev = [], 0, start
        for s in seqs:
            if prev and s > prev + 1:
                gaps.append((stream, prev, s, now))
                missing += s - prev - 1
            prev = max(prev, s)
        if gaps:
            conn.executemany("INSERT OR IGNORE INTO capture_gaps VALUES (?, ?, ?, ?)", gaps)
        conn.execute(
            "UPDATE capture_state SET last_seq = max(last_seq, ?), last_pull_at = ?, "
            "last_ok_at = ?, newest_msg_at = max(coalesce(newest_msg_at, 0), ?), "
            "backlog_msg_at = ?, records = records + ?, quarantined = quarantined + ?, "
            "missing_seqs = missing_seqs + ?, refusals = refusals + ?, failures = 0, "
            "error_code = 0, error = '' WHERE stream = ?",
            (prev, now, now, newest, newest or None, len(seqs), quarantined, missing,
             refusals, stream),
        )  # fmt: skip

    def _message_effects(
        self, sealed: list[tuple[int, Message]], report: PullReport
    ) -> tuple[int, int]:
        """Media to fetch, members seen and consent changes of newly sealed messages;
        returns (newest sent_at, refusals)."""
        conn, now, stream = self.a.conn, self._now_ms(), self.c.stream
        media_rows = []
        members: dict[bytes, tuple[int, int]] = {}
        consent = []
        refusals = 0
        newest = 0
        media_on = self.c.cfg.media.enabled
        of_id = self.fp.of_id
        for seq, m in sealed:
            newest = max(newest, m.sent_at)
            if media_on:
                for att in attachments_of(m.payload):
                    if att.sdkfileid and not att.blob_id:
                        media_rows.append((
                            seq, file_fp(self.a, att.sdkfileid),
                            seal_sdkfileid(self.a, seq, att.sdkfileid), att.md5, att.size,
                            m.sent_at, now, now,
                        ))  # fmt: skip
            for pid in (m.sender, *m.recipients):
                if pid and classify_participant(pid) is ParticipantKind.INTERNAL:
                    fp = of_id(pid)
                    prior = members.get(fp)
                    if prior is None or prior[0] < m.sent_at:
                        members[fp] = (m.sent_at, seq)
            p = m.payload
            if isinstance(p, Agree | Disagree):
                refusals += isinstance(p, Disagree)
                ext = p.userid or m.sender
                for r in m.recipients or [""]:
                    consent.append((
                        of_id(r) if r else b"", of_id(ext),
                        of_id(m.conversation) if m.chat == "group" else b"",
                        "Disagree" if isinstance(p, Disagree) else "Agree",
                        (p.at * 1000 if p.at and p.at < 10**11 else p.at) or m.sent_at, now,
                    ))  # fmt: skip
        if media_rows:
            conn.executemany(
                "INSERT OR IGNORE INTO media_queue (msg_seq, file_fp, enc, md5, size, sent_at, "
                "state, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?)",
                media_rows,
            )
            report.media_queued += len(media_rows)
        if members:
            conn.executemany(
                "INSERT INTO capture_members (stream, member_fp, last_msg_at, last_seq) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (stream, member_fp) DO UPDATE SET "
                "last_msg_at = max(coalesce(last_msg_at, 0), excluded.last_msg_at), "
                "last_seq = max(coalesce(last_seq, 0), excluded.last_seq)",
                [(stream, fp, at, s) for fp, (at, s) in members.items()],
            )
        if consent:
            conn.executemany(
                "INSERT INTO consent VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (member_fp, external_fp, room_fp) DO UPDATE SET "
                "status = excluded.status, changed_at = excluded.changed_at, "
                "checked_at = excluded.checked_at WHERE excluded.changed_at >= consent.changed_at",
                consent,
            )
        return newest, refusals

    # -------------------------------------------------------------- until caught up

    def pull(
        self, max_pages: int | None = None, progress: Callable[[PullReport], None] | None = None
    ) -> PullReport:
        """Pages until caught up (or ``max_pages``); raises :class:`CaptureError`."""
        report = PullReport(last_seq=self.cursor())
        while max_pages is None or report.pages < max_pages:
            try:
                done = self.page(report)
            except CaptureError as e:
                self.record_failure(e)
                raise
            if progress:
                progress(report)
            if done:
                break
        return report
