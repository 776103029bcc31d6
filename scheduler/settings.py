"""Reminder and scheduler policy. Defaults until they become settings in bot/config.py (names proposed below).

Proposed settings: SCRM_REMINDER_WINDOW ("09:00-20:00"), SCRM_REMINDER_MAX_PER_DAY (1), SCRM_REMINDER_MAX_PER_WEEK (3),
SCRM_REMINDER_RATE_PER_MIN (3000), SCRM_SCHEDULER_LOCK_RETRY_S (15). `ReminderPolicy.from_settings` reads them when
they exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time

# Reminders reach clients only inside this local window (quiet hours outside it).
SEND_WINDOW = (time(9, 0), time(20, 0))
MAX_PER_CLIENT_PER_DAY = 1
MAX_PER_CLIENT_PER_WEEK = 3  # rolling 7 days, every channel counted
# Planned kf/send_msg pace. WeCom's base limit is 10,000 calls/min and 150,000/hour per corp and API
# (developer.work.weixin.qq.com/document/path/90454); 2,000/min (120,000/h) leaves room for live replies.
KF_RATE_PER_MIN = 2000
# externalcontact/add_msg_template: one call carries many external_userids; each client receives at most
# (days in month) mass messages a month by default (document/path/92135). We batch per advisor and text.
TEMPLATE_BATCH = 1000
TEMPLATE_RATE_PER_MIN = 60
RISK_EXPIRY_OFFSETS = (30, 7, 1)  # days before the risk assessment expires
ID_EXPIRY_OFFSETS = (30, 7)
LONG_CLOSURE_DAYS = 3  # reverse repo reminder before closures of at least this many days
OPT_OUT_KEYWORDS = ("退订", "TD", "取消订阅", "不要再发")
LOCK_RETRY_S = 15.0  # a waiting scheduler process retries the leader lock this often
CHUNK = 2000  # clients per planning transaction


@dataclass(frozen=True)
class ReminderPolicy:
    send_window: tuple[time, time] = SEND_WINDOW
    max_per_day: int = MAX_PER_CLIENT_PER_DAY
    max_per_week: int = MAX_PER_CLIENT_PER_WEEK
    kf_rate_per_min: int = KF_RATE_PER_MIN
    template_batch: int = TEMPLATE_BATCH
    template_rate_per_min: int = TEMPLATE_RATE_PER_MIN
    chunk: int = CHUNK

    @classmethod
    def from_settings(cls, settings: object | None) -> "ReminderPolicy":
        if settings is None:
            return cls()
        window = getattr(settings, "scrm_reminder_window", None)
        send_window = SEND_WINDOW
        if window:
            start, end = str(window).split("-")
            send_window = (time.fromisoformat(start), time.fromisoformat(end))
        return cls(
            send_window=send_window,
            max_per_day=int(getattr(settings, "scrm_reminder_max_per_day", None) or MAX_PER_CLIENT_PER_DAY),
            max_per_week=int(getattr(settings, "scrm_reminder_max_per_week", None) or MAX_PER_CLIENT_PER_WEEK),
            kf_rate_per_min=int(getattr(settings, "scrm_reminder_rate_per_min", None) or KF_RATE_PER_MIN),
        )
