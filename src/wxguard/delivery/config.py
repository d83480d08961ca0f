"""``DATA/alerting.toml``: where alerts and nudges go (format in docs/operations.md).

Validated once at start; an error names the file and the key. Secrets are given by
reference (``$env:NAME`` or ``$file:PATH``) and resolved when a sink is built, so
the file itself can be checked into configuration management.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Annotated, Literal, TypeVar

import msgspec
from msgspec import Meta, Struct, field

from ..policy.spec import SEVERITIES, Duration, Severity, split_validation_error

CONFIG_NAME = "alerting.toml"
T = TypeVar("T")
Name = Annotated[str, Meta(pattern=r"^[a-z0-9][a-z0-9\-]{0,40}$")]
Port = Annotated[int, Meta(ge=1, le=65535)]


class _Sink(Struct, forbid_unknown_fields=True, kw_only=True, tag_field="type"):
    name: Name
    min_severity: Severity = "low"
    timeout: Annotated[float, Meta(gt=0, le=120)] = 10.0


class WebhookSink(_Sink, tag="webhook", kw_only=True):
    url: Annotated[str, Meta(pattern=r"^https?://")]
    secret: str  # HMAC-SHA256 key, by reference


class SyslogSink(_Sink, tag="syslog", kw_only=True):
    host: str
    port: Port = 514
    facility: Annotated[int, Meta(ge=0, le=23)] = 20  # local4


class SmtpSink(_Sink, tag="smtp", kw_only=True):
    host: str
    port: Port = 587
    starttls: bool = True
    ssl: bool = False
    username: str = ""
    password: str = ""  # by reference
    sender: str = field(name="from")
    to: Annotated[list[str], Meta(min_length=1)]


class WecomSink(_Sink, tag="wecom", kw_only=True):
    corp_id: str
    secret: str  # the notifying application's secret, by reference
    agent_id: int
    to: list[str] = field(default_factory=list)  # reviewers told of new alerts
    base_url: Annotated[str, Meta(pattern=r"^https?://")] = "https://qyapi.weixin.qq.com"


SinkConfig = WebhookSink | SyslogSink | SmtpSink | WecomSink


class NudgeConfig(Struct, forbid_unknown_fields=True, kw_only=True):
    sink: str
    every: Duration = "24h"  # per employee and policy
    max_per_day: Annotated[int, Meta(ge=1, le=100)] = 3  # per employee
    max_age: Duration = "1h"  # older messages (history, retro runs) are never nudged


class AlertingConfig(Struct, forbid_unknown_fields=True, kw_only=True):
    sinks: list[SinkConfig] = field(default_factory=list)
    nudge: NudgeConfig | None = None
    path: str = ""

    def sink(self, name: str) -> SinkConfig | None:
        return next((s for s in self.sinks if s.name == name), None)

    def alert_sinks(self, severity: str, only: list[str] | None) -> list[SinkConfig]:
        rank = SEVERITIES.index(severity)
        out = []
        for s in self.sinks:
            if isinstance(s, WecomSink) and not s.to:
                continue  # a WeCom sink without reviewers only carries nudges
            if only is not None and s.name not in only:
                continue
            if rank >= SEVERITIES.index(s.min_severity):
                out.append(s)
        return out


class ConfigError(Exception):
    pass


def read_settings(path: Path, kind: type[T], what: str) -> T:
    """A TOML settings file as ``kind`` (a msgspec struct); errors name the file and key."""
    try:
        doc = tomllib.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"{path}: cannot read {what}: {e}") from None
    try:
        return msgspec.convert(doc, kind)
    except msgspec.ValidationError as e:
        at, problem = split_validation_error(e)
        key = at[2:] if at.startswith("$.") else ""
        if not key and "`" in problem:  # "Object missing required field `corp_id`"
            key = problem.split("`")[1]
        raise ConfigError(f"{path}: key '{key}': {problem}") from None


def load_alerting(data_dir: Path) -> AlertingConfig:
    path = data_dir / CONFIG_NAME
    if not path.exists():
        return AlertingConfig()
    cfg = read_settings(path, AlertingConfig, "alerting settings")
    names = [s.name for s in cfg.sinks]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ConfigError(f"{path}: sink name(s) used twice: {', '.join(dup)}")
    if cfg.nudge is not None:
        target = cfg.sink(cfg.nudge.sink)
        if not isinstance(target, WecomSink):
            raise ConfigError(
                f"{path}: key 'nudge.sink': {cfg.nudge.sink!r} must name a sink of type wecom"
            )
    cfg.path = str(path)
    return cfg


def resolve_secret(ref: str, data_dir: Path, what: str) -> str:
    """``$env:NAME`` or ``$file:PATH`` (relative to the data directory) → the secret."""
    if ref.startswith("$env:"):
        val = os.environ.get(ref[5:])
        if not val:
            raise ConfigError(f"{what}: environment variable {ref[5:]} is not set")
        return val
    if ref.startswith("$file:"):
        p = Path(ref[6:])
        p = p if p.is_absolute() else data_dir / p
        try:
            return p.read_text("utf-8").strip()
        except OSError as e:
            raise ConfigError(f"{what}: cannot read secret file {p}: {e.strerror}") from None
    raise ConfigError(f'{what}: give secrets by reference, as "$env:NAME" or "$file:PATH"')


SINK_TYPES: dict[str, type[SinkConfig]] = {
    "webhook": WebhookSink, "syslog": SyslogSink, "smtp": SmtpSink, "wecom": WecomSink,
}  # fmt: skip
SinkType = Literal["webhook", "syslog", "smtp", "wecom"]
