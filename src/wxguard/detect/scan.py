"""``wxguard scan``: run detectors over the archive incrementally, store findings.

State is kept per detector *and version* (``scan_state``): a run scans, for each
detector, only messages appended since its last run; a detector whose version
changed (a new release, an edited lexicon) starts again from the first message and
its old findings are replaced. Each batch's findings and the advanced state commit
in one transaction, so an interrupted scan resumes where it stopped and never
stores a finding twice.
"""

from __future__ import annotations

import json
import re
import time
import tomllib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from ..archive import Archive, _now_ms
from ..model import message_id
from ..sealed import opened_batches
from ..textview import attachments_of, text_view
from .api import DetectConfig, Detector, DetectorError, Explanation, Finding
from .engine import DetectorFault, Engine, ScanResult
from .linear import SHIPPED
from .namemodel import NAME as NAMES_MODEL
from .registry import DetectorRegistry, LoadProblem

BATCH = 2000
_EXPL = msgspec.json.Encoder()

Progress = Callable[[int], None]


DETECT_CONFIG = "detect.toml"
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9\-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


def archive_config(archive: Archive, extra_lexicons: Sequence[Path] = ()) -> DetectConfig:
    """Detector settings for an archive: its ``lexicons/`` folder, ``detect.toml``, any
    extra lexicons given, and its keyed hash for registered data (``edm/``)."""
    cfg = data_dir_config(archive.data_dir, extra_lexicons)
    cfg.keyed_hash = edm_hash(archive)
    return cfg


def edm_hash(archive: Archive) -> Callable[[bytes], bytes]:
    fp = archive.keys.fingerprints

    def keyed(data: bytes) -> bytes:
        return fp.of_bytes(data, b"edm")

    return keyed


def data_dir_config(data_dir: Path, extra_lexicons: Sequence[Path] = ()) -> DetectConfig:
    paths = [data_dir / "lexicons"] if (data_dir / "lexicons").is_dir() else []
    cfg = DetectConfig(lexicon_paths=[*paths, *extra_lexicons], data_dir=data_dir)
    path = data_dir / DETECT_CONFIG
    if not path.exists():
        return cfg
    try:
        doc = tomllib.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise DetectorError(f"{path}: cannot read detection settings: {e}") from None
    unknown = sorted(set(doc) - {"own_domains", "models", "url_model_alone"})
    if unknown:
        raise DetectorError(f"{path}: unknown key(s) {', '.join(unknown)}")
    models = doc.get("models", {})
    if not isinstance(models, dict) or not all(isinstance(v, str) for v in models.values()):
        raise DetectorError(f"{path}: [models] must map a model name to a file path string")
    known = (*SHIPPED, NAMES_MODEL)
    bad = sorted(set(models) - set(known))
    if bad:
        raise DetectorError(
            f"{path}: [models] has unknown model(s) {', '.join(bad)}; known: {', '.join(known)}"
        )
    cfg.models = {k: (data_dir / v) for k, v in models.items()}
    own = doc.get("own_domains", [])
    if not isinstance(own, list) or not all(isinstance(d, str) and _DOMAIN.match(d) for d in own):
        raise DetectorError(
            f"{path}: key 'own_domains' must be a list of domains like [\"example.com\"]"
        )
    cfg.own_domains = list(own)
    if "url_model_alone" in doc:
        alone = doc["url_model_alone"]
        if alone is False:
            cfg.url_model_alone = 0.0
        elif isinstance(alone, int | float) and not isinstance(alone, bool) and 0.5 <= alone <= 1:
            cfg.url_model_alone = float(alone)
        else:
            raise DetectorError(
                f"{path}: key 'url_model_alone' must be a score from 0.5 to 1 (the phishing-url "
                f"model's score reported without another cue) or false (never), not {alone!r}"
            )
    return cfg


def archive_fingerprint(archive: Archive) -> Callable[[str], str]:
    fp = archive.keys.fingerprints

    def value_fp(value: str) -> str:
        return fp.of_bytes(value.encode("utf-8"), b"value").hex()

    return value_fp


@dataclass
class ScanSummary:
    run_id: int = 0
    messages: int = 0
    findings: int = 0
    by_entity: dict[str, int] = field(default_factory=dict)
    faults: list[DetectorFault] = field(default_factory=list)
    problems: list[LoadProblem] = field(default_factory=list)
    detectors: dict[str, str] = field(default_factory=dict)
    rescanned: list[str] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class _Group:
    start: int  # scan messages with seq > start
    detectors: list[Detector]
    engine: Engine


