"""The WeCom simulator (part of the product: `scrm demo` and the tests run the bot against it).

`WeComSimulator` serves the WeCom API paths the bot uses on 127.0.0.1, sends real encrypted callbacks to the bot,
serves a chat page (/sim/) where a person plays the client and a staff view (/sim/staff), and a read API of what the
bot sent (/sim/api/sent). `repl.chat_repl(base_url, external_userid)` is the same chat in a terminal.
"""

from bot.wecom.simulator.server import CallbackResult, LoopbackServer, WeComSimulator

__all__ = ["CallbackResult", "LoopbackServer", "WeComSimulator"]
