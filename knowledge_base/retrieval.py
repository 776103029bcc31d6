"""Hybrid retrieval: a BM25 inverted index over jieba words, character bigrams and synonym tokens, fused (reciprocal
rank fusion) with dense search in the vector store.

The lexical index lives in memory and is rebuilt from the published chunks when they change (cheap to check).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date

import numpy as np

from knowledge_base.text import CANON_PREFIX, Analysis

K1 = 1.2
B = 0.75
RRF_K = 60


@dataclass(frozen=True)
class ArticleInfo:
    key: str
    kind: str  # faq | document
    title: str
    answer: str = ""
    handoff: bool = False
    risk_level: str | None = None
    risk_note: str | None = None
    category: str | None = None
    tags: tuple[str, ...] = ()
    doc_type: str | None = None
    effective_on: date | None = None
    expires_on: date | None = None
    version: int = 0

    def in_force(self, today: date | None) -> bool:
        if today is None:
            return True
        if self.effective_on and self.effective_on > today and self.kind == "faq":
            return False
        return not (self.expires_on and self.expires_on < today)


@dataclass(frozen=True)
class ChunkRecord:
    uid: str
    article_key: str
    kind: str  # question | similar | answer | passage
    text: str
    heading: str
    tokens: tuple[str, ...]


@dataclass(frozen=True)
class Passage:
    """One retrieved chunk with its article and its scores."""

    uid: str
    article_key: str
    article_kind: str
    chunk_kind: str
    text: str
    title: str
    heading: str = ""
    score: float = 0.0  # fused (RRF) score
    dense: float = 0.0  # cosine similarity to the question (0 when not among the dense hits)
    lexical: float = 0.0  # BM25 score
    coverage: float = 0.0  # share of the question's content (idf-weighted) found in the chunk and its title
    article_coverage: float = 0.0  # the same over a whole FAQ entry (question, similar questions, answer)
    article: ArticleInfo | None = field(default=None, compare=False)

    @property
    def is_faq(self) -> bool:
        return self.article_kind == "faq"


class LexicalIndex:
    """BM25 over pre-tokenized chunks with an inverted index (numpy postings), so a query costs O(postings)."""

    def __init__(self, records: list[ChunkRecord]) -> None:
        self.records = records
        self.uid_pos = {r.uid: i for i, r in enumerate(records)}
        n = len(records)
        lengths = np.fromiter((len(r.tokens) for r in records), dtype=np.float32, count=n)
        self.avgdl = float(lengths.mean()) if n else 1.0
        self.norm = (K1 * (1 - B + B * lengths / max(self.avgdl, 1e-6))).astype(np.float32)
        postings: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for i, record in enumerate(records):
            counts = Counter(record.tokens)
            for token, tf in counts.items():
                postings[token].append((i, tf))
        self.postings: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self.idf: dict[str, float] = {}
        for token, plist in postings.items():
            docs = np.fromiter((d for d, _ in plist), dtype=np.int32, count=len(plist))
            tfs = np.fromiter((t for _, t in plist), dtype=np.float32, count=len(plist))
            self.postings[token] = (docs, tfs)
            df = len(plist)
            self.idf[token] = math.log(1 + (n - df + 0.5) / (df + 0.5))
        self.max_idf = math.log(1 + (n + 0.5) / 0.5) if n else 1.0
        self.n = n

    def token_set(self, pos: int) -> frozenset[str]:
        return frozenset(self.records[pos].tokens)

    def term_idf(self, token: str) -> float:
        return self.idf.get(token, self.max_idf)

    def search(self, tokens: list[str], k: int) -> list[tuple[int, float]]:
        if not self.n or not tokens:
            return []
        scores = np.zeros(self.n, dtype=np.float32)
        for token, qtf in Counter(tokens).items():
            posting = self.postings.get(token)
            if posting is None:
                continue
            docs, tfs = posting
            weight = self.idf[token] * (1.0 + 0.2 * (qtf - 1))
            scores[docs] += weight * tfs * (K1 + 1) / (tfs + self.norm[docs])
        k = min(k, self.n)
        top = np.argpartition(-scores, k - 1)[:k] if k < self.n else np.arange(self.n)
        top = top[np.argsort(-scores[top])]
        return [(int(i), float(scores[i])) for i in top if scores[i] > 0]

    def coverage(self, query: Analysis, token_set: frozenset[str] | set[str]) -> float:
        """idf-weighted share of the question's content terms present in a chunk (a term also counts when all of
        its character bigrams are there, which absorbs word-segmentation differences)."""
        total = 0.0
        hit = 0.0
        for term in query.terms:
            weight = self.term_idf(term)
            if term.startswith(CANON_PREFIX):
                weight *= 0.8
            total += weight
            if term in token_set:
                hit += weight
                continue
            grams = ["_" + term[i : i + 2] for i in range(len(term) - 1)] if len(term) >= 2 else []
            if grams and not term.isascii():
                share = sum(g in token_set for g in grams) / len(grams)
                if share == 1.0:
                    hit += weight * 0.9
                elif share >= 0.5 and len(grams) >= 3:
                    hit += weight * 0.5 * share
        return hit / total if total else 0.0


def rrf(rank_lists: list[list[str]], weights: list[float]) -> dict[str, float]:
    fused: dict[str, float] = defaultdict(float)
    for ranks, weight in zip(rank_lists, weights, strict=True):
        for rank, uid in enumerate(ranks):
            fused[uid] += weight / (RRF_K + rank + 1)
    return fused
