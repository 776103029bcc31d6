"""The lexicon: YAML data validated on load and compiled for screening (Aho-Corasick automata + regexes).

`load_lexicon(path)` parses and validates the file; any problem raises `LexiconError` naming the entry
(`categories.guarantee_return.entries[3] (term '保本'): ...`). `LexiconStore` reloads the file when it changes, so
compliance staff edit the YAML without a code change; a broken edit is logged and the last good lexicon stays in use.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import ahocorasick
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bot.errors import BotError
from compliance.normalize import Normalizer, han_pinyin, is_han, is_latin, phrase_pinyin, pinyin_key

log = logging.getLogger(__name__)

DEFAULT_PATH = Path(__file__).parent / "lexicon.yaml"


class LexiconError(BotError):
    """The lexicon file is invalid; the message names the entry and the problem."""


class Severity(StrEnum):
    warn = "warn"
    review = "review"
    block = "block"


RANK = {None: 0, "allow": 0, Severity.warn: 1, Severity.review: 2, Severity.block: 3, "warn": 1, "review": 2, "block": 3}


def max_severity(values: Any) -> str | None:
    best = None
    for v in values:
        if RANK[v] > RANK[best]:
            best = v
    return str(best) if best else None


# The file's schema ----------------------------------------------------------------------------------------------


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EntrySpec(_Spec):
    term: str = Field(min_length=1)
    match: Literal["literal", "regex"] = "literal"
    sev: Severity | None = None
    allow: list[str] = []
    trap: bool = False
    variants: list[str] = []
    pinyin: bool = True
    homophone: bool | None = None
    fp: Literal["low", "med", "high"] | None = None
    note: str | None = None

    @field_validator("allow", "variants")
    @classmethod
    def _non_empty(cls, values: list[str]) -> list[str]:
        if any(not isinstance(v, str) or not v.strip() for v in values):
            raise ValueError("empty string in list")
        return values


class CategorySpec(_Spec):
    name_zh: str
    severity: Severity
    direction: Literal["out", "in", "any"]
    signal: str | None = None
    signal_only: bool = False
    basis: list[str] = []
    rewrite_hint: str | None = None
    safe_reply: str | None = None
    context_allow: list[str] = []
    education: bool = False
    question: bool = False
    action: str | None = None
    entries: list[EntrySpec] = Field(min_length=1)


class QuestionSpec(_Spec):
    before: list[str] = []
    after: list[str] = []


class MentionSpec(_Spec):
    quotes: list[str]
    cues: list[str]
    after: list[str] = []  # a term directly followed by one of these is talked about (预期收益率这个说法)

    @field_validator("quotes")
    @classmethod
    def _pairs(cls, values: list[str]) -> list[str]:
        for v in values:
            if len(v) != 2:
                raise ValueError(f"quote pair {v!r} must be exactly two characters (open, close)")
        return values


class WindowSpec(_Spec):
    messages: int = Field(default=3, ge=1, le=20)
    seconds: int = Field(default=120, ge=1)


class RegulationSpec(_Spec):
    name: str
    points: str = ""


class LexiconSpec(_Spec):
    version: str = Field(min_length=1)
    schema_version: Literal[1]
    negation_cues: list[str] = []
    negation_single: list[str] = []
    negation_window: int = Field(default=6, ge=0, le=20)
    negation_scopes: list[str] = []
    trap_negators: list[str] = []
    question: QuestionSpec = QuestionSpec()
    mention: MentionSpec
    education_cues: list[str] = []
    confusables: dict[str, str] = {}
    digit_lookalikes: dict[str, list[str]] = {}
    sentence_window: WindowSpec = WindowSpec()
    regulations: dict[str, RegulationSpec] = {}
    categories: dict[str, CategorySpec] = Field(min_length=1)

    @field_validator("negation_single")
    @classmethod
    def _single(cls, values: list[str]) -> list[str]:
        for v in values:
            if len(v) != 1:
                raise ValueError(f"{v!r} is not a single character")
        return values

    @field_validator("confusables")
    @classmethod
    def _confusables(cls, values: dict[str, str]) -> dict[str, str]:
        for k, v in values.items():
            if len(k) != 1 or len(v) != 1:
                raise ValueError(f"confusable {k!r} -> {v!r}: both sides must be single characters")
        return values


# Compiled form --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Category:
    name: str
    name_zh: str
    severity: str
    direction: str
    signal: str | None
    signal_only: bool
    basis: tuple[str, ...]
    rewrite_hint: str | None
    safe_reply: str | None
    context_allow: tuple[str, ...]
    education: bool
    question: bool


@dataclass(frozen=True)
class Entry:
    id: int
    category: str
    term: str  # as written in the file (reported in hits)
    kind: str  # literal | regex
    severity: str
    keys: tuple[str, ...]  # normalised literal spellings (term + variants + digit look-alikes)
    regex: re.Pattern[str] | None
    allow_cover: tuple[str, ...]  # normalised allow strings that contain the term: must cover the hit
    allow_cues: tuple[str, ...]  # normalised same-sentence cues (regex entries: also overlap)
    neg: bool
    trap: bool
    latin_only: tuple[bool, ...]  # per key: a pure Latin key needs Latin word boundaries in the original
    homophone: bool = False  # Han homophones via the pinyin layer


@dataclass
class Lexicon:
    """A validated, compiled lexicon. Immutable after `compile`; safe to share between threads."""

    spec: LexiconSpec
    version: str
    path: str
    normalizer: Normalizer
    categories: dict[str, Category]
    entries: list[Entry]
    literal_automaton: Any = None
    pinyin_automaton: Any = None
    regex_entries: tuple[Entry, ...] = ()
    negation_cues: tuple[str, ...] = ()
    negation_single: frozenset[str] = frozenset()
    negation_scopes: tuple[re.Pattern[str], ...] = ()
    trap_negators: tuple[str, ...] = ()
    question_before: tuple[str, ...] = ()
    question_after: frozenset[str] = frozenset()
    mention_cues: tuple[str, ...] = ()
    mention_after: tuple[str, ...] = ()
    quote_pairs: dict[str, str] = field(default_factory=dict)
    education_cues: tuple[str, ...] = ()
    loaded_at: float = 0.0

    def category(self, name: str) -> Category:
        return self.categories[name]

    def regex_for(self, direction: str | None) -> tuple[Entry, ...]:
        """The regex entries that apply to texts of a direction (cached)."""
        cache = self.__dict__.setdefault("_regex_cache", {})
        if direction not in cache:
            cache[direction] = tuple(e for e in self.regex_entries if _applies(self.categories[e.category], direction))
        return cache[direction]

    def summary(self) -> dict[str, Any]:
        """The lexicon as the compliance console shows it."""
        return {
            "version": self.version,
            "path": self.path,
            "categories": [
                {
                    "name": c.name,
                    "name_zh": c.name_zh,
                    "severity": c.severity,
                    "direction": c.direction,
                    "signal": c.signal,
                    "signal_only": c.signal_only,
                    "rewrite_hint": c.rewrite_hint,
                    "basis": [
                        {"id": b, "name": self.spec.regulations[b].name} for b in c.basis if b in self.spec.regulations
                    ],
                    "entries": [
                        {"term": e.term, "match": e.kind, "severity": e.severity, "trap": e.trap}
                        for e in self.entries
                        if e.category == c.name
                    ],
                }
                for c in self.categories.values()
            ],
        }


def _applies(cat: Category, direction: str | None) -> bool:
    """Does a category screen texts of this direction? ("in" screens everything: outbound terms in a client's text
    become signals.)"""
    if direction == "out":
        return cat.direction in ("out", "any") and not cat.signal_only
    if direction == "in":
        return True
    return not cat.signal_only


def _entry_label(raw: dict, loc: tuple) -> str:
    """'categories.X.entries[3] (term '保本')' for a pydantic error location."""
    parts: list[str] = []
    node: Any = raw
    term = None
    for item in loc:
        if isinstance(item, int):
            parts[-1] = f"{parts[-1]}[{item}]" if parts else f"[{item}]"
        else:
            parts.append(str(item))
        try:
            node = node[item]
        except (KeyError, IndexError, TypeError):
            node = None
        if isinstance(node, dict) and "term" in node:
            term = node["term"]
            break
    label = ".".join(parts)
    return f"{label} (term {term!r})" if term is not None else label


def parse_spec(text: str, *, source: str = "lexicon") -> LexiconSpec:
    """Parse and validate the YAML text of a lexicon."""
    try:
        raw = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        raise LexiconError(f"{source}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise LexiconError(f"{source}: the top level must be a mapping")
    try:
        spec = LexiconSpec.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            label = _entry_label(raw, loc)
            field_name = str(loc[-1]) if loc and not isinstance(loc[-1], int) else ""
            prefix = f"{field_name}: " if field_name and not label.endswith(field_name) else ""
            problems.append(f"{label}: {prefix}{err['msg'].removeprefix('Value error, ')}")
        raise LexiconError(f"{source}: " + "; ".join(problems)) from None
    _check_semantics(spec, source)
    return spec


def _check_semantics(spec: LexiconSpec, source: str) -> None:
    for i, pattern in enumerate(spec.negation_scopes):
        try:
            re.compile(pattern)
        except re.error as exc:
            raise LexiconError(f"{source}: negation_scopes[{i}]: invalid regex: {exc}") from None
    for cname, cat in spec.categories.items():
        for b in cat.basis:
            if b not in spec.regulations:
                raise LexiconError(f"{source}: categories.{cname}.basis: unknown regulation id {b!r}")
        for i, e in enumerate(cat.entries):
            label = f"categories.{cname}.entries[{i}] (term {e.term!r})"
            if e.match == "regex":
                try:
                    pattern = re.compile(e.term)
                except re.error as exc:
                    raise LexiconError(f"{source}: {label}: invalid regex: {exc}") from None
                if pattern.match(""):
                    raise LexiconError(f"{source}: {label}: regex matches the empty string")
            if e.trap and "@neg" in e.allow:
                raise LexiconError(f"{source}: {label}: a trap entry cannot also allow '@neg'")


def compile_lexicon(spec: LexiconSpec, *, version_hash: str = "", path: str = "") -> Lexicon:
    """Build the automata and the compiled entries of a validated spec."""
    norm = Normalizer(spec.confusables)
    fold = norm.fold
    categories = {
        name: Category(
            name=name,
            name_zh=c.name_zh,
            severity=str(c.severity),
            direction=c.direction,
            signal=c.signal,
            signal_only=c.signal_only,
            basis=tuple(c.basis),
            rewrite_hint=c.rewrite_hint,
            safe_reply=c.safe_reply,
            context_allow=tuple(fold(a) for a in c.context_allow),
            education=c.education,
            question=c.question,
        )
        for name, c in spec.categories.items()
    }
    entries: list[Entry] = []
    literal = ahocorasick.Automaton()
    pinyin = ahocorasick.Automaton()
    literal_values: dict[str, list[tuple[int, str]]] = {}
    pinyin_values: dict[str, list[int]] = {}
    for cname, c in spec.categories.items():
        for i, e in enumerate(c.entries):
            label = f"categories.{cname}.entries[{i}] (term {e.term!r})"
            eid = len(entries)
            allow = [a for a in e.allow if a != "@neg"]
            if e.match == "literal":
                keys = _expand_lookalikes([fold(e.term), *(fold(v) for v in e.variants)], spec.digit_lookalikes, fold)
                if not keys[0]:
                    raise LexiconError(f"{path or 'lexicon'}: {label}: the term is empty after normalisation")
                cover = tuple(fold(a) for a in allow if any(k and k in fold(a) for k in keys))
                cues = tuple(fold(a) for a in allow if fold(a) not in cover)
                regex = None
            else:
                keys = tuple(fold(v) for v in e.variants)
                cover = ()
                cues = tuple(fold(a) for a in allow)
                regex = re.compile(e.term)
            entry = Entry(
                id=eid,
                category=cname,
                term=e.term,
                kind=e.match,
                severity=str(e.sev or c.severity),
                keys=tuple(k for k in keys if k),
                regex=regex,
                allow_cover=cover,
                allow_cues=tuple(x for x in cues if x),
                neg="@neg" in e.allow,
                trap=e.trap,
                latin_only=tuple(bool(k) and all(is_latin(ch) for ch in k) for k in keys if k),
                homophone=e.homophone if e.homophone is not None else len(fold(e.term)) >= 3,
            )
            entries.append(entry)
            for k in entry.keys:
                literal_values.setdefault(k, []).append((eid, k))
            if e.match == "literal" and e.pinyin:
                for k in entry.keys:
                    if sum(1 for ch in k if is_han(ch)) >= 2 and all(is_han(ch) for ch in k):
                        for syls in {tuple(han_pinyin(ch) for ch in k), tuple(phrase_pinyin(k))}:
                            if all(syls):
                                pinyin_values.setdefault(pinyin_key(list(syls)), []).append(eid)
    for k, v in literal_values.items():
        literal.add_word(k, tuple(v))
    for k, v in pinyin_values.items():
        pinyin.add_word(k, tuple(sorted(set(v))))
    if literal_values:
        literal.make_automaton()
    if pinyin_values:
        pinyin.make_automaton()
    version = spec.version + (f"+{version_hash}" if version_hash else "")
    quotes = {}
    for pair in spec.mention.quotes:
        quotes[pair[0]] = pair[1]
    return Lexicon(
        spec=spec,
        version=version,
        path=path,
        normalizer=norm,
        categories=categories,
        entries=entries,
        literal_automaton=literal if literal_values else None,
        pinyin_automaton=pinyin if pinyin_values else None,
        regex_entries=tuple(e for e in entries if e.regex is not None),
        negation_cues=tuple(sorted({fold(c) for c in spec.negation_cues}, key=len, reverse=True)),
        negation_single=frozenset(fold(c) for c in spec.negation_single),
        negation_scopes=tuple(re.compile(p) for p in spec.negation_scopes),
        trap_negators=tuple(fold(c) for c in spec.trap_negators),
        question_before=tuple(fold(c) for c in spec.question.before),
        question_after=frozenset(fold(c) for c in spec.question.after),
        mention_cues=tuple(fold(c) for c in spec.mention.cues),
        mention_after=tuple(fold(c) for c in spec.mention.after),
        quote_pairs=quotes,
        education_cues=tuple(fold(c) for c in spec.education_cues),
        loaded_at=time.time(),
    )


def _expand_lookalikes(keys: list[str], table: dict[str, list[str]], fold: Any) -> list[str]:
    out = list(keys)
    for k in keys:
        for canon, alts in table.items():
            canon_f = fold(canon)
            if canon_f and canon_f in k:
                for alt in alts:
                    out.append(k.replace(canon_f, fold(alt)))
    return list(dict.fromkeys(out))


def load_lexicon(path: str | Path | None = None) -> Lexicon:
    """Load, validate and compile a lexicon file (the packaged compliance/lexicon.yaml by default)."""
    p = Path(path) if path else DEFAULT_PATH
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise LexiconError(f"cannot read lexicon {p}: {exc}") from None
    spec = parse_spec(data.decode("utf-8"), source=p.name)
    return compile_lexicon(spec, version_hash=hashlib.sha256(data).hexdigest()[:8], path=str(p))


@lru_cache(maxsize=1)
def default_lexicon() -> Lexicon:
    """The packaged lexicon, loaded once per process."""
    return load_lexicon()


class LexiconStore:
    """The current lexicon of a file, reloaded when the file changes (checked at most every `check_s` seconds).

    A reload that fails validation is logged with the error and the previous lexicon stays in use."""

    def __init__(self, path: str | Path | None = None, *, check_s: float = 5.0) -> None:
        self.path = Path(path) if path else DEFAULT_PATH
        self.check_s = check_s
        self._lock = threading.Lock()
        self._lexicon = load_lexicon(self.path) if path else default_lexicon()
        self._mtime = self._stat()
        self._checked = time.monotonic()
        self.last_error: str | None = None

    def _stat(self) -> float:
        try:
            return self.path.stat().st_mtime
        except OSError:
            return 0.0

    def get(self) -> Lexicon:
        now = time.monotonic()
        if now - self._checked < self.check_s:
            return self._lexicon
        with self._lock:
            self._checked = now
            mtime = self._stat()
            if mtime != self._mtime:
                self.reload(mtime=mtime)
        return self._lexicon

    def reload(self, *, mtime: float | None = None) -> Lexicon:
        """Reload now; keep the last good lexicon if the file is invalid."""
        try:
            lexicon = load_lexicon(self.path)
        except LexiconError as exc:
            self.last_error = exc.message
            log.error("lexicon reload failed, keeping version %s: %s", self._lexicon.version, exc.message)
        else:
            if lexicon.version != self._lexicon.version:
                log.info("lexicon reloaded: %s -> %s", self._lexicon.version, lexicon.version)
            self._lexicon = lexicon
            self.last_error = None
        self._mtime = self._stat() if mtime is None else mtime
        return self._lexicon
