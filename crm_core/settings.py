"""Settings: one frozen object read from ``CALLBOARD_*`` environment variables and/or a TOML file.

Precedence, lowest to highest: built-in defaults, the TOML file (``--config PATH`` or
``CALLBOARD_CONFIG``), then ``CALLBOARD_<KEY>`` environment variables. Every problem is reported at
start-up as one line per key; secret values never appear in messages, logs or reprs.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import tomllib
import zoneinfo
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import unquote, urlsplit

import phonenumbers
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)

__all__ = [
    "ENV_PREFIX",
    "AmiUrl",
    "PbxConnection",
    "Settings",
    "SettingsError",
    "load_settings",
    "redact_url",
    "url_password",
]

ENV_PREFIX = "CALLBOARD_"
# Environment variables with our prefix that are not settings keys.
_ENV_NOT_SETTINGS = {
    "CALLBOARD_CONFIG",
    "CALLBOARD_TEST_PG_URL",
    "CALLBOARD_TEST_REDIS_URL",
    "CALLBOARD_SHARED_DIR",
    "CALLBOARD_CHROMIUM",
}


class SettingsError(ValueError):
    """Settings are invalid; ``problems`` holds one message per bad key."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid settings:\n  " + "\n  ".join(problems))


# scheme://user:password@rest — the password runs to the first '@', as SQLAlchemy and redis-py
# read it, so an unescaped '#', '/' or '?' in it is hidden too (urlsplit would stop there).
_USERINFO_RE = re.compile(
    r"^(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/@]*):(?P<pw>[^@]*)@(?P<rest>.*)$", re.DOTALL
)


def url_password(url: str) -> str | None:
    """The password inside ``url`` as written (percent-encoding kept), or None."""
    m = _USERINFO_RE.match(url)
    return m.group("pw") if m else None


def redact_url(url: str) -> str:
    """Return ``url`` with any password replaced by ``***``, fit for logs and health output."""
    m = _USERINFO_RE.match(url)
    if m is None:
        return url
    return f"{m.group('head')}:***@{m.group('rest')}"


class AmiUrl(BaseModel):
    """A parsed ``ami://user:secret@host:port`` address; the secret never prints."""

    model_config = ConfigDict(frozen=True)

    username: str
    secret: SecretStr
    host: str
    port: int = 5038

    @classmethod
    def parse(cls, raw: str) -> AmiUrl:
        """Parse an AMI URL, raising ValueError with a message that never contains the secret."""
        parts = urlsplit(raw)
        if parts.scheme != "ami":
            raise ValueError("must look like ami://user:secret@host:5038 (scheme must be 'ami')")
        if not parts.username or parts.password is None:
            raise ValueError("must name the AMI user and secret: ami://user:secret@host:5038")
        if not parts.hostname:
            raise ValueError("must name the Asterisk host: ami://user:secret@host:5038")
        try:
            port = parts.port
        except ValueError:
            port = 0
        if port is None:
            port = 5038
        if not 1 <= port <= 65535:
            raise ValueError("has a bad port; use a number from 1 to 65535")
        return cls(
            username=unquote(parts.username),
            secret=SecretStr(unquote(parts.password)),
            host=parts.hostname,
            port=port,
        )

    def redacted(self) -> str:
        """The URL with the secret replaced by ``***``."""
        return f"ami://{self.username}:***@{self.host}:{self.port}"

    def __str__(self) -> str:
        return self.redacted()


_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")


