"""`scrm kb ...`: import, list, show, search, publish, delete, reindex. Commands parse arguments and call the service."""

from __future__ import annotations

import json
import logging
from typing import Any

import typer

log = logging.getLogger(__name__)

app = typer.Typer(help="Knowledge base: import FAQ YAML and documents, search, publish, delete.", no_args_is_help=True)


def open_kb(settings: Any = None):  # type: ignore[no-untyped-def]
    """A KnowledgeBase on the configured database, with its schema in place."""
    from bot.config import get_settings
    from bot.db import Database
    from knowledge_base.service import KnowledgeBase

    settings = settings or get_settings()
    db = Database(settings.db_url)
    try:
        db.migrate()
    except Exception as exc:  # no migrations yet, or an offline DB tool: fall back to creating our tables
        log.warning("kb.migrate_failed %s", type(exc).__name__)
    ensure_kb_tables(db)
    return KnowledgeBase.from_settings(settings, db)


def ensure_kb_tables(db) -> None:  # type: ignore[no-untyped-def]
    """Create the knowledge-base tables if migrations have not (a fresh database before the first revision)."""
    import sqlalchemy as sa
    from sqlmodel import SQLModel

    from bot.models.kb import KBArticle, KBArticleVersion, KBChunk

    if not sa.inspect(db.engine).has_table(KBArticle.__tablename__):
        SQLModel.metadata.create_all(
            db.engine, tables=[KBArticle.__table__, KBArticleVersion.__table__, KBChunk.__table__]  # type: ignore[list-item]
        )


def _view_line(view) -> str:  # type: ignore[no-untyped-def]
    snap = view.draft or view.published or {}
    flags = []
    if snap.get("handoff"):
        flags.append("handoff")
    if snap.get("risk_level"):
        flags.append(snap["risk_level"])
    return f"{view.key:32s} {view.kind:8s} {view.status:16s} {' '.join(flags):10s} {snap.get('title', '')[:60]}"


@app.command("import")
def import_cmd(
    paths: list[str] = typer.Argument(..., help="FAQ .yaml files, documents (.md .txt .pdf .docx), folders"),
    draft: bool = typer.Option(False, "--draft", help="import as drafts; publish later"),
    as_json: bool = typer.Option(False, "--json", help="print the report as JSON"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bar"),
) -> None:
    """Import and publish; unchanged content is a no-op; bad files are reported and skipped."""
    kb = open_kb()
    report = kb.import_paths(paths, progress=not quiet, publish=not draft)
    if as_json:
        typer.echo(json.dumps(report.as_dict(), ensure_ascii=False))
    else:
        typer.echo(
            f"{report.files} files: {len(report.created)} created, {len(report.updated)} updated, "
            f"{len(report.unchanged)} unchanged, {report.embedded_chunks} chunks embedded, "
            f"{len(report.problems)} errors ({report.seconds:.1f}s)"
        )
        for problem in report.problems:
            typer.echo(f"error: {problem}", err=True)
    if report.problems:
        raise typer.Exit(code=1)


@app.command("list")
def list_cmd(
    kind: str = typer.Option(None, "--kind", help="faq or document"),
    q: str = typer.Option(None, "--q", help="filter by id or title"),
    deleted: bool = typer.Option(False, "--deleted", help="include deleted articles"),
    limit: int = typer.Option(200, "--limit"),
) -> None:
    """List articles with their status (published / draft / deleted)."""
    kb = open_kb()
    for view in kb.list_articles(kind=kind, q=q, include_deleted=deleted, limit=limit):
        typer.echo(_view_line(view))


@app.command("show")
def show_cmd(key: str) -> None:
    """Show one article (published and draft snapshot) as JSON."""
    kb = open_kb()
    view = kb.get_or_raise(key, include_deleted=True)
    typer.echo(json.dumps(view.__dict__, ensure_ascii=False, indent=2, default=str))


@app.command("search")
def search_cmd(query: str, k: int = typer.Option(5, "--k")) -> None:
    """Search the published knowledge base (hybrid BM25 + vectors)."""
    kb = open_kb()
    for p in kb.search(query, k=k):
        typer.echo(f"{p.score:.4f} dense={p.dense:.3f} cov={p.coverage:.2f} {p.article_key} [{p.chunk_kind}] "
                   f"{p.text[:80]!r}")


@app.command("publish")
def publish_cmd(keys: list[str]) -> None:
    """Publish the drafts of the given articles."""
    kb = open_kb()
    for key in keys:
        view = kb.publish(key)
        typer.echo(_view_line(view))


@app.command("delete")
def delete_cmd(keys: list[str]) -> None:
    """Delete articles: they leave search at once (versions are kept for the audit trail)."""
    kb = open_kb()
    for key in keys:
        view = kb.delete(key)
        typer.echo(_view_line(view))


@app.command("reindex")
def reindex_cmd() -> None:
    """Make the vector store match the published chunks (after a restore or an embedding model change)."""
    kb = open_kb()
    typer.echo(json.dumps(kb.reindex()))
