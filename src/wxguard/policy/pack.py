"""Where policies come from: the built-in pack, then the archive's ``policies/`` folder.

A file in ``DATA/policies/`` whose ``id`` matches a built-in replaces it (set
``enabled: false`` to switch one off). A file that does not validate is reported with
its precise error and left out; every other policy keeps working.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from importlib.metadata import entry_points
from pathlib import Path

from ..detect.registry import GROUP
from .spec import Policy, PolicyError, parse_policy

FOLDER = "policies"


@dataclass
class PolicySet:
    policies: list[Policy] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def get(self, pid: str) -> Policy | None:
        return next((p for p in self.policies if p.id == pid), None)

    @property
    def enabled(self) -> list[Policy]:
        return [p for p in self.policies if p.enabled]


def detector_ids() -> list[str]:
    """Ids of every installed detector (entry points), for validating policy references."""
    return sorted(ep.name for ep in entry_points(group=GROUP))


def builtin_files() -> list[tuple[str, str]]:
    """(name, text) of each policy in the default pack."""
    pack = resources.files("wxguard.policy") / "pack"
    return sorted(
        (f"builtin:{p.name}", p.read_text("utf-8"))
        for p in pack.iterdir()
        if p.name.endswith(".yaml")
    )


def load_policies(
    data_dir: Path | None,
    extra: Sequence[Path] = (),
    builtin: bool = True,
    known_detectors: Iterable[str] | None = None,
) -> PolicySet:
    known = list(known_detectors) if known_detectors is not None else detector_ids()
    out = PolicySet()
    by_id: dict[str, Policy] = {}
    sources: list[tuple[str, str | Path]] = list(builtin_files()) if builtin else []
    folder = data_dir / FOLDER if data_dir is not None else None
    files = sorted(folder.glob("*.yaml")) + sorted(folder.glob("*.yml")) if folder else []
    sources += [(str(p), p) for p in [*files, *extra]]
    for name, src in sources:
        try:
            text = src.read_text("utf-8") if isinstance(src, Path) else src
        except (OSError, UnicodeDecodeError) as e:
            out.problems.append(f"{name}: cannot read: {e}")
            continue
        try:
            p = parse_policy(text, name, known)
        except PolicyError as e:
            out.problems.append(str(e))
            continue
        by_id[p.id] = p
    out.policies = sorted(by_id.values(), key=lambda p: p.id)
    return out
