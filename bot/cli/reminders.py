"""`scrm reminders ...` commands."""

from __future__ import annotations

import typer

app = typer.Typer(help="reminders commands.", no_args_is_help=True)
