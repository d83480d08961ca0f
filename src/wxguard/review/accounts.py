"""Local user accounts: argon2id password hashes, a password policy, TOTP second factor,
throttled sign-in with lock-out, and server-side sessions.

Secrets at rest: the password is an argon2id hash; the TOTP seed is sealed with the
archive's records key; a session is stored only as the SHA-256 of its token. Account
changes are audit events in the ledger; failed sign-ins are too, so a guessing attack
leaves a tamper-evident trace.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections import deque
from dataclasses import dataclass
from importlib import resources

import orjson
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.twofactor import InvalidToken
from cryptography.hazmat.primitives.twofactor.totp import TOTP

from .. import audit
from ..archive import Archive, _now_ms
from ..crypto import open_sealed, seal
from .roles import parse_roles, permissions_of
from .settings import ReviewSettings

_HASHER = PasswordHasher()  # argon2id, RFC 9106 low-memory profile defaults
TOTP_STEP = 30
TOTP_ISSUER = "wxguard"
_NAME_OK = frozenset("abcdefghijklmnopqrstuvwxyz0123456789._-@")


class AccountError(ValueError):
    """A request about an account that cannot be done; the text says why."""


class SignInError(Exception):
    """Sign-in refused. ``public`` is what the person signing in is told (never which part
    was wrong); ``reason`` is what the audit log records."""

    def __init__(self, public: str, reason: str, retry_after: int = 0) -> None:
        super().__init__(public)
        self.public = public
        self.reason = reason
        self.retry_after = retry_after


@dataclass(frozen=True)
class User:
    name: str
    display: str
    roles: tuple[str, ...]
    disabled: bool
    locked_until: int
    created_at: int
    last_sign_in: int | None

    @property
    def permissions(self) -> frozenset[str]:
        return permissions_of(self.roles)

    def can(self, permission: str) -> bool:
        return permission in self.permissions


@dataclass(frozen=True)
class Enrolment:
    """What a new (or reset) user needs once: shown to the admin, never stored in clear."""

    user: str
    password: str
    totp_secret: str  # base32
    totp_uri: str


@dataclass(frozen=True)
class Session:
    token: str
    user: User
    csrf: str
    expires_at: int


# --------------------------------------------------------------------------- passwords


def _common_passwords() -> frozenset[str]:
    text = resources.files("wxguard").joinpath("review/common-passwords.txt").read_text("utf-8")
    return frozenset(w.strip().lower() for w in text.splitlines() if w.strip() and w[0] != "#")


_COMMON = _common_passwords()


def password_problem(password: str, user: str, settings: ReviewSettings) -> str | None:
    """Why a password is not acceptable (NIST SP 800-63B style: length, not common, not the
    user name, not one repeated character), or None. No composition rules."""
    if len(password) < settings.password_min_length:
        return f"a password needs at least {settings.password_min_length} characters"
    if len(password) > 256:
        return "a password may have at most 256 characters"
    low = password.lower()
    if user and user.lower() in low:
        return "a password must not contain the user name"
    if len(set(password)) < 4:
        return "a password needs at least 4 different characters"
    if low in _COMMON or low.rstrip("0123456789!") in _COMMON:
        return "this password is on the list of commonly used passwords"
    return None


def generate_password() -> str:
    """A 20-character random password (≈119 bits) that passes the policy."""
    alphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "".join(secrets.choice(alphabet) for _ in range(20))


# --------------------------------------------------------------------------- TOTP


def _totp(seed: bytes) -> TOTP:
    return TOTP(seed, 6, hashes.SHA1(), TOTP_STEP, enforce_key_length=True)


def totp_code(secret_b32: str, at: float | None = None) -> str:
    """The current code for a base32 secret (what an authenticator app shows)."""
    seed = base64.b32decode(secret_b32.upper() + "=" * (-len(secret_b32) % 8))
    return _totp(seed).generate(int(at if at is not None else time.time())).decode()


def _seal_seed(archive: Archive, name: str, seed: bytes) -> bytes:
    return seal(archive.keys.records, seed, b"totp\x00" + name.encode())


def _open_seed(archive: Archive, name: str, blob: bytes) -> bytes:
    return open_sealed(archive.keys.records, blob, b"totp\x00" + name.encode())


# --------------------------------------------------------------------------- accounts


def check_name(name: str) -> str:
    name = name.strip().lower()
    if not 2 <= len(name) <= 64 or not set(name) <= _NAME_OK:
        raise AccountError(
            f"user name {name!r} must be 2–64 characters of a-z, 0-9, '.', '_', '-', '@'"
        )
    return name


_COLS = "name, display, roles, disabled, locked_until, created_at, last_sign_in"


def _user(row: tuple[object, ...]) -> User:
    return User(
        str(row[0]),
        str(row[1]),
        tuple(orjson.loads(str(row[2]))),
        bool(row[3]),
        int(str(row[4])),
        int(str(row[5])),
        None if row[6] is None else int(str(row[6])),
    )


def get_user(archive: Archive, name: str) -> User | None:
    row = archive.conn.execute(f"SELECT {_COLS} FROM users WHERE name = ?", (name,)).fetchone()
    return None if row is None else _user(row)


def list_users(archive: Archive) -> list[User]:
    return [_user(r) for r in archive.conn.execute(f"SELECT {_COLS} FROM users ORDER BY name")]


def _enrolment(name: str, password: str, seed: bytes) -> Enrolment:
    secret = base64.b32encode(seed).decode().rstrip("=")
    uri = _totp(seed).get_provisioning_uri(name, TOTP_ISSUER)
    return Enrolment(name, password, secret, uri)


def add_user(
    archive: Archive,
    name: str,
    roles: list[str] | str,
    actor: str,
    settings: ReviewSettings,
    *,
    display: str = "",
    password: str | None = None,
) -> Enrolment:
    """Create a user with a password (generated when not given) and a fresh TOTP seed."""
    name = check_name(name)
    role_list = parse_roles(roles)
    pw = password if password is not None else generate_password()
    problem = password_problem(pw, name, settings)
    if problem:
        raise AccountError(problem)
    seed = secrets.token_bytes(20)
    with archive.transaction():
        if get_user(archive, name) is not None:
            raise AccountError(f"user {name!r} already exists; use `wxguard users reset`")
        archive.conn.execute(
            "INSERT INTO users (name, display, roles, pw_hash, totp, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (
                name,
                display or name,
                orjson.dumps(role_list).decode(),
                _HASHER.hash(pw),
                _seal_seed(archive, name, seed),
                _now_ms(),
            ),
        )
        audit.record(archive, actor, "user-add", f"user:{name}", {"roles": role_list})
    return _enrolment(name, pw, seed)


def reset_user(
    archive: Archive,
    name: str,
    actor: str,
    settings: ReviewSettings,
    *,
    password: str | None = None,
    new_totp: bool = True,
) -> Enrolment:
    """New password (and by default a new TOTP seed); unlocks and signs out everywhere."""
    user = _must(archive, name)
    pw = password if password is not None else generate_password()
    problem = password_problem(pw, user.name, settings)
    if problem:
        raise AccountError(problem)
    with archive.transaction():
        row = archive.conn.execute("SELECT totp FROM users WHERE name = ?", (name,)).fetchone()
        seed = secrets.token_bytes(20) if new_totp else _open_seed(archive, name, row[0])
        archive.conn.execute(
            "UPDATE users SET pw_hash = ?, totp = ?, totp_step = 0, failures = 0, "
            "locked_until = 0 WHERE name = ?",
            (_HASHER.hash(pw), _seal_seed(archive, name, seed), name),
        )
        archive.conn.execute("DELETE FROM sessions WHERE user = ?", (name,))
        audit.record(archive, actor, "user-reset", f"user:{name}", {"new_totp": new_totp})
    return _enrolment(name, pw, seed)


def set_disabled(archive: Archive, name: str, disabled: bool, actor: str) -> None:
    _must(archive, name)
    with archive.transaction():
        archive.conn.execute("UPDATE users SET disabled = ? WHERE name = ?", (int(disabled), name))
        if disabled:
            archive.conn.execute("DELETE FROM sessions WHERE user = ?", (name,))
        action = "user-disable" if disabled else "user-enable"
        audit.record(archive, actor, action, f"user:{name}", {})


def set_roles(archive: Archive, name: str, roles: list[str] | str, actor: str) -> list[str]:
    before = _must(archive, name)
    role_list = parse_roles(roles)
    with archive.transaction():
        archive.conn.execute(
            "UPDATE users SET roles = ? WHERE name = ?", (orjson.dumps(role_list).decode(), name)
        )
        archive.conn.execute("DELETE FROM sessions WHERE user = ?", (name,))
        detail = {"from": list(before.roles), "to": role_list}
        audit.record(archive, actor, "user-roles", f"user:{name}", detail)
    return role_list


def _must(archive: Archive, name: str) -> User:
    user = get_user(archive, name)
    if user is None:
        raise AccountError(f"no user {name!r}")
    return user


def current_totp(archive: Archive, name: str) -> str:
    """The current TOTP code of a user (only the demo uses this, for its demo login)."""
    row = archive.conn.execute("SELECT totp FROM users WHERE name = ?", (name,)).fetchone()
    if row is None:
        raise AccountError(f"no user {name!r}")
    return _totp(_open_seed(archive, name, row[0])).generate(int(time.time())).decode()


# --------------------------------------------------------------------------- sign-in


class Throttle:
    """Failed sign-ins per client address in a sliding 10-minute window (in memory)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._fails: dict[str, deque[float]] = {}

    def check(self, ip: str) -> int:
        """Seconds to wait before this address may try again (0: go ahead)."""
        q = self._fails.get(ip)
        if not q:
            return 0
        now = time.monotonic()
        while q and now - q[0] > 600:
            q.popleft()
        return int(600 - (now - q[0])) + 1 if len(q) >= self.limit else 0

    def failed(self, ip: str) -> None:
        self._fails.setdefault(ip, deque()).append(time.monotonic())


