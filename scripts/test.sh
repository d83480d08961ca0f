#!/usr/bin/env bash
# Set up everything the test suite needs on a fresh machine, then run it:
# Chromium for the browser tests, lint (ruff), types (mypy) and the tests (pytest).
# Used by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

# Browser tests drive Debian's Chromium (never a downloaded browser); export tests read the
# PDF transcript with poppler's pdftotext (poppler-data maps the standard CJK font).
if ! command -v chromium >/dev/null 2>&1 || ! command -v pdftotext >/dev/null 2>&1; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    PKGS="chromium chromium-driver poppler-utils poppler-data"
    $SUDO apt-get install -y -qq $PKGS >/dev/null 2>&1 || {
        $SUDO apt-get update -qq && $SUDO apt-get install -y -qq $PKGS
    }
fi

python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test]'

.venv/bin/ruff check src tests benchmarks scripts
.venv/bin/ruff format --check src tests benchmarks scripts
.venv/bin/mypy
.venv/bin/pytest "$@"
