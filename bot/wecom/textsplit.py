"""Fit text into WeCom's byte limits (kf/send_msg and message/send text: 2048 bytes of UTF-8).

Cuts fall on a paragraph, line or sentence end when one is near enough, else on a clause or space, else between
characters: never inside a multi-byte character, and never between a character and the combining mark, variation
selector or zero-width joiner that belongs to it, nor between the two halves of a flag.
"""

from __future__ import annotations

import unicodedata

WECOM_TEXT_MAX_BYTES = 2048

# Boundary classes, best first. A cut goes right after the matched text (closing quotes stay with their sentence).
_SENTENCE_END = "。！？!?…"
_CLOSERS = "”’」』）)】》\"'"
_CLAUSE_END = "；;：:，,、"
# A cut at a boundary is taken only if it keeps at least this share of the allowed bytes in the piece.
_MIN_FILL = 0.5


def utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


def _glued(ch: str) -> bool:
    """True for a character that must stay with the one before it."""
    return (
        unicodedata.combining(ch) != 0
        or ch in "\u200d\ufe0e\ufe0f"
        or "\U0001f3fb" <= ch <= "\U0001f3ff"  # skin tone modifiers
        or "\ufe00" <= ch <= "\ufe0f"
        or "\U000e0020" <= ch <= "\U000e007f"  # tag characters (flag sequences)
    )


def _regional(ch: str) -> bool:
    return "\U0001f1e6" <= ch <= "\U0001f1ff"


def _inside_flag(text: str, cut: int) -> bool:
    """True when cutting before text[cut] would separate the two regional indicators of a flag."""
    if not _regional(text[cut]):
        return False
    run = 0
    while cut - run - 1 >= 0 and _regional(text[cut - run - 1]):
        run += 1
    return run % 2 == 1


def _max_prefix(text: str, max_bytes: int) -> int:
    """The largest number of characters whose UTF-8 encoding fits in max_bytes, moved back off a glued sequence."""
    used = 0
    end = 0
    for ch in text:
        size = 1 if ch < "\x80" else 2 if ch < "\u0800" else 3 if ch < "\U00010000" else 4
        if used + size > max_bytes:
            break
        used += size
        end += 1
    if end < len(text):
        cut = end
        # Do not separate a character from its combining marks / ZWJ continuation.
        while cut > 0 and (_glued(text[cut]) or text[cut - 1] == "\u200d" or _inside_flag(text, cut)):
            cut -= 1
        if cut > 0:
            end = cut
    return end


def _boundary(text: str, limit: int, min_chars: int) -> int | None:
    """The best cut position in text[:limit] at or after min_chars, by boundary class."""
    window = text[:limit]
    candidates: list[int] = []
    para = window.rfind("\n\n")
    candidates.append(para + 2 if para >= 0 else -1)
    line = window.rfind("\n")
    candidates.append(line + 1 if line >= 0 else -1)
    for marks in (_SENTENCE_END, _CLAUSE_END):
        best = -1
        for i in range(len(window) - 1, -1, -1):
            if window[i] in marks:
                j = i + 1
                while j < len(window) and (window[j] in _CLOSERS or window[j] in marks):
                    j += 1
                best = j
                break
        candidates.append(best)
    space = max(window.rfind(" "), window.rfind("\t"), window.rfind("\u3000"))
    candidates.append(space + 1 if space >= 0 else -1)
    for pos in candidates:
        if pos >= max(min_chars, 1):
            return pos
    return None


def split_utf8(text: str, max_bytes: int = WECOM_TEXT_MAX_BYTES) -> list[str]:
    """Split text into pieces of at most max_bytes UTF-8 bytes each, preferring natural boundaries.

    Text that fits is returned unchanged as one piece; empty or blank text gives an empty list. Whitespace at the
    cuts is dropped, nothing else is.
    """
    if max_bytes < 4:
        raise ValueError("max_bytes must be at least 4 (one character of any size)")
    if not text or not text.strip():
        return []
    if utf8_len(text) <= max_bytes:
        return [text]
    pieces: list[str] = []
    rest = text.strip()
    while rest:
        if utf8_len(rest) <= max_bytes:
            pieces.append(rest)
            break
        limit = _max_prefix(rest, max_bytes)
        min_chars = _max_prefix(rest, int(max_bytes * _MIN_FILL))
        cut = _boundary(rest, limit, min_chars) or limit
        piece = rest[:cut].rstrip()
        if not piece:  # only whitespace before the cut: cut hard instead
            piece, cut = rest[:limit], limit
        pieces.append(piece)
        rest = rest[cut:].lstrip()
    return pieces


def shorten_utf8(text: str, max_bytes: int, suffix: str = "…") -> str:
    """Text unchanged if it fits in max_bytes; else cut (preferring a sentence end) and suffix appended, all within
    max_bytes."""
    if utf8_len(text) <= max_bytes:
        return text
    room = max_bytes - utf8_len(suffix)
    if room < 0:
        raise ValueError("the suffix alone is longer than max_bytes")
    limit = _max_prefix(text, room)
    min_chars = _max_prefix(text, int(room * _MIN_FILL))
    cut = _boundary(text, limit, min_chars) or limit
    head = text[:cut].rstrip()
    joiner = "\n" if suffix and head and utf8_len(head + "\n" + suffix) <= max_bytes and cut != limit else ""
    return head + joiner + suffix


def fit_utf8(
    text: str, max_parts: int, max_bytes: int = WECOM_TEXT_MAX_BYTES, suffix: str = "…"
) -> list[str]:
    """At most max_parts pieces of at most max_bytes each; when the text does not fit, the last piece is shortened
    and ends with suffix (so a reader sees that something was left out)."""
    if max_parts < 1:
        return []
    parts = split_utf8(text, max_bytes)
    if len(parts) <= max_parts:
        return parts
    keep = parts[: max_parts - 1]
    remainder = "\n".join(parts[max_parts - 1 :])
    return keep + [shorten_utf8(remainder, max_bytes, suffix)]
