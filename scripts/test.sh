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

# The native seal loop (src/wxguard/_sealcore.c) builds against OpenSSL's headers and
# Python's; the tests then require it (WXGUARD_REQUIRE_NATIVE), so a broken build fails CI
# instead of leaving only the Python fallback tested.
PYINC="$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"
if [ ! -f /usr/include/openssl/evp.h ] || [ ! -f "$PYINC/Python.h" ]; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    PKGS="libssl-dev python3-dev"
    $SUDO apt-get install -y -qq $PKGS >/dev/null 2>&1 || {
        $SUDO apt-get update -qq && $SUDO apt-get install -y -qq $PKGS
    }
fi
export WXGUARD_REQUIRE_NATIVE=1

python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test]'

.venv/bin/ruff check src tests benchmarks scripts
.venv/bin/ruff format --check src tests benchmarks scripts
.venv/bin/mypy
.venv/bin/pytest "$@"
