"""The knowledge base life cycle on real files with the real embedding model and an embedded Chroma: import,
idempotent re-import, edit -> draft -> publish, delete, broken files among good ones, and hybrid search."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.errors import ConflictError, NotFoundError
from bot.models.kb import ArticleKind
from knowledge_base.ingest import ArticleData
from knowledge_base.service import KBValidationError, KnowledgeBase, article_from_payload
from tests.knowledge_base.conftest import FAQ_YAML


def keys(kb: KnowledgeBase, query: str, k: int = 5) -> list[str]:
    return list(dict.fromkeys(p.article_key for p in kb.search(query, k=k)))


class TestImport:
    def test_import_publishes_and_search_finds(self, loaded_kb: KnowledgeBase) -> None:
        assert keys(loaded_kb, "融资融券利率")[0] == "t_margin_rate"
        assert loaded_kb.stats()["articles"] == 7
        view = loaded_kb.get_or_raise("t_doc_fund")
        assert view.status == "published" and view.published["risk_level"] == "R2"

    def test_unchanged_reimport_does_no_work(self, loaded_kb: KnowledgeBase, kb_files: Path) -> None:
        count = loaded_kb.store.count()
        report = loaded_kb.import_paths([kb_files])
        assert report.ok and not report.created and not report.updated
        assert len(report.unchanged) == 7 and report.embedded_chunks == 0
        assert loaded_kb.store.count() == count

    def test_changed_file_replaces_the_old_text(self, loaded_kb: KnowledgeBase, kb_files: Path) -> None:
        path = kb_files / "faq.yaml"
        path.write_text(path.read_text(encoding="utf-8").replace("6.5%", "7.2%"), encoding="utf-8")
        report = loaded_kb.import_paths([kb_files])
        assert report.updated == ["t_margin_rate"] and len(report.unchanged) == 6
        assert report.embedded_chunks == 1  # only the answer changed; questions keep their vectors
        answer = next(p for p in loaded_kb.search("融资利率", k=8) if p.chunk_kind == "answer")
        assert "7.2%" in answer.text and "6.5%" not in answer.text
        view = loaded_kb.get_or_raise("t_margin_rate")
        assert view.published["version"] == 2

    def test_broken_file_among_good_ones(self, kb: KnowledgeBase, kb_files: Path) -> None:
        (kb_files / "zz_broken.yaml").write_text("- id: x\n  question: [oops\n", encoding="utf-8")
        (kb_files / "docs" / "scan.pdf").write_bytes(b"%PDF-1.4 garbage")
        report = kb.import_paths([kb_files], progress=True)
        assert len(report.created) == 7
        names = sorted(Path(p.path).name for p in report.problems)
        assert names == ["scan.pdf", "zz_broken.yaml"]
        assert any(p.line for p in report.problems if p.path.endswith(".yaml"))
        assert keys(kb, "印花税")[0] == "t_stamp"

    def test_bad_update_keeps_what_is_there(self, loaded_kb: KnowledgeBase, kb_files: Path) -> None:
        path = kb_files / "faq.yaml"
        path.write_text(FAQ_YAML.replace("risk_level: R4", "risk_level: R7"), encoding="utf-8")
        report = loaded_kb.import_paths([path])
        assert [p.line for p in report.problems] == [1]
        view = loaded_kb.get_or_raise("t_margin_rate")
        assert view.published["risk_level"] == "R4" and view.published["version"] == 1

    def test_id_reused_for_another_kind_is_an_error(self, loaded_kb: KnowledgeBase, tmp_path: Path) -> None:
        doc = tmp_path / "t_stamp.md"
        doc.write_text("---\nid: t_stamp\n---\n# 印花税\n正文", encoding="utf-8")
        report = loaded_kb.import_paths([doc])
        assert "cannot become a document" in report.problems[0].message


class TestLifeCycle:
    def test_edit_is_a_draft_until_published(self, loaded_kb: KnowledgeBase) -> None:
        view = loaded_kb.update("t_stamp", {"answer": "印花税按成交金额的0.05%在卖出时收取（新版措辞）。"})
        assert view.status == "published+draft" and view.draft["version"] == 2
        answers = [p.text for p in loaded_kb.search("印花税", k=8) if p.article_key == "t_stamp"]
        assert not any("新版措辞" in a for a in answers)
        view = loaded_kb.publish("t_stamp")
        assert view.status == "published" and view.draft is None
        answers = [p.text for p in loaded_kb.search("印花税", k=8) if p.article_key == "t_stamp"]
        assert any("新版措辞" in a for a in answers)

    def test_delete_removes_from_search_and_store(self, loaded_kb: KnowledgeBase) -> None:
        before = loaded_kb.store.count()
        view = loaded_kb.delete("t_margin_rate")
        assert view.status == "deleted"
        assert "t_margin_rate" not in keys(loaded_kb, "融资融券利率", k=10)
        assert loaded_kb.store.count() == before - 4
        assert loaded_kb.get("t_margin_rate") is None
        with pytest.raises(NotFoundError):
            loaded_kb.publish("t_margin_rate")

    def test_reimport_after_delete_restores(self, loaded_kb: KnowledgeBase, kb_files: Path) -> None:
        loaded_kb.delete("t_margin_rate")
        report = loaded_kb.import_paths([kb_files])
        assert report.created == ["t_margin_rate"]
        assert keys(loaded_kb, "融资融券利率")[0] == "t_margin_rate"

    def test_create_from_payload_and_conflict(self, loaded_kb: KnowledgeBase) -> None:
        data = article_from_payload({"id": "t_new", "question": "北交所开通条件？", "answer": "需要50万元。"})
        view = loaded_kb.create(data)
        assert view.status == "draft"
        assert "t_new" not in keys(loaded_kb, "北交所开通条件", k=10)
        with pytest.raises(ConflictError):
            loaded_kb.create(data)
        loaded_kb.publish("t_new")
        assert keys(loaded_kb, "北交所开通条件")[0] == "t_new"

    def test_validation(self, loaded_kb: KnowledgeBase) -> None:
        with pytest.raises(KBValidationError):
            loaded_kb.update("t_stamp", {"risk_level": "R9"})
        with pytest.raises(KBValidationError):
            loaded_kb.update("t_stamp", {"nonsense": 1})
        with pytest.raises(KBValidationError):
            article_from_payload({"kind": "document", "id": "d1", "title": "无正文"})

    def test_expired_content_is_not_retrieved(self, kb: KnowledgeBase) -> None:
        kb.create(ArticleData(key="t_old", kind=ArticleKind.faq, title="旧的节假日安排是什么？",
                              answer="旧安排。", expires_on=__import__("datetime").date(2020, 1, 1)), publish=True)
        assert "t_old" not in keys(kb, "旧的节假日安排", k=10)

    def test_reindex_restores_missing_vectors(self, loaded_kb: KnowledgeBase) -> None:
        uids = sorted(loaded_kb.store.all_ids())[:3]
        loaded_kb.store.delete(uids)
        assert loaded_kb.reindex() == {"embedded": 3, "removed": 0}


class TestSearch:
    @pytest.mark.parametrize(
        ("query", "expected"),
        [
            ("两融借钱利息多少", "t_margin_rate"),  # synonym 两融 = 融资融券
            ("688开头的股票要什么条件才能买", "t_star"),  # a 688 code means 科创板
            ("卖股票扣多少税", "t_stamp"),
            ("这个债基七天内卖出收多少费用", "t_doc_fund"),  # a table row of a document
        ],
    )
    def test_hybrid_search(self, loaded_kb: KnowledgeBase, query: str, expected: str) -> None:
        assert expected in keys(loaded_kb, query, k=4)[:2]

    def test_empty_query_and_empty_kb(self, kb: KnowledgeBase) -> None:
        assert kb.search("  ") == []
        assert kb.search("印花税") == []


def test_single_character_verbs_are_kept() -> None:
    from knowledge_base.text import analyze

    assert "卖" in analyze("中签的新股上市当天可以卖").words
    assert "买" in analyze("科创板股票怎么买").words
