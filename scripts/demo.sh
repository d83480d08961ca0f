#!/usr/bin/env bash
# Install wxguard into .venv and run the demo on the embedded default archive
# (./wxguard-data, or $WXGUARD_DATA). Extra arguments go to `wxguard demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install --quiet -e .
exec .venv/bin/wxguard demo "$@"
