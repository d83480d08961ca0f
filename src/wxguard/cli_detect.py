"""``wxguard detectors`` and ``wxguard scan``: thin shells over :mod:`wxguard.detect`."""

from __future__ import annotations

import datetime as dt
import hmac
import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from itertools import islice
from pathlib import Path
from typing import Annotated, Any

import msgspec
import orjson
import typer

from .archive import Archive, resolve_data_dir
from .cli import (
    DataOpt,
    FormatOpt,
    OutputFormat,
    _esc,
    _print_json,
    _progress,
    _table,
    app,
    err,
    errors,
    fail,
    out,
)
from .detect.api import DetectConfig, DetectorError, Finding
from .detect.engine import Engine
from .detect.registry import DetectorRegistry
from .detect.scan import (
    archive_config,
    archive_fingerprint,
    pending_messages,
    scan_archive,
)
from .inputs import READ_ERRORS, open_input

CST = dt.timezone(dt.timedelta(hours=8))
MAX_INPUT_LINE = 16 << 20

DetectorOpt = Annotated[
    list[str] | None,
    typer.Option("--detector", help="Only this detector id (repeatable)"),
]
LexiconOpt = Annotated[
    list[Path] | None,
    typer.Option("--lexicon", help="Extra lexicon file or folder of *.toml (repeatable)"),
]


def _warn(label: str, text: str) -> None:
    err.print(f"{label} {_esc(text)}", soft_wrap=True, highlight=False)


@contextmanager
def _detect_errors() -> Iterator[None]:
    with errors():
        try:
            yield
        except DetectorError as e:
            fail(_esc(str(e)))


def _config(
    data: Path | None, lexicons: list[Path] | None
) -> tuple[DetectConfig, Callable[[str], str]]:
    """Detector settings and value fingerprints: the archive's, when there is one; otherwise
    a one-off key, so fingerprints compare within this run only."""
    d = resolve_data_dir(data)
    if (d / "archive.db").exists():
        with Archive.open(d) as a:
            return archive_config(a, lexicons or []), archive_fingerprint(a)
    key = os.urandom(32)

    def fingerprint(v: str) -> str:
        return hmac.digest(key, b"value\x00" + v.encode(), "sha256")[:16].hex()

    return DetectConfig(lexicon_paths=list(lexicons or [])), fingerprint


@app.command()
def detectors(
    data: DataOpt = None, lexicon: LexiconOpt = None, output: FormatOpt = OutputFormat.text
) -> None:
    """List installed detectors (built-in and plugins) with their versions."""
    with _detect_errors():
        cfg, _ = _config(data, lexicon)
        reg = DetectorRegistry.load(cfg)
    rows = [
        {
            "id": d.id, "version": d.version, "entities": list(d.entities),
            "languages": list(d.languages), "cost": d.cost, "source": reg.sources.get(d.id, ""),
            "description": d.description,
        }
        for d in reg.detectors
    ]  # fmt: skip
    problems = [p.__dict__ for p in reg.problems]
    if output == OutputFormat.json:
        _print_json({"detectors": rows, "problems": problems})
        return
    _table(
        f"{len(rows)} detectors",
        ["id", "version", "entities", "cost", "source"],
        [[r["id"], r["version"], ", ".join(r["entities"]), r["cost"], r["source"]] for r in rows],
    )
    for pr in reg.problems:
        _warn(f"[yellow]{pr.label}:[/]", f"{pr.detector} ({pr.source}): {pr.reason}")


def _registry(cfg: DetectConfig, only: list[str] | None, cheap_only: bool) -> DetectorRegistry:
    reg = DetectorRegistry.load(cfg, only)
    if cheap_only:
        reg.detectors = [d for d in reg.detectors if d.cost == "cheap"]
    return reg


def parse_since(text: str) -> int:
    """``90d`` / ``12h`` (before now), ``YYYY-MM-DD`` or an ISO date-time; without an offset,
    China Standard Time (UTC+8)."""
    rel = re.fullmatch(r"([1-9][0-9]{0,5})([dhm])", text.strip())
    if rel:
        n = int(rel.group(1)) * {"d": 86_400, "h": 3600, "m": 60}[rel.group(2)]
        return int((time.time() - n) * 1000)
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is not a date; use 90d, 12h, YYYY-MM-DD or YYYY-MM-DDTHH:MM[+08:00]"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=CST)
    return int(when.timestamp() * 1000)


