"""Settings: environment, TOML file, precedence, one message per bad key, hidden secrets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from crm_core.settings import (
    AmiUrl,
    PbxConnection,
    Settings,
    SettingsError,
    load_settings,
    redact_url,
)

AMI_SECRET = "Amisecret-7f3c9"
DB_PASSWORD = "Dbpassw0rd-91ab"
REDIS_PASSWORD = "Redispassw0rd-c4d2"
SECRET_KEY = "k" * 20 + "-secret-key-0123456789-xyz"
ALL_SECRETS = (AMI_SECRET, DB_PASSWORD, REDIS_PASSWORD, SECRET_KEY)


def write_toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "callboard.toml"
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(
    config_path: Path | None = None,
    *,
    environ: dict[str, str] | None = None,
    overrides: dict[str, Any] | None = None,
) -> list[str]:
    """The problems SettingsError reports (the test fails when loading succeeds)."""
    with pytest.raises(SettingsError) as info:
        load_settings(config_path, environ=environ or {}, overrides=overrides)
    assert str(info.value).startswith("invalid settings:")
    for problem in info.value.problems:
        assert problem in str(info.value)
    return info.value.problems


def pbx_env(*items: dict[str, Any]) -> dict[str, str]:
    return {"CALLBOARD_PBX": json.dumps(list(items))}


def full_secret_settings() -> Settings:
    """Settings with every kind of secret set."""
    return load_settings(
        environ={
            "CALLBOARD_DATABASE_URL": f"postgresql://callboard:{DB_PASSWORD}@db.example:5432/cb",
            "CALLBOARD_REDIS_URL": f"redis://:{REDIS_PASSWORD}@cache.example:6379/0",
            "CALLBOARD_SECRET_KEY": SECRET_KEY,
            **pbx_env({"name": "main", "ami_url": f"ami://admin:{AMI_SECRET}@pbx.example:5038"}),
        }
    )


# --- defaults and plain values ------------------------------------------------------------------


def test_defaults_without_environment_or_file() -> None:
    settings = load_settings(environ={})
    assert settings.database_url.get_secret_value() == (
        "sqlite+aiosqlite:///callboard-data/callboard.db"
    )
    assert settings.is_sqlite
    assert settings.redis_url is None
    assert settings.redis_prefix == "callboard:"
    assert settings.http_host == "127.0.0.1"
    assert settings.http_port == 8080
    assert settings.secret_key is None
    assert settings.pbx == ()
    assert settings.trusted_proxies == ()
    assert settings.log_level == "INFO"
    assert settings.default_region == "US"
    assert settings.default_timezone == "UTC"


def test_environment_values_are_parsed_and_normalised() -> None:
    settings = load_settings(
        environ={
            "CALLBOARD_HTTP_PORT": "9000",
            "CALLBOARD_SECURE_COOKIES": "true",
            "CALLBOARD_SESSION_TTL_HOURS": "1.5",
            "CALLBOARD_LOG_LEVEL": "debug",
            "CALLBOARD_DEFAULT_REGION": "gr",
            "CALLBOARD_DEFAULT_TIMEZONE": "Europe/Athens",
            "CALLBOARD_PUBLIC_URL": "https://callboard.example/",
            "CALLBOARD_TRUSTED_PROXIES": "10.0.0.0/8, 192.168.1.1",
            "CALLBOARD_DATA_DIR": "/var/lib/callboard",
            "CALLBOARD_SECRET_KEY": SECRET_KEY,
        }
    )
    assert settings.http_port == 9000
    assert settings.secure_cookies is True
    assert settings.session_ttl_hours == 1.5
    assert settings.log_level == "DEBUG"
    assert settings.default_region == "GR"
    assert settings.default_timezone == "Europe/Athens"
    assert settings.public_url == "https://callboard.example"
    assert settings.trusted_proxies == ("10.0.0.0/8", "192.168.1.1")
    assert settings.data_dir == Path("/var/lib/callboard")
    assert settings.require_secret_key() == SECRET_KEY


def test_trusted_proxies_accept_a_json_list() -> None:
    settings = load_settings(environ={"CALLBOARD_TRUSTED_PROXIES": '["::1", "172.16.0.0/12"]'})
    assert settings.trusted_proxies == ("::1", "172.16.0.0/12")


def test_environment_without_our_prefix_is_ignored() -> None:
    settings = load_settings(
        environ={
            "PATH": "/usr/bin",
            "HTTP_PORT": "1",
            "callboard_http_port": "2",
            "CALLBOARD_CONFIG": "",
            "CALLBOARD_TEST_REDIS_URL": "redis://elsewhere",
            "CALLBOARD_TEST_PG_URL": "postgresql://elsewhere/db",
        }
    )
    assert settings.http_port == 8080


def test_empty_redis_url_means_no_redis() -> None:
    assert load_settings(environ={"CALLBOARD_REDIS_URL": ""}).redis_url is None


def test_require_secret_key_names_the_variable_when_missing() -> None:
    with pytest.raises(SettingsError) as info:
        load_settings(environ={}).require_secret_key()
    assert info.value.problems[0].startswith("secret_key (CALLBOARD_SECRET_KEY):")


# --- TOML file and precedence ---------------------------------------------------------------


def test_toml_file_is_read(tmp_path: Path) -> None:
    path = write_toml(
        tmp_path,
        """
