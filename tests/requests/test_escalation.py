"""The clock watcher: warns before, escalates after, to the on-call supervisor; expires preserved data;
survives a restart; e-mails by SMTP when configured."""

from __future__ import annotations

import socket
import threading
from datetime import timedelta
from typing import Any

import pytest
from clocktools import T0, clocks, create, import_file
from sqlalchemy import select

from conftest import make_user
from nohaven.audit import log as audit
from nohaven.audit.models import AuditEntry
from nohaven.node import Node
from nohaven.requests import service as requests
from nohaven.requests.escalation import deliver_email, tick
from nohaven.requests.models import CooperationRequest, Notification, RequestEvent

MIN = timedelta(minutes=1)
H = timedelta(hours=1)
D = timedelta(days=1)


def _tick(node: Any, at: Any) -> dict[str, int]:
    with node.work() as session:
        return tick(session, now=at).as_dict()


def _notifications(node: Any) -> list[Notification]:
    with node.work() as session:
        return list(session.execute(select(Notification).order_by(Notification.id)).scalars())


def test_warns_at_warn_at_then_escalates_after_due_to_the_rota_supervisor(node: Any, people: Any) -> None:
    import_file(node, "xa_with_rota.yaml")
    rid = create(node, people["olga"])
    ack = clocks(node, rid)["acknowledge_by"]
    assert ack.warn_at == T0 + 45 * MIN  # a quarter of the hour before it runs out

    assert _tick(node, ack.warn_at - MIN) == {"warned": 0, "escalated": 0, "expired": 0}
    assert _notifications(node) == []

    assert _tick(node, ack.warn_at) == {"warned": 1, "escalated": 0, "expired": 0}
    [warning] = _notifications(node)
    assert (warning.level, warning.clock_kind, warning.request_id) == ("warning", "acknowledge_by", rid)
    # 02:00 in Paris: Okafor's night shift from the directory's rota, not the day supervisor.
    assert warning.recipient == "Supervisor Tomi Okafor"
    assert warning.recipient_email == "t.okafor@ncu.xa.example"
    assert clocks(node, rid)["acknowledge_by"].state == "warned"

    assert _tick(node, ack.due_at + MIN) == {"warned": 0, "escalated": 1, "expired": 0}
    escalation = _notifications(node)[-1]
    assert escalation.level == "escalation"
    assert escalation.recipient == "Supervisor Tomi Okafor"
    assert "ESCALATION" in escalation.message
    assert clocks(node, rid)["acknowledge_by"].state == "escalated"
    with node.work() as session:
        kinds = [e.kind for e in session.execute(
            select(RequestEvent).where(RequestEvent.request_id == rid).order_by(RequestEvent.id)).scalars()]
        actions = [e.action for e in session.execute(select(AuditEntry).where(AuditEntry.actor == "scheduler"))
                   .scalars()]
    assert kinds[-2:] == ["clock_warning", "clock_escalation"]
    assert actions == ["clock.warning", "clock.escalation"]

    # A second pass repeats nothing.
    assert _tick(node, ack.due_at + 2 * MIN) == {"warned": 0, "escalated": 0, "expired": 0}
    assert len(_notifications(node)) == 2


def test_the_day_shift_supervisor_is_alerted_in_the_day(node: Any, people: Any) -> None:
    import_file(node, "xa_with_rota.yaml")
    day = T0 + 9 * H  # 11:00 in Paris
    create(node, people["olga"], day)
    _tick(node, day + 2 * H)
    assert {n.recipient for n in _notifications(node)} == {"Supervisor Maren Lind"}


def test_without_a_rota_every_supervisor_user_is_alerted(node: Any, people: Any) -> None:
    make_user(node, "sue", "supervisor", email="sue@unit.xa.example")
    rid = create(node, people["olga"])
    _tick(node, T0 + 2 * H)
    notes = [n for n in _notifications(node) if n.request_id == rid and n.clock_kind == "acknowledge_by"]
    assert sorted((n.recipient, n.recipient_email, n.email_status) for n in notes) == [
        ("sam", None, "no_address"), ("sue", "sue@unit.xa.example", "pending")]


def test_acknowledged_in_time_means_no_escalation(node: Any, people: Any) -> None:
    rid = create(node, people["olga"])
    with node.work() as session:
        requests.acknowledge(session, people["olga"], rid, now=T0 + 10 * MIN)
    _tick(node, T0 + 2 * H)
    assert [n for n in _notifications(node) if n.clock_kind == "acknowledge_by"] == []


