"""Settings of the review application: ``DATA/review.toml`` (docs/operations.md).

Every key is optional; an unknown key or a wrong type is an error naming the file and key,
so a typo never silently weakens sign-in rules.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from .roles import ROLES

FILE = "review.toml"


class SettingsError(ValueError):
    pass


@dataclass(frozen=True)
class ReviewSettings:
    # [session]
    idle_minutes: int = 30
    max_hours: int = 12
    # [sign_in]
    password_min_length: int = 12
    max_failures: int = 5
    lockout_minutes: int = 15
    ip_failures_per_10min: int = 30
    # [privacy]
    pseudonyms_for: tuple[str, ...] = ()
    context_messages: int = 5
    # [ui]
    page_size: int = 50
    max_display_chars: int = 20_000
    # [exports]
    two_person: bool = False


_SECTIONS: dict[str, tuple[str, ...]] = {
    "session": ("idle_minutes", "max_hours"),
    "sign_in": ("password_min_length", "max_failures", "lockout_minutes", "ip_failures_per_10min"),
    "privacy": ("pseudonyms_for", "context_messages"),
    "ui": ("page_size", "max_display_chars"),
    "exports": ("two_person",),
}
_LIMITS: dict[str, tuple[int, int]] = {
    "idle_minutes": (1, 24 * 60),
    "max_hours": (1, 24 * 30),
    "password_min_length": (8, 128),
    "max_failures": (1, 100),
    "lockout_minutes": (1, 24 * 60),
    "ip_failures_per_10min": (1, 10_000),
    "context_messages": (0, 50),
    "page_size": (10, 500),
    "max_display_chars": (1_000, 1_000_000),
}


def load_settings(data_dir: Path) -> ReviewSettings:
    path = data_dir / FILE
    if not path.exists():
        return ReviewSettings()
    try:
        doc = tomllib.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise SettingsError(f"{path}: cannot read review settings: {e}") from None
    values: dict[str, Any] = {}
    for section, body in doc.items():
        if section not in _SECTIONS or not isinstance(body, dict):
            raise SettingsError(
                f"{path}: unknown section [{section}]; sections are {', '.join(_SECTIONS)}"
            )
        for key, value in body.items():
            if key not in _SECTIONS[section]:
                known = ", ".join(_SECTIONS[section])
                raise SettingsError(f"{path}: [{section}] unknown key {key!r}; keys are {known}")
            values[key] = _check(path, section, key, value)
    known_fields = {f.name for f in fields(ReviewSettings)}
    return ReviewSettings(**{k: v for k, v in values.items() if k in known_fields})


def _check(path: Path, section: str, key: str, value: Any) -> Any:
    where = f"{path}: [{section}] {key}"
    if key == "pseudonyms_for":
        if not isinstance(value, list) or not all(isinstance(r, str) for r in value):
            raise SettingsError(f'{where} must be a list of role names like ["reviewer"]')
        bad = [r for r in value if r not in ROLES]
        if bad:
            raise SettingsError(f"{where}: unknown role {', '.join(bad)}")
        return tuple(value)
    if key == "two_person":
        if not isinstance(value, bool):
            raise SettingsError(f"{where} must be true or false")
        return value
    if not isinstance(value, int) or isinstance(value, bool):
        raise SettingsError(f"{where} must be a whole number")
    lo, hi = _LIMITS[key]
    if not lo <= value <= hi:
        raise SettingsError(f"{where} must be between {lo} and {hi}")
    return value
