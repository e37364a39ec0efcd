"""The request pages: the form (every field, inline validation, nothing lost on error), dashboard, detail, actions."""

from __future__ import annotations

import html
import re
from typing import Any

from sqlalchemy import func, select
from web_helpers import form_token, log_in, request_form

from conftest import enrol, make_token, request_body
from nohaven.audit.models import AuditEntry
from nohaven.requests.models import CooperationRequest


def _officer(client: Any, node: Any, username: str = "olga") -> str:
    return log_in(client, username, enrol(node, username))


def _count(node: Any) -> int:
    with node.work() as session:
        return int(session.execute(select(func.count()).select_from(CooperationRequest)).scalar_one())


def _field_error(page: str, dom_id: str) -> str:
    match = re.search(rf'id="err-{re.escape(dom_id)}"[^>]*>([^<]*)</span>', page)
    assert match, f"no error slot for {dom_id}"
    return html.unescape(match.group(1))


def test_form_offers_every_field_of_the_template(client: Any, node: Any, people: Any) -> None:
    _officer(client, node)
    page = client.get("/requests/new").text
    for name in request_form():
        if name in ("received_at_zone", "request_date_zone"):
            assert f'name="{name}"' in page
            continue
        assert f'name="{name}"' in page, name
    assert 'hx-post="/requests/validate"' in page
    assert "XB — Kingdom of Borvania" in page


def test_created_through_the_form_it_appears_on_the_dashboard(client: Any, node: Any, people: Any) -> None:
    token = _officer(client, node)
    created = client.post("/requests/new", data=request_form(csrf_token=token, received_at="2026-01-11T09:30",
                                                             received_at_zone="Europe/Berlin"),
                          follow_redirects=False)
    assert created.status_code == 303, created.text
    detail = client.get(created.headers["location"])
    assert detail.status_code == 200
    assert "written confirmation due" in detail.text
    assert "2026-01-11 08:30 UTC" in detail.text  # 09:30 in Berlin in winter is 08:30 UTC
    assert "198.51.100.23:51515" in detail.text and "2026-01-10T03:14:07+01:00" in detail.text
    with node.work() as session:
        reference = session.execute(select(CooperationRequest.reference)).scalar_one()
    dashboard = client.get("/")
    assert reference in dashboard.text
    assert 'hx-trigger="every 60s"' in dashboard.text
    fragment = client.get("/fragments/dashboard", headers={"HX-Request": "true"})
    assert reference in fragment.text and "<html" not in fragment.text


def test_a_bad_field_is_named_and_the_users_values_stay(client: Any, node: Any, people: Any) -> None:
    token = _officer(client, node)
    response = client.post("/requests/new", data=request_form(
        csrf_token=token, **{"requesting_authority.phones": "0800 not a phone", "custodian": "",
                             "summary_of_facts": "Keep this text, please."}))
    assert response.status_code == 422
    assert _count(node) == 0
    page = response.text
    assert "should match pattern" in _field_error(page, "requesting_authority-phones")
    assert "custodian" in _field_error(page, "custodian")
    assert _field_error(page, "offence") == ""
    empty_state = client.post("/requests/new", data=request_form(csrf_token=token, requesting_state=""))
    assert _field_error(empty_state.text, "requesting_state") == "required"
    assert "Keep this text, please.</textarea>" in page
    assert 'value="0800 not a phone"' in page
    assert 'value="198.51.100.23:51515"' in page
    assert '<option selected>+01:00</option>' in page


def test_a_local_time_without_a_zone_is_refused_not_guessed(client: Any, node: Any, people: Any) -> None:
    token = _officer(client, node)
    response = client.post("/requests/new", data=request_form(csrf_token=token, received_at="2026-01-11T09:30"))
    assert response.status_code == 422
    assert "never assumes" in _field_error(response.text, "received_at")
    twice = client.post("/requests/new", data=request_form(csrf_token=token, received_at="2026-10-25T02:30",
                                                           received_at_zone="Europe/Berlin"))
    assert "happens twice" in _field_error(twice.text, "received_at")
    assert _count(node) == 0


def test_inline_validation_names_each_field_and_reads_the_times(client: Any, node: Any, people: Any) -> None:
    token = _officer(client, node)
    response = client.post("/requests/validate", headers={"X-CSRF-Token": token, "HX-Request": "true"},
                           data=request_form(**{"offence": "", "data_items[0].value": "",
                                                "received_at": "2026-01-11T09:30", "received_at_zone": "+05:30"}))
    assert response.status_code == 200
    assert "<html" not in response.text
    assert _field_error(response.text, "offence").startswith("String should have at least 1 character")
    # the row whose identifier was emptied still has times, so it is an item lacking its value
    assert _field_error(response.text, "data_items-0-value").startswith("String should have at least")
    assert _field_error(response.text, "custodian") == ""  # cleared slots are sent too
    assert "2026-01-11 04:00 UTC" in response.text
    assert _count(node) == 0


def test_an_added_data_item_row_is_read_and_its_errors_named_by_row(client: Any, node: Any, people: Any) -> None:
    token = _officer(client, node)
    row = client.get("/requests/new/data-item?index=3", headers={"HX-Request": "true"})
    assert 'name="data_items[3].value"' in row.text and "index=4" in row.text
    response = client.post("/requests/new", data=request_form(
        csrf_token=token, **{"data_items[3].value": "mailbox@example.net", "data_items[3].identifier_type": "email",
                             "data_items[3].time_from": "2026-01-10T05:00", "data_items[3].time_to":
                             "2026-01-10T04:00", "data_items[3].zone": "UTC"}))
    assert response.status_code == 422
    assert "time_to is before time_from" in _field_error(response.text, "data_items-3")
    assert _field_error(response.text, "data_items-0") == ""


