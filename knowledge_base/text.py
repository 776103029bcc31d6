"""Chinese text analysis for retrieval: normalisation, jieba words + character bigrams, the domain synonym dictionary.

The same analysis runs on indexed chunks and on questions, so a synonym written on either side meets the other.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

log = logging.getLogger(__name__)

SYNONYMS_PATH = Path(__file__).with_name("synonyms.yaml")
_ANALYZER_VERSION = "a4"
CANON_PREFIX = "§"  # canonical synonym tokens never collide with words

STOPWORDS = frozenset(
    """的 了 吗 呢 吧 啊 呀 哦 嘛 么 是 在 有 和 与 及 或 就 都 也 还 又 把 被 给 让 向 对 从 到 为 以 之 其 这 那 这个 那个
    这些 那些 哪 哪个 哪些 哪里 哪儿 什么 怎么 怎样 怎么样 如何 为什么 为啥 啥 多少 几 多 请问 请 麻烦 您好 你好 您 你 你们 我 我们
    我的 他 她 它 他们 自己 可以 能 能不能 可不可以 会 要 想 需要 应该 是否 是不是 一下 一些 一个 个 吗 呢 么 咋 咋办 怎么办
    办 弄 搞 做 问 问下 问一下 下 上 中 里 后 前 时 时候 没有 没 不 不是 有没有 一样 一直 现在 已经 如果 因为 所以 但是 然后
    谢谢 好的 嗯 呃 哈 诶 喂 比较 最 很 太 更 再 才 得 地 着 过 等 等等 之后 之前 以后 以前 以上 以下""".split()
)

_CJK = re.compile(r"[\u4e00-\u9fff]+")
_PUNCT_OR_SPACE = re.compile(r"^[\W_]+$", re.UNICODE)
_SENTENCE_END = re.compile(r"(?<=[。！？!?])|\n+")
_CLAUSE_END = re.compile(r"(?<=[；;])")


def normalize(text: str) -> str:
    """Full-width to half-width (NFKC), lower case, collapsed spaces. Used for matching, never for display."""
    text = unicodedata.normalize("NFKC", text or "").lower()
    text = text.replace("\u3000", " ")
    return re.sub(r"[ \t]+", " ", text).strip()


@dataclass(frozen=True)
class Synonyms:
    groups: tuple[tuple[str, ...], ...]
    patterns: tuple[tuple[re.Pattern[str], str], ...]
    entities: dict[str, tuple[str, ...]]
    words: tuple[str, ...]
    signature: str
    price_limits: dict[str, float] = field(default_factory=dict)
    _variant_re: re.Pattern[str] | None = field(default=None, compare=False)
    _canon: dict[str, str] = field(default_factory=dict, compare=False)

    def canonical_terms(self, norm_text: str) -> list[str]:
        """The canonical names of every synonym group and pattern found in normalised text."""
        found: list[str] = []
        if self._variant_re is not None:
            for match in self._variant_re.finditer(norm_text):
                found.append(self._canon[match.group(0)])
        for regex, term in self.patterns:
            if regex.search(norm_text):
                found.append(term)
        return list(dict.fromkeys(found))

    def expand(self, text: str) -> str:
        """The text with the canonical names of its synonyms appended (for the embedding query)."""
        extra = [t for t in self.canonical_terms(normalize(text)) if t not in text]
        return f"{text}（{'，'.join(extra)}）" if extra else text


def load_synonyms(path: Path = SYNONYMS_PATH) -> Synonyms:
    raw = path.read_bytes()
    data = yaml.safe_load(raw) or {}
    groups = []
    canon: dict[str, str] = {}
    for group in list(data.get("groups") or []) + list(data.get("related") or []):
        terms = tuple(normalize(str(t)) for t in group if str(t).strip())
        if not terms:
            continue
        groups.append(terms)
        for term in terms:
            canon.setdefault(term, terms[0])
    variants = sorted(canon, key=len, reverse=True)
    variant_re = re.compile("|".join(re.escape(v) for v in variants)) if variants else None
    patterns = tuple(
        (re.compile(str(p["regex"])), normalize(str(p["term"]))) for p in data.get("patterns") or []
    )
    entities = {str(k): tuple(str(v) for v in vs) for k, vs in (data.get("entities") or {}).items()}
    words = tuple(str(w) for w in data.get("words") or [])
    signature = hashlib.sha1(raw + _ANALYZER_VERSION.encode()).hexdigest()[:12]
    return Synonyms(
        groups=tuple(groups),
        patterns=patterns,
        entities=entities,
        words=words,
        signature=signature,
        price_limits={str(k): float(v) for k, v in (data.get("price_limits") or {}).items()},
        _variant_re=variant_re,
        _canon=canon,
    )


@lru_cache(maxsize=1)
def synonyms() -> Synonyms:
    return load_synonyms()


_jieba_lock = threading.Lock()
_jieba_ready = False


def _jieba():  # type: ignore[no-untyped-def]
    global _jieba_ready
    import jieba

    if not _jieba_ready:
        with _jieba_lock:
            if not _jieba_ready:
                jieba.setLogLevel(logging.WARNING)
                syn = synonyms()
                for group in syn.groups:
                    for term in group:
                        if len(term) > 1 and not term.isascii():
                            jieba.add_word(term, freq=2000)
                for words in syn.entities.values():
                    for term in words:
                        jieba.add_word(normalize(term), freq=2000)
                for term in syn.words:
                    jieba.add_word(normalize(term), freq=2000)
                jieba.initialize()
                _jieba_ready = True
    return jieba


@dataclass(frozen=True)
class Analysis:
    words: tuple[str, ...]  # content words (jieba, stop words removed)
    bigrams: tuple[str, ...]  # CJK character bigrams
    canon: tuple[str, ...]  # canonical synonym tokens (prefixed)

    @property
    def tokens(self) -> list[str]:
        return [*self.words, *self.bigrams, *self.canon]

    @property
    def terms(self) -> list[str]:
        """Distinct content terms: what a question is about (for coverage and confidence)."""
        return list(dict.fromkeys([*self.words, *self.canon]))


def analyze(text: str) -> Analysis:
    """Words, bigrams and synonym tokens of a text (cached: a question is analysed for several scores)."""
    return _analyze_cached(text or "", synonyms().signature)


@lru_cache(maxsize=4096)
def _analyze_cached(text: str, signature: str) -> Analysis:
    return _analyze(text)


def _analyze(text: str) -> Analysis:
    norm = normalize(text)
    jieba = _jieba()
    words = []
    for word in jieba.cut_for_search(norm):
        word = word.strip()
        if not word or word in STOPWORDS or _PUNCT_OR_SPACE.match(word):
            continue
        if len(word) == 1 and not word.isdigit() and _CJK.fullmatch(word) and word not in _SINGLE_KEEP:
            continue
        words.append(word)
    bigrams = []
    for run in _CJK.findall(norm):
        bigrams.extend(run[i : i + 2] for i in range(len(run) - 1))
    canon = tuple(CANON_PREFIX + term for term in synonyms().canonical_terms(norm))
    return Analysis(words=tuple(words), bigrams=tuple("_" + b for b in bigrams), canon=canon)


_SINGLE_KEEP = frozenset("股 债 税 卡 费 钱 息 利 户 号 买 卖 免 借 涨 跌")


def tokens(text: str) -> list[str]:
    return analyze(text).tokens


def tokens_signature() -> str:
    return synonyms().signature


def split_sentences(text: str) -> list[str]:
    """Sentences (and list items / table rows) of a passage, punctuation kept."""
    parts = []
    for part in _SENTENCE_END.split(text or ""):
        part = part.strip()
        if len(part) > 160 and "：" not in part[:12]:  # a long run-on sentence: split at semicolons too
            parts.extend(p.strip() for p in _CLAUSE_END.split(part))
        else:
            parts.append(part)
    return [p for p in parts if p and not _PUNCT_OR_SPACE.match(p)]


def content_hash(*parts: object) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(repr(part).encode("utf-8"))
        h.update(b"\x1f")
    return h.hexdigest()
