"""Screening: text in, `Screening(flagged, severity, hits)` out. Pure (no I/O, no DB) and fast.

    screen(text, lexicon=..., recent=[...], direction="out"|"in"|None, semantic=None) -> Screening

Layers, all on the normalised skeleton (compliance/normalize.py), spans reported in the ORIGINAL text:
1. literal terms and their variants: one Aho-Corasick pass;
2. regex patterns (paraphrases with gaps), never across a sentence end;
3. the pinyin layer (baoben, bao本, 宝本, bi zhang): a second Aho-Corasick pass over syllables; hits found only
   here are capped at `review`;
4. optionally, the semantic stage (compliance/semantic.py) for promises made without any keyword: `review`.

Each candidate hit then passes the compliant-context checks of its entry: allow strings that cover it (保本价),
same-sentence cues, negation cues (本产品不保本) unless the entry is a negation trap (不会亏), client-style
questions (保本吗), quoted mentions ('保本'这类字眼) and investor-education sentences (如果有人向您承诺稳赚不赔…).

`recent` is the sender's previous messages (oldest first): they are joined in front of `text`, so a phrase split
over two messages (能保 / 本的) is found; only hits that reach into `text` are reported, clipped to it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from compliance.lexicon import RANK, Entry, Lexicon, default_lexicon, max_severity
from compliance.lexicon import _applies as category_applies
from compliance.normalize import Normalized, is_han, is_latin, pinyin_tokens

Direction = Literal["out", "in"] | None


@dataclass(frozen=True, slots=True)
class ScreenHit:
    term: str
    category: str
    severity: str
    start: int
    end: int
    layer: str = "literal"  # literal | regex | pinyin | window | semantic | llm
    matched: str = ""  # the original text of the span
    score: float | None = None  # semantic similarity, when layer is semantic

    def to_json(self) -> dict[str, Any]:
        return {"term": self.term, "category": self.category, "severity": self.severity,
                "start": self.start, "end": self.end}


@dataclass(frozen=True, slots=True)
class Screening:
    text: str
    flagged: bool
    severity: str | None
    hits: tuple[ScreenHit, ...] = ()
    signals: frozenset[str] = field(default_factory=frozenset)
    lexicon_version: str = ""

    @property
    def categories(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(h.category for h in self.hits))

    def to_json(self) -> dict[str, Any]:
        """The `scrm compliance scan` output line (DESIGN.md §3)."""
        return {"text": self.text, "flagged": self.flagged, "severity": self.severity,
                "hits": [h.to_json() for h in self.hits]}


class SemanticStage(Protocol):
    """Finds promises made without a keyword. Returns hits in the coordinates of `text`."""

    def find(self, text: str, *, skip: Sequence[tuple[int, int]] = ()) -> list[ScreenHit]: ...


@dataclass(slots=True)
class _Cand:
    entry: Entry
    s: int  # skeleton span
    e: int
    layer: str


def screen(
    text: str,
    *,
    lexicon: Lexicon | None = None,
    recent: Sequence[str] = (),
    direction: Direction = None,
    semantic: SemanticStage | None = None,
) -> Screening:
    """Screen one text. direction: "out" (what we send), "in" (what a client sends) or None (both, as the CLI)."""
    lex = lexicon or default_lexicon()
    recent = [r for r in recent if r]
    joined = "\n".join([*recent, text]) if recent else text
    offset = len(joined) - len(text)
    norm = lex.normalizer.normalize(joined)
    cands = _candidates(lex, norm, direction)
    # longest match wins (per category), then compliant contexts: 预期收益率这个说法 clears 预期收益 too
    kept, cleared = [], []
    for c in _dedupe(cands):
        (cleared if _allowed(lex, norm, c, direction) else kept).append(c)
    hits: list[ScreenHit] = []
    for c in kept:
        start, end = norm.span(c.s, c.e)
        if end <= offset:
            continue  # entirely in an earlier message: screened when it was sent
        layer = c.layer
        if start < offset:
            start, layer = offset, "window"
        sev = c.entry.severity
        if layer == "pinyin" and RANK[sev] > RANK["review"]:
            sev = "review"
        hits.append(ScreenHit(term=c.entry.term, category=c.entry.category, severity=sev, start=start - offset,
                              end=end - offset, layer=layer, matched=text[start - offset:end - offset]))
    if semantic is not None and direction != "in":
        skip = [(h.start, h.end) for h in hits]
        # a sentence whose keyword was cleared as a warning or a quoted mention (如果有人说稳赚，那是骗局) is
        # compliant as a whole: the semantic stage must not flag it again for the same words
        for c in cleared:
            if _warning(lex, norm, c):
                start, end = norm.span(c.s, c.e)
                if end > offset:
                    skip.append((max(start, offset) - offset, end - offset))
        hits.extend(semantic.find(text, skip=skip))
    hits.sort(key=lambda h: (h.start, h.end, h.category))
    violations = [h for h in hits if _is_violation(lex, h.category, direction)]
    signals = frozenset(
        sig for h in hits if direction == "in" and (sig := lex.categories[h.category].signal if h.category in
                                                      lex.categories else None)
    )
    return Screening(
        text=text,
        flagged=bool(violations),
        severity=max_severity(h.severity for h in violations),
        hits=tuple(hits),
        signals=signals,
        lexicon_version=lex.version,
    )


def _applies(lex: Lexicon, category: str, direction: Direction) -> bool:
    return category_applies(lex.categories[category], direction)


def _is_violation(lex: Lexicon, category: str, direction: Direction) -> bool:
    cat = lex.categories.get(category)
    if cat is None:  # semantic / llm hits carry a lexicon category; unknown ones count
        return True
    if cat.signal_only:
        return False
    if direction == "in":
        return cat.direction in ("in", "any")
    if direction == "out":
        return cat.direction in ("out", "any")
    return True


# Candidates -----------------------------------------------------------------------------------------------------


def _candidates(lex: Lexicon, norm: Normalized, direction: Direction) -> list[_Cand]:
    skel = norm.skeleton
    out: list[_Cand] = []
    entries = lex.entries
    if not skel:
        return out
    literal_spans: set[tuple[int, int]] = set()
    if lex.literal_automaton is not None:
        for end, values in lex.literal_automaton.iter(skel):
            for eid, key in values:
                entry = entries[eid]
                if not _applies(lex, entry.category, direction):
                    continue
                s, e = end - len(key) + 1, end + 1
                if entry.latin_only and entry.latin_only[entry.keys.index(key)] and not _latin_bounded(norm, s, e):
                    continue
                if s > 0 and key[0].isascii() and key[0].isdigit() and skel[s - 1].isascii() and skel[s - 1].isdigit():
                    continue  # 0风险 inside 跌了30%，风险较大: the digit belongs to a longer number
                out.append(_Cand(entry, s, e, "literal"))
                literal_spans.add((s, e))
    for entry in lex.regex_for(direction):
        for m in entry.regex.finditer(skel):  # type: ignore[union-attr]
            s, e = m.span()
            if e > s and norm.sentence[s] == norm.sentence[e - 1]:
                out.append(_Cand(entry, s, e, "regex"))
    if lex.pinyin_automaton is not None and any(is_han(ch) or is_latin(ch) for ch in skel):
        out.extend(_pinyin_candidates(lex, norm, direction, literal_spans))
    return out


def _latin_bounded(norm: Normalized, s: int, e: int) -> bool:
    """A pure-Latin key (yzm, wzbp) must not sit inside a longer Latin word of the original text."""
    text = norm.original
    a, b = norm.span(s, e)
    before = text[a - 1] if a > 0 else ""
    after = text[b] if b < len(text) else ""
    return not (before.isascii() and before.isalpha()) and not (after.isascii() and after.isalpha())


def _pinyin_candidates(lex: Lexicon, norm: Normalized, direction: Direction, literal_spans: set) -> list[_Cand]:
    skel = norm.skeleton
    toks = pinyin_tokens(skel)
    out = []
    for end, eids in lex.pinyin_automaton.iter(toks.text):
        # the key is '|a|b|': it starts at a token's leading '|' and ends at the '|' after the last token
        for eid in eids:
            entry = lex.entries[eid]
            if not _applies(lex, entry.category, direction):
                continue
            key_len = _pinyin_key_len(toks.text, end, entry, lex)
            if key_len is None:
                continue
            t0 = toks.token_at_offset(end - key_len + 1)
            t1 = toks.token_at_offset(end - 1)
            s, e = toks.starts[t0], toks.ends[t1]
            if (s, e) in literal_spans:
                continue
            if not _pinyin_acceptable(norm, toks, t0, t1, s, e, entry):
                continue
            out.append(_Cand(entry, s, e, "pinyin"))
    return out


def _pinyin_key_len(text: str, end: int, entry: Entry, lex: Lexicon) -> int | None:
    """Length of the pinyin key of `entry` that ends at `end` (entries may have several readings)."""
    from compliance.normalize import han_pinyin, phrase_pinyin, pinyin_key

    for k in entry.keys:
        if not all(is_han(ch) for ch in k):
            continue
        for syls in (tuple(han_pinyin(ch) for ch in k), tuple(phrase_pinyin(k))):
            key = pinyin_key(list(syls))
            if text.startswith(key, end - len(key) + 1):
                return len(key)
    return None


def _pinyin_acceptable(norm: Normalized, toks: Any, t0: int, t1: int, s: int, e: int, entry: Entry) -> bool:
    span = norm.skeleton[s:e]
    if any(toks.latin[t] for t in range(t0, t1 + 1)):
        # romanisation: every Latin run the match touches must read as pinyin throughout (not an English word)
        return all(toks.run_ok[t] for t in range(t0, t1 + 1))
    # Han homophones (宝本 for 保本): only for entries that allow them, at least half the characters must be the
    # term's own, and the match must not cut through a word (支付宝|本月 is not 保本).
    if not entry.homophone:
        return False
    best = max(sum(1 for a, b in zip(span, k, strict=False) if a == b) for k in entry.keys if len(k) == len(span)) \
        if any(len(k) == len(span) for k in entry.keys) else 0
    if best * 2 < len(span):
        return False
    return _word_aligned(norm.skeleton, s, e)


def _word_aligned(skel: str, s: int, e: int) -> bool:
    """True when jieba's segmentation of the surrounding text has word boundaries at s and e."""
    from compliance.normalize import is_han as _han

    lo, hi = max(0, s - 6), min(len(skel), e + 6)
    while lo < s and not _han(skel[lo]):
        lo += 1
    segment = skel[lo:hi]
    bounds = {lo}
    pos = lo
    for word in _jieba().lcut(segment, HMM=False):
        pos += len(word)
        bounds.add(pos)
    return s in bounds and e in bounds


