"""Rules that run before the knowledge base: does the client ask for a person?"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import yaml

RULES_FILE = Path(__file__).with_name("triage.yaml")
_SPACE = re.compile(r"\s+")


@lru_cache
def _patterns(name: str) -> tuple[re.Pattern[str], ...]:
    data = yaml.safe_load(RULES_FILE.read_text(encoding="utf-8"))
    return tuple(re.compile(p) for p in data[name])


def asks_for_human(text: str) -> bool:
    """True when the client asks to talk to a person (转人工, 人工客服, 找真人, ...), not when they ask about the
    human service (人工客服几点上班, 人工客服电话是多少)."""
    compact = _SPACE.sub("", text)
    if not any(p.search(compact) for p in _patterns("human_request")):
        return False
    return not any(p.search(compact) for p in _patterns("service_question"))
