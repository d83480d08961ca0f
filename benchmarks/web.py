"""Review app page times at scale: the alert queue and a conversation page, served by the
real ``wxguard serve`` process, with N messages and M alerts in the archive.

    python benchmarks/web.py --messages 1000000 --alerts 100000

Messages come from the demo generator (ingested and scanned); alerts beyond what the
policies raised are added as rows over real conversations and messages. Prints the median
and p95 of 30 requests per page. Target: under 200 ms at 1,000,000 messages / 100,000 alerts.
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from reviewfix import make_users, server, sign_in  # noqa: E402
from wxguard.archive import Archive  # noqa: E402


def wx(*args: str | Path) -> None:
    subprocess.run([sys.executable, "-m", "wxguard", *map(str, args)], check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip


def add_alerts(d: Path, target: int) -> None:
    with Archive.open(d) as a:
        have = a.conn.execute("SELECT count(*) FROM alerts").fetchone()[0]
        rows = a.conn.execute(
            "SELECT seq, conv_fp, sender_fp, sent_at FROM messages ORDER BY random() LIMIT ?",
            (max(0, target - have),),
        ).fetchall()
        rng = random.Random(1)
        sev = ["low", "medium", "high", "critical"]
        with a.transaction():
            for seq, conv, sender, at in rows:
                cur = a.conn.execute(
                    "INSERT INTO alerts (policy, policy_version, policy_digest, behaviour, "
                    "severity, conv_fp, state, first_at, last_at, messages, subjects, restricted, "
                    "created_at, updated_at) VALUES ('pii-external', 1, 'bench', "
                    "'personal_information', ?, ?, ?, ?, ?, 1, ?, 0, ?, ?)",
                    (rng.choice(sev), conv, rng.choice(["new", "open", "closed"]), at, at,
                     orjson.dumps([bytes(sender).hex()]).decode(), at, at),
                )  # fmt: skip
                a.conn.execute(
                    "INSERT OR IGNORE INTO alert_evidence VALUES (?, 'bench', ?, ?, '[]')",
                    (cur.lastrowid, seq, at),
                )


def timed(c: httpx.Client, url: str, n: int = 30) -> tuple[float, float]:
    c.get(url)  # warm
    ts = []
    for _ in range(n):
        t = time.perf_counter()
        r = c.get(url)
        ts.append((time.perf_counter() - t) * 1000)
        assert r.status_code == 200, (url, r.status_code)
    ts.sort()
    return statistics.median(ts), ts[int(len(ts) * 0.95) - 1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=100_000)
    ap.add_argument("--alerts", type=int, default=10_000)
    ap.add_argument("--data", type=Path, help="reuse this archive (built if missing)")
    args = ap.parse_args()
    tmp = tempfile.TemporaryDirectory(prefix="wxguard-web-")
    d = args.data or Path(tmp.name) / "data"
    if not (d / "archive.db").exists():
        t = time.perf_counter()
        wx("demo", "--no-serve", "--messages", str(args.messages), "--data", d)
        print(f"built {args.messages:,} messages in {time.perf_counter() - t:.0f} s")
    add_alerts(d, args.alerts)
    users = make_users(d, prefix=f"bench{int(time.time()) % 100000}-")
    with Archive.open(d) as a:
        n_msgs = a.conn.execute("SELECT count(*) FROM messages").fetchone()[0]
        n_alerts = a.conn.execute("SELECT count(*) FROM alerts").fetchone()[0]
        conv = a.conn.execute(
            "SELECT conv_fp FROM messages GROUP BY conv_fp ORDER BY count(*) DESC LIMIT 1"
        ).fetchone()[0]
    with server(d) as base:
        token = sign_in(base, users["supervisor"])
        with httpx.Client(base_url=base, cookies={"wxg_session": token}) as c:
            pages = {
                "alert queue": "/alerts",
                "alert queue, by severity": "/alerts?state=all&sort=severity",
                "alert queue, page 100": "/alerts?page=100",
                "conversation (newest 100)": f"/conversations/{bytes(conv).hex()}",
                "alert detail": "/alerts/1",
                "dashboard": "/",
            }
            print(f"archive: {n_msgs:,} messages, {n_alerts:,} alerts")
            for name, url in pages.items():
                med, p95 = timed(c, url)
                print(f"{name:28s} median {med:7.1f} ms   p95 {p95:7.1f} ms")


if __name__ == "__main__":
    main()
