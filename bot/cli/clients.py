"""`scrm clients ...`: import clients and advisors (CSV with a header row, or JSONL)."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(help="Clients and advisors: import from the CRM.", no_args_is_help=True)


def _database():  # type: ignore[no-untyped-def]
    from bot.cli.common import settings_or_exit
    from bot.db import Database

    settings = settings_or_exit()
    database = Database(settings.db_url)
    database.migrate()
    return database


def _run(path: Path, importer_name: str) -> None:
    from bot.clients import service as client_service
    from bot.models import utcnow

    if not path.exists():
        typer.secho(f"no such file: {path}", err=True, fg=typer.colors.RED)
        raise typer.Exit(2)
    database = _database()
    importer = getattr(client_service, importer_name)
    try:
        rows = list(client_service.read_rows(path))
        with database.session() as session:
            report = importer(session=session, rows=rows, now=utcnow())
    except client_service.ImportFileError as exc:
        typer.secho(str(exc), err=True, fg=typer.colors.RED)
        raise typer.Exit(2) from None
    finally:
        database.dispose()
    typer.echo(f"created {report.created}, updated {report.updated}, unchanged {report.unchanged}, "
               f"rejected rows {len({e.row for e in report.errors})}")
    for warning in report.warnings:
        typer.secho(f"row {warning.row}: warning: {warning.field + ': ' if warning.field else ''}{warning.message}",
                    err=True, fg=typer.colors.YELLOW)
    for error in report.errors:
        typer.secho(f"row {error.row}: {error.field + ': ' if error.field else ''}{error.message}", err=True,
                    fg=typer.colors.RED)
    if report.errors:
        raise typer.Exit(1)


@app.command("import")
def import_clients(
    file: Path = typer.Argument(..., help="CSV (header row; tags/holdings separated by ;) or JSONL"),
) -> None:
    """Import or update clients. Bad rows are reported by number (exit 1); good rows are kept."""
    _run(file, "import_clients")


@app.command("import-advisors")
def import_advisors(file: Path = typer.Argument(..., help="CSV or JSONL: userid, name, working_hours, capacity, "
                                                       "is_supervisor, active")) -> None:
    """Import or update advisors (working hours like "mon-fri=09:00-12:00,13:00-17:30" or JSON)."""
    _run(file, "import_advisors")