def test_officer_outside_the_case_gets_not_found(client: Any, node: Any, people: Any) -> None:
    created = client.post("/api/v1/requests", json=request_body(), headers={"Authorization":
                                                                            f"Bearer {make_token(node, 'olga')}"})
    request_id = created.json()["id"]
    _officer(client, node, "otto")
    page = client.get(f"/requests/{request_id}")
    assert page.status_code == 404
    assert "not found" in page.text
    assert created.json()["reference"] not in page.text
    assert created.json()["reference"] not in client.get("/").text


def test_actions_on_the_detail_page(client: Any, node: Any, people: Any) -> None:
    token = _officer(client, node)
    location = client.post("/requests/new", data=request_form(csrf_token=token),
                           follow_redirects=False).headers["location"]
    acknowledged = client.post(f"{location}/acknowledge", data={"csrf_token": token})
    assert acknowledged.status_code == 200 and "acknowledged" in acknowledged.text
    page = client.get(location).text
    options = re.search(r'<select id="to" name="to">(.*?)</select>', page).group(1)  # type: ignore[union-attr]
    assert "<option>Preserved</option>" in options and "Disclosed" not in options
    illegal = client.post(f"{location}/transition", data={"csrf_token": token, "to": "Expired"})
    assert illegal.status_code == 409
    assert "cannot go from AwaitingPreservation to Expired" in illegal.text
    moved = client.post(f"{location}/transition", data={"csrf_token": token, "to": "Preserved", "note": "done"})
    assert moved.status_code == 200 and "preservation expires at" in moved.text
    confirmed = client.post(f"{location}/written-confirmation", data={"csrf_token": token, "note": "letter"})
    assert confirmed.status_code == 200 and "written confirmation" in confirmed.text
    again = client.post(f"{location}/written-confirmation", data={"csrf_token": token})
    assert again.status_code == 409 and "confirmed in writing already" in again.text


def test_auditor_reads_the_audit_log_and_the_reading_is_audited(client: Any, node: Any, people: Any) -> None:
    log_in(client, "aldo", enrol(node, "aldo"))
    home = client.get("/", follow_redirects=False)
    assert home.headers["location"] == "/audit"  # an auditor handles no requests
    page = client.get("/audit?actor=olga")
    assert page.status_code == 200
    assert "Audit log" in page.text and 'href="/requests/new"' not in page.text
    with node.work() as session:
        last = session.execute(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1)).scalar_one()
    assert (last.actor, last.action, last.detail["actor"]) == ("aldo", "audit.read", "olga")
    verified = client.post("/audit/verify", headers={"X-CSRF-Token": form_token(page.text), "HX-Request": "true"})
    assert verified.status_code == 200 and "Chain intact" in verified.text
    assert "<html" not in verified.text
    without_htmx = client.post("/audit/verify", data={"csrf_token": form_token(page.text)})
    assert "Chain intact" in without_htmx.text and "<html" in without_htmx.text


def test_officer_may_not_read_the_audit_log_and_is_not_offered_it(client: Any, node: Any, people: Any) -> None:
    _officer(client, node)
    assert 'href="/audit"' not in client.get("/").text
    refused = client.get("/audit")
    assert refused.status_code == 403
    with node.work() as session:
        last = session.execute(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1)).scalar_one()
    assert (last.actor, last.action, last.outcome) == ("olga", "audit.read", "denied")


def test_directory_and_notifications_pages(client: Any, node: Any, people: Any) -> None:
    _officer(client, node)
    directory = client.get("/directory")
    assert directory.status_code == 200
    assert "Republic of Aldoria" in directory.text and "P60D" in directory.text
    notifications = client.get("/notifications")
    assert notifications.status_code == 200 and "No notifications." in notifications.text


def test_demo_banner_only_in_demo_mode(client: Any, node: Any, people: Any) -> None:
    assert "DEMO" not in client.get("/login").text
    node.settings.demo_mode = True
    assert "DEMO" in client.get("/login").text


def test_supervisor_sees_the_escalation_of_an_overdue_clock(client: Any, node: Any, people: Any) -> None:
    from datetime import timedelta

    from nohaven.requests import service as requests
    from nohaven.requests.escalation import tick
    from nohaven.timeutil import utcnow

    with node.work() as session:
        requests.create_request(session, people["olga"], request_body(), now=utcnow() - timedelta(hours=3))
        tick(session)
    log_in(client, "sam", enrol(node, "sam"))
    assert 'href="/notifications"' in client.get("/").text
    page = client.get("/notifications")
    assert page.status_code == 200
    assert "ESCALATION" in page.text and "acknowledge by" in page.text


def test_an_expired_session_sends_htmx_to_the_login_page(client: Any, node: Any, people: Any) -> None:
    _officer(client, node)
    client.cookies.set("nohaven_session", "not-a-session")
    refreshed = client.get("/fragments/dashboard", headers={"HX-Request": "true"})
    assert refreshed.headers.get("HX-Redirect") == "/login"
    assert client.get("/", follow_redirects=False).headers["location"] == "/login"


def test_verify_button_reports_an_altered_entry(client: Any, node: Any, people: Any) -> None:
    token = log_in(client, "aldo", enrol(node, "aldo"))
    with node.work() as session:
        entry = session.execute(select(AuditEntry).where(AuditEntry.seq == 2)).scalar_one()
        entry.actor = "mallory"
    verified = client.post("/audit/verify", headers={"X-CSRF-Token": token, "HX-Request": "true"})
    assert "CHAIN BROKEN at entry 2" in verified.text and "altered" in verified.text