_REFUSED = "wrong user name, password or authentication code"


def sign_in(
    archive: Archive,
    name: str,
    password: str,
    code: str,
    settings: ReviewSettings,
    *,
    client: str = "",
    now: float | None = None,
) -> Session:
    """Check password and TOTP; open a session. Raises :class:`SignInError`."""
    at = now if now is not None else time.time()
    key = name.strip().lower()
    # Failures are recorded (counter, lock-out, audit event) and committed before the
    # refusal is raised: a refused attempt must leave its trace.
    with archive.transaction():
        outcome = _attempt(archive, key, password, code, settings, client, at)
    if isinstance(outcome, SignInError):
        raise outcome
    return outcome


def _attempt(
    archive: Archive,
    key: str,
    password: str,
    code: str,
    settings: ReviewSettings,
    client: str,
    at: float,
) -> Session | SignInError:
    at_ms = int(at * 1000)
    row = archive.conn.execute(
        f"SELECT {_COLS}, pw_hash, totp, totp_step, failures FROM users WHERE name = ?", (key,)
    ).fetchone()
    if row is None:
        _HASHER.hash(password or "x")  # same work as a real check: no user enumeration
        _fail_event(archive, key, client, "no such user")
        return SignInError(_REFUSED, "no such user")
    user = _user(row[:7])
    pw_hash, sealed, last_step, failures = str(row[7]), row[8], int(row[9]), int(row[10])
    if user.disabled:
        _fail_event(archive, key, client, "disabled")
        return SignInError("this account is disabled; ask an administrator", "disabled")
    if user.locked_until > at_ms:
        wait = (user.locked_until - at_ms) // 1000 + 1
        _fail_event(archive, key, client, "locked")
        return SignInError(
            f"too many failed attempts; this account is locked for {wait // 60 + 1} more minute(s)",
            "locked",
            wait,
        )
    ok_pw = _password_ok(pw_hash, password)
    step = int(at) // TOTP_STEP
    used_step = 0
    if ok_pw:
        totp = _totp(_open_seed(archive, key, sealed))
        for s in (step, step - 1, step + 1):  # one step of clock drift either way
            try:
                totp.verify(code.strip().encode(), s * TOTP_STEP)
            except InvalidToken:
                continue
            if s > last_step:  # a code is good once: no replay
                used_step = s
            break
    if not (ok_pw and used_step):
        failures += 1
        locked = failures >= settings.max_failures
        until = at_ms + settings.lockout_minutes * 60_000 if locked else 0
        archive.conn.execute(
            "UPDATE users SET failures = ?, locked_until = ? WHERE name = ?",
            (0 if locked else failures, until, key),
        )
        reason = "bad password" if not ok_pw else "bad or reused code"
        _fail_event(archive, key, client, reason, locked=locked)
        if locked:
            return SignInError(
                f"too many failed attempts; this account is locked for "
                f"{settings.lockout_minutes} minutes",
                reason,
                settings.lockout_minutes * 60,
            )
        return SignInError(_REFUSED, reason)
    if _HASHER.check_needs_rehash(pw_hash):
        archive.conn.execute(
            "UPDATE users SET pw_hash = ? WHERE name = ?", (_HASHER.hash(password), key)
        )
    archive.conn.execute(
        "UPDATE users SET failures = 0, locked_until = 0, totp_step = ?, last_sign_in = ? "
        "WHERE name = ?",
        (used_step, at_ms, key),
    )
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(24)
    expires = at_ms + settings.max_hours * 3_600_000
    archive.conn.execute(
        "INSERT INTO sessions (token_hash, user, csrf, created_at, last_seen, expires_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (_token_hash(token), key, csrf, at_ms, at_ms, expires),
    )
    archive.conn.execute("DELETE FROM sessions WHERE expires_at < ?", (at_ms,))
    audit.record(archive, key, "sign-in", f"user:{key}", {"client": client})
    return Session(token, user, csrf, expires)


