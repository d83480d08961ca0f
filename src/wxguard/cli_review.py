"""CLI for the review application: ``wxguard serve``, ``wxguard users …``, ``wxguard
sampling …`` — thin layers over review.accounts / review.service."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from .archive import Archive, ArchiveError, resolve_data_dir
from .audit import current_actor
from .cli import (
    DataOpt,
    FormatOpt,
    OutputFormat,
    _esc,
    _print_json,
    _table,
    app,
    err,
    errors,
    fail,
    out,
)
from .crypto import KeyProblem
from .review import accounts, sampling
from .review.roles import ROLES
from .review.settings import SettingsError, load_settings

users_app = typer.Typer(help="Users of the review application.", no_args_is_help=True)
sampling_app = typer.Typer(help="Random sampling of messages for review.", no_args_is_help=True)
app.add_typer(users_app, name="users")
app.add_typer(sampling_app, name="sampling")


@contextmanager
def _errors() -> Iterator[None]:
    with errors():  # and the disk's failures
        try:
            yield
        except (
            ArchiveError,
            KeyProblem,
            SettingsError,
            accounts.AccountError,
            sampling.SamplingError,
            ValueError,
        ) as e:
            fail(_esc(str(e)))


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve_archive(
    d: Path,
    host: str,
    port: int,
    certfile: Path | None,
    keyfile: Path | None,
    access_log: bool,
    banner: str = "",
) -> None:
    import uvicorn

    from .review.web import create_app

    settings = load_settings(d)
    tls = certfile is not None
    if not tls and not _is_loopback(host):
        err.print(
            "[yellow]warning:[/] serving plain HTTP on a non-loopback address; put wxguard "
            "behind a TLS proxy or pass --certfile/--keyfile (cookies are marked Secure)."
        )
    api = create_app(d, settings, secure_cookies=tls or not _is_loopback(host))
    scheme = "https" if tls else "http"
    shown = f"[{host}]" if ":" in host else host
    out.print(f"wxguard review app on [bold]{scheme}://{shown}:{port}/[/] (Ctrl-C stops)")
    if banner:
        out.print(banner)
    uvicorn.run(
        api,
        host=host,
        port=port,
        log_level="warning",
        access_log=access_log,
        ssl_certfile=str(certfile) if certfile else None,
        ssl_keyfile=str(keyfile) if keyfile else None,
        server_header=False,
    )


@app.command()
def serve(
    data: DataOpt = None,
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port")] = 8765,
    certfile: Annotated[Path | None, typer.Option(help="TLS certificate (PEM)")] = None,
    keyfile: Annotated[Path | None, typer.Option(help="TLS private key (PEM)")] = None,
    access_log: Annotated[bool, typer.Option(help="Log every request")] = False,
) -> None:
    """Serve the review web app and the REST API (/api/v1) for this archive."""
    d = resolve_data_dir(data)
    if (certfile is None) != (keyfile is None):
        fail("give both --certfile and --keyfile, or neither")
    with _errors():
        with Archive.open(d) as a:
            if not accounts.list_users(a):
                fail(f"no users yet: add one with `wxguard users add NAME --role admin --data {d}`")
        serve_archive(d, host, port, certfile, keyfile, access_log)


def _print_enrolment(e: accounts.Enrolment, output: OutputFormat) -> None:
    if output == OutputFormat.json:
        _print_json(e.__dict__)
        return
    out.print(f"user [bold]{e.user}[/] — give these over a safe channel; they are shown once:")
    out.print(f"  password:              {e.password}", highlight=False)
    out.print(f"  authenticator secret:  {e.totp_secret}", highlight=False)
    out.print(f"  authenticator URI:     {e.totp_uri}", highlight=False, soft_wrap=True)


RoleOpt = Annotated[
    list[str], typer.Option("--role", "-r", help=f"Role (repeatable): {', '.join(ROLES)}")
]


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="User name (a-z 0-9 . _ - @)")],
    role: RoleOpt,
    data: DataOpt = None,
    display: Annotated[str, typer.Option(help="Display name")] = "",
    output: FormatOpt = OutputFormat.text,
) -> None:
    """Add a user with a generated password and a new authenticator (TOTP) secret."""
    d = resolve_data_dir(data)
    with _errors(), Archive.open(d) as a:
        e = accounts.add_user(a, name, role, current_actor(), load_settings(d), display=display)
    _print_enrolment(e, output)


@users_app.command("reset")
def users_reset(
    name: str,
    data: DataOpt = None,
    keep_totp: Annotated[bool, typer.Option(help="Keep the authenticator secret")] = False,
    output: FormatOpt = OutputFormat.text,
) -> None:
    """New password (and authenticator secret); unlocks the user and ends their sessions."""
    d = resolve_data_dir(data)
    with _errors(), Archive.open(d) as a:
        e = accounts.reset_user(a, name, current_actor(), load_settings(d), new_totp=not keep_totp)
    _print_enrolment(e, output)


@users_app.command("disable")
def users_disable(name: str, data: DataOpt = None) -> None:
    """Disable a user and end their sessions (the account and its history stay)."""
    with _errors(), Archive.open(resolve_data_dir(data)) as a:
        accounts.set_disabled(a, name, True, current_actor())
    out.print(f"disabled {name}")


@users_app.command("enable")
def users_enable(name: str, data: DataOpt = None) -> None:
    """Enable a disabled user again."""
    with _errors(), Archive.open(resolve_data_dir(data)) as a:
        accounts.set_disabled(a, name, False, current_actor())
    out.print(f"enabled {name}")


@users_app.command("roles")
def users_roles(name: str, role: RoleOpt, data: DataOpt = None) -> None:
    """Replace a user's roles."""
    with _errors(), Archive.open(resolve_data_dir(data)) as a:
        roles = accounts.set_roles(a, name, role, current_actor())
    out.print(f"{name}: {', '.join(roles)}")


