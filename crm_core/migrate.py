"""Schema migrations: upgrade to the newest revision and check that a database is up to date."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_core.errors import CallboardError

__all__ = ["NotMigrated", "check_migrated", "current_revision", "head_revision", "upgrade"]

_SCRIPTS = Path(__file__).with_name("migrations")


class NotMigrated(CallboardError):
    """The database schema is missing or older than this release needs."""

    code = "not_migrated"


def _config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(_SCRIPTS))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    """The newest revision this release ships."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at, or None for an empty database."""
    async with engine.connect() as conn:
        return await conn.run_sync(_current)


async def upgrade(engine: AsyncEngine, revision: str = "head") -> tuple[str | None, str]:
    """Upgrade the schema to ``revision``; return (revision before, revision after)."""
    async with engine.begin() as conn:
        before = await conn.run_sync(_current)
        await conn.run_sync(lambda c: command.upgrade(_config(c), revision))
        after = await conn.run_sync(_current)
    assert after is not None
    return before, after


async def check_migrated(engine: AsyncEngine, *, command_hint: str = "callboard migrate") -> None:
    """Raise NotMigrated, saying what to run, unless the database is at the newest revision."""
    current = await current_revision(engine)
    head = head_revision()
    if current == head:
        return
    where = engine.url.render_as_string(hide_password=True)
    if current is None:
        raise NotMigrated(
            f"the database at {where} has no Callboard schema; run `{command_hint}` first"
        )
    try:
        known = bool(ScriptDirectory.from_config(_config()).get_revisions(current))
    except CommandError:
        known = False
    if not known:
        raise NotMigrated(
            f"the database at {where} is at revision {current}, which this release does not "
            f"know (newer Callboard?); upgrade Callboard or restore a matching database"
        )
    raise NotMigrated(
        f"the database at {where} is at revision {current} but this release needs {head}; "
        f"run `{command_hint}`"
    )