class PbxConnection(BaseModel):
    """One Asterisk server reached over AMI."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    ami_url: AmiUrl
    context: str = "customers"
    channelvars: tuple[str, ...] = ()
    agent_context: str = "agents"
    # Transfers: a queue is reached as <queue>@transfer_queue_context, an agent's seat as
    # <extension>@transfer_agent_context, a number through `context` (see docs/telephony.md).
    transfer_queue_context: str = "transfer-queue"
    transfer_agent_context: str = "transfer-agent"
    connect_timeout: float = Field(default=5.0, gt=0, le=120)
    action_timeout: float = Field(default=10.0, gt=0, le=300)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME_RE.match(v):
            raise ValueError("must be 1-32 characters of a-z, 0-9, '_' or '-' (e.g. 'main')")
        return v

    @field_validator("ami_url", mode="before")
    @classmethod
    def _ami_url(cls, v: Any) -> Any:
        if isinstance(v, str):
            return AmiUrl.parse(v)
        return v

    @field_validator("context", "agent_context", "transfer_queue_context", "transfer_agent_context")
    @classmethod
    def _context(cls, v: str) -> str:
        if not v or not re.match(r"^[A-Za-z0-9_.-]+$", v):
            raise ValueError("must be a dialplan context name such as 'customers'")
        return v


_SQL_SCHEMES = {
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
}

Port = Annotated[int, Field(ge=1, le=65535)]


class Settings(BaseModel):
    """Every setting of a Callboard process; frozen once loaded."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)

    database_url: SecretStr = SecretStr("sqlite+aiosqlite:///callboard-data/callboard.db")
    redis_url: SecretStr | None = None
    redis_prefix: str = "callboard:"
    http_host: str = "127.0.0.1"
    http_port: Port = 8080
    public_url: str | None = None
    secret_key: SecretStr | None = None
    secure_cookies: bool = False
    trusted_proxies: tuple[str, ...] = ()
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024, le=512 * 1024 * 1024)
    session_ttl_hours: float = Field(default=12.0, gt=0, le=24 * 90)
    login_max_failures_per_account: int = Field(default=5, ge=1, le=1000)
    login_max_failures_per_address: int = Field(default=20, ge=1, le=100000)
    login_window_seconds: int = Field(default=900, ge=10, le=86400)
    default_region: str = "US"
    default_timezone: str = "UTC"
    # An active CRM customer without an invoice for this many days reads as inactive.
    crm_inactive_after_days: int = Field(default=365, ge=1, le=36500)
    data_dir: Path = Path("callboard-data")
    log_level: str = "INFO"
    pbx: tuple[PbxConnection, ...] = ()
    # Without Redis: round-trip every event through JSON as the Redis bus would (a development
    # check that the two buses cannot drift; the tests turn it on, production saves the work).
    bus_wire_check: bool = False
    # After an agent's call ends the agent is paused ("wrap-up") this long; 0 = no wrap-up.
    wrap_up_seconds: float = Field(default=0.0, ge=0, le=3600)
    # With Redis, one process per PBX holds the AMI connection; another takes over this long
    # after the holder stops renewing its lease (dies).
    pbx_leader_ttl_seconds: float = Field(default=10.0, ge=0.3, le=300)

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, v: SecretStr) -> SecretStr:
        raw = v.get_secret_value()
        scheme, sep, rest = raw.partition("://")
        if not sep:
            raise ValueError(
                "must be a URL such as postgresql://user@host/db or sqlite:///path/to/file.db"
            )
        driver = _SQL_SCHEMES.get(scheme.lower())
        if driver is None:
            raise ValueError(
                f"unsupported database scheme {scheme!r}; use postgresql:// or sqlite:///"
            )
        return SecretStr(f"{driver}://{rest}")

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, v: SecretStr | None) -> SecretStr | None:
        if v is None or not v.get_secret_value():
            return None
        scheme = urlsplit(v.get_secret_value()).scheme
        if scheme not in {"redis", "rediss", "unix"}:
            raise ValueError("must be a URL such as redis://127.0.0.1:6379/0")
        return v

    @field_validator("redis_prefix")
    @classmethod
    def _redis_prefix(cls, v: str) -> str:
        if not v or len(v) > 64 or any(c.isspace() for c in v):
            raise ValueError("must be 1-64 characters without spaces, e.g. 'callboard:'")
        return v

    @field_validator("secret_key")
    @classmethod
    def _secret_key(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None and len(v.get_secret_value()) < 32:
            raise ValueError(
                "must be at least 32 characters; generate one with "
                "python -c 'import secrets; print(secrets.token_urlsafe(48))'"
            )
        return v

    @field_validator("default_region")
    @classmethod
    def _region(cls, v: str) -> str:
        v = v.upper()
        if v not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"{v!r} is not a phone region; use an ISO 3166 code such as GR or US")
        return v

    @field_validator("default_timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            zoneinfo.ZoneInfo(v)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{v!r} is not an IANA time zone such as Europe/Athens") from None
        return v

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for item in v:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address or network") from None
        return v

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, v: str) -> str:
        v = v.upper()
        if v not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return v

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, v: str | None) -> str | None:
        if v is None:
            return None
        parts = urlsplit(v)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise ValueError("must be an absolute http(s) URL such as https://callboard.example")
        return v.rstrip("/")

    @field_validator("pbx")
    @classmethod
    def _unique_pbx_names(cls, v: tuple[PbxConnection, ...]) -> tuple[PbxConnection, ...]:
        names = [p.name for p in v]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"connection names must be unique; repeated: {', '.join(dupes)}")
        return v

    @property
    def is_sqlite(self) -> bool:
        """True when the database is the embedded SQLite file."""
        return self.database_url.get_secret_value().startswith("sqlite")

    def database_url_redacted(self) -> str:
        """The database URL with any password hidden."""
        return redact_url(self.database_url.get_secret_value())

    def redis_url_redacted(self) -> str | None:
        """The Redis URL with any password hidden."""
        return None if self.redis_url is None else redact_url(self.redis_url.get_secret_value())

    def require_secret_key(self) -> str:
        """Return the secret key or raise SettingsError saying how to set it."""
        if self.secret_key is None:
            raise SettingsError(
                [
                    "secret_key (CALLBOARD_SECRET_KEY): is required to serve; set it to at least "
                    "32 random characters"
                ]
            )
        return self.secret_key.get_secret_value()