_JIEBA: Any = None


def _jieba() -> Any:
    global _JIEBA
    if _JIEBA is None:
        import logging

        import jieba

        jieba.setLogLevel(logging.WARNING)
        jieba.initialize()
        _JIEBA = jieba
    return _JIEBA


# Compliant contexts ---------------------------------------------------------------------------------------------


def _allowed(lex: Lexicon, norm: Normalized, c: _Cand, direction: Direction) -> bool:
    skel = norm.skeleton
    entry = c.entry
    cat = lex.categories[entry.category]
    s, e = c.s, c.e
    for a in entry.allow_cover:
        lo = max(0, e - len(a))
        i = skel.find(a, lo, s + len(a))
        while i != -1 and i <= s:
            if i + len(a) >= e:
                return True
            i = skel.find(a, i + 1, s + len(a))
    sent_lo, sent_hi = norm.sentence_bounds(s)
    sentence = skel[sent_lo:max(sent_hi, e)]
    for a in entry.allow_cues:
        if entry.kind == "regex" and _overlaps(skel, a, s, e):
            return True
        if a in sentence:
            return True
    if direction == "in" and cat.direction == "out":
        return False  # a client mentioning it at all (asking, negating) is the signal
    if entry.trap:
        if any(skel.endswith(t, 0, s) for t in lex.trap_negators):
            return True
    elif entry.neg and _negated(lex, norm, s):
        return True
    if cat.question and _question(lex, norm, s, e):
        return True
    if _mentioned(lex, norm, s, e, sentence):
        return True
    if cat.education and any(cue in sentence for cue in lex.education_cues):
        return True
    if direction != "in" and cat.context_allow and any(cue in sentence for cue in cat.context_allow):
        return True
    return False


