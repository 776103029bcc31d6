"""Shared fixtures. Real components throughout: SQLite files (and PostgreSQL where marked), real HTTP on loopback."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import SQLModel

import bot.models  # noqa: F401
from bot.config import Settings, load_settings
from bot.db import Database

SHARED = Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(_env_file=None, scrm_env="demo", scrm_data_dir=tmp_path / "var")


@pytest.fixture
def db(settings: Settings) -> Database:
    database = Database(settings.db_url)
    SQLModel.metadata.create_all(database.engine)
    yield database
    database.dispose()
