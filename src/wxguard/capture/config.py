"""``DATA/wecom.toml``: the WeCom session-archive connector's settings.

Validated once at start (:func:`load_wecom`): an error names the file and the key.
Secrets and private keys are given by reference (``$env:NAME`` / ``$file:PATH``,
relative paths from the data directory) so the file can live in configuration
management. Example in docs/operations.md ("WeCom capture").
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from msgspec import Meta, Struct, field

from ..delivery.config import ConfigError, read_settings, resolve_secret
from ..policy.spec import Duration, seconds

CONFIG_NAME = "wecom.toml"
Url = Annotated[str, Meta(pattern=r"^https?://[^\s]+$")]


class Network(Struct, forbid_unknown_fields=True, kw_only=True):
    proxy: Annotated[str, Meta(pattern=r"^((socks5|http|https)://[^\s]+)?$")] = ""
    proxy_password: str = ""  # "user:password", by reference
    timeout: Annotated[int, Meta(ge=1, le=300)] = 5  # seconds, per SDK call (§1.2)
    api_base: Url = "https://qyapi.weixin.qq.com"


class Pull(Struct, forbid_unknown_fields=True, kw_only=True):
    page_size: Annotated[int, Meta(ge=1, le=1000)] = 1000  # §1.5: at most 1000 per call
    calls_per_minute: Annotated[int, Meta(ge=1, le=10_000)] = 600  # §4 rate limits
    poll_interval: Duration = "30s"  # --follow: wait when caught up
    max_backoff: Duration = "10m"
    max_retries: Annotated[int, Meta(ge=0, le=100)] = 5  # per call, transient errors
    source: Annotated[str, Meta(pattern=r"^[a-z][a-z0-9_\-]{0,30}$")] = "wecom"


class Media(Struct, forbid_unknown_fields=True, kw_only=True):
    enabled: bool = True
    max_attempts: Annotated[int, Meta(ge=1, le=100)] = 8
    max_bytes: Annotated[int, Meta(ge=1)] = 2 << 30  # larger files are recorded, not fetched
    per_pass: Annotated[int, Meta(ge=0)] = 500  # downloads per pull cycle


class Directory(Struct, forbid_unknown_fields=True, kw_only=True):
    enabled: bool = True
    contacts_secret: str = ""  # 客户联系/通讯录 secret for externalcontact/* and user/get
    refresh: Duration = "6h"


class Health(Struct, forbid_unknown_fields=True, kw_only=True):
    retention_days: Annotated[int, Meta(ge=1, le=30)] = 5  # Tencent keeps ~5 days (§4)
    warn_after: Duration = "6h"  # no successful pull for this long → warning
    stall_after: Duration = "1h"  # → a capture-stalled alert to the alerting sinks
    silent_member_days: Annotated[int, Meta(ge=1, le=365)] = 7


class Notify(Struct, forbid_unknown_fields=True, kw_only=True):
    listen: Annotated[str, Meta(pattern=r"^[^\s:]*:[0-9]{1,5}$")] = ""  # "0.0.0.0:8091"
    token: str = ""  # callback Token, by reference
    encoding_aes_key: str = ""  # callback EncodingAESKey (43 chars), by reference
    path: Annotated[str, Meta(pattern=r"^/[^\s]*$")] = "/wecom/callback"


class WecomConfig(Struct, forbid_unknown_fields=True, kw_only=True):
    corp_id: Annotated[str, Meta(pattern=r"^[A-Za-z0-9]{4,64}$")]
    secret: str  # the 会话内容存档 Secret, by reference
    library: str
    private_keys: dict[str, str]  # publickey_ver -> "$file:..." PEM
    network: Network = field(default_factory=Network)
    pull: Pull = field(default_factory=Pull)
    media: Media = field(default_factory=Media)
    directory: Directory = field(default_factory=Directory)
    health: Health = field(default_factory=Health)
    notify: Notify = field(default_factory=Notify)


@dataclass
class Connector:
    """A validated configuration with its secrets and keys resolved."""

    cfg: WecomConfig
    path: Path
    data_dir: Path
    secret: str
    proxy_password: str
    contacts_secret: str
    keys: dict[int, RSAPrivateKey]
    library: Path

    @property
    def stream(self) -> str:
        return f"wecom:{self.cfg.corp_id}"


def _key_error(path: Path, key: str, problem: str) -> ConfigError:
    return ConfigError(f"{path}: key '{key}': {problem}")


def load_private_key(ref: str, data_dir: Path, what: str) -> RSAPrivateKey:
    if not ref.startswith("$file:") and not ref.startswith("$env:"):
        raise ConfigError(f'{what}: give the key by reference, as "$file:PATH" or "$env:NAME"')
    pem = resolve_secret(ref, data_dir, what).encode()
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as e:
        raise ConfigError(
            f"{what}: not an unencrypted PEM private key (PKCS#1 or PKCS#8): {e}"
        ) from None
    if not isinstance(key, RSAPrivateKey):
        raise ConfigError(f"{what}: not an RSA key (the session archive uses RSA, §1.6)")
    if key.key_size < 2048:
        raise ConfigError(f"{what}: RSA key of {key.key_size} bits; WeCom requires 2048")
    return key


def load_wecom(data_dir: Path, path: Path | None = None) -> Connector:
    path = path or data_dir / CONFIG_NAME
    if not path.exists():
        raise ConfigError(
            f"{path}: no WeCom connector configuration; write one (docs/operations.md, "
            '"WeCom capture") with corp_id, secret, library and private_keys'
        )
    cfg = read_settings(path, WecomConfig, "the WeCom connector settings")
    keys: dict[int, RSAPrivateKey] = {}
    if not cfg.private_keys:
        raise _key_error(path, "private_keys", 'give at least one publickey_ver = "$file:…"')
    for ver, ref in cfg.private_keys.items():
        if not ver.isdigit():
            raise _key_error(path, f"private_keys.{ver}", "the key must be a publickey_ver number")
        keys[int(ver)] = load_private_key(ref, data_dir, f"{path}: key 'private_keys.{ver}'")
    lib = Path(cfg.library)
    lib = lib if lib.is_absolute() else data_dir / lib
    if not lib.is_file():
        raise _key_error(
            path, "library",
            f"{lib} does not exist; download libWeWorkFinanceSdk_C.so from Tencent (doc 91774)",
        )  # fmt: skip
    for key, d in (("pull.poll_interval", cfg.pull.poll_interval),
                   ("health.stall_after", cfg.health.stall_after)):  # fmt: skip
        if seconds(d) > cfg.health.retention_days * 86400 // 2:
            raise _key_error(
                path, key, f"{d} is too long: Tencent keeps messages ~{cfg.health.retention_days}"
                " days; poll and alert well inside that window",
            )  # fmt: skip
    n = cfg.notify
    if n.listen and not (n.token and n.encoding_aes_key):
        raise _key_error(path, "notify", "listen needs token and encoding_aes_key")

    def secret(ref: str, key: str) -> str:
        return resolve_secret(ref, data_dir, f"{path}: key '{key}'") if ref else ""

    return Connector(
        cfg=cfg, path=path, data_dir=data_dir, secret=secret(cfg.secret, "secret"),
        proxy_password=secret(cfg.network.proxy_password, "network.proxy_password"),
        contacts_secret=secret(cfg.directory.contacts_secret, "directory.contacts_secret"),
        keys=keys, library=lib,
    )  # fmt: skip
