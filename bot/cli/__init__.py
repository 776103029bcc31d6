"""`scrm`: the command line. Commands parse arguments and call services; no business logic lives here."""

from __future__ import annotations

import typer

from bot.cli import clients, compliance, core, db, kb, reminders, scheduler, sim

app = typer.Typer(
    name="scrm",
    help="WeCom SCRM assistant for securities brokerages.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
core.register(app)
app.add_typer(db.app, name="db")
app.add_typer(kb.app, name="kb")
app.add_typer(compliance.app, name="compliance")
app.add_typer(clients.app, name="clients")
app.add_typer(reminders.app, name="reminders")
app.add_typer(scheduler.app, name="scheduler")
app.add_typer(sim.app, name="sim")


def main() -> None:
    app()