http_port = 8181
redis_prefix = "cb-a:"
secure_cookies = true
trusted_proxies = ["10.1.0.0/16"]
default_timezone = "America/New_York"
""",
    )
    settings = load_settings(path, environ={})
    assert settings.http_port == 8181
    assert settings.redis_prefix == "cb-a:"
    assert settings.secure_cookies is True
    assert settings.trusted_proxies == ("10.1.0.0/16",)
    assert settings.default_timezone == "America/New_York"


def test_config_file_named_by_callboard_config(tmp_path: Path) -> None:
    path = write_toml(tmp_path, "http_port = 8282\n")
    settings = load_settings(environ={"CALLBOARD_CONFIG": str(path)})
    assert settings.http_port == 8282


@pytest.mark.parametrize(
    ("use_toml", "use_env", "use_override", "expected"),
    [
        (False, False, False, 8080),
        (True, False, False, 8001),
        (True, True, False, 8002),
        (False, True, False, 8002),
        (True, True, True, 8003),
        (True, False, True, 8003),
    ],
)
def test_precedence_defaults_toml_env_overrides(
    tmp_path: Path, use_toml: bool, use_env: bool, use_override: bool, expected: int
) -> None:
    path = write_toml(tmp_path, 'http_port = 8001\nredis_prefix = "from-toml:"\n')
    settings = load_settings(
        path if use_toml else None,
        environ={"CALLBOARD_HTTP_PORT": "8002"} if use_env else {},
        overrides={"http_port": 8003} if use_override else None,
    )
    assert settings.http_port == expected
    # A key set only in the file is kept whatever the higher layers set.
    assert settings.redis_prefix == ("from-toml:" if use_toml else "callboard:")


def test_environment_replaces_the_whole_pbx_list_of_the_file(tmp_path: Path) -> None:
    path = write_toml(
        tmp_path,
        f"""
