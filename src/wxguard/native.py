"""The optional native module (``_sealcore.c``) and the switch that turns it off.

It is built at install time when a C compiler and the Python and OpenSSL headers are
there (``setup.py``); every function in it has a Python reference that gives the same
bytes, used when it is absent or ``WXGUARD_NATIVE=0`` (tests/test_sealcore.py compares
them). See docs/operations.md ("Ingest") and docs/performance.md.
"""

from __future__ import annotations

import os
from types import ModuleType

built: ModuleType | None
try:
    from . import _sealcore as built
except ImportError:  # not built: no compiler or headers at install time
    built = None

ENABLED = built is not None and os.environ.get("WXGUARD_NATIVE") != "0"
core: ModuleType | None = built if ENABLED else None


def describe() -> str:
    """Which implementation runs in this process, and why (``wxguard --version``)."""
    if ENABLED:
        return "native"
    if built is None:
        return "Python (wxguard._sealcore was not built at install: see docs/operations.md)"
    return "Python (WXGUARD_NATIVE=0)"
