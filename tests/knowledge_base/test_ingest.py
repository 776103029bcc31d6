"""Loaders and chunking on real files: FAQ YAML, Markdown with front matter, text, a PDF and a DOCX made here, and
broken files of each kind."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.models.kb import ArticleKind, ChunkKind
from knowledge_base.ingest import (
    CHUNK_SIZE,
    ArticleData,
    chunk_article,
    discover,
    load_file,
    tables_to_sentences,
)
from tests.knowledge_base.conftest import FAQ_YAML, PRODUCT_MD


def make_pdf(path: Path, lines: list[str]) -> Path:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))  # built into reportlab: no download
    pdf = canvas.Canvas(str(path), pagesize=A4)
    pdf.setFont("STSong-Light", 12)
    y = 800
    for line in lines:
        pdf.drawString(60, y, line)
        y -= 20
    pdf.save()
    return path


def make_docx(path: Path, paragraphs: list[str]) -> Path:
    import docx

    document = docx.Document()
    document.add_heading("港股通业务说明", level=1)
    for text in paragraphs:
        document.add_paragraph(text)
    document.save(str(path))
    return path


class TestLoadFile:
    def test_faq_yaml(self, tmp_path: Path) -> None:
        path = tmp_path / "faq.yaml"
        path.write_text(FAQ_YAML, encoding="utf-8")
        result = load_file(path)
        assert not result.problems
        keys = [a.key for a in result.articles]
        assert keys == ["t_margin_rate", "t_star", "t_chinext", "t_stamp", "t_frozen"]
        margin = result.articles[0]
        assert margin.kind == ArticleKind.faq
        assert margin.risk_level == "R4" and margin.similar_questions == ["融资年化利率多少", "借钱买股票利息怎么算"]
        assert result.articles[-1].handoff is True
        assert margin.line == 1 and result.articles[1].line == 9

    def test_yaml_syntax_error_names_file_and_line(self, tmp_path: Path) -> None:
        path = tmp_path / "broken.yaml"
        path.write_text("- id: a\n  question: 问题\n  answer: [unclosed\n- id: b\n", encoding="utf-8")
        result = load_file(path)
        assert not result.articles
        (problem,) = result.problems
        assert problem.path.endswith("broken.yaml") and problem.line is not None
        assert "invalid YAML" in str(problem) and f"broken.yaml:{problem.line}" in str(problem)

    def test_bad_entry_is_reported_with_its_line_and_the_others_load(self, tmp_path: Path) -> None:
        path = tmp_path / "faq.yaml"
        path.write_text(
            "- id: ok_1\n  question: 问题一\n  answer: 答案一\n"
            "- id: no_answer\n  question: 问题二\n"
            "- id: bad_risk\n  question: 问题三\n  answer: 答案三\n  risk_level: R9\n"
            "- id: ok_1\n  question: 重复\n  answer: 重复\n",
            encoding="utf-8",
        )
        result = load_file(path)
        assert [a.key for a in result.articles] == ["ok_1"]
        messages = {p.line: p.message for p in result.problems}
        assert "lacks answer" in messages[4]
        assert "R1-R5" in messages[6]
        assert "also used at line 1" in messages[10]

    def test_not_a_list(self, tmp_path: Path) -> None:
        path = tmp_path / "faq.yaml"
        path.write_text("question: 只有一个映射\n", encoding="utf-8")
        (problem,) = load_file(path).problems
        assert "must be a list" in problem.message

    def test_markdown_with_front_matter(self, tmp_path: Path) -> None:
        path = tmp_path / "fund.md"
        path.write_text(PRODUCT_MD, encoding="utf-8")
        (article,) = load_file(path).articles
        assert article.key == "t_doc_fund" and article.kind == ArticleKind.document
        assert article.title == "测试稳健债券基金 产品说明" and article.risk_level == "R2"
        assert str(article.effective_on) == "2026-01-01"

    def test_broken_front_matter(self, tmp_path: Path) -> None:
        path = tmp_path / "bad.md"
        path.write_text("---\ntitle: [oops\n---\n正文\n", encoding="utf-8")
        (problem,) = load_file(path).problems
        assert "front matter" in problem.message and problem.line is not None

    def test_plain_text_gbk(self, tmp_path: Path) -> None:
        path = tmp_path / "通知.txt"
        path.write_bytes("营业部周末不办理业务。".encode("gb18030"))
        (article,) = load_file(path).articles
        assert "营业部周末" in article.body and article.key.startswith("doc_")

    def test_pdf_made_here(self, tmp_path: Path) -> None:
        path = make_pdf(tmp_path / "repo.pdf", ["国债逆回购操作说明", "逆回购以1000元起，按1000元整数倍申报。"])
        (article,) = load_file(path).articles
        assert "1000元起" in article.body.replace(" ", "")
        assert article.key == "repo"

    def test_docx_made_here(self, tmp_path: Path) -> None:
        path = make_docx(tmp_path / "hk.docx", ["港股通实行T+0交易，没有涨跌幅限制。"])
        (article,) = load_file(path).articles
        assert "港股通实行T+0交易" in article.body and article.title

    @pytest.mark.parametrize(
        ("name", "data", "needle"),
        [
            ("broken.pdf", b"%PDF-1.4 this is not really a pdf", "cannot read file"),
            ("broken.docx", b"PK\x03\x04 not a zip really", "cannot read file"),
            ("empty.txt", b"   \n", "no text"),
        ],
    )
    def test_broken_documents(self, tmp_path: Path, name: str, data: bytes, needle: str) -> None:
        path = tmp_path / name
        path.write_bytes(data)
        result = load_file(path)
        assert not result.articles
        assert needle in result.problems[0].message and name in str(result.problems[0])


class TestDiscover:
    def test_folders_recursively_skipping_readme_and_hidden(self, tmp_path: Path) -> None:
        (tmp_path / "a" / "b").mkdir(parents=True)
        (tmp_path / "a" / "b" / "x.md").write_text("x", encoding="utf-8")
        (tmp_path / "a" / "faq.yml").write_text("[]", encoding="utf-8")
        (tmp_path / "a" / "README.md").write_text("readme", encoding="utf-8")
        (tmp_path / "a" / ".hidden.md").write_text("h", encoding="utf-8")
        (tmp_path / "a" / "image.png").write_bytes(b"\x89PNG")
        files, problems = discover([tmp_path / "a", tmp_path / "missing.md", tmp_path / "a" / "image.png"])
        assert sorted(p.name for p in files) == ["faq.yml", "x.md"]
        assert {Path(p.path).name for p in problems} == {"missing.md", "image.png"}

    def test_a_relative_folder_above_the_working_directory(self, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
        (tmp_path / "kb" / ".git").mkdir(parents=True)
        (tmp_path / "kb" / "faq.yaml").write_text("[]", encoding="utf-8")
        (tmp_path / "kb" / ".git" / "x.md").write_text("x", encoding="utf-8")
        (tmp_path / "work").mkdir()
        monkeypatch.chdir(tmp_path / "work")
        files, problems = discover(["../kb"])
        assert [p.name for p in files] == ["faq.yaml"] and problems == []


class TestChunking:
    def test_faq_indexes_question_similar_questions_and_answer(self) -> None:
        article = ArticleData(key="k", kind=ArticleKind.faq, title="问题", answer="答案", similar_questions=["相似一", "相似二"])
        kinds = [c.kind for c in chunk_article(article)]
        assert kinds == [ChunkKind.question, ChunkKind.similar, ChunkKind.similar, ChunkKind.answer]

    def test_tables_become_self_contained_rows(self) -> None:
        text = "| 节日 | 买入日 |\n| --- | --- |\n| 清明节 | 4月2日 |\n| 国庆节 | 9月29日 |\n"
        assert tables_to_sentences(text).splitlines() == ["节日：清明节；买入日：4月2日。", "节日：国庆节；买入日：9月29日。"]

    def test_chinese_document_chunks_follow_headings_and_size(self) -> None:
        body = "# 标题\n\n## 一、规则\n\n" + "。".join(f"第{i}条规则说明文字内容较长一些" for i in range(60)) + "。\n\n## 二、费用\n\n费用说明。"
        article = ArticleData(key="d", kind=ArticleKind.document, title="测试文档", body=body)
        chunks = chunk_article(article)
        assert len(chunks) >= 3
        assert all(len(c.text) <= CHUNK_SIZE + 5 for c in chunks)
        assert chunks[0].heading == "一、规则" and chunks[-1].heading == "二、费用"
        assert all(c.text.endswith("。") for c in chunks)  # split at sentence ends, never mid-sentence
        assert chunks[0].embed_text.startswith("测试文档 > 一、规则")
