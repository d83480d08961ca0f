"""What ``wxguard ingest PATH…`` will read, and how: one job per source.

A folder that is one client layout as a whole (an account folder, an iOS backup) is one
job; any other folder is walked — sub-folders that are layouts become jobs, files are
detected one by one (WeCom JSON/JSONL and wxguard interchange stay with
:mod:`wxguard.ingest`). A file that cannot be read or recognised is a job with its error,
so the rest of the batch still imports.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import FORMATS, detect_dir, detect_file
from .sqlitedb import ImportFileError

HEAD = 1 << 16
_SKIP_DIRS = {
    "FileStorage",
    "msg",
    "Image",
    "Video",
    "Audio",
    "Img",
    "OpenData",
    "attach",
    "cache",
    "Cache",
    "head_image",
    "emoticon",
}
_WECHAT_SUFFIXES = (".db", ".sqlite", ".sqlite3", ".csv", ".txt", ".html", ".htm")
_COMPRESSED_SUFFIXES = (".gz", ".zst", ".zstd", ".xz", ".bz2")


@dataclass
class Job:
    path: Path | str
    kind: str  # "wechat" | "file" (wecom/jsonl ingest) | "error"
    format: str = "auto"
    error: str = ""


def _head(p: Path) -> bytes:
    with p.open("rb") as f:
        return f.read(HEAD)


def _json_suffix(p: Path) -> bool:
    """``.json`` or ``.jsonl``, possibly compressed (``x.jsonl.gz``; see wxguard.ingest)."""
    name = p.name.lower()
    for z in _COMPRESSED_SUFFIXES:
        name = name.removesuffix(z)
    return name.endswith((".json", ".jsonl"))


def _file_job(p: Path, fmt: str) -> Job | None:
    if fmt in FORMATS:
        return Job(p, "wechat", fmt)
    try:
        found = detect_file(p, _head(p))
    except (ImportFileError, OSError) as e:
        return Job(p, "error", error=str(e))
    if found:
        return Job(p, "wechat", found)
    if _json_suffix(p) and ".truth.jsonl" not in p.name:
        return Job(p, "file", fmt)
    return None  # an unrelated file inside a walked folder


def _walk(d: Path, fmt: str, out: list[Job], seen: set[tuple[int, int]]) -> None:
    try:
        st = d.stat()
    except OSError as e:
        out.append(Job(d, "error", error=f"{d}: cannot list: {e.strerror or e}"))
        return
    if (st.st_dev, st.st_ino) in seen:
        return  # reached again through a symbolic link (a loop, or two links to one folder)
    seen.add((st.st_dev, st.st_ino))
    layout = detect_dir(d) if fmt == "auto" else None
    if layout:
        out.append(Job(d, "wechat", layout))
        return
    try:
        children = sorted(d.iterdir())
    except OSError as e:
        out.append(Job(d, "error", error=f"{d}: cannot list: {e.strerror or e}"))
        return
    for c in children:
        if c.is_dir():
            if c.name not in _SKIP_DIRS:
                _walk(c, fmt, out, seen)
        elif c.is_file() and (c.suffix.lower() in _WECHAT_SUFFIXES or _json_suffix(c)):
            job = _file_job(c, fmt)
            if job is not None:
                out.append(job)


_DATABASES = ("wechat-pc3", "wechat-pc4", "wechat-android", "wechat-ios")
_KEYED_EXPORTS = ("pywxdump-json", "pywxdump-csv")


def order(job: Job) -> int:
    """Databases first, then exports that keep the server id, then the rest: an export
    of a device imported in the same run then adds nothing twice (exports without server
    ids are matched against what the databases archived, not the other way round)."""
    if job.kind != "wechat":
        return 3
    return 0 if job.format in _DATABASES else 1 if job.format in _KEYED_EXPORTS else 2


def plan(paths: list[Path], fmt: str = "auto") -> list[Job]:
    jobs: list[Job] = []
    seen: set[tuple[int, int]] = set()  # folders walked
    for p in paths:
        s = str(p)
        if s.startswith(("http://", "https://")) or s.startswith(("http:/", "https:/")):
            url = s.replace(":/", "://", 1) if "://" not in s else s  # Path() folds '//'
            jobs.append(Job(url, "wechat", "chatlog"))
        elif p.is_dir():
            if fmt in FORMATS:
                jobs.append(Job(p, "wechat", fmt))
            elif _key(p) not in seen:  # else walked already (given twice, or inside another)
                before = len(jobs)
                _walk(p, fmt, jobs, seen)
                if len(jobs) == before:
                    jobs.append(Job(p, "error", error=f"{p}: no importable files found"))
        elif p.is_file():
            job = _file_job(p, fmt)
            jobs.append(job if job is not None else Job(p, "file", fmt))
        else:
            jobs.append(Job(p, "error", error=f"{p}: not a file (no such file or folder)"))
    return sorted(_once(jobs), key=order)  # stable: the given order within each group


def _key(p: Path) -> tuple[int, int] | None:
    try:
        st = p.stat()
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _once(jobs: list[Job]) -> list[Job]:
    """Each file or folder once, however many paths lead to it (``a.jsonl`` given twice,
    a link to it in a walked folder)."""
    out, seen = [], set()
    for job in jobs:
        key: object = (_key(job.path) if isinstance(job.path, Path) else None) or job.path
        if key not in seen:
            seen.add(key)
            out.append(job)
    return out
