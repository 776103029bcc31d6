"""Escalation policy: SLA timers, working hours, handover mode. Defaults until they become settings.

Proposed settings (bot/config.py, owned by the lead): SCRM_SLA_FIRST_RESPONSE_MIN, SCRM_SLA_RENOTIFY_MIN,
SCRM_SLA_MAX_NOTIFY, SCRM_SLA_MAX_REASSIGN, SCRM_WORKING_HOURS, SCRM_KF_TRANS_ON_ESCALATE. `Policy.from_settings`
reads them when they exist and falls back to these defaults.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

FIRST_RESPONSE = timedelta(minutes=15)  # first advisor reply due after assignment (in the advisor's working time)
RENOTIFY_AFTER = timedelta(minutes=5)  # unclaimed: remind the same advisor after this long
MAX_NOTIFY = 2  # notifications to one advisor (first + re-notify) before the escalation moves on
MAX_REASSIGN = 1  # reassignments to other advisors before a supervisor gets it
# Firm working hours for advisors without their own: on trading days (and ordinary weekdays of unknown years).
DEFAULT_WORKING_HOURS = ("09:00-17:30",)
# False: the kf session stays with the API while the advisor replies from the console (kf/send_msg works only in
# service_state 0/1); the advisor may take the chat into WeCom (trans -> 3) from the console. True: trans at once.
KF_TRANS_ON_ESCALATE = False


@dataclass(frozen=True)
class Policy:
    first_response: timedelta = FIRST_RESPONSE
    renotify_after: timedelta = RENOTIFY_AFTER
    max_notify: int = MAX_NOTIFY
    max_reassign: int = MAX_REASSIGN
    default_working_hours: tuple[str, ...] = DEFAULT_WORKING_HOURS
    kf_trans_on_escalate: bool = KF_TRANS_ON_ESCALATE

    @classmethod
    def from_settings(cls, settings: object | None) -> "Policy":
        """Policy from settings when the proposed fields exist, else the defaults above."""
        if settings is None:
            return cls()

        def minutes(name: str, default: timedelta) -> timedelta:
            value = getattr(settings, name, None)
            return timedelta(minutes=float(value)) if value is not None else default

        hours = getattr(settings, "scrm_working_hours", None)
        return cls(
            first_response=minutes("scrm_sla_first_response_min", FIRST_RESPONSE),
            renotify_after=minutes("scrm_sla_renotify_min", RENOTIFY_AFTER),
            max_notify=int(getattr(settings, "scrm_sla_max_notify", None) or MAX_NOTIFY),
            max_reassign=int(getattr(settings, "scrm_sla_max_reassign", None) or MAX_REASSIGN),
            default_working_hours=tuple(str(hours).split(",")) if hours else DEFAULT_WORKING_HOURS,
            kf_trans_on_escalate=bool(getattr(settings, "scrm_kf_trans_on_escalate", KF_TRANS_ON_ESCALATE)),
        )


DEFAULT_POLICY = Policy()
