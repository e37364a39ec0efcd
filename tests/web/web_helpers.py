"""Helpers for the web UI tests: enrol a user's TOTP directly, log in through the pages, read tokens from HTML."""

from __future__ import annotations

import re
from typing import Any

import pyotp

from conftest import PASSWORD

_META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')
_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


def form_token(html: str) -> str:
    match = _FIELD.search(html) or _META.search(html)
    assert match, "the page carries no CSRF token"
    return match.group(1)


def password_step(client: Any, username: str, password: str = PASSWORD) -> Any:
    page = client.get("/login")
    assert page.status_code == 200
    return client.post("/login", data={"username": username, "password": password,
                                       "csrf_token": form_token(page.text)}, follow_redirects=False)


def log_in(client: Any, username: str, generator: pyotp.TOTP) -> str:
    """The whole log-in; returns the full session's CSRF token."""
    first = password_step(client, username)
    assert first.status_code == 303 and first.headers["location"] == "/login/totp", first.text
    second_page = client.get("/login/totp")
    done = client.post("/login/totp", data={"code": generator.now(), "csrf_token": form_token(second_page.text)},
                       follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/", done.text
    return form_token(client.get("/requests/new").text)



def request_form(**overrides: str) -> dict[str, str]:
    """A complete new-request form: a preservation request phoned in from State XB, times in Berlin time."""
    form = {
        "type": "preservation", "direction": "incoming", "channel": "voice", "priority": "urgent",
        "requesting_state": "XB", "requested_state": "", "their_reference": "XB-247-0042",
        "received_at": "", "received_at_zone": "", "request_date": "", "request_date_zone": "",
        "case_reference": "", "case_title": "Hospital ransomware",
        "requested_authority": "Aldorian National Cybercrime Unit",
        "requesting_authority.organisation": "Borvanian Federal Police",
        "requesting_authority.officer": "Insp. K. Adler",
        "requesting_authority.address": "1 Example Street",
        "requesting_authority.phones": "+15555550200",
        "requesting_authority.email": "adler@police.xb.example",
        "requesting_authority.fax": "",
        "requesting_authority.office_hours": "24/7",
        "requesting_authority.time_zone": "Europe/Berlin",
        "requesting_authority.preferred_channel": "voice",
        "confirmation_contact": "Insp. K. Adler, same phone",
        "investigating_authority": "Borvanian Federal Police",
        "offence": "Ransomware attack on a hospital",
        "summary_of_facts": "Hospital systems encrypted; the ransom note names a mailbox.",
        "data_items[0].identifier_type": "ip_port", "data_items[0].value": "198.51.100.23:51515",
        "data_items[0].data_category": "traffic", "data_items[0].time_from": "2026-01-10T03:14:07",
        "data_items[0].time_to": "2026-01-10T04:00:00", "data_items[0].zone": "+01:00",
        "link_to_offence": "The attacker connected from this address.",
        "custodian": "Examplenet ISP", "preservation_reason": "Traffic data is deleted after 180 days.",
        "mla_to_follow": "on",
    }
    form.update(overrides)
    return form
