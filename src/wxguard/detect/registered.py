"""Storage of registered data (customer tables, document fingerprints) in the data directory.

Each item is one JSON file, ``DATA/<kind>/<name>.json``, written atomically with mode
0600 and stamped with a check value of the archive's key, so an item made under
another archive's key is refused instead of silently matching nothing.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol, TypeVar

import msgspec

from .api import DetectorError

KeyedHash = Callable[[bytes], bytes]
T = TypeVar("T", bound=msgspec.Struct)
_NAME = re.compile(r"^[a-z0-9][a-z0-9\-]{0,62}$")


def key_check(keyed: KeyedHash) -> str:
    """A short, non-secret value telling which key an item was made with."""
    return keyed(b"wxguard-edm-key-check").hex()[:16]


class _Registered(Protocol):
    name: str
    created_at: int


def registered_version(base: str, items: Sequence[_Registered]) -> str:
    """A detector's version given what is registered: registering or replacing an item
    changes it, so the next ``wxguard scan`` looks again with that detector."""
    if not items:
        return base
    stamp = ";".join(f"{x.name}:{x.created_at}" for x in items)
    return f"{base}+{hashlib.sha256(stamp.encode()).hexdigest()[:10]}"


def save_item(folder: Path, name: str, item: msgspec.Struct, what: str, replace: bool) -> Path:
    """Write ``folder/name.json`` atomically (0600); refuses to overwrite unless asked."""
    if not _NAME.match(name):
        raise DetectorError(f"{what} name {name!r} must be kebab-case like 'customers'")
    folder.mkdir(mode=0o700, exist_ok=True)
    path = folder / f"{name}.json"
    if path.exists() and not replace:
        raise DetectorError(f"{path} exists; use --replace to rebuild it")
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(msgspec.json.encode(item))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


def remove_item(folder: Path, name: str, what: str) -> None:
    """Delete ``folder/name.json``; a name that could not have been saved is refused, so a
    name like ``../x`` never reaches a file outside ``folder``."""
    path = folder / f"{name}.json"
    if not _NAME.match(name) or not path.exists():
        raise DetectorError(f"no {what} named {name!r}")
    path.unlink()


def load_items(
    folder: Path, kind: type[T], what: str, keyed: KeyedHash | None, check: Callable[[T], str],
    problems: list[str] | None = None,
) -> list[T]:  # fmt: skip
    """Every item in ``folder``. A damaged one, or one made under another key, is an error;
    with ``problems`` it is named there and left out instead, so the others stay in use."""
    out = []
    for p in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            try:
                item = msgspec.json.decode(p.read_bytes(), type=kind)
            except (OSError, msgspec.DecodeError, msgspec.ValidationError) as e:
                raise DetectorError(f"{p}: not a valid {what} file: {e}") from None
            if keyed is not None and check(item) != key_check(keyed):
                raise DetectorError(f"{p}: made with another archive's key; register it again")
        except DetectorError as e:
            if problems is None:
                raise
            problems.append(f"{e} — it is skipped, the others are in use")
            continue
        out.append(item)
    return out
