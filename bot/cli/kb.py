"""`scrm kb ...` commands."""

from __future__ import annotations

import typer

app = typer.Typer(help="kb commands.", no_args_is_help=True)
