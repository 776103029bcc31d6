"""Text normalisation for screening, with a map from every normalised character back to the original text.

    original --NFKC, casefold, strip tones, drop Cf/whitespace/P*/S*/M*, t2s, confusables--> skeleton

The skeleton keeps only letters and digits (Han, Latin, digits), so 保 本, 保*本, 保\u200b本, ｂａｏ and 穩賺 all reach the
matcher in one form. `index[i]` is the position in the original text of the character that produced `skeleton[i]`, so
a hit `[s, e)` in the skeleton is `[index[s], index[e-1] + 1)` in the original.

The pinyin layer (`pinyin_tokens`) turns a skeleton into syllables: Han characters by their (toneless, first) reading,
Latin runs segmented into pinyin syllables, so baoben, bao本, 宝本 and bi zhang meet the lexicon's terms there.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

# Sentence and clause boundaries in the ORIGINAL text (the skeleton has no punctuation left).
SENTENCE_ENDS = frozenset("。！？!?；;\n…")
CLAUSE_ENDS = SENTENCE_ENDS | frozenset("，,：:")  # 、 joins an enumeration: negation carries over
_KEEP = frozenset({"Lu", "Ll", "Lt", "Lm", "Lo", "Nd", "Nl", "No"})


@lru_cache(maxsize=1)
def _t2s_table() -> dict[str, str]:
    """Traditional -> simplified, character level, from OpenCC's own dictionary (first candidate)."""
    import opencc

    path = Path(opencc.__file__).parent / "dictionary" / "TSCharacters.txt"
    table: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        trad, _, cands = line.partition("\t")
        first = cands.split(" ")[0] if cands else ""
        if len(trad) == 1 and len(first) == 1 and first != trad:
            table[trad] = first
    return table


