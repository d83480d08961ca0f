"""Roles and the permission actions they grant.

Permission names are stable kebab-case ids: they appear in the API's 403 responses, in the
role matrix in docs/review.md and in tests, so never rename one. A user holds one or more
roles; what they may do is the union of those roles' permissions.
"""

from __future__ import annotations

PERMISSIONS: dict[str, str] = {
    "dashboard-read": "see the dashboard: alert counts, trends, capture volume, precision",
    "alert-read": "list alerts and see their metadata (policy, severity, state, history)",
    "message-read": "read message plaintext (alert context, conversations, samples, media)",
    "privileged-read": "read plaintext of privileged (restricted) conversations",
    "media-download": "download attachments",
    "alert-work": "claim, comment on, escalate and close alerts",
    "alert-supervise": "assign alerts, take over others' alerts, close escalated alerts",
    "alert-reopen": "re-open a closed alert",
    "sample-work": "work the sampling queue",
    "sampling-configure": "create and retire sampling rules",
    "people-read": "see people and groups",
    "inventory-read": "see the third-party inventory",
    "inventory-decide": "approve or reject mini-programs, bots, apps and domains",
    "policy-read": "see policies and lexicons and test them on sample text",
    "policy-edit": "create and change policies and lexicons",
    "audit-read": "read the audit log",
    "message-search": "search message text across the archive (every search is audited)",
    "hold-manage": "place and release legal holds",
    "export-request": "request and run eDiscovery and data-subject exports",
    "export-approve": "approve another user's export request (two-person rule)",
    "retention-read": "see retention rules, disposal plans and certificates",
    "user-admin": "add users, reset passwords and second factors, disable users, set roles",
}

_READ = ("dashboard-read", "alert-read", "people-read", "inventory-read", "policy-read")
_REVIEW = (*_READ, "message-read", "media-download", "alert-work", "sample-work")

ROLES: dict[str, frozenset[str]] = {
    # Runs the system; by default does not read messages (separation of duties).
    "admin": frozenset(
        (
            *_READ,
            "inventory-decide",
            "policy-edit",
            "audit-read",
            "user-admin",
            "sampling-configure",
            "retention-read",
        )
    ),
    # First-line review: works alerts and samples; may be shown pseudonyms.
    "reviewer": frozenset(_REVIEW),
    # Leads reviewers: assigns, takes over, closes escalations, re-opens, decides inventory.
    "supervisor": frozenset(
        (
            *_REVIEW,
            "alert-supervise",
            "alert-reopen",
            "inventory-decide",
            "sampling-configure",
            "audit-read",
            "message-search",
        )
    ),
    # Read-only oversight (internal audit, a regulator's examiner): sees, never changes.
    "auditor": frozenset(
        (*_READ, "message-read", "audit-read", "message-search", "retention-read")
    ),
    # Counsel: the only role that reads privileged conversations.
    "legal": frozenset(
        (
            *_READ,
            "message-read",
            "privileged-read",
            "media-download",
            "audit-read",
            "message-search",
            "hold-manage",
            "export-request",
            "export-approve",
            "retention-read",
        )
    ),
}

# Roles that must present a second factor: every role that can read message plaintext.
# (wxguard enrols every user in TOTP and asks every user for it; this set is what the
# documentation promises at minimum and what tests check.)
MESSAGE_ROLES = frozenset(r for r, p in ROLES.items() if "message-read" in p)


class RoleError(ValueError):
    pass


def parse_roles(value: str | list[str]) -> list[str]:
    """Role names from ``"reviewer,legal"`` or a list; unknown names are an error."""
    names = value.split(",") if isinstance(value, str) else value
    roles = sorted({n.strip() for n in names if n.strip()})
    if not roles:
        raise RoleError(f"give at least one role: {', '.join(ROLES)}")
    bad = [r for r in roles if r not in ROLES]
    if bad:
        raise RoleError(f"unknown role {', '.join(bad)}; roles are {', '.join(ROLES)}")
    return roles


def permissions_of(roles: list[str] | tuple[str, ...]) -> frozenset[str]:
    out: set[str] = set()
    for r in roles:
        out |= ROLES.get(r, frozenset())
    return frozenset(out)
