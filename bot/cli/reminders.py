"""`scrm reminders ...`: run what is due, preview a day, load market events, campaigns and calendar years."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import typer

app = typer.Typer(help="Key-date reminders: run, preview, events, campaigns, market calendar.", no_args_is_help=True)
calendar_app = typer.Typer(help="The market calendar (one file per year).", no_args_is_help=True)
app.add_typer(calendar_app, name="calendar")


def _services(*, need_gate: bool):  # type: ignore[no-untyped-def]
    """The services of `scrm serve`; every send is screened by their compliance gate."""
    from bot.cli.common import services_or_exit

    return services_or_exit()


def _parse_ts(text: str, tz) -> datetime:  # type: ignore[no-untyped-def]
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=tz)


@app.command("run-due")
def run_due(
    now: str = typer.Option(None, "--now", help="ISO timestamp (default: now; naive = local time of SCRM_TIMEZONE)"),
    ignore_quiet_hours: bool = typer.Option(False, help="plan even outside the send window (testing only)"),
) -> None:
    """Plan and queue the reminders due at that moment (idempotent: running twice sends nothing twice)."""
    from scheduler import reminders

    services = _services(need_gate=True)
    at = _parse_ts(now, services.settings.tz) if now else services.now()
    report = reminders.run_due(db=services.db, now=at, gate=services.gate, settings=services.settings,
                               ignore_quiet_hours=ignore_quiet_hours)
    typer.echo(report.model_dump_json(exclude={"decisions"}, indent=2))


@app.command("preview")
def preview(day: str = typer.Option(..., "--date", help="YYYY-MM-DD"),
            as_json: bool = typer.Option(False, "--json", help="one JSON line per decision")) -> None:
    """Who would get what on that date, through which channel, and why (writes nothing)."""
    from scheduler import reminders

    services = _services(need_gate=False)
    report = reminders.preview(db=services.db, day=date.fromisoformat(day), gate=services.gate,
                               settings=services.settings)
    for decision in report.decisions:
        if as_json:
            typer.echo(decision.model_dump_json())
        else:
            target = decision.channel or "-"
            note = decision.reason or decision.why
            typer.echo(f"{decision.external_userid}\t{decision.kind}\t{target}\t{decision.status}\t{note}")
    typer.echo(f"# {report.day}: {dict(report.queued)} planned, skipped {dict(report.skipped)}"
               + ("" if services.gate else " (templates NOT screened: no compliance gate)"), err=True)
    for problem in report.errors:
        typer.secho(f"# {problem}", err=True, fg=typer.colors.YELLOW)


def _load_rows(path: Path) -> list[dict]:
    import csv

    import yaml

    text = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() == ".csv":
        return list(csv.DictReader(text.splitlines()))
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    data = yaml.safe_load(text)  # YAML or JSON
    return data if isinstance(data, list) else list((data or {}).get("events") or [])


@app.command("load-events")
def load_events(file: Path = typer.Argument(..., help="YAML/JSON/CSV/JSONL rows: kind (ipo|convertible|ex_dividend), "
                                                     "date, code, name, detail, segment")) -> None:
    """Load market events (IPO / convertible subscription days, ex-dividend dates); re-loading updates them."""
    from bot.models import utcnow
    from scheduler import reminders

    services = _services(need_gate=False)
    with services.db.session() as session:
        count, errors = reminders.load_events(session=session, rows=_load_rows(file), now=utcnow())
    typer.echo(f"loaded {count} events")
    for error in errors:
        typer.secho(error, err=True, fg=typer.colors.RED)
    if errors:
        raise typer.Exit(1)


@app.command("campaign")
def campaign(file: Path = typer.Argument(..., help="YAML: key, name, template, segment, start, end"),
             created_by: str = typer.Option("ops", help="who defines it")) -> None:
    """Define or update a campaign; its template is screened now (blocked -> rejected, review -> waits)."""
    import yaml

    from bot.models import utcnow
    from scheduler import reminders

    services = _services(need_gate=True)
    data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    tz = services.settings.tz
    with services.db.session() as session:
        result = reminders.create_campaign(
            session=session, gate=services.gate, key=str(data["key"]), name=str(data.get("name") or data["key"]),
            template=str(data["template"]), segment=dict(data.get("segment") or {}),
            start_at=_parse_ts(str(data["start"]), tz), end_at=_parse_ts(str(data["end"]), tz),
            created_by=created_by, now=utcnow(),
        )
        typer.echo(f"campaign {result.key}: {result.status} ({result.verdict}) {result.reason}".rstrip())
        if result.status == "rejected":
            raise typer.Exit(1)


@calendar_app.command("show")
def calendar_show(year: int = typer.Option(None, help="default: every loaded year")) -> None:
    """Closures and the long closures (>= 3 days) that trigger the reverse-repo reminder."""
    from bot.cli.common import settings_or_exit
    from scheduler.calendar import calendar_for

    cal = calendar_for(settings_or_exit())
    for y in [year] if year else cal.years:
        try:
            closures = cal.long_closures(y)
        except LookupError as exc:
            typer.secho(str(exc), err=True, fg=typer.colors.RED)
            raise typer.Exit(2) from None
        typer.echo(f"{y}: {len(cal.trading_days(date(y, 1, 1), date(y, 12, 31)))} trading days")
        for last, days in closures:
            typer.echo(f"  last trading day {last}, then closed {days} days")


@calendar_app.command("load")
def calendar_load(
    file: Path = typer.Argument(..., help="calendar_<year>.yaml in the format of scheduler/data"),
) -> None:
    """Validate a year's closures and install them under SCRM_DATA_DIR/calendar."""
    from bot.cli.common import settings_or_exit
    from scheduler.calendar import install_year_file

    try:
        year, destination = install_year_file(file, settings_or_exit())
    except (ValueError, OSError) as exc:
        typer.secho(str(exc), err=True, fg=typer.colors.RED)
        raise typer.Exit(2) from None
    typer.echo(f"calendar {year} installed at {destination}")