[[pbx]]
name = "from-file"
ami_url = "ami://admin:{AMI_SECRET}@file.example"
""",
    )
    settings = load_settings(
        path, environ=pbx_env({"name": "from-env", "ami_url": f"ami://u:{AMI_SECRET}@env"})
    )
    assert [p.name for p in settings.pbx] == ["from-env"]


def test_missing_config_file_is_reported(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    problems = problems_of(missing)
    assert problems == [f"config file {missing}: not found"]


def test_invalid_toml_is_reported(tmp_path: Path) -> None:
    path = write_toml(tmp_path, "http_port = = 3\n")
    problems = problems_of(path)
    assert len(problems) == 1
    assert problems[0].startswith(f"config file {path}: not valid TOML")


# --- one message per bad key ------------------------------------------------------------------


def test_one_message_per_bad_key_naming_key_and_variable() -> None:
    problems = problems_of(
        environ={
            "CALLBOARD_HTTP_PORT": "eighty",
            "CALLBOARD_LOG_LEVEL": "loud",
            "CALLBOARD_MAX_BODY_BYTES": "10",
            "CALLBOARD_SESSION_TTL_HOURS": "0",
        }
    )
    assert len(problems) == 4
    for key in ("http_port", "log_level", "max_body_bytes", "session_ttl_hours"):
        matching = [p for p in problems if p.startswith(f"{key} (CALLBOARD_{key.upper()}): ")]
        assert len(matching) == 1, (key, problems)
    assert any("'eighty'" in p for p in problems)


def test_bad_value_in_toml_names_key_and_variable(tmp_path: Path) -> None:
    path = write_toml(tmp_path, "http_port = 70000\n")
    problems = problems_of(path)
    assert len(problems) == 1
    assert problems[0].startswith("http_port (CALLBOARD_HTTP_PORT): ")
    assert "70000" in problems[0]


@pytest.mark.parametrize(
    ("key", "raw", "fragment"),
    [
        ("default_region", "XX", "not a phone region"),
        ("default_timezone", "Mars/Olympus_Mons", "not an IANA time zone"),
        ("log_level", "VERBOSE", "DEBUG, INFO, WARNING, ERROR, CRITICAL"),
        ("trusted_proxies", "10.0.0.0/8,not-an-ip", "'not-an-ip' is not an IP address"),
        ("public_url", "ftp://callboard.example", "absolute http(s) URL"),
        ("redis_prefix", "has space:", "without spaces"),
        ("http_port", "0", "greater than or equal to 1"),
    ],
)
def test_bad_plain_values_are_explained(key: str, raw: str, fragment: str) -> None:
    problems = problems_of(environ={f"CALLBOARD_{key.upper()}": raw})
    assert len(problems) == 1
    assert problems[0].startswith(f"{key} (CALLBOARD_{key.upper()}): ")
    assert fragment in problems[0]


def test_short_secret_key_is_rejected_without_showing_it() -> None:
    short = "Short-Secret-123"
    problems = problems_of(environ={"CALLBOARD_SECRET_KEY": short})
    assert len(problems) == 1
    assert problems[0].startswith("secret_key (CALLBOARD_SECRET_KEY): must be at least 32")
    assert short not in problems[0]


def test_unknown_keys_in_toml_and_environment_are_reported(tmp_path: Path) -> None:
    path = write_toml(tmp_path, 'colour = "blue"\nhttp_port = 8081\n')
    problems = problems_of(
        path, environ={"CALLBOARD_FLAVOUR": "vanilla", "CALLBOARD_LOG_LEVEL": "nope"}
    )
    assert len(problems) == 3
    env_problem = next(p for p in problems if p.startswith("CALLBOARD_FLAVOUR: "))
    assert "unknown setting" in env_problem
    assert "http_port" in env_problem  # lists the known keys
    assert "colour: unknown setting" in problems
    assert any(p.startswith("log_level (CALLBOARD_LOG_LEVEL): ") for p in problems)


def test_unknown_key_in_overrides_is_reported() -> None:
    assert problems_of(overrides={"no_such_key": 1}) == ["no_such_key: unknown setting"]


def test_unknown_key_inside_a_pbx_table_is_reported(tmp_path: Path) -> None:
    path = write_toml(
        tmp_path,
        f"""
