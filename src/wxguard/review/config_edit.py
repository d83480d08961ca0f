"""Viewing and editing policies and lexicons from the review application.

An edit is validated exactly as the scanner will read it (same parser, same checks) before
anything is written; the file is replaced atomically and the change is an audit event with
the digests before and after. Built-in policies are overridden by writing a file with the
same id into ``DATA/policies/``; built-in lexicons are read-only (copy one to a new id).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
import tempfile
from pathlib import Path
from typing import Any

from .. import audit
from ..archive import Archive
from ..detect.lexiconfile import LexiconError, builtin_lexicon_files, lexicon_files, load_lexicon
from ..policy.pack import FOLDER, builtin_files, detector_ids, load_policies
from ..policy.spec import PolicyError, parse_policy

_NAME = re.compile(r"^[a-z0-9][a-z0-9\-]{0,62}$")
MAX_SOURCE = 256 * 1024


class EditError(ValueError):
    """The edit was refused; the text names the line and key when the file was invalid."""


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".edit-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --------------------------------------------------------------------------- policies


def policy_list(data_dir: Path) -> dict[str, Any]:
    pset = load_policies(data_dir)
    rows = [
        {
            "id": p.id,
            "name": p.name,
            "version": p.version,
            "behaviour": p.behaviour,
            "severity": p.severity,
            "enabled": p.enabled,
            "source": "built-in" if p.source.startswith("builtin:") else "custom",
        }
        for p in pset.policies
    ]
    return {"policies": rows, "problems": pset.problems}


def policy_source(data_dir: Path, pid: str) -> str:
    p = load_policies(data_dir).get(pid)
    if p is None:
        raise LookupError(f"no policy {pid!r}")
    if p.source.startswith("builtin:"):
        return dict(builtin_files())[p.source]
    return Path(p.source).read_text("utf-8")


def save_policy(archive: Archive, pid: str, text: str, actor: str) -> dict[str, Any]:
    if not _NAME.match(pid):
        raise EditError(f"policy id {pid!r} must be lower-case letters, digits and '-'")
    if len(text.encode("utf-8")) > MAX_SOURCE:
        raise EditError(f"a policy file may be at most {MAX_SOURCE // 1024} KiB")
    path = archive.data_dir / FOLDER / f"{pid}.yaml"
    try:
        p = parse_policy(text, str(path), detector_ids())
    except PolicyError as e:
        raise EditError(str(e)) from None
    if p.id != pid:
        raise EditError(f"{path}: key 'id': is {p.id!r} but this edit is for policy {pid!r}")
    before = ""
    with contextlib.suppress(LookupError):
        before = policy_source(archive.data_dir, pid)
    with archive.transaction():
        _write_atomic(path, text)
        audit.record(
            archive,
            actor,
            "policy-edit",
            f"policy:{pid}",
            {
                "before": _digest(before) if before else "",
                "after": _digest(text),
                "version": p.version,
                "file": path.name,
            },
        )
    return {"id": pid, "version": p.version, "file": str(path)}


# --------------------------------------------------------------------------- lexicons


def _lexicon_paths(data_dir: Path) -> list[tuple[Path, bool]]:
    mine = data_dir / "lexicons"
    own = lexicon_files([mine]) if mine.is_dir() else []
    return [(p, True) for p in builtin_lexicon_files()] + [(p, False) for p in own]


def lexicon_list(data_dir: Path) -> list[dict[str, Any]]:
    out = []
    for path, builtin in _lexicon_paths(data_dir):
        try:
            lex = load_lexicon(path)
        except LexiconError as e:
            out.append(
                {"id": path.stem, "entity": "", "terms": 0, "builtin": builtin, "error": str(e)}
            )
            continue
        out.append(
            {
                "id": lex.id,
                "file": path.stem,
                "entity": lex.entity,
                "terms": len(lex.terms),
                "near": len(lex.near),
                "builtin": builtin,
                "description": lex.description,
            }
        )
    return out


def lexicon_source(data_dir: Path, name: str) -> tuple[str, bool]:
    for path, builtin in _lexicon_paths(data_dir):
        if path.stem == name:
            return path.read_text("utf-8"), builtin
    raise LookupError(f"no lexicon file {name!r}")


def save_lexicon(archive: Archive, name: str, text: str, actor: str) -> dict[str, Any]:
    if not _NAME.match(name):
        raise EditError(f"lexicon file name {name!r} must be lower-case letters, digits and '-'")
    if any(p.stem == name for p in builtin_lexicon_files()):
        raise EditError(f"{name!r} is a built-in lexicon; save your version under a new name")
    if len(text.encode("utf-8")) > MAX_SOURCE:
        raise EditError(f"a lexicon file edited here may be at most {MAX_SOURCE // 1024} KiB")
    path = archive.data_dir / "lexicons" / f"{name}.toml"
    # Validate beside its destination (a terms_file is relative to it), under a name no
    # scanner loads (*.toml only).
    path.parent.mkdir(parents=True, exist_ok=True)
    probe = path.parent / f".probe-{secrets.token_hex(6)}.tmp"
    try:
        probe.write_text(text, "utf-8")
        lex = load_lexicon(probe)
    except LexiconError as e:
        raise EditError(str(e).replace(str(probe), str(path))) from None
    finally:
        probe.unlink(missing_ok=True)
    for other in builtin_lexicon_files() + lexicon_files([path.parent]):
        if other == path:
            continue
        try:
            taken = load_lexicon(other).id == lex.id
        except LexiconError:
            continue  # reported where it is loaded; it cannot clash
        if taken:  # the scanner would leave one of the two out
            raise EditError(f"lexicon id {lex.id!r} is already used by {other}; choose another")
    before = path.read_text("utf-8") if path.exists() else ""
    with archive.transaction():
        _write_atomic(path, text)
        audit.record(
            archive,
            actor,
            "lexicon-edit",
            f"lexicon:{name}",
            {
                "before": _digest(before) if before else "",
                "after": _digest(text),
                "id": lex.id,
                "terms": len(lex.terms),
            },
        )
    return {"file": name, "id": lex.id, "terms": len(lex.terms)}