@app.command()
def scan(
    data: DataOpt = None,
    rescan: Annotated[
        bool, typer.Option(help="Scan everything again (after a detector or lexicon change)")
    ] = False,
    since: Annotated[
        str | None,
        typer.Option(help="Only messages sent on/after this date (YYYY-MM-DD, UTC+8 unless given)"),
    ] = None,
    detector: DetectorOpt = None,
    cheap_only: Annotated[
        bool, typer.Option(help="Skip expensive detectors (classifiers, names, fingerprints)")
    ] = False,
    lexicon: LexiconOpt = None,
    text: Annotated[str | None, typer.Option(help="Scan this text instead of the archive")] = None,
    input_file: Annotated[
        Path | None,
        typer.Option(
            "--input",
            help='Scan a JSONL file of {"id": ..., "text": ...} objects (may be compressed; '
            '"-" reads stdin)',
        ),
    ] = None,
    policy: Annotated[
        list[str] | None,
        typer.Option(
            "--policy", help="Evaluate only this policy (repeatable); with --since, over history"
        ),
    ] = None,
    policies: Annotated[
        bool, typer.Option(help="Evaluate policies after scanning (alerts, inventory)")
    ] = True,
    output: FormatOpt = OutputFormat.text,
) -> None:
    """Find PII, secrets and lexicon terms (in the archive incrementally, a text or a file),
    then evaluate policies into alerts."""
    since_ms = parse_since(since) if since else None
    if text is not None or input_file is not None:
        if text is not None and input_file is not None:
            fail("give --text or --input, not both")
        _scan_adhoc(data, detector, lexicon, text, input_file, output, cheap_only)
        return
    d = resolve_data_dir(data)
    with _detect_errors(), Archive.open(d, write=True) as a:
        reg = _registry(archive_config(a, lexicon or []), detector, cheap_only)
        if not reg.detectors:
            fail("no detector could be loaded: " + "; ".join(p.reason for p in reg.problems))
        with _progress() as bar:
            task = bar.add_task("scanning", total=pending_messages(a, 0, since_ms))
            summary = scan_archive(
                a, reg, rescan=rescan, since_ms=since_ms,
                progress=lambda n: bar.advance(task, n),
            )  # fmt: skip
        policy_part = None
        if policies and (detector or cheap_only) and not policy:
            _warn("[yellow]note:[/]", "policies run after a full scan (no --detector or "
                  "--cheap-only), or name them with --policy")  # fmt: skip
        elif policies:
            policy_part = _run_policies(a, reg, policy, since_ms)
    report: dict[str, Any] = {
        "run_id": summary.run_id,
        "messages": summary.messages,
        "findings": summary.findings,
        "by_entity": dict(sorted(summary.by_entity.items(), key=lambda kv: -kv[1])),
        "detectors": summary.detectors,
        "rescanned": summary.rescanned,
        "faults": [f.__dict__ for f in summary.faults],
        "problems": [p.__dict__ for p in summary.problems],
        "seconds": round(summary.seconds, 2),
    }
    if policy_part is not None:
        report["policies"] = policy_part
    if output == OutputFormat.json:
        _print_json(report)
        return
    out.print(
        f"Scan run {summary.run_id}: {summary.messages:,} messages, "
        f"{summary.findings:,} findings in {summary.seconds:.1f} s"
        + (f"; rescanned with {', '.join(summary.rescanned)}" if summary.rescanned else "")
    )
    if summary.by_entity:
        rows = [[k, v] for k, v in report["by_entity"].items()]
        _table("findings by entity", ["entity", "findings"], rows)
    for f in summary.faults:
        _warn("[red]detector failed:[/]", f"{f.detector}: {f.reason}")
    for p in summary.problems:
        _warn(f"[yellow]{p.label}:[/]", f"{p.detector}: {p.reason}")
    if policy_part is not None:
        _print_policy_part(policy_part)


def _run_policies(
    a: Archive, reg: DetectorRegistry, only: list[str] | None, since_ms: int | None
) -> dict[str, Any]:
    from .cli_policy import policy_report
    from .delivery.config import ConfigError, load_alerting
    from .delivery.outbox import deliver
    from .policy.service import run_policies

    try:
        with _progress() as bar:
            task = bar.add_task("policies", total=None)
            s, pset = run_policies(
                a, only=only, since_ms=since_ms, detector_ids=[d.id for d in reg.detectors],
                progress=lambda n: bar.advance(task, n),
            )  # fmt: skip
        part = policy_report(s)
        part["problems"] = pset.problems
        if not only:
            from .policy.store import load_directory
            from .review import sampling

            part["sampled"] = sampling.run(a, load_directory(a), pset)
        if s.notices or s.nudges:
            rep = deliver(a, load_alerting(a.data_dir), a.data_dir)
            part["delivery"] = rep.__dict__
    except (ValueError, ConfigError) as e:
        fail(_esc(str(e)))
    return part


def _print_policy_part(p: dict[str, Any]) -> None:
    out.print(
        f"Policies: {p['messages']:,} messages evaluated, {p['alerts_created']:,} new alerts, "
        f"{p['alerts_grown']:,} grown; {p['notices']} notices and {p['nudges']} nudges queued"
    )
    if p["by_policy"]:
        _table("alert evidence by policy", ["policy", "messages"], list(map(list, sorted(
            p["by_policy"].items()))))  # fmt: skip
    if p.get("sampled"):
        out.print(f"Sampling: {p['sampled']:,} message(s) put in the sampling queue")
    for msg in p["problems"]:
        _warn("[red]policy not loaded:[/]", msg)
    if p["started_at_end"]:
        _warn("[yellow]new policies start with new messages:[/]", ", ".join(p["started_at_end"])
              + "; apply one to history with `wxguard scan --policy ID --since 90d`")  # fmt: skip
    dl = p.get("delivery")
    if dl:
        out.print(f"Delivered {dl['delivered']}, retrying {dl['retrying']}, failed {dl['failed']}"
                  + "".join(f"; {k}: {_esc(v)}" for k, v in dl["errors"].items()))  # fmt: skip


