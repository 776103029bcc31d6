"""Top-level commands: demo, serve, ask, eval."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.command("demo")(demo)
    from bot.cli.evaluate import ask_command, eval_command

    app.command("ask")(ask_command)
    app.command("eval")(eval_command)


def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "0.0.0.0",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int | None, typer.Option(help="Worker threads in this process (default SCRM_WORKERS).")] = None,
    scheduler: Annotated[bool | None, typer.Option("--scheduler/--no-scheduler",
                                                   help="Run the scheduler here (default SCRM_SCHEDULER).")] = None,
) -> None:
    """Run the production server from the environment: WeCom webhook, JSON API, console, workers, scheduler."""
    import uvicorn

    from bot.cli.common import settings_or_exit
    from bot.logging import setup_logging
    from compliance.pii import PIIMaskingFilter
    from bot.main import create_app
    from bot.services import build_services

    setup_logging(filters=(PIIMaskingFilter(),))
    overrides = {} if workers is None else {"scrm_workers": workers}
    settings = settings_or_exit(**overrides)
    services = build_services(settings)
    uvicorn.run(create_app(services, scheduler=scheduler), host=host, port=port, log_config=None)


def demo(
    port: Annotated[int, typer.Option(help="Port of the bot (webhook, API, console).")] = 8000,
    sim_port: Annotated[int, typer.Option(help="Port of the WeCom simulator (chat page).")] = 8001,
    data_dir: Annotated[Path, typer.Option(help="Where the demo keeps its database and index.")] = Path("./var/demo"),
) -> None:
    """The whole product on embedded defaults: demo knowledge base, WeCom simulator with a chat page, console,
    workers and scheduler. Prints the URLs; Ctrl-C stops everything."""
    from bot.demo import run_demo

    run_demo(port=port, sim_port=sim_port, data_dir=data_dir)
