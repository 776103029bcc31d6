"""Knowledge base tables: articles (FAQ entries and documents), their versions, and the chunks retrieval indexes.

    KBArticle (stable key, e.g. "faq_acct_01")  1--n  KBArticleVersion (a full snapshot: draft | published | superseded)
    KBArticleVersion (published)                1--n  KBChunk (what search sees)

An edit makes a new draft version; publishing it supersedes the previous published version and swaps the chunks, so an
edit goes live only when published. Deleting an article removes its chunks; the versions stay for the audit trail.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from bot.models.base import dt_field, json_field


class ArticleKind(StrEnum):
    faq = "faq"
    document = "document"


class VersionStatus(StrEnum):
    draft = "draft"
    published = "published"
    superseded = "superseded"


class ChunkKind(StrEnum):
    question = "question"  # an FAQ's standard question
    similar = "similar"  # one of an FAQ's similar questions
    answer = "answer"  # an FAQ's approved answer
    passage = "passage"  # a piece of a document


class KBArticle(SQLModel, table=True):
    __tablename__ = "kb_article"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=128, unique=True, index=True)
    kind: ArticleKind = Field(max_length=16, index=True)
    published_version_id: int | None = Field(default=None)
    draft_version_id: int | None = Field(default=None)
    deleted_at: datetime | None = dt_field(index=True)
    created_at: datetime = dt_field(nullable=False, default_now=True)
    updated_at: datetime = dt_field(nullable=False, default_now=True)


class KBArticleVersion(SQLModel, table=True):
    """One snapshot of an article's content and metadata. FAQ fields and document fields share the row."""

    __tablename__ = "kb_article_version"
    __table_args__ = (sa.UniqueConstraint("article_id", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    article_id: int = Field(foreign_key="kb_article.id", index=True)
    version: int
    status: VersionStatus = Field(default=VersionStatus.draft, max_length=16, index=True)
    content_hash: str = Field(max_length=64, index=True)
    title: str = Field(default="", max_length=500)  # FAQ: the standard question; document: its title
    category: str | None = Field(default=None, max_length=64)
    tags: list = json_field(list)
    risk_level: str | None = Field(default=None, max_length=4)  # R1..R5
    risk_note: str | None = Field(default=None, sa_type=sa.Text)
    handoff: bool = False
    similar_questions: list = json_field(list)
    answer: str = Field(default="", sa_type=sa.Text)  # FAQ: the approved answer
    body: str = Field(default="", sa_type=sa.Text)  # document: the extracted text
    doc_type: str | None = Field(default=None, max_length=64)
    meta: dict = json_field(dict)  # the rest of the front matter
    effective_on: date | None = None
    expires_on: date | None = None
    source_path: str | None = Field(default=None, max_length=1000)
    author: str | None = Field(default=None, max_length=64)
    created_at: datetime = dt_field(nullable=False, default_now=True)
    published_at: datetime | None = dt_field()


class KBChunk(SQLModel, table=True):
    """A searchable piece of a published version. `uid` is content-addressed and is also the Chroma id."""

    __tablename__ = "kb_chunk"

    id: int | None = Field(default=None, primary_key=True)
    uid: str = Field(max_length=200, index=True)
    version_id: int = Field(foreign_key="kb_article_version.id", index=True)
    article_key: str = Field(max_length=128, index=True)
    kind: ChunkKind = Field(max_length=16)
    ord: int = 0
    heading: str = Field(default="", max_length=500)
    text: str = Field(sa_type=sa.Text)
    tokens: str = Field(default="", sa_type=sa.Text)  # lexical tokens, space-separated
    tokens_sig: str = Field(default="", max_length=16)  # tokenizer + synonym dictionary signature
