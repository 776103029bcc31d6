"""Compliance records: flags, the review queue and its decisions, exports. Services add/flush; the caller commits.

    record_flags(session=..., message_id=..., conversation_id=..., text=..., result=gate_result_or_screening,
                 direction="out", now=now)                      -> list[ComplianceFlag]   (empty when nothing to keep)
    record_decision(session=..., message=..., reply=..., decision=..., now=...)   (the pipeline's hook, see below)
    list_flags(session=..., status=..., category=..., ...)      -> list[ComplianceFlag]
    get_flag(session=..., flag_id=...) / get_flag_or_raise(...)
    decide(session=..., flag_id=..., status="confirmed"|"dismissed", reviewer=..., note=..., now=...)
    export(session=..., start=..., end=..., fmt="csv"|"jsonl")  -> str
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from bot.errors import BadRequestError, ConflictError, NotFoundError
from bot.models.compliance import ComplianceFlag, ReviewStatus
from compliance.screening import Screening

EXPORT_FIELDS = (
    "id", "created_at", "conversation_id", "message_id", "direction", "sender", "verdict", "severity", "categories",
    "signals", "terms", "spans", "suitability_ok", "text", "sent_text", "reason", "lexicon_version", "status",
    "reviewer", "review_note", "reviewed_at",
)


def _hits_of(result: Any, text: str) -> list[dict[str, Any]]:
    out = []
    for h in getattr(result, "hits", ()):
        start, end = int(h.start), int(h.end)
        out.append({
            "term": h.term, "category": h.category, "severity": h.severity, "start": start, "end": end,
            "matched": text[start:end], "layer": getattr(h, "layer", None),
        })
    return out


def record_flags(
    *,
    session: Session,
    message_id: int | None,
    conversation_id: int | None,
    text: str,
    result: Any,
    direction: str,
    now: datetime,
    sender: str = "",
    recent: Sequence[str] = (),
    sent_text: str | None = None,
) -> list[ComplianceFlag]:
    """Store a flag for a screened text when it has hits, a non-allow verdict or failed suitability.

    `result` is a gate result (compliance.gate.OutboundResult / bot GateResult), an InboundSignals, or a Screening.
    Returns the stored flags (one per text; empty when there is nothing to keep)."""
    hits = _hits_of(result, text)
    verdict = str(getattr(result, "verdict", "") or "")
    suitability_ok = bool(getattr(result, "suitability_ok", True))
    signals = sorted(getattr(result, "signals", ()) or ())
    if isinstance(result, Screening):
        verdict = result.severity or "allow"
    elif not verdict:  # inbound signals
        verdict = max((h["severity"] for h in hits), key=_rank, default="allow")
    if not hits and verdict in ("", "allow") and suitability_ok and not signals:
        return []
    severity = max((h["severity"] for h in hits), key=_rank, default=None)
    if severity is None and verdict not in ("allow", ""):
        severity = verdict
    flag = ComplianceFlag(
        conversation_id=conversation_id,
        message_id=message_id,
        direction="in" if direction in ("in", "inbound") else "out",
        sender=sender,
        text=text,
        sent_text=sent_text if sent_text is not None else _sent_text(result, text),
        verdict=verdict or "allow",
        severity=severity,
        categories=list(dict.fromkeys(h["category"] for h in hits)),
        signals=list(signals),
        hits=hits,
        suitability_ok=suitability_ok,
        reason=str(getattr(result, "reason", "") or ""),
        rewrite_hint=getattr(result, "rewrite_hint", None),
        context=list(recent),
        lexicon_version=str(getattr(result, "lexicon_version", "") or ""),
        status=ReviewStatus.open,
        created_at=now,
    )
    session.add(flag)
    session.flush()
    return [flag]


def _sent_text(result: Any, text: str) -> str | None:
    sent = getattr(result, "text", None)
    if sent is None or sent == text or str(getattr(result, "verdict", "")) == "block":
        return None
    return sent


def _rank(severity: str | None) -> int:
    return {"warn": 1, "review": 2, "block": 3}.get(severity or "", 0)


def record_decision(
    *, session: Session, message: Any, reply: Any, decision: Any, now: datetime
) -> list[ComplianceFlag]:
    """Flags for one pipeline decision (called by the handler): the client's message, the reply and the draft."""
    flags: list[ComplianceFlag] = []
    conversation_id = getattr(message, "conversation_id", None)
    inbound = getattr(decision, "inbound", None)
    if inbound is not None:
        flags += record_flags(session=session, message_id=message.id, conversation_id=conversation_id,
                              text=message.text or "", result=inbound, direction="in", now=now, sender="client")
    seen: set[int] = set()
    for result in (getattr(decision, "reply_gate", None), getattr(decision, "draft_gate", None)):
        if result is None or id(result) in seen:
            continue
        seen.add(id(result))
        original = getattr(result, "original_text", None)
        if original is None:
            draft = getattr(decision.outcome, "draft", None)
            original = draft.text if draft is not None and result is decision.draft_gate else result.text
        flags += record_flags(session=session, message_id=getattr(reply, "id", None), conversation_id=conversation_id,
                              text=original, result=result, direction="out", now=now, sender="bot")
    return flags