def is_han(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf" or "\U00020000" <= ch <= "\U0002ffff"


def is_latin(ch: str) -> bool:
    return "a" <= ch <= "z"


class Normalizer:
    """Folds text into a skeleton. One instance per lexicon (the confusables table is lexicon data); thread-safe
    after construction (the per-character cache only ever gains identical entries)."""

    def __init__(self, confusables: Mapping[str, str] | None = None) -> None:
        self.confusables = dict(confusables or {})
        self._t2s = _t2s_table()
        self._cache: dict[str, str] = {}

    def fold_char(self, ch: str) -> str:
        """What one original character becomes in the skeleton ('' = dropped)."""
        out = self._cache.get(ch)
        if out is not None:
            return out
        pieces = []
        for c in unicodedata.normalize("NFKC", ch).casefold():
            for d in unicodedata.normalize("NFKD", c) if not is_han(c) else c:
                if unicodedata.category(d) not in _KEEP:
                    continue  # whitespace, punctuation, symbols, emoji, format chars, combining marks (tones)
                d = self._t2s.get(d, d)
                pieces.append(self.confusables.get(d, d))
        out = "".join(pieces)
        self._cache[ch] = out
        return out

    def normalize(self, text: str) -> Normalized:
        """The skeleton of `text` with its index map, sentence and clause ids."""
        fold = self._cache.get
        chars: list[str] = []
        index: list[int] = []
        sentence: list[int] = []
        clause: list[int] = []
        sent_no = clause_no = 0
        for i, ch in enumerate(text):
            out = fold(ch)
            if out is None:
                out = self.fold_char(ch)
            if out:
                for c in out:
                    chars.append(c)
                    index.append(i)
                    sentence.append(sent_no)
                    clause.append(clause_no)
            elif ch in CLAUSE_ENDS:
                clause_no += 1
                if ch in SENTENCE_ENDS:
                    sent_no += 1
        return Normalized(text, "".join(chars), tuple(index), tuple(sentence), tuple(clause))

    def fold(self, text: str) -> str:
        """The skeleton only (for lexicon terms)."""
        return "".join(self.fold_char(ch) for ch in text)


@dataclass(frozen=True, slots=True)
class Normalized:
    original: str
    skeleton: str
    index: tuple[int, ...]
    sentence: tuple[int, ...]  # sentence number of each skeleton char
    clause: tuple[int, ...]  # clause number of each skeleton char

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The original-text span of skeleton span [start, end)."""
        return self.index[start], self.index[end - 1] + 1

    def sentence_bounds(self, pos: int) -> tuple[int, int]:
        """Skeleton [start, end) of the sentence holding skeleton position `pos`."""
        return _run_bounds(self.sentence, pos)

    def clause_bounds(self, pos: int) -> tuple[int, int]:
        return _run_bounds(self.clause, pos)


def _run_bounds(ids: tuple[int, ...], pos: int) -> tuple[int, int]:
    target = ids[pos]
    start = pos
    while start > 0 and ids[start - 1] == target:
        start -= 1
    end = pos + 1
    while end < len(ids) and ids[end] == target:
        end += 1
    return start, end


# Pinyin layer ---------------------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _pinyin_dict() -> dict[int, str]:
    from pypinyin.pinyin_dict import pinyin_dict

    return pinyin_dict


@lru_cache(maxsize=1)
def syllables() -> frozenset[str]:
    """Every toneless pinyin syllable (from pypinyin's own dictionary)."""
    out = set()
    for readings in _pinyin_dict().values():
        for r in readings.split(","):
            out.add(strip_tones(r))
    out.discard("")
    return frozenset(s for s in out if s.isascii() and s.isalpha())


def strip_tones(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)).replace("ü", "v")


@lru_cache(maxsize=65536)
def han_pinyin(ch: str) -> str:
    """The toneless first reading of one Han character ('' when unknown)."""
    readings = _pinyin_dict().get(ord(ch))
    return strip_tones(readings.split(",")[0]) if readings else ""


def phrase_pinyin(text: str) -> list[str]:
    """Toneless pinyin of a Han phrase with pypinyin's phrase-aware readings (还没 -> hai mei)."""
    from pypinyin import Style, lazy_pinyin

    return [strip_tones(p) for p in lazy_pinyin(text, style=Style.NORMAL)]


_MAX_SYL = 6


def segment_latin(run: str) -> list[str]:
    """Split a Latin run into pinyin syllables (fewest pieces); letters that fit no syllable stand alone."""
    syl = syllables()
    n = len(run)
    best: list[tuple[int, int] | None] = [None] * (n + 1)  # (pieces, bad letters) to reach i
    back = [0] * (n + 1)
    best[0] = (0, 0)
    for i in range(n):
        if best[i] is None:
            continue
        pieces, bad = best[i]
        for j in range(i + 1, min(n, i + _MAX_SYL) + 1):
            piece = run[i:j]
            ok = piece in syl
            if not ok and j != i + 1:
                continue
            cand = (pieces + 1, bad + (0 if ok else 1))
            if best[j] is None or (cand[1], cand[0]) < (best[j][1], best[j][0]):
                best[j] = cand
                back[j] = i
    out = []
    j = n
    while j > 0:
        i = back[j]
        out.append(run[i:j])
        j = i
    return out[::-1]


@dataclass(frozen=True, slots=True)
class PinyinTokens:
    """Syllables of a skeleton: `text` is '|syl|syl|...|' for Aho-Corasick; token k covers skeleton
    [starts[k], ends[k]); `offsets[k]` is where token k begins in `text`."""

    text: str
    starts: tuple[int, ...]
    ends: tuple[int, ...]
    offsets: tuple[int, ...]
    latin: tuple[bool, ...]
    run_ok: tuple[bool, ...]  # Latin tokens: their whole Latin run segments into real syllables

    def token_at_offset(self, offset: int) -> int:
        import bisect

        return bisect.bisect_right(self.offsets, offset) - 1


_LATIN_RUN = re.compile(r"[a-z]+")


def pinyin_tokens(skeleton: str) -> PinyinTokens:
    """The pinyin layer of a skeleton."""
    toks: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    latin: list[bool] = []
    run_ok: list[bool] = []
    i = 0
    n = len(skeleton)
    while i < n:
        ch = skeleton[i]
        if is_latin(ch):
            m = _LATIN_RUN.match(skeleton, i)
            assert m is not None
            pos = i
            pieces = segment_latin(m.group())
            ok = all(p in syllables() for p in pieces)
            for piece in pieces:
                run_ok.append(ok)
                toks.append(piece)
                starts.append(pos)
                ends.append(pos + len(piece))
                latin.append(True)
                pos += len(piece)
            i = m.end()
            continue
        toks.append(han_pinyin(ch) if is_han(ch) else ch)
        run_ok.append(True)
        starts.append(i)
        ends.append(i + 1)
        latin.append(False)
        i += 1
    offsets = []
    pos = 0
    for t in toks:
        offsets.append(pos)
        pos += len(t) + 1
    text = "|" + "|".join(toks) + "|" if toks else "|"
    return PinyinTokens(text, tuple(starts), tuple(ends), tuple(offsets), tuple(latin), tuple(run_ok))


def pinyin_key(syls: list[str]) -> str:
    return "|" + "|".join(syls) + "|"