@users_app.command("list")
def users_list(data: DataOpt = None, output: FormatOpt = OutputFormat.text) -> None:
    """Users, roles and state."""
    with _errors(), Archive.open(resolve_data_dir(data)) as a:
        users = accounts.list_users(a)
    rows: list[dict[str, Any]] = [
        {
            "name": u.name,
            "roles": list(u.roles),
            "disabled": u.disabled,
            "locked_until": u.locked_until,
            "last_sign_in": u.last_sign_in,
        }
        for u in users
    ]
    if output == OutputFormat.json:
        _print_json(rows)
        return
    _table(
        "users",
        ["name", "roles", "state"],
        [
            [r["name"], ", ".join(r["roles"]), "disabled" if r["disabled"] else "active"]
            for r in rows
        ],
    )


@sampling_app.command("add")
def sampling_add(
    scope: Annotated[str, typer.Argument(help="department | policy")],
    value: Annotated[str, typer.Argument(help="Department name or policy id")],
    percent: Annotated[float, typer.Argument(help="Percentage of messages, e.g. 2.5")],
    data: DataOpt = None,
) -> None:
    """Add a sampling rule and sample the archive's messages with it."""
    from .policy.pack import load_policies
    from .policy.store import load_directory

    d = resolve_data_dir(data)
    with _errors(), Archive.open(d) as a:
        pset = load_policies(d)
        rid = sampling.add_rule(a, scope, value, percent, current_actor(), pset)
        n = sampling.run(a, load_directory(a), pset)
    out.print(f"sampling rule {rid}: {percent}% of {scope} {value}; {n:,} message(s) picked")


@sampling_app.command("list")
def sampling_list(data: DataOpt = None, output: FormatOpt = OutputFormat.text) -> None:
    """Sampling rules with how many messages each picked and how many wait."""
    with _errors(), Archive.open(resolve_data_dir(data)) as a:
        rows = sampling.rules(a)
    if output == OutputFormat.json:
        _print_json(rows)
        return
    _table(
        "sampling rules",
        ["id", "scope", "value", "%", "picked", "waiting", "active"],
        [
            [
                r["id"],
                r["scope"],
                r["value"],
                r["percent"],
                r["picked"],
                r["pending"],
                "yes" if r["active"] else "no",
            ]
            for r in rows
        ],
    )


@sampling_app.command("retire")
def sampling_retire(rule: int, data: DataOpt = None) -> None:
    """Stop a sampling rule (its samples and history stay)."""
    with _errors(), Archive.open(resolve_data_dir(data)) as a:
        sampling.retire_rule(a, rule, current_actor())
    out.print(f"sampling rule {rule} retired")
