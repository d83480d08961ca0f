"""Numbered, append-only migration steps for the archive database.

``PRAGMA user_version`` records the last applied step. Never edit a released step:
add a new one.
"""

from __future__ import annotations

import sqlite3

MIGRATIONS: list[str] = [
    # 1: foundation
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE secrets (name TEXT PRIMARY KEY, wrapped BLOB NOT NULL);
    CREATE TABLE data_keys (
        id INTEGER PRIMARY KEY,
        month TEXT NOT NULL,
        class TEXT NOT NULL,
        wrapped BLOB,
        created_at INTEGER NOT NULL,
        destroyed_at INTEGER,
        UNIQUE (month, class)
    );
    CREATE TABLE ledger (
        seq INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        ref TEXT NOT NULL,
        leaf BLOB NOT NULL,
        chain BLOB NOT NULL
    );
    CREATE TABLE checkpoints (
        id INTEGER PRIMARY KEY,
        size INTEGER NOT NULL,
        root BLOB NOT NULL,
        chain BLOB NOT NULL,
        at INTEGER NOT NULL,
        signature BLOB NOT NULL
    );
    CREATE TABLE messages (
        seq INTEGER PRIMARY KEY,
        source TEXT NOT NULL,
        source_msg_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        sent_at INTEGER NOT NULL,
        sender_fp BLOB NOT NULL,
        conv_fp BLOB NOT NULL,
        chat TEXT NOT NULL,
        key_id INTEGER NOT NULL,
        content_fp BLOB NOT NULL,
        flags TEXT NOT NULL,
        media_bytes INTEGER NOT NULL,
        body BLOB,
        ingested_at INTEGER NOT NULL,
        UNIQUE (source, source_msg_id)
    );
    CREATE TABLE blobs (
        id TEXT PRIMARY KEY,
        seq INTEGER NOT NULL UNIQUE,
        size INTEGER NOT NULL,
        stored_size INTEGER NOT NULL,
        key_id INTEGER NOT NULL,
        file_digest BLOB NOT NULL,
        created_at INTEGER NOT NULL
    );
    CREATE TABLE message_blobs (
        msg_seq INTEGER NOT NULL,
        blob_id TEXT NOT NULL,
        PRIMARY KEY (msg_seq, blob_id)
    ) WITHOUT ROWID;
    CREATE TABLE recalls (
        source TEXT NOT NULL,
        target_msg_id TEXT NOT NULL,
        revoke_seq INTEGER NOT NULL,
        PRIMARY KEY (source, target_msg_id, revoke_seq)
    ) WITHOUT ROWID;
    CREATE TABLE participants (
        fp BLOB PRIMARY KEY,
        kind TEXT NOT NULL,
        enc BLOB NOT NULL,
        first_seen INTEGER,
        last_seen INTEGER
    );
    CREATE TABLE conversations (
        fp BLOB PRIMARY KEY,
        type TEXT NOT NULL,
        enc BLOB NOT NULL,
        first_seen INTEGER,
        last_seen INTEGER
    );
    CREATE TABLE cursors (
        stream TEXT PRIMARY KEY,
        position TEXT NOT NULL,
        updated_at INTEGER NOT NULL
    );
    CREATE TABLE quarantine (
        id INTEGER PRIMARY KEY,
        stream TEXT NOT NULL,
        locator TEXT NOT NULL,
        reason TEXT NOT NULL,
        enc BLOB,
        at INTEGER NOT NULL,
        UNIQUE (stream, locator)
    );
    """,
    # 2: detection findings (derived data: not ledgered, rebuilt by `wxguard scan --rescan`)
    """
    CREATE TABLE findings (
        id INTEGER PRIMARY KEY,
        seq INTEGER NOT NULL,
        detector TEXT NOT NULL,
        version TEXT NOT NULL,
        entity TEXT NOT NULL,
        span_start INTEGER NOT NULL,
        span_end INTEGER NOT NULL,
        score REAL NOT NULL,
        value_fp BLOB NOT NULL,
        explanation TEXT NOT NULL,
        run_id INTEGER NOT NULL
    );
    CREATE INDEX findings_by_seq ON findings (seq);
    CREATE INDEX findings_by_detector ON findings (detector, entity);
    CREATE TABLE scan_state (
        detector TEXT PRIMARY KEY,
        version TEXT NOT NULL,
        last_seq INTEGER NOT NULL
    );
    CREATE TABLE scan_runs (
        id INTEGER PRIMARY KEY,
        started_at INTEGER NOT NULL,
        finished_at INTEGER,
        mode TEXT NOT NULL,
        detectors TEXT NOT NULL,
        messages INTEGER NOT NULL DEFAULT 0,
        findings INTEGER NOT NULL DEFAULT 0,
        faults TEXT NOT NULL DEFAULT '[]'
    );
    """,
    # 3: policies, alerts, third-party inventory, allowlists, audit trail, delivery outbox
    """
    CREATE TABLE audit (
        seq INTEGER PRIMARY KEY,
        at INTEGER NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        subject TEXT NOT NULL,
        detail TEXT NOT NULL
    );
    CREATE TABLE policy_state (
        policy TEXT PRIMARY KEY,
        version INTEGER NOT NULL,
        digest TEXT NOT NULL,
        last_seq INTEGER NOT NULL
    );
    CREATE TABLE alerts (
        id INTEGER PRIMARY KEY,
        policy TEXT NOT NULL,
        policy_version INTEGER NOT NULL,
        policy_digest TEXT NOT NULL,
        behaviour TEXT NOT NULL,
        severity TEXT NOT NULL,
        conv_fp BLOB NOT NULL,
        state TEXT NOT NULL,
        first_at INTEGER NOT NULL,
        last_at INTEGER NOT NULL,
        messages INTEGER NOT NULL,
        subjects TEXT NOT NULL,
        restricted INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    );
    CREATE INDEX alerts_open ON alerts (policy, conv_fp, last_at);
    CREATE INDEX alerts_by_state ON alerts (state, severity);
    CREATE TABLE alert_evidence (
        alert_id INTEGER NOT NULL,
        policy TEXT NOT NULL,
        seq INTEGER NOT NULL,
        at INTEGER NOT NULL,
        findings TEXT NOT NULL,
        PRIMARY KEY (policy, seq)
    ) WITHOUT ROWID;
    CREATE INDEX evidence_by_alert ON alert_evidence (alert_id, seq);
    CREATE TABLE inventory (
        kind TEXT NOT NULL,
        ident TEXT NOT NULL,
        name TEXT NOT NULL,
        status TEXT NOT NULL,
        first_seen INTEGER,
        last_seen INTEGER,
        uses INTEGER NOT NULL,
        note TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (kind, ident)
    ) WITHOUT ROWID;
    CREATE TABLE inventory_users (
        kind TEXT NOT NULL,
        ident TEXT NOT NULL,
        participant_fp BLOB NOT NULL,
        uses INTEGER NOT NULL,
        last_seen INTEGER NOT NULL,
        PRIMARY KEY (kind, ident, participant_fp)
    ) WITHOUT ROWID;
    CREATE TABLE allowlist (
        list TEXT NOT NULL,
        ident TEXT NOT NULL,
        note TEXT NOT NULL,
        added_at INTEGER NOT NULL,
        PRIMARY KEY (list, ident)
    ) WITHOUT ROWID;
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY,
        sink TEXT NOT NULL,
        kind TEXT NOT NULL,
        alert_id INTEGER,
        payload TEXT NOT NULL,
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_at INTEGER NOT NULL,
        last_error TEXT NOT NULL DEFAULT '',
        created_at INTEGER NOT NULL,
        delivered_at INTEGER
    );
    CREATE INDEX outbox_due ON outbox (status, next_at);
    CREATE TABLE nudges (
        employee_fp BLOB NOT NULL,
        policy TEXT NOT NULL,
        at INTEGER NOT NULL
    );
    CREATE INDEX nudges_by_employee ON nudges (employee_fp, at);
    """,
    # 4: review application: users, sessions, alert workflow, sampling, audited views
    """
    CREATE INDEX messages_by_conv ON messages (conv_fp, sent_at, seq);
    CREATE INDEX audit_by_subject ON audit (subject, seq);
    ALTER TABLE alerts ADD COLUMN assignee TEXT NOT NULL DEFAULT '';
    ALTER TABLE alerts ADD COLUMN disposition TEXT NOT NULL DEFAULT '';
    ALTER TABLE alerts ADD COLUMN escalated INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX alerts_queue ON alerts (state, last_at);
    CREATE TABLE users (
        name TEXT PRIMARY KEY,
        display TEXT NOT NULL,
        roles TEXT NOT NULL,
        pw_hash TEXT NOT NULL,
        totp BLOB NOT NULL,
        totp_step INTEGER NOT NULL DEFAULT 0,
        disabled INTEGER NOT NULL DEFAULT 0,
        failures INTEGER NOT NULL DEFAULT 0,
        locked_until INTEGER NOT NULL DEFAULT 0,
        created_at INTEGER NOT NULL,
        last_sign_in INTEGER
    );
    CREATE TABLE sessions (
        token_hash BLOB PRIMARY KEY,
        user TEXT NOT NULL,
        csrf TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        last_seen INTEGER NOT NULL,
        expires_at INTEGER NOT NULL
    );
    CREATE TABLE sampling_rules (
        id INTEGER PRIMARY KEY,
        scope TEXT NOT NULL,
        value TEXT NOT NULL,
        percent REAL NOT NULL,
        last_seq INTEGER NOT NULL DEFAULT 0,
        active INTEGER NOT NULL DEFAULT 1,
        created_at INTEGER NOT NULL
    );
    CREATE TABLE samples (
        rule_id INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        state TEXT NOT NULL,
        picked_at INTEGER NOT NULL,
        PRIMARY KEY (rule_id, seq)
    ) WITHOUT ROWID;
    CREATE INDEX samples_by_state ON samples (state, seq)
    """,
    # 5: WeCom capture: health per stream and member, media downloads, consent, gaps
    """
    CREATE TABLE capture_state (
        stream TEXT PRIMARY KEY,
        last_seq INTEGER NOT NULL DEFAULT 0,
        last_pull_at INTEGER,
        last_ok_at INTEGER,
        caught_up_at INTEGER,
        newest_msg_at INTEGER,
        backlog_msg_at INTEGER,
        records INTEGER NOT NULL DEFAULT 0,
        quarantined INTEGER NOT NULL DEFAULT 0,
        missing_seqs INTEGER NOT NULL DEFAULT 0,
        refusals INTEGER NOT NULL DEFAULT 0,
        failures INTEGER NOT NULL DEFAULT 0,
        error_code INTEGER NOT NULL DEFAULT 0,
        error TEXT NOT NULL DEFAULT '',
        directory_at INTEGER,
        stall_alerted_at INTEGER
    );
    CREATE TABLE capture_gaps (
        stream TEXT NOT NULL,
        after_seq INTEGER NOT NULL,
        before_seq INTEGER NOT NULL,
        found_at INTEGER NOT NULL,
        PRIMARY KEY (stream, after_seq)
    ) WITHOUT ROWID;
    CREATE TABLE capture_members (
        stream TEXT NOT NULL,
        member_fp BLOB NOT NULL,
        in_scope INTEGER NOT NULL DEFAULT 0,
        last_msg_at INTEGER,
        last_seq INTEGER,
        PRIMARY KEY (stream, member_fp)
    ) WITHOUT ROWID;
    CREATE TABLE media_queue (
        id INTEGER PRIMARY KEY,
        msg_seq INTEGER NOT NULL,
        file_fp BLOB NOT NULL,
        enc BLOB NOT NULL,
        md5 TEXT NOT NULL,
        size INTEGER,
        sent_at INTEGER NOT NULL,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_at INTEGER NOT NULL DEFAULT 0,
        next_index TEXT NOT NULL DEFAULT '',
        chunks INTEGER NOT NULL DEFAULT 0,
        got INTEGER NOT NULL DEFAULT 0,
        blob_id TEXT NOT NULL DEFAULT '',
        last_error TEXT NOT NULL DEFAULT '',
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        UNIQUE (msg_seq, file_fp)
    );
    CREATE INDEX media_due ON media_queue (state, next_at);
    CREATE TABLE consent (
        member_fp BLOB NOT NULL,
        external_fp BLOB NOT NULL,
        room_fp BLOB NOT NULL,
        status TEXT NOT NULL,
        changed_at INTEGER,
        checked_at INTEGER NOT NULL,
        PRIMARY KEY (member_fp, external_fp, room_fp)
    ) WITHOUT ROWID
    """,
    # 6: search index upkeep, legal holds, retention rules and disposals, exports
    """
    CREATE TABLE index_deletions (seq INTEGER PRIMARY KEY);
    CREATE TABLE holds (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        matter TEXT NOT NULL,
        scope TEXT NOT NULL,
        reason TEXT NOT NULL,
        placed_by TEXT NOT NULL,
        placed_at INTEGER NOT NULL,
        placed_seq INTEGER NOT NULL,
        released_by TEXT,
        released_at INTEGER,
        released_seq INTEGER,
        release_reason TEXT NOT NULL DEFAULT ''
    );
    CREATE TABLE retention_rules (
        name TEXT PRIMARY KEY,
        class TEXT NOT NULL,
        keep TEXT NOT NULL,
        kinds TEXT NOT NULL,
        departments TEXT NOT NULL,
        set_by TEXT NOT NULL,
        set_at INTEGER NOT NULL,
        set_seq INTEGER NOT NULL
    );
    CREATE TABLE disposals (
        id INTEGER PRIMARY KEY,
        as_of INTEGER NOT NULL,
        actor TEXT NOT NULL,
        started_at INTEGER NOT NULL,
        finished_at INTEGER,
        messages INTEGER NOT NULL DEFAULT 0,
        blobs INTEGER NOT NULL DEFAULT 0,
        held INTEGER NOT NULL DEFAULT 0,
        keys_destroyed INTEGER NOT NULL DEFAULT 0,
        certificate TEXT NOT NULL DEFAULT ''
    );
    CREATE TABLE tombstones (
        seq INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        ref TEXT NOT NULL,
        sent_at INTEGER NOT NULL,
        rule TEXT NOT NULL,
        disposal INTEGER NOT NULL,
        at INTEGER NOT NULL,
        tomb_seq INTEGER NOT NULL UNIQUE
    );
    CREATE TABLE exports (
        id INTEGER PRIMARY KEY,
        scope TEXT NOT NULL,
        formats TEXT NOT NULL,
        reason TEXT NOT NULL,
        requested_by TEXT NOT NULL,
        requested_at INTEGER NOT NULL,
        approved_by TEXT,
        approved_at INTEGER,
        state TEXT NOT NULL,
        path TEXT NOT NULL DEFAULT '',
        messages INTEGER NOT NULL DEFAULT 0,
        manifest_sha256 TEXT NOT NULL DEFAULT '',
        finished_at INTEGER
    )
    """,
    # 7: exactly-once dedupe through a compact, time-ordered key (src/wxguard/msgkey.py)
    # instead of a unique index on the random id text, whose inserts slowed ingest down as
    # the archive grew. ``wx_msgkey`` is registered on every archive connection.
    """
    CREATE TABLE messages_v7 (
        seq INTEGER PRIMARY KEY,
        source TEXT NOT NULL,
        source_msg_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        sent_at INTEGER NOT NULL,
        sender_fp BLOB NOT NULL,
        conv_fp BLOB NOT NULL,
        chat TEXT NOT NULL,
        key_id INTEGER NOT NULL,
        content_fp BLOB NOT NULL,
        flags TEXT NOT NULL,
        media_bytes INTEGER NOT NULL,
        body BLOB,
        ingested_at INTEGER NOT NULL
    );
    INSERT INTO messages_v7 SELECT seq, source, source_msg_id, kind, sent_at, sender_fp,
        conv_fp, chat, key_id, content_fp, flags, media_bytes, body, ingested_at FROM messages;
    DROP TABLE messages;
    ALTER TABLE messages_v7 RENAME TO messages;
    CREATE INDEX messages_by_conv ON messages (conv_fp, sent_at, seq);
    CREATE TABLE message_keys (
        k INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        PRIMARY KEY (k, seq)
    ) WITHOUT ROWID;
    INSERT INTO message_keys SELECT wx_msgkey(source_msg_id), seq FROM messages ORDER BY 1, 2
    """,
    # 8: the source a quarantined record was read under (``ingest --source``), so
    # ``quarantine retry`` archives it under the same one; '' for rows kept before
    """
    ALTER TABLE quarantine ADD COLUMN source TEXT NOT NULL DEFAULT ''
    """,
]

LATEST = len(MIGRATIONS)
# The oldest schema this code reads without migrating: a read-only copy (a backup on
# read-only media) cannot be migrated, and the steps since only add what writers use.
READABLE_FROM = 7


def _version(conn: sqlite3.Connection) -> int:
    (version,) = conn.execute("PRAGMA user_version").fetchone()
    if version > LATEST:
        raise RuntimeError(
            f"archive schema version {version} is newer than this wxguard ({LATEST}); "
            "upgrade wxguard"
        )
    return int(version)


def check_readable(conn: sqlite3.Connection) -> int:
    """For a connection that cannot write: the schema version, if this code can read it."""
    version = _version(conn)
    if version < READABLE_FROM:
        raise RuntimeError(
            f"archive schema version {version} needs an upgrade to {LATEST}, which a read-only "
            "copy cannot take: open a writable copy of it once, or read it with the wxguard "
            "that wrote it"
        )
    return version


def migrate(conn: sqlite3.Connection) -> int:
    """Apply pending steps, each in its own transaction; returns the resulting version."""
    version = _version(conn)
    for step in range(version, LATEST):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for stmt in filter(str.strip, MIGRATIONS[step].split(";")):
                conn.execute(stmt)
            conn.execute(f"PRAGMA user_version = {step + 1}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return LATEST
