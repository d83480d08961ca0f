"""The policy language: valid files load, broken ones fail naming file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import run_cli
from wxguard.policy.pack import builtin_files, detector_ids, load_policies
from wxguard.policy.spec import PolicyError, parse_policy

GOOD = """\
id: test-policy
version: 2
name: Test policy
behaviour: secrets
severity: high
when:
  all:
    - findings: {detectors: [secret.*], min_score: 0.6}
    - not:
        conversation: {external: false}
window:
  within: 10m
  min_messages: 2
"""


def test_a_good_policy_parses_with_its_digest() -> None:
    p = parse_policy(GOOD, "good.yaml", detector_ids())
    assert (p.id, p.version, p.severity) == ("test-policy", 2, "high")
    assert p.window is not None and p.window.min_messages == 2
    assert p.when is not None and p.when.all is not None and p.when.all[1].not_ is not None
    assert len(p.digest) == 16
    assert parse_policy(GOOD.replace("0.6", "0.7"), "g", None).digest != p.digest


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("severity: high", "severity: urgent"), "bad.yaml:5: key 'severity': Invalid enum value"),
        (
            ("    - not:", "    - nott:"),
            "bad.yaml:9: key 'when.all[1].nott': Object contains unknown field",
        ),
        (
            ("secret.*", "secrt.aws"),
            "bad.yaml:8: key 'when.all[0].findings.detectors': unknown detector 'secrt.aws'",
        ),
        (
            ("within: 10m", "within: 10 minutes"),
            "bad.yaml:12: key 'window.within': expected a duration",
        ),
        (
            ("min_score: 0.6", "min_score: 6"),
            "bad.yaml:8: key 'when.all[0].findings.min_score': Expected `float` <= 1.0",
        ),
        (("version: 2", "version: two"), "bad.yaml:2: key 'version': Expected `int`"),
        (("id: test-policy", "id: Test Policy"), "bad.yaml:1: key 'id': expected a kebab-case id"),
        (
            (
                "        conversation: {external: false}",
                "        conversation: {external: false}\n        message: {kinds: [text]}",
            ),
            "bad.yaml:9: key 'when.all[1].not': a condition needs exactly one of",
        ),
        (("name: Test policy\n", ""), "key '$': Object missing required field `name`"),
        (
            ("when:", "sequence:\n  within: 5m\n  steps: []\nwhen:"),
            "key 'sequence.steps': Expected `array` of length >= 2",
        ),
        (
            (
                "    - findings: {detectors: [secret.*], min_score: 0.6}",
                "    - message: {kinds: [txt]}",
            ),
            "bad.yaml:8: key 'when.all[0].message.kinds': unknown message kind(s) txt",
        ),
        (("id: test-policy", "id: &a test-policy"), "bad.yaml:1: anchors and aliases"),
        (("name: Test policy", "name: [unclosed"), "bad.yaml:4: not valid YAML"),
        (
            ("behaviour: secrets", "behaviour: secrets\nsource: x"),
            "bad.yaml:5: key 'source' is set by wxguard",
        ),
    ],
)
def test_broken_policies_name_file_line_and_key(change: tuple[str, str], expected: str) -> None:
    text = GOOD.replace(*change)
    assert text != GOOD
    with pytest.raises(PolicyError) as e:
        parse_policy(text, "bad.yaml", detector_ids())
    assert expected in str(e.value), str(e.value)


def test_when_or_sequence_exactly_one() -> None:
    with pytest.raises(PolicyError, match="exactly one of 'when'"):
        parse_policy(GOOD.split("when:")[0], "x.yaml", None)


def test_every_builtin_policy_is_valid_and_documented() -> None:
    pset = load_policies(None)
    assert pset.problems == []
    assert len(pset.policies) == len(builtin_files()) >= 10
    behaviours = {p.behaviour for p in pset.policies}
    assert behaviours == {
        "confidential_information", "unauthorised_transaction", "phishing_social_engineering",
        "offensive_content", "unauthorised_external_group", "personal_information",
        "competitor_research", "ip_violation", "unverified_third_party", "secrets",
    }  # fmt: skip
    for p in pset.policies:
        assert p.description and p.rationale and p.tuning, p.id
        assert p.source == f"builtin:{p.id}.yaml"


def test_a_broken_file_is_reported_and_the_rest_keep_working(tmp_path: Path) -> None:
    folder = tmp_path / "policies"
    folder.mkdir()
    (folder / "mine.yaml").write_text(GOOD, encoding="utf-8")
    (folder / "broken.yaml").write_text(GOOD.replace("severity: high", "severity: 7"), "utf-8")
    (folder / "off.yaml").write_text(
        (tmp_path / "x").parent.joinpath("policies", "mine.yaml").read_text("utf-8")
        .replace("id: test-policy", "id: ip-violation").replace("version: 2", "version: 9")
        + "enabled: false\n", "utf-8")  # fmt: skip
    pset = load_policies(tmp_path)
    assert len(pset.problems) == 1 and "broken.yaml:5: key 'severity'" in pset.problems[0]
    assert pset.get("test-policy") is not None
    replaced = pset.get("ip-violation")
    assert replaced is not None and replaced.version == 9 and not replaced.enabled
    assert "ip-violation" not in {p.id for p in pset.enabled}
    assert pset.get("secrets-in-chat") is not None  # built-ins still there


def test_validate_and_list_commands(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(GOOD, "utf-8")
    bad.write_text(GOOD.replace("min_messages: 2", "min_messages: 0"), "utf-8")
    r = run_cli("policies", "validate", good, bad, check=False)
    assert r.returncode == 1
    assert "ok" in r.stdout and "test-policy v2" in r.stdout
    assert "bad.yaml:13: key 'window.min_messages': Expected `int` >= 1" in r.stderr
    r = run_cli("policies", "validate", good)
    assert r.returncode == 0
    r = run_cli("policies", "list", "--format", "json", data=tmp_path / "none")
    assert '"secrets-in-chat"' in r.stdout
