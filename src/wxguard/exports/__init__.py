"""eDiscovery and data-subject exports (docs/exports.md).

``package``: what is exported (a search query, a legal hold, a person), the request /
approval / run workflow, the package's manifest with file hashes, the ledger checkpoint
and an inclusion proof per message. ``writers``: the formats — RSMF 2.0, EML per
conversation and day, a PDF transcript, CSV and JSONL.
"""
