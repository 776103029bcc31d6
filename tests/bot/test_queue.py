"""The durable queue on both backends: claims, leases, per-conversation order, exactly-once enqueue."""

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from sqlmodel import select

from bot import outbox, worker
from bot.conversations import service as conversation_service
from bot.models import Message, MessageStatus, OutboxItem, OutboxKind

T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now


def services_for(db, clock):
    return SimpleNamespace(db=db, now=clock, wake=lambda: None)


def add_messages(db, user, texts, start=T0):
    ids = []
    with db.session() as s:
        for i, text in enumerate(texts):
            m = conversation_service.record_inbound(
                session=s, open_kfid="kf1", external_userid=user, wecom_msgid=f"{user}-{i}", kind="text", text=text,
                sent_at=start + timedelta(seconds=i), now=start)
            ids.append(m.id)
    return ids


class TestRecordInbound:
    def test_same_wecom_msgid_is_stored_once(self, any_db):
        add_messages(any_db, "u1", ["你好"])
        with any_db.session() as s:
            again = conversation_service.record_inbound(
                session=s, open_kfid="kf1", external_userid="u1", wecom_msgid="u1-0", kind="text", text="你好",
                sent_at=T0, now=T0)
            assert again is None
            assert len(s.exec(select(Message)).all()) == 1


class TestClaimMessage:
    def test_one_conversation_in_order_and_others_in_parallel(self, any_db):
        a1, a2 = add_messages(any_db, "ua", ["1", "2"])
        (b1,) = add_messages(any_db, "ub", ["x"])
        svc = services_for(any_db, Clock(T0))
        first = worker.claim_message(svc)
        second = worker.claim_message(svc)
        assert {first[0], second[0]} == {a1, b1}
        assert worker.claim_message(svc) is None  # a2 waits for a1
        with any_db.session() as s:
            m = s.get(Message, a1)
            m.status = MessageStatus.answered
        assert worker.claim_message(svc)[0] == a2

    def test_expired_lease_is_reclaimed_with_a_new_attempt(self, any_db):
        (m1,) = add_messages(any_db, "ua", ["1"])
        clock = Clock(T0)
        svc = services_for(any_db, clock)
        assert worker.claim_message(svc) == (m1, 1)
        assert worker.claim_message(svc) is None
        clock.now = T0 + worker.LEASE + timedelta(seconds=1)
        assert worker.claim_message(svc) == (m1, 2)


class TestOutboxEnqueue:
    def test_same_key_is_enqueued_once(self, any_db):
        with any_db.session() as s:
            a = outbox.enqueue(session=s, kind=OutboxKind.app_message, key="k1", target="adv",
                               payload={"msgtype": "text", "content": {"content": "x"}})
        with any_db.session() as s:
            b = outbox.enqueue(session=s, kind=OutboxKind.app_message, key="k1", target="adv",
                               payload={"msgtype": "text", "content": {"content": "y"}})
            assert a.id == b.id
            assert len(s.exec(select(OutboxItem)).all()) == 1

    def test_claim_respects_backoff_and_lease(self, any_db):
        with any_db.session() as s:
            outbox.enqueue(session=s, kind=OutboxKind.app_message, key="k1", target="adv", payload={},
                           not_before=T0 + timedelta(minutes=5))
        clock = Clock(T0)
        svc = services_for(any_db, clock)
        assert worker.claim_outbox(svc) == []
        clock.now = T0 + timedelta(minutes=5)
        assert len(worker.claim_outbox(svc)) == 1
        assert worker.claim_outbox(svc) == []  # leased
        clock.now += worker.LEASE + timedelta(seconds=1)
        assert [attempt for _, attempt in worker.claim_outbox(svc)] == [2]
