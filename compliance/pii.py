"""PII masking for logs and for any text sent to an LLM: ID numbers, bank cards, phone numbers, e-mail addresses.

    mask("身份证110101199003071234，手机13812345678") -> "身份证110***********1234，手机138****5678"

Digits may be grouped with spaces or dashes (6222 0212 3456 7890 123); full-width digits are recognised.
"""

from __future__ import annotations

import logging
import re

_SEP = r"[ \-\u3000]?"
# 18-digit resident ID (last char may be X), and the old 15-digit form.
_ID18 = re.compile(r"(?<![0-9０-９])([1-9１-９](?:[0-9０-９]" + _SEP + r"){16}[0-9０-９Xx])(?![0-9０-９A-Za-z])")
_ID15 = re.compile(r"(?<![0-9０-９])([1-9][0-9]{14})(?![0-9A-Za-z])")
# Bank cards: 16-19 digits, optionally grouped.
_CARD = re.compile(r"(?<![0-9０-９])((?:[0-9０-９]" + _SEP + r"){15,18}[0-9０-９])(?![0-9０-９])")
# Mainland mobile numbers, optional +86, optional separators (138 1234 5678).
_MOBILE = re.compile(
    r"(?<![0-9０-９])((?:\+?86" + _SEP + r")?1[3-9][0-9]" + _SEP + r"[0-9]{4}" + _SEP + r"[0-9]{4})(?![0-9０-９])"
)
# Landlines: 010-12345678, 0755 8888 6666.
_LANDLINE = re.compile(r"(?<![0-9])(0[1-9][0-9]{1,2}[ \-][0-9]{7,8})(?![0-9])")
_EMAIL = re.compile(r"([A-Za-z0-9._%+-]{1,64})@([A-Za-z0-9.-]+\.[A-Za-z]{2,})")


def _keep(value: str, head: int, tail: int) -> str:
    digits = [i for i, ch in enumerate(value) if ch.isalnum()]
    keep = set(digits[:head]) | set(digits[len(digits) - tail:])
    return "".join(ch if (i in keep or not ch.isalnum()) else "*" for i, ch in enumerate(value))


def mask(text: str) -> str:
    """The text with ID numbers, bank cards, phone numbers and e-mail addresses masked."""
    if not text:
        return text
    text = _ID18.sub(lambda m: _keep(m.group(1), 3, 4), text)
    text = _ID15.sub(lambda m: _keep(m.group(1), 3, 4), text)
    text = _CARD.sub(lambda m: _keep(m.group(1), 0, 4), text)
    text = _MOBILE.sub(lambda m: _mask_mobile(m.group(1)), text)
    text = _LANDLINE.sub(lambda m: _keep(m.group(1), 3, 2), text)
    text = _EMAIL.sub(lambda m: m.group(1)[:1] + "***@" + m.group(2), text)
    return text


def _mask_mobile(value: str) -> str:
    digits = [i for i, ch in enumerate(value) if ch.isdigit()]
    core = digits[-11:]  # the 11-digit number after any +86
    hide = set(core[3:7])
    return "".join("*" if i in hide else ch for i, ch in enumerate(value))


class PIIMaskingFilter(logging.Filter):
    """A logging filter that masks PII in the formatted message (attach to handlers that might see user text)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - never break logging
            return True
        masked = mask(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True