def test_preserved_data_expires_at_the_end_of_the_period(node: Any, people: Any) -> None:
    rid = create(node, people["olga"])
    with node.work() as session:
        requests.transition(session, people["olga"], rid, "Preserved", now=T0 + H)
    expires = clocks(node, rid)["preservation_expires_at"].due_at
    _tick(node, expires - MIN)
    with node.work() as session:
        assert session.get(CooperationRequest, rid).status == "Preserved"  # type: ignore[union-attr]
    result = _tick(node, expires + MIN)
    assert result["expired"] == 1
    with node.work() as session:
        req = session.get(CooperationRequest, rid)
        assert req is not None and req.status == "Expired"
        assert audit.verify(session).ok
    after = clocks(node, rid)
    # The deadline passed unmet: it is not "satisfied", and nothing keeps running on a closed request.
    assert after["preservation_expires_at"].state in ("escalated", "cancelled")
    assert all(c.state not in ("running", "warned") for c in after.values())
    assert _tick(node, expires + 2 * MIN) == {"warned": 0, "escalated": 0, "expired": 0}
    assert any(n.clock_kind == "preservation_expires_at" and n.level == "escalation" for n in _notifications(node))


def test_clocks_survive_a_restart(node: Any, people: Any) -> None:
    rid = create(node, people["olga"])
    _tick(node, T0 + 50 * MIN)  # warned before the restart
    settings = node.settings
    node.close()
    reopened = Node(settings)
    try:
        assert reopened.is_migrated()
        assert _tick(reopened, T0 + 50 * MIN) == {"warned": 0, "escalated": 0, "expired": 0}
        assert _tick(reopened, T0 + 61 * MIN) == {"warned": 0, "escalated": 1, "expired": 0}
        assert clocks(reopened, rid)["acknowledge_by"].state == "escalated"
        assert [n.level for n in _notifications(reopened) if n.clock_kind == "acknowledge_by"] == \
            ["warning", "escalation"]
    finally:
        reopened.close()


# --- e-mail --------------------------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []
        self.arrived = threading.Event()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope)
        self.arrived.set()
        return "250 OK"


@pytest.fixture
def smtp_server() -> Any:
    from aiosmtpd.controller import Controller

    inbox = _Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    yield controller, inbox
    controller.stop()


def _escalate_to_sue(node: Any, people: Any) -> None:
    make_user(node, "sue", "supervisor", email="sue@unit.xa.example")
    create(node, people["olga"])
    _tick(node, T0 + 2 * H)


def test_notifications_are_emailed_by_smtp(node: Any, people: Any, smtp_server: Any) -> None:
    controller, inbox = smtp_server
    _escalate_to_sue(node, people)
    settings = node.settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": controller.port,
                                                "smtp_from": "node@unit.xa.example"})
    sent = deliver_email(node.db, settings)
    pending = [n for n in _notifications(node) if n.recipient_email]
    assert sent == len(pending) >= 1
    assert {n.email_status for n in pending} == {"sent"}
    assert inbox.arrived.wait(5)
    envelope = inbox.messages[0]
    assert envelope.rcpt_tos == ["sue@unit.xa.example"]
    assert envelope.mail_from == "node@unit.xa.example"
    body = envelope.content.decode()
    assert "ESCALATION" in body and "acknowledge" in body
    # Sent once: a second delivery pass sends nothing more.
    assert deliver_email(node.db, settings) == 0


def test_a_refused_smtp_connection_is_recorded_not_raised(node: Any, people: Any) -> None:
    _escalate_to_sue(node, people)
    settings = node.settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": _free_port()})
    assert deliver_email(node.db, settings) == 0
    pending = [n for n in _notifications(node) if n.recipient_email]
    assert pending and {n.email_status for n in pending} == {"failed"}
    assert all("Connection" in n.email_error or "refused" in n.email_error for n in pending)


def test_without_smtp_nothing_is_sent_and_notifications_stay_recorded(node: Any, people: Any) -> None:
    _escalate_to_sue(node, people)
    assert deliver_email(node.db, node.settings) == 0
    assert {n.email_status for n in _notifications(node) if n.recipient_email} == {"pending"}