[[pbx]]
name = "main"
ami_url = "ami://admin:{AMI_SECRET}@pbx.example"
colour = "red"
""",
    )
    assert problems_of(path) == ["pbx.0.colour: unknown setting"]


# --- database URL ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("postgresql://u@db/cb", "postgresql+asyncpg://u@db/cb"),
        ("postgres://u@db/cb", "postgresql+asyncpg://u@db/cb"),
        ("POSTGRESQL://u@db/cb", "postgresql+asyncpg://u@db/cb"),
        ("postgresql+asyncpg://u@db/cb", "postgresql+asyncpg://u@db/cb"),
        ("sqlite:///data/cb.db", "sqlite+aiosqlite:///data/cb.db"),
        ("sqlite+aiosqlite:///data/cb.db", "sqlite+aiosqlite:///data/cb.db"),
    ],
)
def test_database_url_gets_the_async_driver(raw: str, expected: str) -> None:
    settings = load_settings(environ={"CALLBOARD_DATABASE_URL": raw})
    assert settings.database_url.get_secret_value() == expected
    assert settings.is_sqlite == expected.startswith("sqlite")


def test_unsupported_database_scheme_is_rejected_without_the_password() -> None:
    problems = problems_of(
        environ={"CALLBOARD_DATABASE_URL": f"mysql://root:{DB_PASSWORD}@db.example/cb"}
    )
    assert len(problems) == 1
    assert problems[0].startswith("database_url (CALLBOARD_DATABASE_URL): ")
    assert "'mysql'" in problems[0]
    assert DB_PASSWORD not in problems[0]


def test_database_url_that_is_not_a_url_is_rejected_without_showing_it() -> None:
    raw = f"callboard:{DB_PASSWORD}@db.example/cb"
    problems = problems_of(environ={"CALLBOARD_DATABASE_URL": raw})
    assert len(problems) == 1
    assert problems[0].startswith("database_url (CALLBOARD_DATABASE_URL): must be a URL")
    assert DB_PASSWORD not in problems[0]


def test_bad_redis_url_is_rejected_without_the_password() -> None:
    problems = problems_of(
        environ={"CALLBOARD_REDIS_URL": f"http://:{REDIS_PASSWORD}@cache.example:6379"}
    )
    assert len(problems) == 1
    assert problems[0].startswith("redis_url (CALLBOARD_REDIS_URL): ")
    assert REDIS_PASSWORD not in problems[0]


# --- PBX connections --------------------------------------------------------------------------


def test_pbx_from_toml_tables(tmp_path: Path) -> None:
    path = write_toml(
        tmp_path,
        f"""
[[pbx]]
name = "main"
ami_url = "ami://admin:{AMI_SECRET}@pbx1.example"
channelvars = ["CRM_ID", "CAMPAIGN"]