def _scan_adhoc(
    data: Path | None,
    only: list[str] | None,
    lexicons: list[Path] | None,
    text: str | None,
    input_file: Path | None,
    output: OutputFormat,
    cheap_only: bool = False,
) -> None:
    with _detect_errors():
        cfg, fingerprint = _config(data, lexicons)
        reg = _registry(cfg, only, cheap_only)

    for p in reg.problems:
        _warn(f"[yellow]{p.label}:[/]", f"{p.detector}: {p.reason}")
    engine = Engine(reg.detectors, fingerprint)
    bad: list[int] = []  # line numbers skipped
    stopped: list[str] = []  # where a damaged input file ended
    if text is not None:
        stream: Iterator[tuple[str, str]] = iter([("text", text)])
    else:
        assert input_file is not None
        stream = _iter_items(input_file, bad, stopped)
    enc = msgspec.json.Encoder()
    faults: dict[str, str] = {}
    total = 0
    while chunk := list(islice(stream, 2000)):  # streamed: input files can be large
        r = engine.scan(chunk)
        total += len(r.findings)
        faults.update((f.detector, f.reason) for f in r.faults)
        if output == OutputFormat.json:
            sys.stdout.buffer.write(b"".join(enc.encode(f) + b"\n" for f in r.findings))
        elif r.findings:
            _print_findings(r.findings, dict(chunk))
    if output != OutputFormat.json and total == 0:
        out.print("No findings.")
    for det, reason in faults.items():
        _warn("[red]detector failed:[/]", f"{det}: {reason}")
    if stopped:
        fail(_esc(stopped[0]))  # after the findings of everything before the damage
    if bad:
        raise typer.Exit(2)


def _print_findings(findings: list[Finding], texts: dict[str, str]) -> None:
    rows = []
    for f in findings:
        e = f.explanation
        why = "; ".join(
            x for x in (
                e.pattern, f"validator {e.validator}" if e.validator else "",
                f"context {', '.join(e.context)}" if e.context else "",
            ) if x
        )  # fmt: skip
        rows.append([f.message_id, f.entity, f"{f.score:.2f}", f"{f.start}-{f.end}",
                     texts[f.message_id][f.start : f.end], f.detector, why])  # fmt: skip
    cols = ["id", "entity", "score", "span", "match", "detector", "why"]
    _table(f"{len(findings)} findings", cols, rows)


def _iter_items(path: Path, bad: list[int], stopped: list[str]) -> Iterator[tuple[str, str]]:
    """``(id, text)`` from ``{"id", "text"}`` lines, streamed (the file may be compressed,
    as for ``wxguard ingest``); a bad line is reported by number, appended to ``bad`` and
    skipped (an over-long one without reading it whole). A file damaged after some lines
    ends the items there, and ``stopped`` says where."""
    n = 0
    kind: str | None = None
    if str(path) == "-":
        path = Path("/dev/stdin")
    try:
        with open_input(path) as (f, kind, _):
            while line := f.readline(MAX_INPUT_LINE + 1):
                n += 1
                problem = ""
                if len(line) > MAX_INPUT_LINE and not line.endswith(b"\n"):
                    while line and not line.endswith(b"\n"):
                        line = f.readline(1 << 20)
                    problem = f"longer than {MAX_INPUT_LINE >> 20} MiB"
                elif not line.strip():
                    continue
                else:
                    try:
                        yield _item(line)
                    except orjson.JSONDecodeError as e:
                        problem = f"not JSON ({e})"
                    except ValueError as e:
                        problem = str(e)
                if problem:
                    bad.append(n)
                    _warn("", f"{path}: line {n}: skipped: {problem}")
    except READ_ERRORS as e:
        why = e.strerror if isinstance(e, OSError) and e.strerror else str(e) or type(e).__name__
        what = f" {kind} data" if kind else ""
        if not n:
            fail(f"{_esc(str(path))}: cannot read{what}: {_esc(why)}")
        stopped.append(f"{path}: cannot read{what} after line {n}: {why}")


def _item(line: bytes) -> tuple[str, str]:
    obj = orjson.loads(line)
    if not isinstance(obj, dict):
        raise ValueError("not a JSON object")
    rid, txt = obj.get("id"), obj.get("text")
    if not isinstance(rid, str | int) or isinstance(rid, bool):
        raise ValueError('"id" must be a string or number')
    if not isinstance(txt, str):
        raise ValueError('"text" must be a string')
    return str(rid), txt
