"""A controlled clock for tests that run the bot against the WeCom simulator: both clocks move together."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.wecom.simulator import WeComSimulator


class Clock:
    """The bot's clock and the simulator's clock, moved together (no sleeping on wall-clock minutes)."""

    def __init__(self, sim: WeComSimulator, start: datetime) -> None:
        self.sim = sim
        self.at = start
        sim.advance(start.timestamp() - sim.state.now())

    def __call__(self) -> datetime:
        return self.at

    def advance(self, **delta: float) -> None:
        step = timedelta(**delta)
        self.at += step
        self.sim.advance(step.total_seconds())
