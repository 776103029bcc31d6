"""`scrm compliance scan|eval|lexicon` (DESIGN.md §3 output format)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from bot.cli import app

runner = CliRunner()


def test_scan_stdin_plain_and_jsonl() -> None:
    stdin = '保 本\n\n{"text": "本产品不保本", "id": 7}\n我要投诉\n'
    result = runner.invoke(app, ["compliance", "scan", "-", "--no-semantic"], input=stdin)
    assert result.exit_code == 0, result.output
    lines = [json.loads(x) for x in result.output.splitlines()]
    assert lines[0] == {"text": "保 本", "flagged": True, "severity": "block",
                        "hits": [{"term": "保本", "category": "guarantee_return", "severity": "block",
                                  "start": 0, "end": 3}]}
    assert lines[1] == {"text": "本产品不保本", "flagged": False, "severity": None, "hits": []}
    assert lines[2]["flagged"] and lines[2]["hits"][0]["category"] == "complaint_escalation"


def test_scan_direction_out_ignores_inbound_categories(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_text("我要投诉\n", encoding="utf-8")
    result = runner.invoke(app, ["compliance", "scan", str(path), "--direction", "out", "--no-semantic"])
    assert json.loads(result.output)["flagged"] is False


def test_scan_missing_file() -> None:
    assert runner.invoke(app, ["compliance", "scan", "/nonexistent.txt", "--no-semantic"]).exit_code == 2


def test_eval(tmp_path: Path) -> None:
    path = tmp_path / "set.jsonl"
    rows = [{"text": "保本", "expected": "flag"}, {"text": "不保本", "expected": "clean"},
            {"text": "您好", "expected": "flag"}]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    result = runner.invoke(app, ["compliance", "eval", str(path), "--no-semantic"])
    metrics = json.loads(result.output.splitlines()[0])
    assert (metrics["tp"], metrics["fp"], metrics["fn"], metrics["precision"], metrics["recall"]) == (1, 0, 1, 1.0, 0.5)
    assert "miss: 您好" in result.output


def test_lexicon_validation(tmp_path: Path) -> None:
    assert json.loads(runner.invoke(app, ["compliance", "lexicon"]).output)["entries"] > 100
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: x\nschema_version: 1\nmention: {quotes: [], cues: []}\ncategories:\n  a:\n"
                   "    name_zh: a\n    severity: block\n    direction: out\n    entries:\n      - {term: \"(\", match: regex}\n",
                   encoding="utf-8")
    result = runner.invoke(app, ["compliance", "lexicon", str(bad)])
    assert result.exit_code == 2 and "categories.a.entries[0]" in result.output
