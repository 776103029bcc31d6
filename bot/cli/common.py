"""Helpers shared by the command modules: settings with a readable error, services."""

from __future__ import annotations

import typer

from bot.config import Settings, load_settings
from bot.errors import ConfigError


def settings_or_exit(**overrides: object) -> Settings:
    """Settings from the environment; a configuration error is printed (naming the variable) and exits 2."""
    try:
        return load_settings(**overrides)
    except ConfigError as exc:
        typer.secho(str(exc), err=True, fg=typer.colors.RED)
        raise typer.Exit(2) from None


def services_or_exit(**overrides: object):  # type: ignore[no-untyped-def]
    from bot.services import build_services

    return build_services(settings_or_exit(**overrides))
