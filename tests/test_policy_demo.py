"""The default policy pack on the demo company's ground truth (the figure
benchmarks/policies.py prints, here guarded on a small corpus)."""

from __future__ import annotations

from pathlib import Path

from conftest import DEMO_MESSAGES, directory_of, load
from wxguard.archive import Archive
from wxguard.demo.generator import Generator
from wxguard.demo.lexicons import write_demo_settings
from wxguard.demo.setup import apply_approvals
from wxguard.detect.registry import DetectorRegistry
from wxguard.detect.scan import archive_config, scan_archive
from wxguard.policy.quality import score_behaviours
from wxguard.policy.service import run_policies


def test_every_behaviour_meets_its_target_on_the_demo(archive: Archive, demo: Path) -> None:
    write_demo_settings(archive.data_dir)
    load(archive, directory_of(demo), demo)
    apply_approvals(archive, Generator(DEMO_MESSAGES, 11).approvals())
    reg = DetectorRegistry.load(archive_config(archive))
    scan_archive(archive, reg)
    run_policies(archive, detector_ids=[d.id for d in reg.detectors])
    scores = score_behaviours(archive, demo.with_name("demo.truth.jsonl"))
    assert len(scores) == 10
    for behaviour, s in scores.items():
        assert s.tp + s.fn >= 2, behaviour  # each behaviour is planted
        assert s.recall >= 0.95 and s.precision >= 0.8, (behaviour, s)


def test_without_approvals_ordinary_groups_and_apps_are_flagged(
    archive: Archive, demo: Path
) -> None:
    """The approvals matter: the same corpus without them floods two behaviours."""
    write_demo_settings(archive.data_dir)
    load(archive, directory_of(demo), demo)
    reg = DetectorRegistry.load(archive_config(archive))
    scan_archive(archive, reg)
    run_policies(archive, detector_ids=[d.id for d in reg.detectors])
    scores = score_behaviours(archive, demo.with_name("demo.truth.jsonl"))
    assert scores["unauthorised_external_group"].precision < 0.5
    assert scores["unverified_third_party"].precision < 0.8
