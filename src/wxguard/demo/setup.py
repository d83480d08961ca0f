"""After the demo company is ingested: its settings, its approvals, a scan and policies.

This is what an administrator would do by hand on a fresh archive: install the
company's lexicons and own domain, approve its project groups with customers and its
own mini-programs and bots, scan, evaluate the default policy pack.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..archive import Archive
from ..detect.registry import DetectorRegistry
from ..detect.scan import archive_config, scan_archive
from ..policy.service import run_policies
from ..policy.store import allowlist_add, set_status
from .lexicons import write_demo_settings

ACTOR = "demo-setup"


def apply_approvals(archive: Archive, approvals: dict[str, list[str]]) -> None:
    for room in approvals.get("external-group", []):
        allowlist_add(archive, "external-group", room, "demo: approved project group", ACTOR)
    for kind in ("miniprogram", "bot"):
        for ident in approvals.get(kind, []):
            set_status(archive, kind, ident, "approved", "demo: company's own", ACTOR)


def scan_and_evaluate(data_dir: Path, approvals: dict[str, list[str]]) -> dict[str, Any]:
    write_demo_settings(data_dir)
    with Archive.open(data_dir, write=True) as a:
        apply_approvals(a, approvals)
        reg = DetectorRegistry.load(archive_config(a))
        summary = scan_archive(a, reg)
        pol, _ = run_policies(a, detector_ids=[d.id for d in reg.detectors])
    by_entity = dict(sorted(summary.by_entity.items(), key=lambda kv: -kv[1]))
    return {
        "findings": summary.findings,
        "by_entity": by_entity,
        "alerts": pol.alerts_created,
        "alert_messages": pol.evidence,
        "alerts_by_policy": pol.by_policy,
    }
