"""`scrm scheduler ...`: a dedicated scheduler process, the job list, one job run now."""

from __future__ import annotations

from typing import Annotated

import typer

app = typer.Typer(help="Time-based jobs (APScheduler; one active scheduler across processes).",
                  no_args_is_help=True)


@app.command("run")
def run() -> None:
    """Run only the scheduler (with several processes it waits until it holds the scheduler lock)."""
    from bot.cli.common import services_or_exit
    from bot.logging import setup_logging
    from compliance.pii import PIIMaskingFilter
    from scheduler.registry import run_blocking

    setup_logging(filters=(PIIMaskingFilter(),))
    run_blocking(services_or_exit())


@app.command("list")
def list_jobs() -> None:
    """List the jobs and their triggers."""
    from bot.cli.common import settings_or_exit
    from scheduler.registry import JOBS

    tz = settings_or_exit().tz
    for spec in JOBS:
        typer.echo(f"{spec.id:<24} {spec.trigger(tz)}  {spec.description}")


@app.command("run-once")
def run_once(job_id: Annotated[str, typer.Argument(help="A job id from `scrm scheduler list`.")]) -> None:
    """Run one job now in this process (the job is idempotent: running it twice does no harm)."""
    from bot.cli.common import services_or_exit
    from scheduler.registry import JOBS, run_job_now

    if job_id not in {spec.id for spec in JOBS}:
        typer.secho(f"unknown job '{job_id}'", err=True, fg=typer.colors.RED)
        raise typer.Exit(2)
    result = run_job_now(services_or_exit(), job_id)
    typer.echo(f"{job_id}: {result}")
