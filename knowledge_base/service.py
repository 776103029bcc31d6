"""The knowledge base service: content life cycle (draft -> published, delete), import, and hybrid search.

    kb = KnowledgeBase.from_settings(settings, db)
    kb.import_paths(["faq.yaml", "docs/"])           # idempotent by content hash
    kb.search("两融利息多少", k=5)                     # -> list[Passage]

The database is the source of truth (articles, versions, chunks); the vector store holds one vector per published
chunk, keyed by the chunk's content-addressed uid. Publishing embeds new chunks before the database commit and drops
vectors no chunk uses any more after it, so a failure never leaves search pointing at content that is not there.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from bot.config import Settings
from bot.db import Database
from bot.errors import BotError, NotFoundError
from bot.models.base import utcnow
from bot.models.kb import ArticleKind, KBArticle, KBArticleVersion, KBChunk, VersionStatus
from knowledge_base.embeddings import Embedder, build_embedder
from knowledge_base.ingest import ArticleData, IngestProblem, chunk_article, discover, embed_text_for, load_file
from knowledge_base.retrieval import ArticleInfo, ChunkRecord, LexicalIndex, Passage, rrf
from knowledge_base.store import VectorStore
from knowledge_base.text import analyze, normalize, synonyms, tokens_signature

log = logging.getLogger(__name__)

CANDIDATES = 40


class KBValidationError(BotError):
    def __init__(self, message: str) -> None:
        super().__init__(message, status_code=422)


@dataclass
class ImportReport:
    files: int = 0
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    problems: list[IngestProblem] = field(default_factory=list)
    embedded_chunks: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "created": self.created,
            "updated": self.updated,
            "unchanged": len(self.unchanged),
            "embedded_chunks": self.embedded_chunks,
            "errors": [{"path": p.path, "line": p.line, "message": p.message} for p in self.problems],
            "seconds": round(self.seconds, 2),
        }


@dataclass(frozen=True)
class ArticleView:
    """An article as the API and CLI show it: the published and the draft snapshot."""

    key: str
    kind: str
    status: str  # published | draft | published+draft | deleted
    published: dict[str, Any] | None
    draft: dict[str, Any] | None
    deleted_at: str | None = None


def version_dict(v: KBArticleVersion) -> dict[str, Any]:
    return {
        "version": v.version,
        "status": v.status.value,
        "title": v.title,
        "question": v.title,
        "similar_questions": list(v.similar_questions or []),
        "answer": v.answer,
        "body": v.body,
        "tags": list(v.tags or []),
        "category": v.category,
        "risk_level": v.risk_level,
        "risk_note": v.risk_note,
        "handoff": v.handoff,
        "doc_type": v.doc_type,
        "effective": v.effective_on.isoformat() if v.effective_on else None,
        "expires": v.expires_on.isoformat() if v.expires_on else None,
        "source_path": v.source_path,
        "content_hash": v.content_hash,
        "created_at": v.created_at.isoformat() if v.created_at else None,
        "published_at": v.published_at.isoformat() if v.published_at else None,
    }


def _data_from_version(article: KBArticle, v: KBArticleVersion) -> ArticleData:
    return ArticleData(
        key=article.key,
        kind=ArticleKind(article.kind),
        title=v.title,
        answer=v.answer,
        body=v.body,
        similar_questions=list(v.similar_questions or []),
        tags=list(v.tags or []),
        category=v.category,
        risk_level=v.risk_level,
        risk_note=v.risk_note,
        handoff=v.handoff,
        doc_type=v.doc_type,
        meta=dict(v.meta or {}),
        effective_on=v.effective_on,
        expires_on=v.expires_on,
        source_path=v.source_path,
    )


class _SearchIndex:
    def __init__(self, signature: tuple, records: list[ChunkRecord], articles: dict[str, ArticleInfo]) -> None:
        self.signature = signature
        self.lexical = LexicalIndex(records)
        self.articles = articles
        union: dict[str, set[str]] = {}
        for record in records:
            if articles.get(record.article_key) is not None and articles[record.article_key].kind == "faq":
                union.setdefault(record.article_key, set()).update(record.tokens)
        self.faq_tokens = {key: frozenset(tokens) for key, tokens in union.items()}
        # An FAQ's question wordings, analysed (for question_fit).
        self.questions: dict[str, list[Any]] = {}
        texts: dict[str, list[str]] = {}
        for record in records:
            if record.article_key in self.faq_tokens:
                texts.setdefault(record.article_key, []).append(record.text)
                if record.kind in ("question", "similar"):
                    self.questions.setdefault(record.article_key, []).append(analyze(record.text))
        self.faq_text = {key: normalize(" ".join(parts)) for key, parts in texts.items()}
        # Every character the published content uses (a word made of others names something it never mentions).
        # (The domain dictionary counts as known content too.)
        domain = synonyms()
        domain_terms = [t for group in domain.groups for t in group] + list(domain.words)
        self.characters = frozenset(ch for token in (*self.lexical.postings, *domain_terms) for ch in token)


class KnowledgeBase:
    def __init__(self, db: Database, store: VectorStore, *, today: Callable[[], date] | None = None) -> None:
        self.db = db
        self.store = store
        self._index: _SearchIndex | None = None
        self._index_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._today = today

    @classmethod
    def from_settings(cls, settings: Settings, db: Database, *, embedder: Embedder | None = None) -> KnowledgeBase:
        """Embedded Chroma under the data dir (or CHROMA_URL), e5 offline (or EMBEDDING_BASE_URL)."""
        embedder = embedder or build_embedder(settings.embedding)
        store = VectorStore(path=settings.chroma_path, url=settings.chroma_url, embedder=embedder)
        tz = settings.tz
        from datetime import datetime

        return cls(db, store, today=lambda: datetime.now(tz).date())

    @property
    def embedder(self) -> Embedder:
        return self.store.embedder

    # Import -----------------------------------------------------------------------------------------------------------

    def import_paths(
        self, paths: Iterable[str | Path], *, progress: bool = False, publish: bool = True, author: str = "import"
    ) -> ImportReport:
        """Import FAQ YAML files and documents (folders recursively); unchanged content does no work."""
        started = time.perf_counter()
        report = ImportReport()
        files, problems = discover(list(paths))
        report.problems.extend(problems)
        report.files = len(files)
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=len(files), unit="file", desc="kb import", dynamic_ncols=True)
        try:
            for path in files:
                if bar is not None:
                    bar.set_postfix_str(path.name[-40:])
                result = load_file(path)
                report.problems.extend(result.problems)
                for article in result.articles:
                    try:
                        outcome, embedded = self._save(article, publish=publish, author=author)
                    except IngestProblem as problem:
                        report.problems.append(problem)
                        continue
                    except Exception as exc:
                        log.exception("kb.import_failed", extra={"article": article.key})
                        report.problems.append(
                            IngestProblem(str(path), f"'{article.key}' not saved: {type(exc).__name__}: {exc}", article.line)
                        )
                        continue
                    getattr(report, outcome).append(article.key)
                    report.embedded_chunks += embedded
                if bar is not None:
                    bar.update(1)
        finally:
            if bar is not None:
                bar.close()
        report.seconds = time.perf_counter() - started
        return report

    # Life cycle -------------------------------------------------------------------------------------------------------

    def create(self, data: ArticleData, *, publish: bool = False, author: str | None = None) -> ArticleView:
        """Create an article (a draft unless publish=True); fails if the key exists."""
        with self.db.session() as session:
            if self._article(session, data.key) is not None:
                from bot.errors import ConflictError

                raise ConflictError(f"article '{data.key}' already exists")
        self._save(data, publish=publish, author=author)
        return self.get_or_raise(data.key)

    def update(self, key: str, changes: dict[str, Any], *, publish: bool = False, author: str | None = None) -> ArticleView:
        """Make a new draft from the newest snapshot with `changes` applied; live only once published."""
        with self.db.session() as session:
            article = self._article_or_raise(session, key)
            base_id = article.draft_version_id or article.published_version_id
            base = session.get(KBArticleVersion, base_id) if base_id else None
            if base is None:
                raise NotFoundError(f"article '{key}' has no content")
            data = _data_from_version(article, base)
        data = apply_changes(data, changes)
        self._save(data, publish=publish, author=author, allow_deleted=False)
        return self.get_or_raise(key)

    def publish(self, key: str) -> ArticleView:
        """Publish the article's draft: it replaces the published version in search."""
        with self.db.session() as session:
            article = self._article_or_raise(session, key)
            if article.draft_version_id is None:
                raise KBValidationError(f"article '{key}' has no draft to publish")
            draft = session.get(KBArticleVersion, article.draft_version_id)
            data = _data_from_version(article, draft)
        self._save(data, publish=True, author=None, allow_deleted=False)
        return self.get_or_raise(key)

    def delete(self, key: str) -> ArticleView:
        """Remove an article from search (its versions stay for the audit trail)."""
        with self._write_lock:
            with self.db.session() as session:
                article = self._article_or_raise(session, key)
                uids = self._chunk_uids(session, article)
                session.exec(sa.delete(KBChunk).where(KBChunk.article_key == key))
                for version in session.exec(select(KBArticleVersion).where(KBArticleVersion.article_id == article.id)):
                    if version.status == VersionStatus.published:
                        version.status = VersionStatus.superseded
                        session.add(version)
                article.published_version_id = None
                article.draft_version_id = None
                article.deleted_at = utcnow()
                article.updated_at = utcnow()
                session.add(article)
            self.store.delete(uids)
            self._invalidate()
        return self.get_or_raise(key, include_deleted=True)

    def get(self, key: str, *, include_deleted: bool = False) -> ArticleView | None:
        with self.db.session() as session:
            article = self._article(session, key)
            if article is None or (article.deleted_at and not include_deleted):
                return None
            return self._view(session, article)

    def get_or_raise(self, key: str, *, include_deleted: bool = False) -> ArticleView:
        view = self.get(key, include_deleted=include_deleted)
        if view is None:
            raise NotFoundError(f"no article '{key}'")
        return view

    def list_articles(
        self, *, kind: str | None = None, q: str | None = None, include_deleted: bool = False, limit: int = 100,
        offset: int = 0,
    ) -> list[ArticleView]:
        """Articles, newest first; `q` filters by key or title substring."""
        with self.db.session() as session:
            stmt = select(KBArticle).order_by(KBArticle.key)
            if kind:
                stmt = stmt.where(KBArticle.kind == kind)
            if not include_deleted:
                stmt = stmt.where(KBArticle.deleted_at.is_(None))  # type: ignore[union-attr]
            views = [self._view(session, a) for a in session.exec(stmt)]
        if q:
            needle = q.lower()
            views = [
                v for v in views
                if needle in v.key.lower() or needle in ((v.draft or v.published or {}).get("title") or "").lower()
            ]
        return views[offset : offset + limit]

    def stats(self) -> dict[str, int]:
        with self.db.session() as session:
            articles = session.exec(select(sa.func.count()).select_from(KBArticle).where(KBArticle.deleted_at.is_(None))).one()
            chunks = session.exec(select(sa.func.count()).select_from(KBChunk)).one()
        return {"articles": int(articles), "chunks": int(chunks)}

    def reindex(self) -> dict[str, int]:
        """Make the vector store match the published chunks (after a restore, or a switch of embedding model)."""
        with self.db.session() as session:
            rows = session.exec(
                select(KBChunk, KBArticleVersion).join(KBArticleVersion, KBArticleVersion.id == KBChunk.version_id)
            ).all()
        wanted = {c.uid: (c, v) for c, v in rows}
        have = self.store.all_ids()
        uids = [u for u in wanted if u not in have]
        embedded = self.store.add(
            uids,
            [embed_text_for(wanted[u][0].kind, wanted[u][1].title, wanted[u][0].heading, wanted[u][0].text) for u in uids],
            [{"article_key": wanted[u][0].article_key, "kind": str(wanted[u][0].kind)} for u in uids],
        )
        stale = sorted(have - set(wanted))
        self.store.delete(stale)
        self._invalidate()
        return {"embedded": embedded, "removed": len(stale)}

    # Search -----------------------------------------------------------------------------------------------------------

    def search(self, query: str, k: int = 8, *, context: Any = None) -> list[Passage]:
        """Hybrid search over published, in-force content: BM25 (words, bigrams, synonyms) fused with dense vectors."""
        if not query or not query.strip():
            return []
        index = self._get_index()
        if index.lexical.n == 0:
            return []
        today = self._context_day(context)
        analysis = analyze(query)
        lexical = index.lexical.search(analysis.tokens, CANDIDATES)
        lex_scores = {index.lexical.records[i].uid: s for i, s in lexical}
        dense_hits = self.store.query(self.embedder.embed_query(synonyms().expand(query)), CANDIDATES)
        dense = {h.uid: h.similarity for h in dense_hits if h.uid in index.lexical.uid_pos}
        fused = rrf(
            [[index.lexical.records[i].uid for i, _ in lexical], sorted(dense, key=dense.get, reverse=True)],
            [1.0, 1.0],
        )
        passages: list[Passage] = []
        for uid, score in sorted(fused.items(), key=lambda item: item[1], reverse=True):
            pos = index.lexical.uid_pos.get(uid)
            if pos is None:
                continue
            record = index.lexical.records[pos]
            info = index.articles.get(record.article_key)
            if info is None or not info.in_force(today):
                continue
            token_set = index.lexical.token_set(pos)
            passages.append(
                Passage(
                    uid=uid,
                    article_key=record.article_key,
                    article_kind=info.kind,
                    chunk_kind=record.kind,
                    text=record.text,
                    title=info.title,
                    heading=record.heading,
                    score=score,
                    dense=dense.get(uid, 0.0),
                    lexical=lex_scores.get(uid, 0.0),
                    coverage=index.lexical.coverage(analysis, token_set),
                    article_coverage=(
                        index.lexical.coverage(analysis, index.faq_tokens[record.article_key])
                        if record.article_key in index.faq_tokens else 0.0
                    ),
                    article=info,
                )
            )
            if len(passages) >= k:
                break
        return passages

    def coverage(self, query: str, text: str) -> float:
        """idf-weighted share of the question's content found in `text` (0..1)."""
        index = self._get_index()
        return index.lexical.coverage(analyze(query), frozenset(analyze(text).tokens))

    def question_fit(self, query: str, key: str) -> float:
        """How much of an FAQ's own question (standard or similar wording, the best one) the client's question asks:
        idf-weighted share of that wording's content terms found in the query. Low when the FAQ asks about something
        the client did not (新股中签后什么时候能卖 vs 新股中签最晚什么时候缴款)."""
        index = self._get_index()
        variants = index.questions.get(key)
        if not variants:
            return 1.0
        query_tokens = frozenset(analyze(query).tokens)
        # A wording of one or two words (我今天成交了吗) is asked by many questions that mean something else.
        return max(
            index.lexical.coverage(variant, query_tokens) * min(1.0, len(variant.words) / 3) for variant in variants
        )

    def entity_fit(self, query: str, key: str) -> float:
        """Share of the named things in the question (boards, markets, C/R levels, fund types, holidays; from the
        domain dictionary) that an FAQ mentions anywhere: 科创板要两年经验吗 is not about an FAQ that never says 科创板."""
        index = self._get_index()
        text = index.faq_text.get(key)
        if text is None:
            return 1.0
        norm = normalize(query)
        names = [n for names in synonyms().entities.values() for n in (normalize(x) for x in names) if n in norm]
        names = [n for n in names if not any(n != m and n in m for m in names)]  # 科创板 contains 创业板? no; 主板 in 科创板? no
        if not names:
            return 1.0
        return sum(n in text for n in names) / len(names)

    def article_info(self, key: str) -> ArticleInfo | None:
        return self._get_index().articles.get(key)

    def warm_up(self) -> None:
        """Build the search index and load the embedding model now rather than on the first question."""
        analyze("预热开户")
        self._get_index()
        self.store.query(self.embedder.embed_query("预热"), 1)

    # Internals --------------------------------------------------------------------------------------------------------

    def _context_day(self, context: Any) -> date | None:
        now = getattr(context, "now", None)
        if now is not None:
            return now.date()
        return self._today() if self._today else None

    def _article(self, session: Session, key: str) -> KBArticle | None:
        return session.exec(select(KBArticle).where(KBArticle.key == key)).first()

    def _article_or_raise(self, session: Session, key: str) -> KBArticle:
        article = self._article(session, key)
        if article is None or article.deleted_at is not None:
            raise NotFoundError(f"no article '{key}'")
        return article

    def _chunk_uids(self, session: Session, article: KBArticle) -> list[str]:
        return list(session.exec(select(KBChunk.uid).where(KBChunk.article_key == article.key)))

    def _view(self, session: Session, article: KBArticle) -> ArticleView:
        published = session.get(KBArticleVersion, article.published_version_id) if article.published_version_id else None
        draft = session.get(KBArticleVersion, article.draft_version_id) if article.draft_version_id else None
        if article.deleted_at:
            status = "deleted"
        elif published and draft:
            status = "published+draft"
        else:
            status = "published" if published else "draft"
        return ArticleView(
            key=article.key,
            kind=article.kind.value if hasattr(article.kind, "value") else str(article.kind),
            status=status,
            published=version_dict(published) if published else None,
            draft=version_dict(draft) if draft else None,
            deleted_at=article.deleted_at.isoformat() if article.deleted_at else None,
        )

    def _save(
        self, data: ArticleData, *, publish: bool, author: str | None, allow_deleted: bool = True
    ) -> tuple[str, int]:
        """Store `data` as a new version (or recognise it as unchanged) and publish it if asked.
        Returns ('created' | 'updated' | 'unchanged', chunks embedded)."""
        digest = data.content_hash()
        with self._write_lock:
            with self.db.session() as session:
                article = self._article(session, data.key)
                if article is not None and article.kind != data.kind:
                    raise IngestProblem(
                        data.source_path or data.key,
                        f"id '{data.key}' is already used by a {article.kind} and cannot become a {data.kind}",
                        data.line,
                    )
                current = None
                if article is not None and article.deleted_at is None:
                    current_id = article.draft_version_id or article.published_version_id
                    current = session.get(KBArticleVersion, current_id) if current_id else None
                if current is not None and current.content_hash == digest:
                    if not publish or current.status == VersionStatus.published:
                        return "unchanged", 0
                if article is not None and article.deleted_at is not None and not allow_deleted:
                    raise NotFoundError(f"no article '{data.key}'")
                outcome = "created" if article is None or article.deleted_at is not None else "updated"
            chunks = chunk_article(data) if publish else []
            uids = [c.uid(data.key) for c in chunks]
            embedded = 0
            if publish:
                embedded = self.store.add(
                    uids, [c.embed_text for c in chunks], [{"article_key": data.key, "kind": c.kind.value} for c in chunks]
                )
            signature = tokens_signature()
            token_lists = [" ".join(analyze(c.embed_text).tokens) for c in chunks]
            with self.db.session() as session:
                article = self._article(session, data.key)
                if article is None:
                    article = KBArticle(key=data.key, kind=data.kind)
                    session.add(article)
                    session.flush()
                old_uids = set(self._chunk_uids(session, article))
                number = (
                    session.exec(
                        select(sa.func.max(KBArticleVersion.version)).where(KBArticleVersion.article_id == article.id)
                    ).one()
                    or 0
                ) + 1
                reuse = None
                if article.draft_version_id and article.deleted_at is None:
                    draft = session.get(KBArticleVersion, article.draft_version_id)
                    if draft is not None and draft.content_hash == digest:
                        reuse = draft
                version = reuse or KBArticleVersion(
                    article_id=article.id,
                    version=number,
                    content_hash=digest,
                    title=data.title,
                    category=data.category,
                    tags=list(data.tags),
                    risk_level=data.risk_level,
                    risk_note=data.risk_note,
                    handoff=data.handoff,
                    similar_questions=list(data.similar_questions),
                    answer=data.answer,
                    body=data.body,
                    doc_type=data.doc_type,
                    meta=dict(data.meta),
                    effective_on=data.effective_on,
                    expires_on=data.expires_on,
                    source_path=data.source_path,
                    author=author,
                )
                session.add(version)
                session.flush()
                article.deleted_at = None
                article.updated_at = utcnow()
                if publish:
                    if article.published_version_id and article.published_version_id != version.id:
                        previous = session.get(KBArticleVersion, article.published_version_id)
                        if previous is not None:
                            previous.status = VersionStatus.superseded
                            session.add(previous)
                    version.status = VersionStatus.published
                    version.published_at = utcnow()
                    article.published_version_id = version.id
                    article.draft_version_id = None
                    session.exec(sa.delete(KBChunk).where(KBChunk.article_key == data.key))
                    for chunk, uid, toks in zip(chunks, uids, token_lists, strict=True):
                        session.add(
                            KBChunk(
                                uid=uid,
                                version_id=version.id,
                                article_key=data.key,
                                kind=chunk.kind,
                                ord=chunk.ord,
                                heading=chunk.heading,
                                text=chunk.text,
                                tokens=toks,
                                tokens_sig=signature,
                            )
                        )
                else:
                    if article.draft_version_id and article.draft_version_id != version.id:
                        old_draft = session.get(KBArticleVersion, article.draft_version_id)
                        if old_draft is not None:
                            old_draft.status = VersionStatus.superseded
                            session.add(old_draft)
                    article.draft_version_id = version.id
                session.add(version)
                session.add(article)
            if publish:
                stale = sorted(old_uids - set(uids))
                if stale:
                    self.store.delete(stale)
                self._invalidate()
            return outcome, embedded

    def _invalidate(self) -> None:
        with self._index_lock:
            self._index = None

    def _signature(self) -> tuple:
        # Cheap on large tables: max(id) is an index lookup; articles are few. Every publish or delete inserts chunks
        # or touches its article's updated_at, so the triple changes whenever search must see something new.
        with self.db.session() as session:
            max_chunk = session.exec(select(sa.func.max(KBChunk.id))).one()
            row = session.exec(select(sa.func.count(KBArticle.id), sa.func.max(KBArticle.updated_at))).one()
        return (max_chunk, int(row[0]), str(row[1]))

    def unknown_terms(self, query: str) -> list[str]:
        """Nouns of the query that the published knowledge base never mentions, down to a character it never uses
        (苹果公司): the question is about something the knowledge base does not know, whatever else it shares."""
        import jieba.posseg as pseg

        index = self._get_index()
        known = index.lexical.postings
        return [
            w.word for w in pseg.cut(query)
            if (w.flag.startswith("n") or w.flag == "eng") and len(w.word) >= 2 and w.word not in known
            and any(ch not in index.characters for ch in w.word)
        ]

    def _get_index(self) -> _SearchIndex:
        signature = self._signature()
        index = self._index
        if index is not None and index.signature == signature:
            return index
        with self._index_lock:
            if self._index is not None and self._index.signature == signature:
                return self._index
            self._index = self._build_index(signature)
            return self._index

    def _build_index(self, signature: tuple) -> _SearchIndex:
        started = time.perf_counter()
        current_sig = tokens_signature()
        with self.db.session() as session:
            rows = session.exec(
                select(KBChunk, KBArticleVersion, KBArticle)
                .join(KBArticleVersion, KBArticleVersion.id == KBChunk.version_id)
                .join(KBArticle, KBArticle.id == KBArticleVersion.article_id)
                .where(KBArticle.deleted_at.is_(None))  # type: ignore[union-attr]
                .where(KBArticle.published_version_id == KBArticleVersion.id)
                .order_by(KBChunk.id)
            ).all()
        records: list[ChunkRecord] = []
        articles: dict[str, ArticleInfo] = {}
        for chunk, version, article in rows:
            if chunk.tokens_sig == current_sig:
                toks = tuple(sys.intern(t) for t in chunk.tokens.split())
            else:
                toks = tuple(analyze(embed_text_for(chunk.kind, version.title, chunk.heading, chunk.text)).tokens)
            records.append(ChunkRecord(chunk.uid, chunk.article_key, str(chunk.kind), chunk.text, chunk.heading, toks))
            if article.key not in articles:
                articles[article.key] = ArticleInfo(
                    key=article.key,
                    kind=str(article.kind.value if hasattr(article.kind, "value") else article.kind),
                    title=version.title,
                    answer=version.answer,
                    handoff=bool(version.handoff),
                    risk_level=version.risk_level,
                    risk_note=version.risk_note,
                    category=version.category,
                    tags=tuple(version.tags or ()),
                    doc_type=version.doc_type,
                    effective_on=version.effective_on,
                    expires_on=version.expires_on,
                    version=version.version,
                )
        index = _SearchIndex(signature, records, articles)
        log.info("kb.index_built chunks=%d seconds=%.2f", len(records), time.perf_counter() - started)
        return index


