"""`scrm db ...`: schema migrations."""

from __future__ import annotations

import typer

app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)


@app.command("upgrade")
def upgrade() -> None:
    """Apply all migrations to DATABASE_URL (run before starting new processes after an upgrade)."""
    from bot.cli.common import settings_or_exit
    from bot.db import Database

    settings = settings_or_exit()
    Database(settings.db_url).migrate()
    typer.echo("database is at the newest revision")


@app.command("current")
def current() -> None:
    """Show the revision the database is at."""
    from alembic import command

    from bot.cli.common import settings_or_exit
    from bot.db import alembic_config

    command.current(alembic_config(settings_or_exit().db_url))
