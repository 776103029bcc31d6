"""Suitability: a product's risk level (R1-R5) against the client's risk level (C1-C5) and assessment validity.

Industry matching (《证券期货投资者适当性管理办法》): C1 -> R1, C2 -> up to R2, ..., C5 -> up to R5; the lowest class
(C1, 保守型) may only buy R1. A client without a valid assessment (missing or expired) may not be recommended any
product with a risk level.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

_LEVEL = re.compile(r"^\s*([CR])\s*([1-5])\s*$", re.IGNORECASE)
_R_IN_TEXT = re.compile(r"(?<![A-Za-z0-9])R\s?([1-5])(?![0-9])", re.IGNORECASE)
# A sentence that recommends or promotes a product (not a rule statement like "R4 高于您的 C3，暂不支持购买").
_PROMOTE = re.compile(r"推荐|适合您|适合你|可以买|可以考虑|可以购买这|建议(您|你)?(购买|配置|买入|买)|值得|不错|入手|抓紧|赶紧|机会|上车|认购吧")
_DENY = re.compile(r"不支持|不能购买|不可购买|不得|暂不|无法购买|不建议|高于您|超出您|不匹配")
_SENT = re.compile(r"[^。！？!?；;\n]+")


@dataclass(frozen=True)
class Suitability:
    ok: bool
    code: str  # ok | above_level | assessment_missing | assessment_expired | no_products
    client_level: str | None
    product_levels: tuple[str, ...]
    offending: tuple[str, ...] = ()

    @property
    def max_allowed(self) -> str | None:
        n = level_number(self.client_level, "C")
        return f"R{n}" if n else None


def level_number(value: str | None, kind: str) -> int | None:
    """2 for 'C2' (kind 'C') or 'r2' (kind 'R'); None when missing or malformed."""
    if not value:
        return None
    m = _LEVEL.match(unicodedata.normalize("NFKC", value))
    if not m or m.group(1).upper() != kind:
        return None
    return int(m.group(2))


def check(
    *, client_level: str | None, assessment_expires: date | None, product_levels: Iterable[str], today: date
) -> Suitability:
    """May a product of these risk levels be recommended to this client today?"""
    levels = tuple(dict.fromkeys(f"R{n}" for p in product_levels if (n := level_number(p, "R"))))
    client = f"C{n}" if (n := level_number(client_level, "C")) else None
    if not levels:
        return Suitability(True, "no_products", client, levels)
    if client is None:
        return Suitability(False, "assessment_missing", None, levels, levels)
    if assessment_expires is not None and assessment_expires < today:
        return Suitability(False, "assessment_expired", client, levels, levels)
    allowed = int(client[1])
    offending = tuple(p for p in levels if int(p[1]) > allowed)
    if offending:
        return Suitability(False, "above_level", client, levels, offending)
    return Suitability(True, "ok", client, levels)


def promotes(text: str) -> bool:
    """Whether any sentence of the text recommends or promotes (推荐 / 可以考虑 / 值得 ...) rather than states a rule."""
    text = unicodedata.normalize("NFKC", text)
    return any(_PROMOTE.search(m.group()) and not _DENY.search(m.group()) for m in _SENT.finditer(text))


def promoted_levels(text: str) -> tuple[str, ...]:
    """Risk levels of products a text recommends or promotes (R4 in '这只R4基金不错，推荐您'); rule statements and
    refusals ('R4 高于您的 C3，系统暂不支持购买') do not count."""
    text = unicodedata.normalize("NFKC", text)
    out: list[str] = []
    for m in _SENT.finditer(text):
        sentence = m.group()
        if not _PROMOTE.search(sentence) or _DENY.search(sentence):
            continue
        out.extend(f"R{x}" for x in _R_IN_TEXT.findall(sentence))
        if "中高风险" in sentence:
            out.append("R4")
        elif "高风险" in sentence:
            out.append("R5")
    return tuple(dict.fromkeys(out))
