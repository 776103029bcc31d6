"""Flag records, review decisions and exports (SQLite, migrated like production)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from bot.errors import BadRequestError, ConflictError, NotFoundError
from bot.models.compliance import ComplianceFlag, ReviewStatus
from bot.models.conversation import Conversation, Direction, Message, MessageStatus
from bot.pipeline.schemas import ClientProfile, Context
from compliance import service
from compliance.gate import ComplianceGate
from compliance.screening import screen

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def gate() -> ComplianceGate:
    return ComplianceGate(semantic=None)


def make_message(session, text: str = "你好") -> Message:  # type: ignore[no-untyped-def]
    conv = Conversation(open_kfid="kf1", wecom_external_userid=f"wm{datetime.now().timestamp()}")
    session.add(conv)
    session.flush()
    msg = Message(conversation_id=conv.id, direction=Direction.outbound, sender="bot", text=text,
                  status=MessageStatus.pending)
    session.add(msg)
    session.flush()
    return msg


def ctx() -> Context:
    return Context(client=ClientProfile(risk_level="C3"), now=NOW)


class TestRecord:
    def test_outbound_block_is_recorded_with_spans(self, db, gate: ComplianceGate) -> None:  # type: ignore[no-untyped-def]
        text = "这个产品保\u200b本，放心买"
        result = gate.check_outbound(text, ctx())
        with db.session() as s:
            msg = make_message(s)
            flags = service.record_flags(session=s, message_id=msg.id, conversation_id=msg.conversation_id,
                                         text=text, result=result, direction="out", now=NOW, sender="bot")
            flag_id = flags[0].id
        with db.session() as s:
            flag = service.get_flag_or_raise(session=s, flag_id=flag_id)
            assert flag.verdict == "block" and flag.severity == "block" and flag.status == ReviewStatus.open
            assert flag.lexicon_version == result.lexicon_version
            hit = next(h for h in flag.hits if h["category"] == "guarantee_return")
            assert text[hit["start"]:hit["end"]] == hit["matched"] == "保\u200b本"
            assert flag.created_at == NOW and flag.reason

    def test_clean_text_is_not_recorded(self, db, gate: ComplianceGate) -> None:  # type: ignore[no-untyped-def]
        with db.session() as s:
            result = gate.check_outbound("您好", ctx())
            assert service.record_flags(session=s, message_id=None, conversation_id=None, text="您好",
                                        result=result, direction="out", now=NOW) == []

    def test_screening_and_inbound_signals(self, db, gate: ComplianceGate) -> None:  # type: ignore[no-untyped-def]
        with db.session() as s:
            a = service.record_flags(session=s, message_id=None, conversation_id=None, text="保 本",
                                     result=screen("保 本"), direction="out", now=NOW)
            signals = gate.check_inbound("我要投诉", ctx())
            b = service.record_flags(session=s, message_id=None, conversation_id=None, text="我要投诉",
                                     result=signals, direction="in", now=NOW, sender="client")
            assert a[0].verdict == "block"
            assert b[0].direction == "in" and b[0].signals == ["complaint"] and b[0].verdict == "review"

    def test_record_decision_hook(self, db, gate: ComplianceGate) -> None:  # type: ignore[no-untyped-def]
        reply_gate = gate.check_outbound("预期收益率8%", ctx())
        decision = SimpleNamespace(inbound=gate.check_inbound("保本吗", ctx()), reply_gate=reply_gate,
                                   draft_gate=None, outcome=SimpleNamespace(draft=None))
        with db.session() as s:
            msg = make_message(s, "保本吗")
            flags = service.record_decision(session=s, message=msg, reply=msg, decision=decision, now=NOW)
            out = [f for f in flags if f.direction == "out"][0]
            assert out.text == "预期收益率8%" and out.sent_text == reply_gate.text
            assert any(f.direction == "in" and "guarantee_request" in f.signals for f in flags)


class TestDecide:
    def _flag(self, db) -> int:  # type: ignore[no-untyped-def]
        with db.session() as s:
            return service.record_flags(session=s, message_id=None, conversation_id=None, text="稳赚",
                                        result=screen("稳赚"), direction="out", now=NOW)[0].id

    def test_confirm(self, db) -> None:  # type: ignore[no-untyped-def]
        fid = self._flag(db)
        with db.session() as s:
            service.decide(session=s, flag_id=fid, status="confirmed", reviewer="hegui01", note="违规", now=NOW)
        with db.session() as s:
            flag = s.get(ComplianceFlag, fid)
            assert (flag.status, flag.reviewer, flag.review_note, flag.reviewed_at) == (
                ReviewStatus.confirmed, "hegui01", "违规", NOW)

    def test_same_decision_twice_is_a_noop_and_a_change_conflicts(self, db) -> None:  # type: ignore[no-untyped-def]
        fid = self._flag(db)
        with db.session() as s:
            service.decide(session=s, flag_id=fid, status="dismissed", reviewer="a", now=NOW)
            service.decide(session=s, flag_id=fid, status="dismissed", reviewer="a", now=NOW)
            with pytest.raises(ConflictError):
                service.decide(session=s, flag_id=fid, status="confirmed", reviewer="b", now=NOW)

    @pytest.mark.parametrize(("status", "reviewer"), [("open", "a"), ("maybe", "a"), ("confirmed", " ")])
    def test_bad_decisions(self, db, status: str, reviewer: str) -> None:  # type: ignore[no-untyped-def]
        fid = self._flag(db)
        with db.session() as s, pytest.raises(BadRequestError):
            service.decide(session=s, flag_id=fid, status=status, reviewer=reviewer, now=NOW)

    def test_unknown_flag(self, db) -> None:  # type: ignore[no-untyped-def]
        with db.session() as s, pytest.raises(NotFoundError):
            service.decide(session=s, flag_id=999, status="confirmed", reviewer="a", now=NOW)


class TestListAndExport:
    def _seed(self, db) -> None:  # type: ignore[no-untyped-def]
        with db.session() as s:
            for i, text in enumerate(["保本", "=稳赚", "预期收益率5%", "必涨"]):
                service.record_flags(session=s, message_id=None, conversation_id=None, text=text,
                                     result=screen(text), direction="out", now=NOW + timedelta(days=i))

    def test_list_filters(self, db) -> None:  # type: ignore[no-untyped-def]
        self._seed(db)
        with db.session() as s:
            assert len(service.list_flags(session=s)) == 4
            assert [f.text for f in service.list_flags(session=s, category="misleading_performance")] == ["预期收益率5%"]
            assert len(service.list_flags(session=s, severity="block")) == 3
            assert len(service.list_flags(session=s, start=NOW + timedelta(days=1), end=NOW + timedelta(days=3))) == 2
            assert service.count_flags(session=s, status="open") == 4

    def test_export_csv_and_jsonl(self, db) -> None:  # type: ignore[no-untyped-def]
        self._seed(db)
        with db.session() as s:
            body = service.export(session=s, start=NOW, end=NOW + timedelta(days=2), fmt="csv")
            rows = list(csv.DictReader(io.StringIO(body.removeprefix("\ufeff"))))
            assert [r["text"] for r in rows] == ["保本", "'=稳赚"]  # formula injection defused
            assert json.loads(rows[0]["spans"]) == [[0, 2]]
            lines = service.export(session=s, start=NOW, end=NOW + timedelta(days=10), fmt="jsonl").splitlines()
            assert len(lines) == 4 and json.loads(lines[0])["categories"] == ["guarantee_return"]
            with pytest.raises(BadRequestError):
                service.export(session=s, start=NOW, end=NOW, fmt="csv")
            with pytest.raises(BadRequestError):
                service.export(session=s, start=NOW, end=NOW + timedelta(days=1), fmt="xml")
