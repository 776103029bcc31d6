"""Shared fixtures. Real components throughout: SQLite files and PostgreSQL, real HTTP on loopback."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

import bot.models  # noqa: F401
from bot.config import Settings, load_settings
from bot.db import Database

SHARED = Path(__file__).resolve().parents[2] / "shared"
POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL")


def _require_postgres() -> str:
    if POSTGRES_URL:
        return POSTGRES_URL
    if os.environ.get("CI"):
        pytest.fail("TEST_POSTGRES_URL is not set: CI must run the PostgreSQL tests (scripts/test.sh sets it)")
    pytest.skip("TEST_POSTGRES_URL not set (scripts/test.sh starts PostgreSQL and sets it)")


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    base = _require_postgres()
    name = f"scrm_t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = sa.engine.make_url(base).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Both backends: a SQLite file, and a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'scrm.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(_env_file=None, scrm_env="demo", scrm_data_dir=tmp_path / "var")


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    """A migrated SQLite database in the test's own directory."""
    database = Database(settings.db_url)
    database.migrate()
    yield database
    database.dispose()


@pytest.fixture
def any_db(db_url: str) -> Iterator[Database]:
    """A migrated database on each backend (the test runs twice)."""
    database = Database(db_url)
    database.migrate()
    yield database
    database.dispose()


@pytest.fixture
def store(db: Database) -> Database:
    """The advisors-and-time tests' name for `db`."""
    return db


@pytest.fixture
def any_store(any_db: Database) -> Database:
    return any_db


@pytest.fixture
def services(settings: Settings, db: Database):  # type: ignore[no-untyped-def]
    """Services for tests that drive jobs and services directly (see tests/scheduler/support.py)."""
    from tests.scheduler.support import FakeServices

    return FakeServices(settings=settings, db=db)
