"""Error hierarchy. Adapters translate SDK errors into these at the boundary; one handler renders them."""

from __future__ import annotations


class BotError(Exception):
    status_code = 500

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status_code is not None:
            self.status_code = status_code


class ConfigError(BotError):
    """A required setting is missing or malformed; the message names the variable."""


class BadRequestError(BotError):
    status_code = 400


class ForbiddenError(BotError):
    status_code = 403


class NotFoundError(BotError):
    status_code = 404


class ConflictError(BotError):
    status_code = 409


class PayloadTooLargeError(BotError):
    status_code = 413


class WeComAPIError(BotError):
    """WeCom answered with a non-zero errcode (or could not be reached: errcode -1)."""

    status_code = 502

    def __init__(self, errcode: int, errmsg: str, *, api: str = "") -> None:
        super().__init__(f"WeCom {api or 'API'} error {errcode}: {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg
        self.api = api


class WeComTransientError(WeComAPIError):
    """A failure worth retrying: system busy, rate limited, network error."""


class WeComWindowClosedError(WeComAPIError):
    """kf/send_msg refused: outside the 48 h window or its 5 messages are used (95001/95007-like codes)."""


class LLMUnavailableError(BotError):
    status_code = 503


class ComplianceBlockedError(BotError):
    status_code = 422
