"""Several node processes on one PostgreSQL database may each run the clock watcher: a tick claims its clocks
with FOR UPDATE SKIP LOCKED, so a second tick running at the same time neither waits for nor repeats the first."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from clocktools import clocks, create
from sqlalchemy import func, select

from nohaven.audit import log as audit
from nohaven.audit.models import AuditEntry
from nohaven.requests.escalation import TickResult, tick
from nohaven.requests.models import Notification

pytestmark = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)


def _notifications(node: Any) -> list[tuple[int | None, str, str]]:
    with node.work() as session:
        return [(n.request_id, n.clock_kind, n.level) for n in session.execute(
            select(Notification).order_by(Notification.id)).scalars()]


def test_a_concurrent_second_tick_does_not_notify_again(node: Any, people: Any) -> None:
    first_id = create(node, people["olga"])
    second_id = create(node, people["olga"], their_reference="XB-247-0002")
    at = clocks(node, first_id)["acknowledge_by"].warn_at + timedelta(minutes=1)
    results: dict[str, TickResult] = {}

    # The first tick claims the due clocks and is still in its transaction when the second one runs.
    with node.db.session() as first:
        results["first"] = tick(first, now=at)

        def second_tick() -> None:
            with node.db.session() as session:
                results["second"] = tick(session, now=at)

        runner = threading.Thread(target=second_tick)
        runner.start()
        runner.join(timeout=30)
        assert not runner.is_alive(), "the second tick waited for the first instead of skipping its clocks"

    assert results["first"].warned == 2  # acknowledge_by of each request
    assert results["second"].as_dict() == {"warned": 0, "escalated": 0, "expired": 0}
    warned = _notifications(node)
    assert sorted((rid, kind) for rid, kind, _ in warned) == [(first_id, "acknowledge_by"),
                                                              (second_id, "acknowledge_by")]

    # Once the first has committed, a later tick at the same instant finds the clocks already warned.
    with node.work() as session:
        assert tick(session, now=at).as_dict() == {"warned": 0, "escalated": 0, "expired": 0}
    assert _notifications(node) == warned
    with node.work() as session:
        assert session.execute(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "clock.warning")).scalar_one() == 2
        assert audit.verify(session).ok


def test_two_ticks_racing_notify_each_clock_once(node: Any, people: Any) -> None:
    ids = [create(node, people["olga"], their_reference=f"XB-247-{n:04d}") for n in range(6)]
    at = clocks(node, ids[0])["acknowledge_by"].warn_at + timedelta(minutes=1)
    start = threading.Barrier(2)
    results: list[TickResult] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            start.wait(timeout=10)
            with node.db.session() as session:
                results.append(tick(session, now=at))
        except BaseException as exc:  # reported below; a thread's exception would otherwise vanish
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors and len(results) == 2
    assert sum(r.warned for r in results) == len(ids)
    warned = _notifications(node)
    assert len(warned) == len(ids)
    assert sorted(rid for rid, _, _ in warned) == sorted(ids)