_SECRET_KEYS = {"database_url", "redis_url", "secret_key", "ami_url"}
_COMPLEX_KEYS = {"pbx", "trusted_proxies"}


def _env_values(environ: Mapping[str, str]) -> tuple[dict[str, Any], list[str]]:
    values: dict[str, Any] = {}
    problems: list[str] = []
    known = set(Settings.model_fields)
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or name in _ENV_NOT_SETTINGS:
            continue
        key = name[len(ENV_PREFIX) :].lower()
        if key not in known:
            problems.append(f"{name}: unknown setting (known keys: {', '.join(sorted(known))})")
            continue
        if key in _COMPLEX_KEYS:
            stripped = raw.strip()
            if key == "trusted_proxies" and not stripped.startswith("["):
                values[key] = [p.strip() for p in stripped.split(",") if p.strip()]
                continue
            try:
                values[key] = json.loads(stripped) if stripped else []
            except json.JSONDecodeError as err:
                problems.append(
                    f"{name}: must be JSON (a list of tables); {err.msg} at position {err.pos}"
                )
            continue
        values[key] = raw
    return values, problems


def _describe(loc: tuple[int | str, ...], msg: str, value: Any) -> str:
    path = ".".join(str(p) for p in loc)
    top = str(loc[0]) if loc else ""
    env = f"{ENV_PREFIX}{top.upper()}"
    # A whole pbx entry may be (or contain) an AMI URL with its secret; its named fields are safe.
    whole_pbx_entry = top == "pbx" and len(loc) <= 2
    secret = whole_pbx_entry or any(str(p) in _SECRET_KEYS for p in loc)
    msg = msg.removeprefix("Value error, ")
    shown = "" if secret or isinstance(value, dict | list) else f" (got {value!r})"
    return f"{path} ({env}): {msg}{shown}"


def load_settings(
    config_path: str | os.PathLike[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Load settings from the TOML file, the environment and ``overrides``, highest last."""
    env = os.environ if environ is None else environ
    problems: list[str] = []
    data: dict[str, Any] = {}
    path = config_path or env.get("CALLBOARD_CONFIG")
    if path:
        try:
            with open(path, "rb") as fh:
                data.update(tomllib.load(fh))
        except FileNotFoundError:
            problems.append(f"config file {path}: not found")
        except OSError as err:
            problems.append(f"config file {path}: cannot be read ({err.strerror})")
        except tomllib.TOMLDecodeError as err:
            problems.append(f"config file {path}: not valid TOML ({err})")
    env_values, env_problems = _env_values(env)
    problems.extend(env_problems)
    data.update(env_values)
    if overrides:
        data.update(overrides)
    try:
        settings = Settings.model_validate(data)
    except ValidationError as err:
        for e in err.errors():
            if e["type"] == "extra_forbidden":
                where = ".".join(str(p) for p in e["loc"])
                problems.append(f"{where}: unknown setting")
            else:
                problems.append(_describe(e["loc"], e["msg"], e.get("input")))
        raise SettingsError(problems) from None
    if problems:
        raise SettingsError(problems)
    return settings
