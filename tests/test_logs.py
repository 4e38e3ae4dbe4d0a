"""Log redaction: SecretRedactor cleans messages, arguments and tracebacks; secrets_of."""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Iterator

import pytest

from crm_core.settings import Settings, load_settings
from web.logs import SecretRedactor, configure_logging, secrets_of

SECRET_KEY = "SecretKey-" + "0123456789abcdefghijklmnopqrstuv"
DB_PASSWORD = "Db-Passw0rd-x1"
REDIS_PASSWORD = "Redis-Passw0rd-y2"
AMI_MAIN = "Ami-Main-Secret"
AMI_BRANCH = "Ami-Branch-Secret"


def settings_with(**env: str) -> Settings:
    return load_settings(environ={f"CALLBOARD_{k.upper()}": v for k, v in env.items()})


def full_settings() -> Settings:
    return settings_with(
        secret_key=SECRET_KEY,
        database_url=f"postgresql://callboard:{DB_PASSWORD}@db.example/cb",
        redis_url=f"redis://default:{REDIS_PASSWORD}@cache.example:6379/0",
        pbx=json.dumps(
            [
                {"name": "main", "ami_url": f"ami://admin:{AMI_MAIN}@pbx1"},
                {"name": "branch", "ami_url": f"ami://admin:{AMI_BRANCH}@pbx2"},
            ]
        ),
    )


@pytest.fixture
def capture() -> Iterator[tuple[logging.Logger, io.StringIO, logging.Handler]]:
    """A private logger writing through a handler into a buffer."""
    logger = logging.getLogger(f"test.logs.{uuid.uuid4().hex}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger.addHandler(handler)
    yield logger, buffer, handler
    logger.removeHandler(handler)


# --- SecretRedactor -----------------------------------------------------------------------------


def test_redactor_cleans_the_message(
    capture: tuple[logging.Logger, io.StringIO, logging.Handler],
) -> None:
    logger, buffer, handler = capture
    handler.addFilter(SecretRedactor([DB_PASSWORD]))
    message = f"connecting with {DB_PASSWORD} twice {DB_PASSWORD}"  # already formatted
    logger.warning(message)
    assert buffer.getvalue() == "WARNING connecting with *** twice ***\n"


def test_redactor_cleans_the_arguments(
    capture: tuple[logging.Logger, io.StringIO, logging.Handler],
) -> None:
    logger, buffer, handler = capture
    handler.addFilter(SecretRedactor([DB_PASSWORD, AMI_MAIN]))
    logger.info("db %s ami %r n=%d", f"postgresql://u:{DB_PASSWORD}@h/db", AMI_MAIN, 3)
    assert buffer.getvalue() == "INFO db postgresql://u:***@h/db ami '***' n=3\n"


def test_redactor_leaves_a_record_alone_when_no_secret_matches() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello %s", ("world",), None)
    assert SecretRedactor([DB_PASSWORD]).filter(record) is True
    assert record.getMessage() == "hello world"


def test_redactor_without_secrets_changes_nothing() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello %s", ("world",), None)
    assert SecretRedactor([]).filter(record) is True
    assert record.msg == "hello %s"
    assert record.args == ("world",)


def test_redactor_cleans_exception_text(
    capture: tuple[logging.Logger, io.StringIO, logging.Handler],
) -> None:
    logger, buffer, handler = capture
    handler.addFilter(SecretRedactor([REDIS_PASSWORD]))
    try:
        raise ConnectionError(f"AUTH {REDIS_PASSWORD} rejected")
    except ConnectionError:
        logger.exception("redis said no to %s", REDIS_PASSWORD)
    out = buffer.getvalue()
    assert REDIS_PASSWORD not in out
    assert out.startswith("ERROR redis said no to ***\n")
    assert "Traceback (most recent call last)" in out
    assert "ConnectionError: AUTH *** rejected" in out


def test_redactor_replaces_longer_secrets_first() -> None:
    record = logging.LogRecord(
        "x", logging.INFO, __file__, 1, "a=%s b=%s", ("abcd", "abcdefgh"), None
    )
    SecretRedactor(["abcd", "abcdefgh"]).filter(record)
    assert record.getMessage() == "a=*** b=***"


def test_redactor_serves_every_handler_of_the_record(
    capture: tuple[logging.Logger, io.StringIO, logging.Handler],
) -> None:
    logger, buffer, handler = capture
    handler.addFilter(SecretRedactor([AMI_MAIN]))
    second_buffer = io.StringIO()
    second = logging.StreamHandler(second_buffer)
    logger.addHandler(second)
    try:
        logger.error("secret %s", AMI_MAIN)
    finally:
        logger.removeHandler(second)
    assert AMI_MAIN not in buffer.getvalue()
    assert buffer.getvalue() == "ERROR secret ***\n"


# --- secrets_of ---------------------------------------------------------------------------------


def test_secrets_of_finds_every_configured_secret() -> None:
    found = secrets_of(full_settings())
    assert sorted(found) == sorted([SECRET_KEY, DB_PASSWORD, REDIS_PASSWORD, AMI_MAIN, AMI_BRANCH])


def test_secrets_of_plain_settings_is_empty() -> None:
    assert secrets_of(settings_with()) == []
    assert secrets_of(settings_with(database_url="postgresql://callboard@db/cb")) == []


def test_secrets_of_finds_a_redis_password_without_user() -> None:
    settings = settings_with(redis_url=f"redis://:{REDIS_PASSWORD}@cache:6379/0")
    assert secrets_of(settings) == [REDIS_PASSWORD]


def test_secrets_of_ignores_values_too_short_to_redact() -> None:
    settings = settings_with(database_url="postgresql://u:abc@db/cb")
    assert secrets_of(settings) == []


def test_secrets_of_feeds_the_redactor() -> None:
    settings = full_settings()
    redactor = SecretRedactor(secrets_of(settings))
    text = " ".join(
        [
            settings.database_url.get_secret_value(),
            settings.redis_url.get_secret_value() if settings.redis_url else "",
            settings.require_secret_key(),
            *(p.ami_url.secret.get_secret_value() for p in settings.pbx),
        ]
    )
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "%s", (text,), None)
    redactor.filter(record)
    cleaned = record.getMessage()
    for secret in (SECRET_KEY, DB_PASSWORD, REDIS_PASSWORD, AMI_MAIN, AMI_BRANCH):
        assert secret not in cleaned
    assert "postgresql+asyncpg://callboard:***@db.example/cb" in cleaned