def _warning(lex: Lexicon, norm: Normalized, c: _Cand) -> bool:
    """The candidate was cleared because its sentence warns about it or quotes it, not merely negates it."""
    sent_lo, sent_hi = norm.sentence_bounds(c.s)
    sentence = norm.skeleton[sent_lo:max(sent_hi, c.e)]
    cat = lex.categories[c.entry.category]
    if cat.education and any(cue in sentence for cue in lex.education_cues):
        return True
    return _mentioned(lex, norm, c.s, c.e, sentence)


def _overlaps(skel: str, a: str, s: int, e: int) -> bool:
    i = skel.find(a, max(0, s - len(a) + 1), e + len(a) - 1)
    return i != -1 and i < e and i + len(a) > s


def _negated(lex: Lexicon, norm: Normalized, s: int) -> bool:
    """A negation cue before the hit in the same clause: 不/非 adjacent, longer cues within the window."""
    if s == 0:
        return False
    skel = norm.skeleton
    clause_lo, _ = norm.clause_bounds(s - 1)
    if norm.clause[s - 1] != norm.clause[s]:
        return False
    if skel[s - 1] in lex.negation_single:
        return True
    window = lex.spec.negation_window
    region = skel[max(clause_lo, s - window - 4):s]
    for cue in lex.negation_cues:
        i = region.rfind(cue)
        if i != -1 and len(region) - (i + len(cue)) <= window:
            return True
    clause = skel[clause_lo:s]
    return any(p.search(clause) for p in lex.negation_scopes)


