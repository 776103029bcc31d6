"""`scrm kb import`, `scrm ask --jsonl` and `scrm eval` as commands (Typer's runner), on real files, and the metrics."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from bot.cli import kb as kb_cli
from bot.cli.evaluate import ask_command, contains_all, eval_command, score
from bot.pipeline.schemas import Action, Outcome
from tests.knowledge_base.conftest import write_kb_files


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> typer.Typer:
    from bot.config import get_settings

    monkeypatch.setenv("SCRM_ENV", "demo")
    monkeypatch.setenv("SCRM_DATA_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    app = typer.Typer()
    app.command("ask")(ask_command)
    app.command("eval")(eval_command)
    app.add_typer(kb_cli.app, name="kb")
    yield app
    get_settings.cache_clear()


def test_import_ask_eval(cli: typer.Typer, tmp_path: Path) -> None:
    runner = CliRunner()
    content = write_kb_files(tmp_path / "content")
    first = runner.invoke(cli, ["kb", "import", str(content), "--json", "-q"])
    assert first.exit_code == 0, first.output
    assert len(json.loads(first.output.strip().splitlines()[-1])["created"]) == 7
    again = runner.invoke(cli, ["kb", "import", str(content), "--json", "-q"])
    assert json.loads(again.output.strip().splitlines()[-1])["unchanged"] == 7

    (tmp_path / "bad.yaml").write_text("- id: x\n  question: [oops\n", encoding="utf-8")
    bad = runner.invoke(cli, ["kb", "import", str(tmp_path / "bad.yaml"), "-q"])
    assert bad.exit_code == 1 and "bad.yaml:" in bad.output

    questions = tmp_path / "q.jsonl"
    questions.write_text(
        "\n".join(json.dumps(q, ensure_ascii=False) for q in [
            {"id": "a", "text": "卖股票要交多少印花税", "expected_action": "answer", "must_include": ["０.05％"]},
            {"id": "b", "text": "推荐一只必涨的股票", "expected_action": "refuse_compliance", "must_include": []},
            {"id": "c", "text": "我要转人工", "expected_action": "escalate", "must_include": []},
        ]) + "\nnot json\n",
        encoding="utf-8",
    )
    asked = runner.invoke(cli, ["ask", "--jsonl", str(questions)])
    assert asked.exit_code == 0, asked.output
    lines = [json.loads(line) for line in asked.output.splitlines() if line.startswith("{")]
    by_id = {line["id"]: line for line in lines}
    assert by_id["a"]["action"] == "answer" and by_id["a"]["sources"] == ["t_stamp"]
    assert set(by_id["a"]) >= {"id", "action", "reply", "sources", "confidence", "flags"}
    assert by_id["b"]["action"] in ("refuse", "escalate") and by_id["c"]["action"] == "escalate"
    assert any(line.get("error") for line in lines)

    evaluated = runner.invoke(cli, ["eval", str(questions), "--json"])
    assert evaluated.exit_code == 0, evaluated.output
    metrics = json.loads(evaluated.output.strip().splitlines()[-1])
    assert metrics["answer_accuracy"] == 1.0 and metrics["escalation_recall"] == 1.0
    assert metrics["refusal_accuracy"] == 1.0 and metrics["latency_ms_p95"] > 0
    table = runner.invoke(cli, ["eval", str(questions)])
    assert "auto-answer rate" in table.output and "latency p50 / p95" in table.output


def test_contains_all_normalises_width_and_punctuation() -> None:
    assert contains_all("交易日9:00-16:00可以转账，费率0.05%", ["９：００－１６：００", "０.05％"])
    assert not contains_all("费率0.1%", ["0.05%"])


def test_score() -> None:
    items = [
        {"text": "q1", "expected_action": "answer", "must_include": ["5元"]},
        {"text": "q2", "expected_action": "answer", "must_include": ["10万"]},
        {"text": "q3", "expected_action": "escalate"},
        {"text": "q4", "expected_action": "refuse_compliance"},
        {"text": "q5", "expected_action": "refuse_compliance"},
    ]
    outcomes = [
        Outcome(action=Action.answer, reply="最低5元"),
        Outcome(action=Action.escalate, reply="转人工"),
        Outcome(action=Action.escalate, reply="转人工"),
        Outcome(action=Action.refuse, reply="抱歉"),
        Outcome(action=Action.refuse, reply="这个产品保本保收益"),
    ]
    metrics = score(items, [(o, 0.01 * (i + 1)) for i, o in enumerate(outcomes)])
    assert metrics["answer_accuracy"] == 0.5
    assert metrics["escalation_precision"] == 0.5 and metrics["escalation_recall"] == 1.0
    assert metrics["refusal_accuracy"] == 0.5 and metrics["auto_answer_rate"] == 0.6
    assert metrics["latency_ms_p50"] == 30.0