_EDITABLE = {
    "title", "question", "answer", "body", "similar_questions", "tags", "category", "risk_level", "risk_note",
    "handoff", "doc_type", "effective", "expires", "effective_on", "expires_on",
}


def apply_changes(data: ArticleData, changes: dict[str, Any]) -> ArticleData:
    """`data` with API/CLI edits applied and validated like an import."""
    try:
        return _apply_changes(data, changes)
    except IngestProblem as problem:
        raise KBValidationError(problem.message) from None


def _apply_changes(data: ArticleData, changes: dict[str, Any]) -> ArticleData:
    from knowledge_base.ingest import _as_date, _as_str_list, _risk

    unknown = set(changes) - _EDITABLE
    if unknown:
        raise KBValidationError(f"cannot edit {sorted(unknown)}; editable fields: {sorted(_EDITABLE)}")
    where = data.key
    updates: dict[str, Any] = {}
    for name, value in changes.items():
        if name in ("title", "question"):
            if not str(value or "").strip():
                raise KBValidationError(f"'{name}' must not be empty")
            updates["title"] = str(value).strip()
        elif name in ("answer", "body"):
            if data.kind == ArticleKind.faq and name == "answer" and not str(value or "").strip():
                raise KBValidationError("'answer' must not be empty")
            updates[name] = str(value or "").strip()
        elif name in ("similar_questions", "tags"):
            updates[name] = _as_str_list(value, name=name, path=where, line=None)
        elif name == "risk_level":
            updates[name] = _risk(value, path=where, line=None)
        elif name in ("effective", "effective_on"):
            updates["effective_on"] = _as_date(value, name="effective", path=where, line=None)
        elif name in ("expires", "expires_on"):
            updates["expires_on"] = _as_date(value, name="expires", path=where, line=None)
        elif name == "handoff":
            if not isinstance(value, bool):
                raise KBValidationError("'handoff' must be true or false")
            updates[name] = value
        else:
            updates[name] = (str(value).strip() or None) if value is not None else None
    return replace(data, **updates)


def article_from_payload(payload: dict[str, Any]) -> ArticleData:
    """Validate an API payload for a new article: an FAQ entry (DESIGN.md §3 fields) or a document (title, body)."""
    from knowledge_base.ingest import faq_from_mapping, validate_key

    kind = payload.get("kind", "faq")
    try:
        if kind == "faq":
            return faq_from_mapping(payload, path="request", line=None)
        if kind == "document":
            key = validate_key(payload.get("id"), path="request", line=None)
            if not str(payload.get("title") or "").strip() or not str(payload.get("body") or "").strip():
                raise KBValidationError("a document needs title and body")
            base = ArticleData(key=key, kind=ArticleKind.document, title=str(payload["title"]).strip(),
                               body=str(payload["body"]).strip())
            rest = {k: v for k, v in payload.items() if k in _EDITABLE and k not in ("title", "body")}
            return apply_changes(base, rest)
    except IngestProblem as problem:
        raise KBValidationError(problem.message) from None
    raise KBValidationError("kind must be 'faq' or 'document'")