[[pbx]]
name = "branch-2"
ami_url = "ami://ops%40branch:s%2Fcret-2@10.0.0.7:5039"
context = "from-trunk"
connect_timeout = 2.5
""",
    )
    first, second = load_settings(path, environ={}).pbx
    assert first.name == "main"
    assert first.ami_url.username == "admin"
    assert first.ami_url.secret.get_secret_value() == AMI_SECRET
    assert first.ami_url.host == "pbx1.example"
    assert first.ami_url.port == 5038
    assert first.channelvars == ("CRM_ID", "CAMPAIGN")
    assert first.context == "customers"
    assert first.agent_context == "agents"
    assert second.name == "branch-2"
    assert second.ami_url.username == "ops@branch"
    assert second.ami_url.secret.get_secret_value() == "s/cret-2"
    assert second.ami_url.host == "10.0.0.7"
    assert second.ami_url.port == 5039
    assert second.context == "from-trunk"
    assert second.connect_timeout == 2.5


def test_pbx_from_environment_json() -> None:
    settings = load_settings(
        environ=pbx_env(
            {"name": "main", "ami_url": f"ami://admin:{AMI_SECRET}@pbx.example:5040"},
            {"name": "backup", "ami_url": f"ami://admin:{AMI_SECRET}@backup.example"},
        )
    )
    assert [(p.name, p.ami_url.host, p.ami_url.port) for p in settings.pbx] == [
        ("main", "pbx.example", 5040),
        ("backup", "backup.example", 5038),
    ]
    assert all(isinstance(p, PbxConnection) for p in settings.pbx)


def test_pbx_environment_that_is_not_json_is_reported_without_the_secret() -> None:
    problems = problems_of(
        environ={"CALLBOARD_PBX": f"name=main ami_url=ami://admin:{AMI_SECRET}@pbx"}
    )
    assert len(problems) == 1
    assert problems[0].startswith("CALLBOARD_PBX: must be JSON")
    assert AMI_SECRET not in problems[0]


BAD_AMI_URLS = [
    pytest.param(
        f"http://admin:{AMI_SECRET}@pbx.example:5038", "scheme must be 'ami'", id="scheme"
    ),
    pytest.param(
        "ami://admin@pbx.example:5038", "must name the AMI user and secret", id="no-secret"
    ),
    pytest.param(f"ami://:{AMI_SECRET}@pbx.example", "must name the AMI user", id="no-user"),
    pytest.param(f"ami://admin:{AMI_SECRET}@:5038", "must name the Asterisk host", id="no-host"),
    pytest.param(f"ami://admin:{AMI_SECRET}@pbx.example:port", "bad port", id="port-word"),
    pytest.param(f"ami://admin:{AMI_SECRET}@pbx.example:70000", "bad port", id="port-range"),
]


@pytest.mark.parametrize(("url", "fragment"), BAD_AMI_URLS)
def test_bad_ami_url_from_environment(url: str, fragment: str) -> None:
    with pytest.raises(SettingsError) as info:
        load_settings(environ=pbx_env({"name": "main", "ami_url": url}))
    problems = info.value.problems
    assert len(problems) == 1
    assert problems[0].startswith("pbx.0.ami_url (CALLBOARD_PBX): ")
    assert fragment in problems[0]
    assert AMI_SECRET not in str(info.value)
    assert AMI_SECRET not in repr(info.value)


@pytest.mark.parametrize(("url", "fragment"), BAD_AMI_URLS)
def test_bad_ami_url_from_toml(tmp_path: Path, url: str, fragment: str) -> None:
    path = write_toml(
        tmp_path,
        f'[[pbx]]\nname = "ok"\nami_url = "ami://a:{AMI_SECRET}@h"\n'
        f'[[pbx]]\nname = "main"\nami_url = "{url}"\n',
    )
    problems = problems_of(path)
    assert len(problems) == 1
    assert problems[0].startswith("pbx.1.ami_url (CALLBOARD_PBX): ")
    assert fragment in problems[0]
    assert AMI_SECRET not in problems[0]


@pytest.mark.parametrize(("url", "fragment"), BAD_AMI_URLS)
def test_ami_url_parse_errors_never_contain_the_secret(url: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment) as info:
        AmiUrl.parse(url)
    assert AMI_SECRET not in str(info.value)


def test_ami_url_port_zero_is_a_bad_port() -> None:
    with pytest.raises(ValueError, match="bad port"):
        AmiUrl.parse(f"ami://admin:{AMI_SECRET}@pbx.example:0")


def test_ami_url_prints_without_the_secret() -> None:
    url = AmiUrl.parse(f"ami://admin:{AMI_SECRET}@pbx.example:5039")
    assert str(url) == url.redacted() == "ami://admin:***@pbx.example:5039"
    assert AMI_SECRET not in repr(url)
    assert url.secret.get_secret_value() == AMI_SECRET


def test_bad_pbx_name_is_reported() -> None:
    problems = problems_of(
        environ=pbx_env({"name": "Main PBX", "ami_url": f"ami://a:{AMI_SECRET}@h"})
    )
    assert len(problems) == 1
    assert problems[0].startswith("pbx.0.name (CALLBOARD_PBX): ")
    assert "'Main PBX'" in problems[0]


def test_duplicate_pbx_names_are_reported() -> None:
    problems = problems_of(
        environ=pbx_env(
            {"name": "main", "ami_url": f"ami://a:{AMI_SECRET}@pbx1"},
            {"name": "other", "ami_url": f"ami://a:{AMI_SECRET}@pbx2"},
            {"name": "main", "ami_url": f"ami://a:{AMI_SECRET}@pbx3"},
        )
    )
    assert len(problems) == 1
    assert "connection names must be unique; repeated: main" in problems[0]
    assert AMI_SECRET not in problems[0]


def test_duplicate_pbx_names_message_names_key_and_variable() -> None:
    problems = problems_of(
        environ=pbx_env(
            {"name": "main", "ami_url": f"ami://a:{AMI_SECRET}@pbx1"},
            {"name": "main", "ami_url": f"ami://a:{AMI_SECRET}@pbx2"},
        )
    )
    assert problems[0].startswith("pbx (CALLBOARD_PBX): ")


def test_pbx_entry_given_as_a_url_string_does_not_leak_the_secret() -> None:
    with pytest.raises(SettingsError) as info:
        load_settings(
            environ={"CALLBOARD_PBX": json.dumps([f"ami://admin:{AMI_SECRET}@pbx.example"])}
        )
    assert info.value.problems[0].startswith("pbx.0 (CALLBOARD_PBX): ")
    assert AMI_SECRET not in str(info.value)


# --- secrets stay hidden ----------------------------------------------------------------------


def test_secrets_absent_from_repr_and_str() -> None:
    settings = full_secret_settings()
    assert settings.pbx[0].ami_url.secret.get_secret_value() == AMI_SECRET
    texts = [repr(settings), str(settings), repr(settings.pbx), str(settings.pbx[0])]
    for text in texts:
        for secret in ALL_SECRETS:
            assert secret not in text


def test_redacted_urls_hide_passwords_and_keep_the_rest() -> None:
    settings = full_secret_settings()
    assert settings.database_url_redacted() == (
        "postgresql+asyncpg://callboard:***@db.example:5432/cb"
    )
    assert settings.redis_url_redacted() == "redis://:***@cache.example:6379/0"
    assert load_settings(environ={}).redis_url_redacted() is None


def test_database_url_redacted_hides_a_password_with_a_hash() -> None:
    password = "hunter#2-Secret"
    settings = load_settings(
        environ={"CALLBOARD_DATABASE_URL": f"postgresql://callboard:{password}@db.example/cb"}
    )
    redacted = settings.database_url_redacted()
    assert "hunter" not in redacted
    assert "2-Secret" not in redacted


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u:pw@h:5432/db", "postgresql://u:***@h:5432/db"),
        ("redis://:pw@h/0", "redis://:***@h/0"),
        ("postgresql://u@h/db", "postgresql://u@h/db"),
        ("sqlite+aiosqlite:///callboard.db", "sqlite+aiosqlite:///callboard.db"),
        (
            "postgresql://u:pw@[::1]:5432/db?ssl=require",
            "postgresql://u:***@[::1]:5432/db?ssl=require",
        ),
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected


def test_redact_url_keeps_a_percent_encoded_username() -> None:
    assert redact_url("postgresql://ops%40site:pw@h/db") == "postgresql://ops%40site:***@h/db"


# --- frozen -----------------------------------------------------------------------------------


def test_settings_are_frozen() -> None:
    settings = full_secret_settings()
    with pytest.raises(ValidationError):
        settings.http_port = 1  # type: ignore[misc]
    with pytest.raises(ValidationError):
        settings.pbx[0].name = "other"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        settings.pbx[0].ami_url.port = 1  # type: ignore[misc]
    assert settings.http_port == 8080
    assert isinstance(settings.pbx, tuple)
