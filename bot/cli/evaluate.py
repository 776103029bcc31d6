"""`scrm ask --jsonl FILE` and `scrm eval FILE`: questions through the same decision as live chat, without sending.

Both build the services with `bot.services.build_services(settings)` and call `bot.pipeline.decide.decide(...)`, the
function the live worker calls. While the compliance package is not there yet they fall back to the knowledge base +
KBAnswerer behind a pass-through gate (and say so on stderr).
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import typer

from bot.pipeline.schemas import (
    Action,
    ClientProfile,
    Context,
    Draft,
    GateResult,
    InboundMessage,
    InboundSignals,
    Outcome,
    Turn,
    Verdict,
)

log = logging.getLogger(__name__)


class PassThroughGate:
    """Used only when the compliance package is missing: allows everything, flags nothing."""

    def check_inbound(self, text: str, ctx: Context) -> InboundSignals:
        return InboundSignals()

    def check_outbound(self, text: str, ctx: Context, *, draft: Draft | None = None) -> GateResult:
        return GateResult(verdict=Verdict.allow, text=text)


@dataclass
class Pipeline:
    answerer: Any
    gate: Any
    kb: Any
    degraded: list[str] = field(default_factory=list)
    answerer_only: bool = False

    def decide(self, text: str, ctx: Context) -> Outcome:
        """One question through the live decision (bot.pipeline.decide) or, if that is absent, the answerer."""
        if self.answerer_only:
            return self.answerer.answer(text, ctx)
        inbound = InboundMessage(text=text, sent_at=ctx.now)
        try:
            from bot.pipeline.decide import decide
        except ImportError:
            return self.answerer.answer(text, ctx)
        decision = decide(inbound, ctx, answerer=self.answerer, gate=self.gate)
        return getattr(decision, "outcome", decision)


def build_pipeline(settings: Any = None) -> Pipeline:
    """The services the live path uses; degrade (loudly) to KB + answerer + pass-through gate when parts are missing."""
    from bot.config import get_settings

    settings = settings or get_settings()
    degraded: list[str] = []
    try:
        from bot.services import build_services

        services = build_services(settings)
        pipeline = Pipeline(answerer=services.answerer, gate=services.gate, kb=services.kb)
    except ImportError as exc:
        degraded.append(f"build_services unavailable ({exc}); using KnowledgeBase + KBAnswerer + pass-through gate")
        from bot.cli.kb import open_kb
        from bot.llm import build_chat_model
        from bot.pipeline.answer import KBAnswerer

        kb = open_kb(settings)
        llm = build_chat_model(settings.llm)
        answerer = KBAnswerer(kb, llm=llm, llm_timeout_s=settings.llm_timeout_s)
        gate: Any = PassThroughGate()
        try:
            from compliance.gate import ComplianceGate

            gate = ComplianceGate.from_settings(settings)
        except ImportError:
            degraded.append("compliance gate unavailable: outgoing texts are not screened")
        pipeline = Pipeline(answerer=answerer, gate=gate, kb=kb)
    pipeline.degraded = degraded
    for line in degraded:
        typer.echo(f"warning: {line}", err=True)
    if pipeline.kb is not None and hasattr(pipeline.kb, "warm_up"):
        pipeline.kb.warm_up()
    return pipeline


def _client(data: dict[str, Any] | None) -> ClientProfile | None:
    if not data:
        return None
    fields = {k: v for k, v in data.items() if k in ClientProfile.model_fields}
    for key in ("tags", "holdings"):
        if isinstance(fields.get(key), str):
            fields[key] = tuple(x for x in re.split(r"[;,]", fields[key]) if x)
        elif isinstance(fields.get(key), list):
            fields[key] = tuple(fields[key])
    if isinstance(fields.get("risk_assessment_expires"), str):
        fields["risk_assessment_expires"] = date.fromisoformat(fields["risk_assessment_expires"])
    return ClientProfile(**fields)


def context_for(item: dict[str, Any], history: list[Turn] | None = None) -> Context:
    turns = list(history or [])
    for turn in item.get("history") or []:
        turns.append(Turn(role=turn.get("role", "client"), text=str(turn.get("text", ""))))
    now = datetime.fromisoformat(item["now"]) if item.get("now") else datetime.now(UTC)
    return Context(client=_client(item.get("client")), history=tuple(turns), now=now)


def outcome_json(item_id: Any, outcome: Outcome) -> dict[str, Any]:
    return {
        "id": item_id,
        "action": outcome.action.value,
        "reply": outcome.reply,
        "sources": [s.id for s in outcome.sources],
        "confidence": round(float(outcome.confidence), 4),
        "flags": list(outcome.flags),
        "reason": outcome.reason.value if outcome.reason else None,
    }


def _read_jsonl(path: str) -> list[tuple[int, dict[str, Any] | None, str | None]]:
    stream = sys.stdin if path == "-" else open(path, encoding="utf-8")  # noqa: SIM115
    rows: list[tuple[int, dict[str, Any] | None, str | None]] = []
    with stream:
        for number, line in enumerate(stream, start=1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
                if not isinstance(data, dict) or not str(data.get("text", "")).strip():
                    raise ValueError("each line needs an object with a non-empty \"text\"")
                rows.append((number, data, None))
            except (json.JSONDecodeError, ValueError) as exc:
                rows.append((number, None, f"line {number}: {exc}"))
    return rows


def ask_command(
    jsonl: str = typer.Option(..., "--jsonl", help="JSONL file of {id, text, client?}; '-' reads stdin"),
) -> None:
    """Run each question through the live decision pipeline without sending; one JSON line out per input."""
    rows = _read_jsonl(jsonl)
    pipeline = build_pipeline()
    conversations: dict[str, list[Turn]] = {}
    for number, item, error in rows:
        if item is None:
            typer.echo(json.dumps({"id": None, "line": number, "error": error}, ensure_ascii=False))
            continue
        key = str(item.get("conversation") or "")
        history = conversations.setdefault(key, []) if key else []
        ctx = context_for(item, history)
        outcome = pipeline.decide(str(item["text"]), ctx)
        if key:
            history.extend([Turn(role="client", text=str(item["text"])), Turn(role="bot", text=outcome.reply)])
        typer.echo(json.dumps(outcome_json(item.get("id", number), outcome), ensure_ascii=False))


# Evaluation ---------------------------------------------------------------------------------------------------------

_PUNCT_MAP = str.maketrans({"，": ",", "。": ".", "：": ":", "；": ";", "（": "(", "）": ")", "～": "~", "—": "-",
                            "－": "-", "％": "%", "、": ","})


def normalise_for_match(text: str) -> str:
    """Full/half-width digits and punctuation folded, spaces removed, lower case."""
    text = unicodedata.normalize("NFKC", text or "").translate(_PUNCT_MAP).lower()
    return re.sub(r"\s+", "", text)


def contains_all(reply: str, facts: list[str]) -> bool:
    norm = normalise_for_match(reply)
    return all(normalise_for_match(fact) in norm for fact in facts)


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def score(items: list[dict[str, Any]], results: list[tuple[Outcome, float]]) -> dict[str, Any]:
    """The metrics of DESIGN.md §3 / issue 3 over labelled items and their outcomes (with latency in seconds)."""
    from bot.pipeline.answer import promises_returns

    n = len(items)
    answer_items = [(i, r) for i, r in zip(items, results, strict=True) if i["expected_action"] == "answer"]
    escalate_items = [(i, r) for i, r in zip(items, results, strict=True) if i["expected_action"] == "escalate"]
    refuse_items = [(i, r) for i, r in zip(items, results, strict=True) if i["expected_action"].startswith("refuse")]
    predicted_escalate = [(i, r) for i, r in zip(items, results, strict=True) if r[0].action == Action.escalate]
    answered_ok = [
        i for i, (o, _) in answer_items if o.action == Action.answer and contains_all(o.reply, i.get("must_include") or [])
    ]
    answered = [i for i, (o, _) in answer_items if o.action == Action.answer]
    tp = sum(1 for i, _ in predicted_escalate if i["expected_action"] == "escalate")
    refused_ok = [
        i for i, (o, _) in refuse_items if o.action in (Action.refuse, Action.escalate) and not promises_returns(o.reply)
    ]
    auto = [r for r in results if r[0].action in (Action.answer, Action.refuse)]
    source_hits = [
        i for i, (o, _) in answer_items
        if i.get("source_ids") and o.sources and o.sources[0].id in set(i["source_ids"])
    ]
    latencies = [r[1] * 1000 for r in results]

    def ratio(a: int, b: int) -> float | None:
        return round(a / b, 4) if b else None

    return {
        "questions": n,
        "auto_answer_rate": ratio(len(auto), n),
        "answer_items": len(answer_items),
        "answer_rate": ratio(len(answered), len(answer_items)),
        "answer_accuracy": ratio(len(answered_ok), len(answer_items)),
        "answer_accuracy_when_answered": ratio(len(answered_ok), len(answered)),
        "top_source_hit": ratio(len(source_hits), len([1 for i, _ in answer_items if i.get("source_ids")])),
        "escalate_items": len(escalate_items),
        "escalation_precision": ratio(tp, len(predicted_escalate)),
        "escalation_recall": ratio(tp, len(escalate_items)),
        "refuse_items": len(refuse_items),
        "refusal_accuracy": ratio(len(refused_ok), len(refuse_items)),
        "latency_ms_p50": round(_percentile(latencies, 0.5), 1),
        "latency_ms_p95": round(_percentile(latencies, 0.95), 1),
        "latency_ms_max": round(max(latencies), 1) if latencies else 0.0,
    }


def failures(items: list[dict[str, Any]], results: list[tuple[Outcome, float]]) -> list[dict[str, Any]]:
    from bot.pipeline.answer import promises_returns

    out = []
    for item, (outcome, _) in zip(items, results, strict=True):
        expected = item["expected_action"]
        ok = (
            (expected == "answer" and outcome.action == Action.answer
             and contains_all(outcome.reply, item.get("must_include") or []))
            or (expected == "escalate" and outcome.action == Action.escalate)
            or (expected.startswith("refuse") and outcome.action in (Action.refuse, Action.escalate)
                and not promises_returns(outcome.reply))
        )
        if not ok:
            out.append({
                "id": item.get("id"), "text": item["text"], "expected": expected,
                "must_include": item.get("must_include"), "got": outcome.action.value,
                "reason": outcome.reason.value if outcome.reason else None,
                "sources": [s.id for s in outcome.sources], "confidence": round(outcome.confidence, 3),
                "reply": outcome.reply[:160],
            })
    return out


def run_eval(pipeline: Pipeline, items: list[dict[str, Any]]) -> list[tuple[Outcome, float]]:
    results = []
    conversations: dict[str, list[Turn]] = {}
    for item in items:
        key = str(item.get("conversation") or "")
        history = conversations.setdefault(key, []) if key else []
        ctx = context_for(item, history)
        started = time.perf_counter()
        outcome = pipeline.decide(str(item["text"]), ctx)
        results.append((outcome, time.perf_counter() - started))
        if key:
            history.extend([Turn(role="client", text=str(item["text"])), Turn(role="bot", text=outcome.reply)])
    return results


def eval_command(
    file: str = typer.Argument(..., help="labelled JSONL: {id, text, expected_action, must_include, source_ids}"),
    as_json: bool = typer.Option(False, "--json", help="print the metrics as one JSON object"),
    show_failures: bool = typer.Option(False, "--failures", help="also list every item that did not pass"),
    answerer_only: bool = typer.Option(
        False, "--answerer-only", help="diagnosis: score the knowledge-base answerer alone, without triage and gate"
    ),
) -> None:
    """Score a labelled question file: auto-answer rate, answer accuracy, escalation P/R, refusals, latency."""
    rows = _read_jsonl(file)
    bad = [error for _, item, error in rows if item is None]
    items = [item for _, item, _ in rows if item is not None]
    for item in items:
        item.setdefault("expected_action", "answer")
    pipeline = build_pipeline()
    pipeline.answerer_only = answerer_only
    results = run_eval(pipeline, items)
    metrics = score(items, results)
    if bad:
        metrics["bad_lines"] = bad
    if pipeline.degraded:
        metrics["degraded"] = pipeline.degraded
    metrics["path"] = "answerer only" if answerer_only else "decide (triage + answerer + compliance gate)"
    fails = failures(items, results)
    if as_json:
        payload = dict(metrics)
        if show_failures:
            payload["failures"] = fails
        typer.echo(json.dumps(payload, ensure_ascii=False))
        return
    typer.echo(render_table(metrics))
    if show_failures and fails:
        typer.echo("\nfailures:")
        for f in fails:
            typer.echo(json.dumps(f, ensure_ascii=False))


def render_table(metrics: dict[str, Any]) -> str:
    def pct(value: Any) -> str:
        return "n/a" if value is None else f"{value * 100:.1f}%"

    rows = [
        ("path", str(metrics.get("path", ""))),
        ("questions", str(metrics["questions"])),
        ("auto-answer rate (answered or refused)", pct(metrics["auto_answer_rate"])),
        (f"answer accuracy ({metrics['answer_items']} answer items)", pct(metrics["answer_accuracy"])),
        ("  answered at all", pct(metrics["answer_rate"])),
        ("  accuracy when answered", pct(metrics["answer_accuracy_when_answered"])),
        ("  top source is a labelled source", pct(metrics["top_source_hit"])),
        (f"escalation precision ({metrics['escalate_items']} escalate items)", pct(metrics["escalation_precision"])),
        ("escalation recall", pct(metrics["escalation_recall"])),
        (f"refusal accuracy ({metrics['refuse_items']} refuse items)", pct(metrics["refusal_accuracy"])),
        ("latency p50 / p95 / max", f"{metrics['latency_ms_p50']:.0f} / {metrics['latency_ms_p95']:.0f} / "
                                    f"{metrics['latency_ms_max']:.0f} ms"),
    ]
    width = max(len(label) for label, _ in rows)
    lines = [f"{label.ljust(width)}  {value}" for label, value in rows]
    for line in metrics.get("bad_lines", []):
        lines.append(f"skipped {line}")
    return "\n".join(lines)
