"""Fixtures of the advisors-and-time tests: a database with every table, on SQLite (and PostgreSQL via any_store)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.config import Settings
from bot.db import Database
from tests.scheduler.support import FakeServices, ready_db


@pytest.fixture
def store(settings: Settings) -> Iterator[Database]:
    database = ready_db(settings.db_url)
    yield database
    database.dispose()


@pytest.fixture
def any_store(db_url: str) -> Iterator[Database]:
    database = ready_db(db_url)
    yield database
    database.dispose()


@pytest.fixture
def services(settings: Settings, store: Database) -> FakeServices:
    return FakeServices(settings=settings, db=store)
