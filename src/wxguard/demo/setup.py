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
from ..policy.store import allowlist_add, load_directory, set_status
from ..review import accounts, sampling
from ..review.roles import ROLES
from ..review.settings import load_settings
from .lexicons import write_demo_settings

ACTOR = "demo-setup"
DEMO_USER = "demo"
SAMPLED_DEPARTMENT = "销售一部（华东）"


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
        pol, pset = run_policies(a, detector_ids=[d.id for d in reg.detectors])
        if not sampling.rules(a):
            sampling.add_rule(a, "department", SAMPLED_DEPARTMENT, 1.0, ACTOR, pset)
        sampled = sampling.run(a, load_directory(a), pset)
    by_entity = dict(sorted(summary.by_entity.items(), key=lambda kv: -kv[1]))
    return {
        "findings": summary.findings,
        "by_entity": by_entity,
        "alerts": pol.alerts_created,
        "alert_messages": pol.evidence,
        "alerts_by_policy": pol.by_policy,
        "sampled": sampled,
    }


def demo_login(data_dir: Path) -> accounts.Enrolment:
    """The demo's sign-in: user ``demo`` (every role), a fresh password on every run."""
    settings = load_settings(data_dir)
    with Archive.open(data_dir) as a:
        if accounts.get_user(a, DEMO_USER) is None:
            return accounts.add_user(a, DEMO_USER, list(ROLES), ACTOR, settings,
                                     display="Demo reviewer")  # fmt: skip
        return accounts.reset_user(a, DEMO_USER, ACTOR, settings, new_totp=False)