def scan_archive(
    archive: Archive,
    registry: DetectorRegistry,
    *,
    rescan: bool = False,
    since_ms: int | None = None,
    progress: Progress | None = None,
) -> ScanSummary:
    """Scan what is new (or everything with ``rescan``) with the registry's detectors."""
    t0 = time.perf_counter()
    conn = archive.conn
    dets = registry.detectors
    s = ScanSummary(problems=list(registry.problems), detectors={d.id: d.version for d in dets})
    if not dets:
        return s
    st = conn.execute("SELECT detector, version, last_seq FROM scan_state")
    state = {r[0]: (r[1], r[2]) for r in st}
    fingerprint = archive_fingerprint(archive)
    starts: dict[int, list[Detector]] = {}
    with archive.transaction():
        for d in dets:
            version, last = state.get(d.id, ("", 0))
            if rescan or version != d.version:
                if d.id in state:
                    s.rescanned.append(d.id)
                last = 0
                if since_ms is None:
                    _set_state(archive, d, 0)
            # Whatever this run will look at is replaced: findings beyond the detector's state
            # (left by an earlier --since run, which does not advance state) or all of them
            # when it starts again. So no run ever stores a finding twice.
            if since_ms is None:
                conn.execute("DELETE FROM findings WHERE detector = ? AND seq > ?", (d.id, last))
            else:
                conn.execute(
                    "DELETE FROM findings WHERE detector = ? AND seq > ? AND seq IN "
                    "(SELECT seq FROM messages WHERE sent_at >= ?)",
                    (d.id, last, since_ms),
                )
            starts.setdefault(last, []).append(d)
        mode = ("rescan" if rescan else "incremental") + (f" since={since_ms}" if since_ms else "")
        cur = conn.execute(
            "INSERT INTO scan_runs (started_at, mode, detectors) VALUES (?, ?, ?)",
            (_now_ms(), mode, json.dumps(s.detectors)),
        )
        s.run_id = int(cur.lastrowid or 0)
    groups = [_Group(k, v, Engine(v, fingerprint)) for k, v in sorted(starts.items())]
    for rows in _batches(archive, min(g.start for g in groups), since_ms):
        with archive.transaction():
            result = ScanResult()
            for g in groups:
                mine = [r for r in rows if r[0] > g.start]
                if mine:
                    r = g.engine.scan(
                        [(mid, text) for _, mid, text, _ in mine], [x[3] for x in mine]
                    )
                    result.findings += r.findings
                    result.faults += r.faults
            _store(archive, s, result, rows)
            if since_ms is None:
                for g in groups:
                    for d in g.detectors:
                        _set_state(archive, d, rows[-1][0])
        s.messages += len(rows)
        if progress:
            progress(len(rows))
    s.seconds = time.perf_counter() - t0
    conn.execute(
        "UPDATE scan_runs SET finished_at = ?, messages = ?, findings = ?, faults = ? WHERE id = ?",
        (_now_ms(), s.messages, s.findings, json.dumps([f.__dict__ for f in s.faults]), s.run_id),
    )
    return s


def _set_state(archive: Archive, d: Detector, last_seq: int) -> None:
    archive.conn.execute(
        "INSERT INTO scan_state (detector, version, last_seq) VALUES (?, ?, ?) "
        "ON CONFLICT (detector) DO UPDATE SET version = excluded.version, "
        "last_seq = excluded.last_seq",
        (d.id, d.version, last_seq),
    )


def pending_messages(archive: Archive, start: int, since_ms: int | None) -> int:
    q = "SELECT count(*) FROM messages WHERE seq > ?"
    args: tuple[int, ...] = (start,)
    if since_ms is not None:
        q += " AND sent_at >= ?"
        args = (start, since_ms)
    return int(archive.conn.execute(q, args).fetchone()[0])


Row = tuple[int, str, str, tuple[str, ...]]  # seq, message id, text view, attachment md5s


def _batches(archive: Archive, start: int, since_ms: int | None) -> Iterator[list[Row]]:
    """(seq, message id, text view, md5s) in seq order, BATCH at a time; shredded skipped."""
    for batch in opened_batches(archive, start, since_ms=since_ms, batch=BATCH):
        yield [
            (seq, mid, text_view(m.payload),
             tuple(a.md5 for a in attachments_of(m.payload) if a.md5))
            for seq, mid, m in batch
        ]  # fmt: skip


def _store(archive: Archive, s: ScanSummary, result: ScanResult, rows: list[Row]) -> None:
    seq_of = {r[1]: r[0] for r in rows}
    archive.conn.executemany(
        "INSERT INTO findings (seq, detector, version, entity, span_start, span_end, score, "
        "value_fp, explanation, run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (seq_of[f.message_id], f.detector, f.version, f.entity, f.start, f.end, f.score,
             bytes.fromhex(f.value_fp), _EXPL.encode(f.explanation).decode(), s.run_id)
            for f in result.findings
        ],
    )  # fmt: skip
    s.findings += len(result.findings)
    for f in result.findings:
        s.by_entity[f.entity] = s.by_entity.get(f.entity, 0) + 1
    for fault in result.faults:
        if all(x.detector != fault.detector for x in s.faults):
            s.faults.append(fault)


def stored_findings(archive: Archive, seq: int | None = None) -> list[Finding]:
    """Findings from the archive (all, or one message's), as :class:`Finding`."""
    q = (
        "SELECT f.detector, f.version, f.entity, f.span_start, f.span_end, f.score, f.value_fp, "
        "f.explanation, m.source, m.source_msg_id FROM findings f JOIN messages m ON m.seq = f.seq"
    )
    args: tuple[int, ...] = ()
    if seq is not None:
        q += " WHERE f.seq = ?"
        args = (seq,)
    out = []
    for det, ver, ent, a, b, score, fp, expl, source, msgid in archive.conn.execute(
        q + " ORDER BY f.seq, f.span_start", args
    ):
        out.append(
            Finding(
                message_id=message_id(source, msgid), detector=det, version=ver, entity=ent,
                start=a, end=b, score=score, value_fp=bytes(fp).hex(),
                explanation=msgspec.json.decode(expl, type=Explanation),
            )
        )  # fmt: skip
    return out
