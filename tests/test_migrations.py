"""Migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from crm_core.db import create_engine
from crm_core.migrate import NotMigrated, check_migrated, current_revision, head_revision, upgrade
from crm_core.models import metadata


async def test_migrated_schema_matches_models(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(
                lambda c: compare_metadata(
                    MigrationContext.configure(c, opts={"compare_type": True}), metadata
                )
            )
        assert diff == []
        assert await current_revision(engine) == head_revision()
        await check_migrated(engine)
    finally:
        await engine.dispose()


async def test_empty_database_is_refused_with_what_to_run(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")
    try:
        with pytest.raises(NotMigrated, match=r"run `callboard migrate` first"):
            await check_migrated(engine)
        before, after = await upgrade(engine)
        assert (before, after) == (None, head_revision())
        assert await upgrade(engine) == (after, after)
    finally:
        await engine.dispose()


async def test_unknown_revision_is_explained(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'future.db'}")
    try:
        await upgrade(engine)
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE alembic_version SET version_num = 'fffffff'"))
        with pytest.raises(NotMigrated, match="does not know"):
            await check_migrated(engine)
    finally:
        await engine.dispose()
