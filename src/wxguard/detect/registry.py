"""Detectors are found through entry points; built-ins register exactly like plugins.

A distribution declares, in its ``pyproject.toml``::

    [project.entry-points."wxguard.detectors"]
    "acme.order_number" = "acme_wxguard.detectors:OrderNumber"

The entry point's name must equal the class's ``id``. A detector that fails to
import or to build (a lexicon that does not parse, a missing model file) is
reported with its id and the reason, and the others load regardless.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib.metadata import entry_points

from .api import DetectConfig, Detector

GROUP = "wxguard.detectors"
_ID = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$")


@dataclass
class LoadProblem:
    detector: str
    source: str
    reason: str
    partial: bool = False  # the detector runs without the part named in ``reason``

    @property
    def label(self) -> str:
        return "partly loaded" if self.partial else "not loaded"


@dataclass
class DetectorRegistry:
    detectors: list[Detector] = field(default_factory=list)
    problems: list[LoadProblem] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)  # id -> distribution name

    @classmethod
    def load(cls, config: DetectConfig, only: list[str] | None = None) -> DetectorRegistry:
        reg = cls()
        found = sorted(entry_points(group=GROUP), key=lambda e: e.name)
        for ep in found:
            if only is not None and ep.name not in only:
                continue
            dist = ep.dist.name if ep.dist is not None else "?"
            try:
                klass = ep.load()
            except Exception as e:  # a broken plugin must not stop the others
                reg.problems.append(LoadProblem(ep.name, dist, f"cannot import {ep.value}: {e}"))
                continue
            reg.add(klass, config, dist, ep.name)
        if only is not None:
            known = {d.id for d in reg.detectors} | {p.detector for p in reg.problems}
            unknown = sorted(set(only) - known)
            for name in unknown:
                reg.problems.append(LoadProblem(name, "", "no detector with this id is installed"))
        return reg

    def add(
        self, klass: object, config: DetectConfig, source: str = "", name: str | None = None
    ) -> Detector | None:
        """Validate and build one detector class; problems are recorded, not raised."""
        label = str(name or getattr(klass, "id", None) or repr(klass))
        if not isinstance(klass, type) or not issubclass(klass, Detector):
            self.problems.append(LoadProblem(label, source, "is not a wxguard Detector class"))
            return None
        did = getattr(klass, "id", None)
        if not isinstance(did, str) or not _ID.match(did):
            self.problems.append(LoadProblem(label, source, f"has an invalid id {did!r}"))
            return None
        if name is not None and name != did:
            self.problems.append(
                LoadProblem(label, source, f"entry point name differs from the class id {did!r}")
            )
            return None
        if not isinstance(getattr(klass, "version", None), str):
            self.problems.append(LoadProblem(did, source, "declares no version string"))
            return None
        if did in self.sources:
            self.problems.append(
                LoadProblem(did, source, f"id already registered by {self.sources[did]}")
            )
            return None
        try:
            det = klass(config)
        except Exception as e:
            self.problems.append(LoadProblem(did, source, f"cannot be built: {e}"))
            return None
        self.detectors.append(det)
        self.sources[did] = source
        self.problems += (LoadProblem(did, source, w, partial=True) for w in det.load_problems)
        return det
