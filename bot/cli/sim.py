"""`scrm sim ...`: play a client against a running simulator from the terminal."""

from __future__ import annotations

from typing import Annotated

import typer

app = typer.Typer(help="The built-in WeCom simulator.", no_args_is_help=True)


@app.command("chat")
def chat(
    url: Annotated[str, typer.Option(help="Base URL of a running simulator (printed by `scrm demo`).")] = (
        "http://127.0.0.1:8001"
    ),
    client: Annotated[str, typer.Option(help="The client's external_userid.")] = "wm_demo_zhang",
) -> None:
    """A terminal chat: type as the client, see the bot's replies (Ctrl-D to quit)."""
    from bot.wecom.simulator.repl import chat_repl

    chat_repl(url, client)
