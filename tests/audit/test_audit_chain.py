"""The audit log: every API read and write of request data leaves an entry; the hash chain notices any
altered, deleted or truncated row, and `nohaven audit verify` says which entry broke."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select, text

from conftest import auth, make_token, request_body
from nohaven.audit import log as audit
from nohaven.audit.models import AuditEntry
from nohaven.cli.main import main as cli_main


def _entries_after(node: Any, seq: int) -> list[tuple[str, str, str, str, str]]:
    with node.work() as session:
        rows = session.execute(select(AuditEntry).where(AuditEntry.seq > seq).order_by(AuditEntry.seq)).scalars()
        return [(e.actor, e.action, e.object_type, e.object_id, e.outcome) for e in rows]


def _last_seq(node: Any) -> int:
    with node.work() as session:
        return int(session.execute(select(func.max(AuditEntry.seq))).scalar_one() or 0)


def test_every_api_read_and_write_of_a_request_is_audited(client: Any, node: Any, people: Any) -> None:
    olga = make_token(node, "olga")
    h = auth(olga)

    def step(method: str, path: str, body: Any = None, status: int = 200) -> tuple[Any, list[Any]]:
        before = _last_seq(node)
        response = client.request(method, path, json=body, headers=h)
        assert response.status_code == status, response.text
        return response.json(), _entries_after(node, before)

    created, trail = step("post", "/api/v1/requests", request_body(), 201)
    rid = str(created["id"])
    assert ("olga", "request.create", "request", rid, "ok") in trail
    assert any(e[1] == "case.create" and e[0] == "olga" for e in trail)

    _, trail = step("get", f"/api/v1/requests/{rid}")
    assert trail == [("olga", "request.read", "request", rid, "ok")]

    _, trail = step("get", "/api/v1/requests")
    assert trail == [("olga", "request.list", "request", "", "ok")]

    _, trail = step("post", f"/api/v1/requests/{rid}/acknowledge")
    assert trail == [("olga", "request.acknowledge", "request", rid, "ok")]

    _, trail = step("post", f"/api/v1/requests/{rid}/written-confirmation", {"note": "fax received"})
    assert trail == [("olga", "request.confirm_written", "request", rid, "ok")]

    _, trail = step("post", f"/api/v1/requests/{rid}/transitions", {"to": "Preserved"})
    assert trail == [("olga", "request.transition", "request", rid, "ok")]

    mla, _ = step("post", "/api/v1/requests", request_body(type="mla", case_reference=created["reference"]), 201)
    _, trail = step("post", f"/api/v1/requests/{rid}/follow-up", {"mla_id": mla["id"]})
    assert trail == [("olga", "request.link", "request", rid, "ok")]

    # A refused illegal transition is not an action that happened: nothing is recorded as done.
    _, trail = step("post", f"/api/v1/requests/{rid}/transitions", {"to": "AwaitingPreservation"}, 409)
    assert not any(e[4] == "ok" and e[1] == "request.transition" for e in trail)

    with node.work() as session:
        assert audit.verify(session).ok


def test_list_entry_records_which_requests_were_seen(client: Any, node: Any, people: Any) -> None:
    h = auth(make_token(node, "olga"))
    ids = [client.post("/api/v1/requests", json=request_body(), headers=h).json()["id"] for _ in range(2)]
    client.get("/api/v1/requests", headers=h)
    with node.work() as session:
        entry = session.execute(select(AuditEntry).where(AuditEntry.action == "request.list")).scalar_one()
    assert sorted(entry.detail["ids"]) == sorted(ids)
    assert entry.detail["count"] == 2


def _populate(node: Any, client: Any, n_requests: int = 3) -> int:
    h = auth(make_token(node, "olga"))
    for _ in range(n_requests):
        rid = client.post("/api/v1/requests", json=request_body(), headers=h).json()["id"]
        client.get(f"/api/v1/requests/{rid}", headers=h)
    return _last_seq(node)


def _verify(node: Any) -> audit.AuditVerification:
    with node.work() as session:
        return audit.verify(session)


def _sql(node: Any, statement: str, **params: Any) -> None:
    with node.db.engine.begin() as conn:
        conn.execute(text(statement), params)


def test_intact_log_verifies(client: Any, node: Any, people: Any) -> None:
    last = _populate(node, client)
    result = _verify(node)
    assert result.ok
    assert result.entries == last
    assert result.first_broken_seq is None


@pytest.mark.parametrize(("column", "value"), [
    ("actor", "mallory"),
    ("action", "request.list"),
    ("object_type", "case"),
    ("object_id", "424242"),
    ("outcome", "denied"),
    ("detail", '{"forged": true}'),
    ("at", "2001-02-03 04:05:06"),
    ("prev_hash", "f" * 64),
    ("entry_hash", "e" * 64),
])
def test_altering_any_field_of_a_middle_row_is_found(client: Any, node: Any, people: Any, column: str,
                                                     value: str) -> None:
    last = _populate(node, client)
    target = last // 2
    cast = "CAST(:v AS JSON)" if column == "detail" and node.db.engine.dialect.name == "postgresql" else ":v"
    _sql(node, f"UPDATE audit_entries SET {column} = {cast} WHERE seq = :s", v=value, s=target)
    result = _verify(node)
    assert not result.ok
    assert result.first_broken_seq == target
    assert str(target) in result.reason


def test_deleting_a_middle_row_is_found(client: Any, node: Any, people: Any) -> None:
    last = _populate(node, client)
    target = last // 2
    _sql(node, "DELETE FROM audit_entries WHERE seq = :s", s=target)
    result = _verify(node)
    assert not result.ok
    assert result.first_broken_seq == target
    assert "missing" in result.reason


def test_deleting_the_last_row_is_found(client: Any, node: Any, people: Any) -> None:
    last = _populate(node, client)
    _sql(node, "DELETE FROM audit_entries WHERE seq = :s", s=last)
    result = _verify(node)
    assert not result.ok
    assert result.first_broken_seq == last


def test_deleting_the_tail_and_rewinding_the_head_seq_alone_is_found(client: Any, node: Any, people: Any) -> None:
    last = _populate(node, client)
    _sql(node, "DELETE FROM audit_entries WHERE seq = :s", s=last)
    _sql(node, "UPDATE audit_head SET seq = :s", s=last - 1)
    result = _verify(node)
    assert not result.ok


def test_altering_the_head_is_found(client: Any, node: Any, people: Any) -> None:
    last = _populate(node, client)
    _sql(node, "UPDATE audit_head SET entry_hash = :h", h="a" * 64)
    result = _verify(node)
    assert not result.ok
    assert result.first_broken_seq == last


def test_a_rewritten_row_with_a_recomputed_hash_breaks_the_next_link(client: Any, node: Any, people: Any) -> None:
    """A forger who recomputes the altered row's own hash still breaks the link from the row after it."""
    last = _populate(node, client)
    target = last // 2
    with node.work() as session:
        row = session.get(AuditEntry, target)
        assert row is not None
        forged = audit._entry_hash(row.seq, row.at, "mallory", row.action, row.object_type, row.object_id,
                                   row.outcome, row.detail, row.prev_hash)
    _sql(node, "UPDATE audit_entries SET actor = 'mallory', entry_hash = :h WHERE seq = :s", h=forged, s=target)
    result = _verify(node)
    assert not result.ok
    assert result.first_broken_seq == target + 1


