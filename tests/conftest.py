from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from wxguard.archive import Archive
from wxguard.demo.generator import generate
from wxguard.ingest import ingest_file
from wxguard.seal import Sealer

DEMO_MESSAGES = 3000


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def archive(data_dir: Path) -> Iterator[Archive]:
    a = Archive.create(data_dir)
    yield a
    a.close()


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small generated demo corpus (messages file; .directory/.truth beside it)."""
    out = tmp_path_factory.mktemp("demo") / "demo.jsonl"
    generate(out, DEMO_MESSAGES, seed=11)
    return out


def directory_of(demo: Path) -> Path:
    return demo.with_name("demo.directory.jsonl")


def load(a: Archive, *paths: Path) -> Sealer:
    s = Sealer(a)
    for p in paths:
        ingest_file(a, s, p)
    a.seal_checkpoint()
    return s


def run_cli(*args: str | Path, data: Path | None = None, check: bool = True,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:  # fmt: skip
    """Run the real ``wxguard`` entry point in a subprocess."""
    full_env = {**os.environ, **(env or {})}
    if data is not None:
        full_env["WXGUARD_DATA"] = str(data)
    proc = subprocess.run(
        [sys.executable, "-m", "wxguard", *map(str, args)],
        capture_output=True, text=True, env=full_env, timeout=300,
    )  # fmt: skip
    if check and proc.returncode != 0:
        raise AssertionError(
            f"wxguard {args} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


def send_json(handler: BaseHTTPRequestHandler, body: object) -> None:
    """Answer a test HTTP server's request with ``body`` as JSON (status 200)."""
    data = json.dumps(body, ensure_ascii=False).encode()
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)
