"""The Alembic migrations build exactly the schema of the table models, on both backends."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

import bot.models  # noqa: F401
from bot.db import Database
from bot.db import include_name


def test_migrations_match_the_models(db_url):
    database = Database(db_url)
    database.migrate()
    with database.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_name": include_name})
        diff = compare_metadata(context, SQLModel.metadata)
    database.dispose()
    assert diff == [], "models changed without a migration: generate one (see README, Development)"


def test_migrate_is_idempotent(db_url):
    database = Database(db_url)
    database.migrate()
    database.migrate()
    database.dispose()
