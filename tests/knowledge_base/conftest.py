"""Knowledge-base fixtures: small real files (FAQ YAML, Markdown, text, PDF, DOCX) and a KnowledgeBase on a SQLite
file and an embedded Chroma in tmp_path, with the real offline embedding model."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from knowledge_base.service import KnowledgeBase

FAQ_YAML = textwrap.dedent(
    """\
    - id: t_margin_rate
      category: 融资融券
      question: 融资融券的利率是多少？
      similar_questions: [融资年化利率多少, 借钱买股票利息怎么算]
      answer: 本公司融资年利率为6.5%，按实际使用天数计息。
      tags: [融资融券]
      risk_level: R4
      risk_note: 融资融券具有杠杆效应。
    - id: t_star
      question: 科创板开通条件是什么？
      similar_questions: [科创板门槛多少]
      answer: 开通科创板需要前20个交易日日均资产不低于50万元，并参与证券交易24个月以上。
    - id: t_chinext
      question: 创业板开通条件是什么？
      similar_questions: [创业板门槛多少]
      answer: 开通创业板需要前20个交易日日均资产不低于10万元，并参与证券交易24个月以上。
    - id: t_stamp
      question: 股票印花税怎么收？
      similar_questions: [卖股票要交多少税]
      answer: 印花税只在卖出时按成交金额的0.05%收取，买入不收。
    - id: t_frozen
      question: 我的账户被冻结了怎么办？
      similar_questions: [账户被限制交易了]
      answer: 账户冻结需要人工核实，已为您转接人工服务，请准备好身份证。
      handoff: true
    """
)

PRODUCT_MD = textwrap.dedent(
    """\
    ---
    id: t_doc_fund
    title: 测试稳健债券基金 产品说明
    risk_level: R2
    effective: 2026-01-01
    ---

    # 测试稳健债券基金

    ## 一、基本信息

    - 产品风险等级：R2（中低风险）
    - 适合投资者：风险承受能力为C2及以上的投资者

    ## 二、费用

    | 持有期限 | 赎回费率 |
    | --- | --- |
    | 少于7天 | 1.5% |
    | 7天以上 | 0 |

    ## 三、交易规则

    赎回款一般在T+2日到账。本基金不保本，过往业绩不代表未来表现。
    """
)


def write_kb_files(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "faq.yaml").write_text(FAQ_YAML, encoding="utf-8")
    docs = folder / "docs"
    docs.mkdir(exist_ok=True)
    (docs / "fund.md").write_text(PRODUCT_MD, encoding="utf-8")
    (docs / "notice.txt").write_text("营业部周末不办理业务。营业部柜台办理时间为交易日9:00-16:00。", encoding="utf-8")
    return folder


@pytest.fixture
def kb(settings, db) -> KnowledgeBase:
    return KnowledgeBase.from_settings(settings, db)


@pytest.fixture
def kb_files(tmp_path: Path) -> Path:
    return write_kb_files(tmp_path / "content")


@pytest.fixture
def loaded_kb(kb: KnowledgeBase, kb_files: Path) -> KnowledgeBase:
    report = kb.import_paths([kb_files])
    assert report.ok, report.problems
    return kb