def _question(lex: Lexicon, norm: Normalized, s: int, e: int) -> bool:
    """A client-style question about the term: 保本吗 / 是不是保本的 / 会不会亏."""
    skel = norm.skeleton
    clause_lo, clause_hi = norm.clause_bounds(s)
    tail = skel[e:min(clause_hi, e + 3)]
    j = 0
    while j < len(tail) and tail[j] in "的呢啊呀":
        j += 1
    if j < len(tail) and tail[j] in lex.question_after:
        return True
    head = skel[max(clause_lo, s - 4):min(clause_hi, s + 3)]
    base = max(clause_lo, s - 4)
    for cue in lex.question_before:
        i = head.find(cue)
        while i != -1:
            if base + i <= s and base + i + len(cue) <= s + 2 and base + i + len(cue) >= s - 1:
                return True
            i = head.find(cue, i + 1)
    return False


def _mentioned(lex: Lexicon, norm: Normalized, s: int, e: int, sentence: str) -> bool:
    """A quoted term in a sentence that talks ABOUT words ('零风险''保本'这类字眼), or a term followed by
    这个说法 / 等字眼: a mention, not a claim."""
    if any(norm.skeleton.startswith(a, e) for a in lex.mention_after):
        return True
    if not lex.quote_pairs or not any(cue in sentence for cue in lex.mention_cues):
        return False
    text = norm.original
    a, b = norm.span(s, e)
    lo = a
    while lo > 0 and text[lo - 1] not in _ENDS:
        lo -= 1
    hi = b
    while hi < len(text) and text[hi] not in _ENDS:
        hi += 1
    before, after = text[lo:a], text[b:hi]
    for open_, close in lex.quote_pairs.items():
        if open_ == close:
            if before.count(open_) % 2 == 1 and open_ in after:
                return True
        else:
            i = before.rfind(open_)
            if i != -1 and close not in before[i + 1:] and close in after:
                return True
    return False


_ENDS = frozenset("。！？!?\n")


def _dedupe(cands: list[_Cand]) -> list[_Cand]:
    """Per category keep the longest hits: drop hits inside another hit of the same category, and pinyin hits
    that overlap a literal/regex hit of the same category."""
    cands.sort(key=lambda c: (c.s, -(c.e - c.s), -RANK[c.entry.severity]))
    kept: list[_Cand] = []
    for c in cands:
        dup = False
        for k in kept:
            if k.entry.category != c.entry.category:
                continue
            if k.s <= c.s and c.e <= k.e:
                dup = True
                break
            if c.layer == "pinyin" and c.s < k.e and k.s < c.e:
                dup = True
                break
        if not dup:
            kept.append(c)
    return kept


def screen_many(texts: Sequence[str], **kwargs: Any) -> list[Screening]:
    """Screen several independent texts."""
    return [screen(t, **kwargs) for t in texts]