def test_secrets_of_finds_a_database_password_with_a_hash() -> None:
    password = "hunter#2-Secret"
    settings = settings_with(database_url=f"postgresql://callboard:{password}@db.example/cb")
    assert password in secrets_of(settings)


def test_secrets_of_includes_the_decoded_url_password() -> None:
    settings = settings_with(redis_url="redis://:p%40ss-word-1@cache:6379/0")
    assert "p@ss-word-1" in secrets_of(settings)


# --- configure_logging --------------------------------------------------------------------------


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    others = {n: logging.getLogger(n).level for n in ("aiohttp.access", "alembic")}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, lvl in others.items():
        logging.getLogger(name).setLevel(lvl)


@pytest.mark.usefixtures("restore_logging")
def test_configure_logging_installs_a_redacting_handler() -> None:
    settings = settings_with(secret_key=SECRET_KEY, log_level="debug")
    configure_logging(settings)
    root = logging.getLogger()
    assert len(root.handlers) == 1
    handler = root.handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    assert any(isinstance(f, SecretRedactor) for f in handler.filters)
    assert root.level == logging.DEBUG
    assert logging.getLogger("aiohttp.access").level == logging.WARNING
    buffer = io.StringIO()
    handler.setStream(buffer)
    logging.getLogger("test.logs.configured").debug("key is %s", SECRET_KEY)
    out = buffer.getvalue()
    assert SECRET_KEY not in out
    assert "DEBUG" in out
    assert "test.logs.configured: key is ***" in out
