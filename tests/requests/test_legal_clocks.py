"""Legal clocks: computed from the requested State's profile, started and stopped by what happens to the
request and to the requests linked to it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from clocktools import T0, clocks, create, import_file

from conftest import auth, make_token, request_body
from nohaven.errors import ConflictError
from nohaven.requests import service as requests

H = timedelta(hours=1)
D = timedelta(days=1)


def test_due_times_come_from_the_requested_states_profile(node: Any, people: Any) -> None:
    olga = people["olga"]
    incoming = clocks(node, create(node, olga))  # requested State: this node's, XA
    assert incoming["acknowledge_by"].due_at == T0 + 1 * H
    assert incoming["response_due"].due_at == T0 + 8 * H
    assert incoming["written_confirmation_due"].due_at == T0 + 3 * D

    outgoing = clocks(node, create(node, olga, direction="outgoing", requesting_state="XA", requested_state="XB"))
    assert outgoing["acknowledge_by"].due_at == T0 + 2 * H  # XB's profile
    assert outgoing["response_due"].due_at == T0 + 24 * H
    assert outgoing["written_confirmation_due"].due_at == T0 + 5 * D

    normal = clocks(node, create(node, olga, priority="normal", type="subscriber"))
    assert normal["acknowledge_by"].due_at == T0 + 24 * H
    assert normal["response_due"].due_at == T0 + 20 * D  # XA's response_by_type for subscriber data

    import_file(node, "xa_slow_profile.yaml")
    slower = clocks(node, create(node, olga))
    assert slower["acknowledge_by"].due_at == T0 + 3 * H
    assert slower["response_due"].due_at == T0 + 12 * H
    assert slower["written_confirmation_due"].due_at == T0 + 2 * D
    assert "PT3H" in slower["acknowledge_by"].basis


def test_emergency_requests_run_on_the_urgent_clock(node: Any, people: Any) -> None:
    emergency = clocks(node, create(node, people["olga"], type="emergency", priority="normal"))
    assert emergency["acknowledge_by"].due_at == T0 + 1 * H
    assert emergency["response_due"].due_at == T0 + 8 * H


@pytest.mark.parametrize(("channel", "expected"), [
    ("email", True), ("fax", True), ("voice", True), ("in_person", True), ("platform", False)])
def test_written_confirmation_clock_only_for_informal_channels(node: Any, people: Any, channel: str,
                                                               expected: bool) -> None:
    kinds = clocks(node, create(node, people["olga"], channel=channel))
    assert ("written_confirmation_due" in kinds) is expected
    assert "acknowledge_by" in kinds and "response_due" in kinds


def test_written_confirmation_stops_its_clock(node: Any, people: Any) -> None:
    rid = create(node, people["olga"], channel="fax")
    with node.work() as session:
        requests.confirm_written(session, people["olga"], rid, "signed letter", now=T0 + 5 * H)
    clock = clocks(node, rid)["written_confirmation_due"]
    assert clock.state == "satisfied"
    assert clock.settled_at == T0 + 5 * H
    with node.work() as session, pytest.raises(ConflictError):
        requests.confirm_written(session, people["olga"], rid)


def test_platform_requests_need_no_written_confirmation(node: Any, people: Any) -> None:
    rid = create(node, people["olga"], channel="platform")
    with node.work() as session, pytest.raises(ConflictError, match="platform"):
        requests.confirm_written(session, people["olga"], rid)


def test_acknowledging_stops_acknowledge_by_only(node: Any, people: Any) -> None:
    rid = create(node, people["olga"])
    with node.work() as session:
        requests.acknowledge(session, people["olga"], rid, now=T0 + 20 * timedelta(minutes=1))
    after = clocks(node, rid)
    assert after["acknowledge_by"].state == "satisfied"
    assert after["response_due"].state == "running"
    assert after["written_confirmation_due"].state == "running"
    with node.work() as session, pytest.raises(ConflictError, match="acknowledged already"):
        requests.acknowledge(session, people["olga"], rid)


def _preserve(node: Any, subject: Any, rid: int, at: Any) -> None:
    with node.work() as session:
        requests.transition(session, subject, rid, "Preserved", now=at)


def test_preserved_starts_expiry_extension_and_mla_clocks(node: Any, people: Any) -> None:
    olga = people["olga"]
    rid = create(node, olga)
    before = clocks(node, rid)
    assert {"preservation_expires_at", "extension_due", "mla_follow_up_due"}.isdisjoint(before)
    assert before["data_at_risk"].state == "running"
    t1 = T0 + 2 * H
    _preserve(node, olga, rid, t1)
    after = clocks(node, rid)
    assert after["preservation_expires_at"].due_at == t1 + 60 * D
    assert after["extension_due"].due_at == t1 + 60 * D - 7 * D
    assert after["mla_follow_up_due"].due_at == t1 + 60 * D
    for kind in ("preservation_expires_at", "extension_due", "mla_follow_up_due"):
        assert after[kind].state == "running", kind
    # Preserving answers the request and takes the data out of the carrier's deletion cycle.
    assert after["response_due"].state == "satisfied"
    assert after["data_at_risk"].state == "satisfied"


def test_preservation_clocks_follow_the_profile_too(node: Any, people: Any) -> None:
    import_file(node, "xa_slow_profile.yaml")
    rid = create(node, people["olga"])
    _preserve(node, people["olga"], rid, T0)
    after = clocks(node, rid)
    assert after["preservation_expires_at"].due_at == T0 + 90 * D
    assert after["extension_due"].due_at == T0 + 90 * D - 14 * D
    assert after["mla_follow_up_due"].due_at == T0 + 45 * D


def test_mla_linked_at_creation_settles_mla_follow_up_due(node: Any, people: Any) -> None:
    olga = people["olga"]
    rid = create(node, olga)
    _preserve(node, olga, rid, T0 + H)
    with node.work() as session:
        reference = requests.get_request(session, olga, rid).case.reference
    mla = create(node, olga, T0 + 3 * D, type="mla", case_reference=reference, follows_preservation_id=rid)
    after = clocks(node, rid)
    assert after["mla_follow_up_due"].state == "satisfied"
    assert after["mla_follow_up_due"].settled_at == T0 + 3 * D
    with node.work() as session:
        view = requests.request_view(requests.get_request(session, olga, rid))
    assert view["follow_up_mla_id"] == mla
    assert any(e["kind"] == "mla_follow_up_linked" for e in view["events"])


def test_mla_linked_through_the_api_settles_mla_follow_up_due(client: Any, node: Any, people: Any) -> None:
    h = auth(make_token(node, "olga"))
    preservation = client.post("/api/v1/requests", json=request_body(), headers=h).json()
    pid = preservation["id"]
    client.post(f"/api/v1/requests/{pid}/transitions", json={"to": "Preserved"}, headers=h)
    mla = client.post("/api/v1/requests", json=request_body(type="mla"), headers=h).json()
    linked = client.post(f"/api/v1/requests/{pid}/follow-up", json={"mla_id": mla["id"]}, headers=h)
    assert linked.status_code == 200, linked.text
    assert linked.json()["clocks"]["mla_follow_up_due"]["state"] == "satisfied"
    assert linked.json()["follow_up_mla_id"] == mla["id"]
    again = client.post(f"/api/v1/requests/{pid}/follow-up", json={"mla_id": mla["id"]}, headers=h)
    assert again.status_code == 409
    not_mla = client.post(f"/api/v1/requests/{pid}/follow-up", json={"mla_id": pid}, headers=h)
    assert not_mla.status_code == 422
    assert not_mla.json()["errors"][0]["field"] == "mla_id"


def test_an_extension_settles_the_originals_extension_due(node: Any, people: Any) -> None:
    olga = people["olga"]
    original = create(node, olga)
    t1 = T0 + H
    _preserve(node, olga, original, t1)
    with node.work() as session:
        reference = requests.get_request(session, olga, original).case.reference
    extension = create(node, olga, T0 + 50 * D, is_extension=True, extends_id=original, case_reference=reference)
    after = clocks(node, original)
    assert after["extension_due"].state == "satisfied"
    assert after["preservation_expires_at"].state == "running"  # until the extension is in place
    t2 = T0 + 51 * D
    _preserve(node, olga, extension, t2)
    ext = clocks(node, extension)
    # The extension's period runs on from the original's expiry, by the profile's extension length.
    assert ext["preservation_expires_at"].due_at == t1 + 60 * D + 30 * D
    assert clocks(node, original)["preservation_expires_at"].state == "satisfied"


def test_an_extension_of_unpreserved_data_is_refused(node: Any, people: Any) -> None:
    from nohaven.errors import InputError

    original = create(node, people["olga"])
    with pytest.raises(InputError) as caught:
        create(node, people["olga"], is_extension=True, extends_id=original)
    assert caught.value.errors[0]["field"] == "extends_id"


def test_closing_a_request_stops_its_clocks(node: Any, people: Any) -> None:
    rid = create(node, people["olga"])
    with node.work() as session:
        requests.transition(session, people["olga"], rid, "Rejected", now=T0 + H)
    states = {k: c.state for k, c in clocks(node, rid).items()}
    assert "running" not in states.values()
    assert states["response_due"] == "satisfied"
