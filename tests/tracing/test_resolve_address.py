"""resolve_address on a node (SQLite and PostgreSQL): record + directory → State, point of contact, retention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from conftest import make_user
from nohaven.audit.models import AuditEntry
from nohaven.auth.policy import Subject
from nohaven.demo.ipdata import load_sample
from nohaven.directory.models import NodeIdentity, State
from nohaven.errors import InputError, PermissionDeniedError
from nohaven.node import Node
from nohaven.tracing.ipdata import IpDataStore
from nohaven.tracing.resolve import resolve_address

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
AT = datetime.fromisoformat("2026-11-27T03:14:07+01:00")


@pytest.fixture
def store(tmp_path: Path) -> IpDataStore:
    ipdata = IpDataStore(tmp_path / "ipdata")
    load_sample(ipdata)
    return ipdata


@pytest.fixture
def officer(node: Node) -> Subject:
    subject: Subject = make_user(node, "olga", "officer")
    return subject


def test_vpn_address_resolves_to_borvania_with_its_desk_and_retention(node: Node, store: IpDataStore,
                                                                      officer: Subject) -> None:
    with node.work() as session:
        result = resolve_address(session, officer, "198.51.100.23", AT, store, NOW)
    assert result.record is not None
    assert (result.record.prefix, result.record.asn, result.record.country) == ("198.51.100.0/24", 64510, "XB")
    assert result.record.holder == "Borvania VPN Services (fictional)"
    assert result.state is not None and result.state.code == "XB" and result.state.time_zone == "Europe/Berlin"
    assert result.domestic is False
    assert result.point_of_contact is not None
    assert result.point_of_contact.contact_key == "xb-desk"
    assert result.point_of_contact.email == "247@police.xb.example"
    assert result.traffic_retention == "P90D"
    assert result.likely_deleted_after == AT + timedelta(days=90)
    assert result.problems == []
    body = result.to_dict()
    assert body["likely_deleted_after"] == "2027-02-25T02:14:07+00:00"
    assert body["record"]["rir_snapshot"] == "2026-10-01"


def test_own_state_is_domestic(node: Node, store: IpDataStore, officer: Subject) -> None:
    with node.work() as session:
        result = resolve_address(session, officer, "192.0.2.10", AT, store, NOW)
    assert result.state is not None and result.state.code == "XA"
    assert result.domestic is True


def test_older_instant_uses_the_snapshot_in_force_then(node: Node, store: IpDataStore, officer: Subject) -> None:
    then = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    with node.work() as session:
        result = resolve_address(session, officer, "198.51.100.23", then, store, NOW)
    assert result.record is not None and result.record.rir_snapshot is not None
    assert result.record.rir_snapshot.isoformat() == "2025-06-01"
    assert result.state is not None and result.state.code == "XA"
    assert result.domestic is True
    assert result.traffic_retention == "P180D"


def test_instant_before_every_snapshot_is_said_not_guessed(node: Node, store: IpDataStore,
                                                           officer: Subject) -> None:
    with node.work() as session:
        result = resolve_address(session, officer, "198.51.100.23", datetime(2024, 1, 1, tzinfo=UTC), store, NOW)
    assert result.record is None and result.state is None
    assert any("no snapshot dated on or before 2024-01-01" in p and "2025-06-01" in p for p in result.problems)


def test_every_gap_is_a_named_problem(node: Node, store: IpDataStore, officer: Subject) -> None:
    with node.work() as session:
        unknown = resolve_address(session, officer, "10.1.2.3", AT, store, NOW)
        reserved = resolve_address(session, officer, "2001:db8:f::1", AT, store, NOW)
        no_time = resolve_address(session, officer, "203.0.113.77", None, store, NOW)
        session.delete(session.get(State, "XC"))
        session.flush()
        missing_state = resolve_address(session, officer, "203.0.113.77", AT, store, NOW)
    assert any("10.1.2.3 is in no range" in p for p in unknown.problems)
    assert any("no country for 2001:db8:f::/48" in p for p in reserved.problems)
    assert any("not routed" in p for p in reserved.problems)
    assert no_time.likely_deleted_after is None and no_time.traffic_retention == "P365D"
    assert any("no instant given" in p for p in no_time.problems)
    assert missing_state.state is None and missing_state.point_of_contact is None
    assert any("State XC is not in the directory" in p for p in missing_state.problems)


def test_retention_passed_and_unset_profile_are_problems(node: Node, store: IpDataStore, officer: Subject) -> None:
    long_ago = datetime(2026, 1, 10, tzinfo=UTC)  # XA's 180 days ran out in July
    with node.work() as session:
        expired = resolve_address(session, officer, "192.0.2.1", long_ago, store, NOW)
        state = session.get(State, "XB")
        assert state is not None
        state.legal_profile = {k: v for k, v in state.legal_profile.items() if k != "retention"}
        for agency in state.agencies:
            agency.point_of_contact = False
        session.flush()
        bare = resolve_address(session, officer, "198.51.100.23", AT, store, NOW)
    assert any("likely deleted already" in p for p in expired.problems)
    assert bare.traffic_retention is None and bare.point_of_contact is None
    assert any("no retention period for traffic data" in p for p in bare.problems)
    assert any("no point-of-contact agency" in p for p in bare.problems)


def test_node_without_identity_cannot_say_domestic(node: Node, store: IpDataStore, officer: Subject) -> None:
    with node.work() as session:
        session.delete(session.get(NodeIdentity, 1))
        session.flush()
        result = resolve_address(session, officer, "192.0.2.1", AT, store, NOW)
    assert result.domestic is False
    assert any("no State of its own" in p for p in result.problems)


def test_resolution_is_audited_and_the_policy_decides(node: Node, store: IpDataStore, officer: Subject) -> None:
    auditor = make_user(node, "aldo", "auditor")
    with node.work() as session:
        resolve_address(session, officer, "198.51.100.23", AT, store, NOW)
    with pytest.raises(PermissionDeniedError), node.work() as session:
        resolve_address(session, auditor, "198.51.100.23", AT, store, NOW)
    with node.work() as session:
        rows = session.execute(select(AuditEntry).where(AuditEntry.action == "trace.resolve")
                               .order_by(AuditEntry.seq)).scalars().all()
    assert [(r.actor, r.outcome, r.object_id) for r in rows] == [
        ("olga", "ok", "198.51.100.23"), ("aldo", "denied", "198.51.100.23")]
    assert rows[0].detail["asn"] == 64510 and rows[0].detail["country"] == "XB"


def test_bad_address_and_naive_instant_are_refused(node: Node, store: IpDataStore, officer: Subject) -> None:
    with pytest.raises(InputError, match="not an IPv4 or IPv6 address"), node.work() as session:
        resolve_address(session, officer, "198.51.100.300", AT, store, NOW)
    with pytest.raises(InputError, match="no UTC offset"), node.work() as session:
        resolve_address(session, officer, "198.51.100.23", datetime(2026, 11, 27, 3, 14), store, NOW)  # noqa: DTZ001