def _cli(node: Any, capsys: Any, *args: str) -> tuple[int, str, str]:
    code = cli_main(["--data-dir", str(node.settings.data_dir), "--database-url", node.db.url, *args])
    out, err = capsys.readouterr()
    return code, out, " ".join(err.split())


def test_cli_audit_verify_exits_0_on_an_intact_log(client: Any, node: Any, people: Any, capsys: Any) -> None:
    last = _populate(node, client, 1)
    code, out, err = _cli(node, capsys, "audit", "verify")
    assert code == 0, err
    assert "intact" in out and str(last) in out
    code, out, _ = _cli(node, capsys, "audit", "verify", "--json")
    assert code == 0
    assert '"ok": true' in out


def test_cli_audit_verify_exits_1_naming_the_broken_entry(client: Any, node: Any, people: Any, capsys: Any) -> None:
    last = _populate(node, client, 2)
    target = last - 2
    _sql(node, "UPDATE audit_entries SET actor = 'mallory' WHERE seq = :s", s=target)
    code, _, err = _cli(node, capsys, "audit", "verify")
    assert code == 1
    assert f"entry {target}" in err
    assert "Traceback" not in err
    code, out, _ = _cli(node, capsys, "audit", "verify", "--json")
    assert code == 1
    assert f'"first_broken_seq": {target}' in out


def test_cli_audit_verify_names_a_deleted_entry(client: Any, node: Any, people: Any, capsys: Any) -> None:
    last = _populate(node, client, 2)
    _sql(node, "DELETE FROM audit_entries WHERE seq = :s", s=3)
    code, _, err = _cli(node, capsys, "audit", "verify")
    assert code == 1
    assert "entry 3" in err
    assert last > 3