def list_flags(
    *,
    session: Session,
    status: str | None = None,
    category: str | None = None,
    severity: str | None = None,
    direction: str | None = None,
    conversation_id: int | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[ComplianceFlag]:
    """Flags, newest first, filtered."""
    stmt = select(ComplianceFlag)
    if status:
        stmt = stmt.where(ComplianceFlag.status == ReviewStatus(status))
    if severity:
        stmt = stmt.where(ComplianceFlag.severity == severity)
    if direction:
        stmt = stmt.where(ComplianceFlag.direction == direction)
    if conversation_id is not None:
        stmt = stmt.where(ComplianceFlag.conversation_id == conversation_id)
    if start is not None:
        stmt = stmt.where(ComplianceFlag.created_at >= start)
    if end is not None:
        stmt = stmt.where(ComplianceFlag.created_at < end)
    stmt = stmt.order_by(sa.desc(ComplianceFlag.created_at), sa.desc(ComplianceFlag.id))
    if category:
        # JSON containment differs per backend; filter in Python over a bounded window
        rows = [f for f in session.exec(stmt.limit(max(limit + offset, 1) * 20)) if category in (f.categories or [])]
        return rows[offset:offset + limit]
    return list(session.exec(stmt.offset(offset).limit(limit)))


def count_flags(*, session: Session, status: str | None = None) -> int:
    """How many flags (with a status)."""
    stmt = select(sa.func.count()).select_from(ComplianceFlag)
    if status:
        stmt = stmt.where(ComplianceFlag.status == ReviewStatus(status))
    return int(session.exec(stmt).one())


def get_flag(*, session: Session, flag_id: int) -> ComplianceFlag | None:
    """One flag or None."""
    return session.get(ComplianceFlag, flag_id)


def get_flag_or_raise(*, session: Session, flag_id: int) -> ComplianceFlag:
    """One flag; NotFoundError when there is none."""
    flag = get_flag(session=session, flag_id=flag_id)
    if flag is None:
        raise NotFoundError(f"compliance flag {flag_id} not found")
    return flag


def decide(
    *, session: Session, flag_id: int, status: str, reviewer: str, note: str | None = None, now: datetime
) -> ComplianceFlag:
    """Record a reviewer's decision (confirmed / dismissed). Deciding again with the same status is a no-op;
    changing a decided flag to a different status is a conflict."""
    try:
        new = ReviewStatus(status)
    except ValueError:
        raise BadRequestError(f"status must be confirmed or dismissed, not {status!r}") from None
    if new == ReviewStatus.open:
        raise BadRequestError("a decision is confirmed or dismissed")
    if not reviewer or not reviewer.strip():
        raise BadRequestError("a decision needs the reviewer")
    flag = get_flag_or_raise(session=session, flag_id=flag_id)
    if flag.status != ReviewStatus.open:
        if flag.status == new:
            return flag
        raise ConflictError(f"compliance flag {flag_id} is already {flag.status} by {flag.reviewer}")
    flag.status = new
    flag.reviewer = reviewer.strip()
    flag.review_note = note
    flag.reviewed_at = now
    session.add(flag)
    session.flush()
    return flag


def flag_row(flag: ComplianceFlag) -> dict[str, Any]:
    """A flag as one flat export row."""
    hits = flag.hits or []
    return {
        "id": flag.id,
        "created_at": flag.created_at.isoformat() if flag.created_at else None,
        "conversation_id": flag.conversation_id,
        "message_id": flag.message_id,
        "direction": flag.direction,
        "sender": flag.sender,
        "verdict": flag.verdict,
        "severity": flag.severity,
        "categories": flag.categories,
        "signals": flag.signals,
        "terms": [h.get("matched") or h.get("term") for h in hits],
        "spans": [[h.get("start"), h.get("end")] for h in hits],
        "suitability_ok": flag.suitability_ok,
        "text": flag.text,
        "sent_text": flag.sent_text,
        "reason": flag.reason,
        "lexicon_version": flag.lexicon_version,
        "status": str(flag.status),
        "reviewer": flag.reviewer,
        "review_note": flag.review_note,
        "reviewed_at": flag.reviewed_at.isoformat() if flag.reviewed_at else None,
    }


def export(*, session: Session, start: datetime, end: datetime, fmt: str = "csv") -> str:
    """Flagged texts created in [start, end) as CSV (UTF-8 with BOM, for Excel) or JSONL, oldest first."""
    if fmt not in ("csv", "jsonl"):
        raise BadRequestError(f"format must be csv or jsonl, not {fmt!r}")
    if end <= start:
        raise BadRequestError("the end of the range must be after its start")
    stmt = (
        select(ComplianceFlag)
        .where(ComplianceFlag.created_at >= start, ComplianceFlag.created_at < end)
        .order_by(ComplianceFlag.created_at, ComplianceFlag.id)
    )
    rows = [flag_row(f) for f in session.exec(stmt)]
    if fmt == "jsonl":
        return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=EXPORT_FIELDS)
    writer.writeheader()
    for r in rows:
        writer.writerow({k: _csv_value(v) for k, v in r.items()})
    return "\ufeff" + buf.getvalue()


def _csv_value(value: Any) -> Any:
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value  # no formula injection when opened in a spreadsheet
    return value


def segments(text: str, hits: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The text cut into plain and hit pieces for highlighting (<mark>); overlapping hits merge into the first.
    Each hit piece carries {category, severity, term}."""
    marks = sorted((int(h.get("start", 0)), int(h.get("end", 0)), h) for h in hits
                   if 0 <= int(h.get("start", 0)) < int(h.get("end", 0)) <= len(text))
    out: list[dict[str, Any]] = []
    pos = 0
    for start, end, hit in marks:
        start = max(start, pos)
        if start >= end:
            continue
        if start > pos:
            out.append({"text": text[pos:start], "hit": None})
        out.append({"text": text[start:end],
                    "hit": {"category": hit.get("category"), "severity": hit.get("severity"), "term": hit.get("term")}})
        pos = end
    if pos < len(text):
        out.append({"text": text[pos:], "hit": None})
    return out
