"""Rules that run before the knowledge base: does the client ask for a person?"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import yaml

RULES_FILE = Path(__file__).with_name("triage.yaml")
_SPACE = re.compile(r"\s+")


@lru_cache
def _human_patterns() -> tuple[re.Pattern[str], ...]:
    data = yaml.safe_load(RULES_FILE.read_text(encoding="utf-8"))
    return tuple(re.compile(p) for p in data["human_request"])


def asks_for_human(text: str) -> bool:
    """True when the client asks to talk to a person (转人工, 人工客服, 找真人, ...)."""
    compact = _SPACE.sub("", text)
    return any(p.search(compact) for p in _human_patterns())