def _password_ok(pw_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(pw_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _fail_event(
    archive: Archive, name: str, client: str, reason: str, locked: bool = False
) -> None:
    detail = {"client": client, "reason": reason, "locked": locked}
    audit.record(archive, name or "?", "sign-in-failed", f"user:{name}", detail)


def _token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def session_of(
    archive: Archive, token: str, settings: ReviewSettings, now: float | None = None
) -> Session | None:
    """The live session for a token (sliding idle timeout), or None."""
    if not token or len(token) > 100:
        return None
    at_ms = int((now if now is not None else time.time()) * 1000)
    th = _token_hash(token)
    row = archive.conn.execute(
        "SELECT user, csrf, last_seen, expires_at FROM sessions WHERE token_hash = ?", (th,)
    ).fetchone()
    if row is None:
        return None
    name, csrf, last_seen, expires = str(row[0]), str(row[1]), int(row[2]), int(row[3])
    if at_ms > expires or at_ms - last_seen > settings.idle_minutes * 60_000:
        archive.conn.execute("DELETE FROM sessions WHERE token_hash = ?", (th,))
        return None
    user = get_user(archive, name)
    if user is None or user.disabled:
        return None
    if at_ms - last_seen > 15_000:  # keep writes rare: the idle clock has 15 s resolution
        archive.conn.execute("UPDATE sessions SET last_seen = ? WHERE token_hash = ?", (at_ms, th))
    return Session(token, user, csrf, expires)


def sign_out(archive: Archive, token: str) -> None:
    archive.conn.execute("DELETE FROM sessions WHERE token_hash = ?", (_token_hash(token),))


def same_secret(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
