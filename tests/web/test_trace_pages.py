"""The trace pages (SQLite and PostgreSQL): an officer starts a trace from an observation or an e-mail, sees the
hop resolved with its point of contact, drafts and files its requests, records answers; the graph and the
timeline; inline errors naming the field; need-to-know and CSRF."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from web_helpers import log_in

from conftest import enrol
from nohaven.auth.policy import Subject
from nohaven.demo.ipdata import load_sample
from nohaven.node import Node
from nohaven.timeutil import utcnow
from nohaven.tracing.ipdata import IpDataStore

EMAILS = Path(__file__).resolve().parents[1] / "_data" / "tracing" / "email"
# Four days ago at 03:14:07 on the victim's clock in CET: the retention deadlines are ahead whenever this runs.
DAY = (utcnow() - timedelta(days=4)).date()
WHEN = f"{DAY:%Y-%m-%d} 03:14:07 CET"
WHEN_UTC = f"{DAY:%Y-%m-%d} 02:14:07 UTC"


@pytest.fixture
def csrf(node: Node, client: Any, people: dict[str, Subject]) -> str:
    load_sample(IpDataStore(node.settings.ipdata_dir))  # the demo's fictional registry snapshots
    return log_in(client, "olga", enrol(node, "olga"))


def _observation(csrf: str, **overrides: str) -> dict[str, str]:
    form = {"csrf_token": csrf, "title": "Intrusion at the Aldor hospital", "offence": "Illegal access",
            "summary": "The hospital's web server was entered from abroad.", "case_reference": "",
            "ip": "198.51.100.23", "port": "51515", "protocol": "tcp", "time_text": WHEN, "time_zone": "",
            "uncertainty": "PT2S", "seen_where": "victim web server access log", "note": ""}
    form.update(overrides)
    return form


def _start(client: Any, csrf: str, **overrides: str) -> str:
    r = client.post("/traces/new", data=_observation(csrf, **overrides), follow_redirects=False)
    assert r.status_code == 303, r.text
    location: str = r.headers["location"]
    assert re.fullmatch(r"/traces/XA-TR-\d{4}-\d{5}", location), location
    return location


def test_officer_starts_a_trace_drafts_and_files_its_requests(client: Any, csrf: str) -> None:
    dashboard = client.get("/")
    assert '<a href="/traces">Traces</a>' in dashboard.text
    assert "No traces yet" in client.get("/traces").text
    url = _start(client, csrf)
    page = client.get(url).text
    # the hop, resolved to Borvania with its point of contact and retention
    assert "198.51.100.23:51515" in page and "Borvania VPN Services (fictional)" in page
    assert "Borvanian Federal Police, 24/7 Cyber Desk (fictional)" in page and "P90D" in page
    assert "<svg" in page and 'href="#hop-H1"' in page and 'id="hop-H1"' in page
    assert "XB · Borvania VPN Services" in page  # the graph's box names the State and the holder
    # the timeline: as written, UTC, and the hop's State's local time (Berlin) side by side
    assert WHEN in page and WHEN_UTC in page and f"{DAY:%Y-%m-%d} 03:14:07 CET (UTC+0100) Europe/Berlin" in page

    draft = client.get(f"{url}/hops/H1/draft")
    assert draft.status_code == 200, draft.text
    assert "Preservation request" in draft.text and "Traffic disclosure request" in draft.text
    assert f"{DAY:%Y-%m-%d}T02:14:07+00:00" in draft.text and f"{DAY:%Y-%m-%d}T03:14:07+01:00" in draft.text
    assert "Europe/Berlin" in draft.text and "Art. 30" in draft.text

    none = client.post(f"{url}/hops/H1/requests", data={"csrf_token": csrf, "chosen": "1"})
    assert none.status_code == 422 and "tick at least one" in none.text
    one = client.post(f"{url}/hops/H1/requests", data={"csrf_token": csrf, "chosen": "1",
                                                      "types": "preservation"}, follow_redirects=False)
    assert one.status_code == 303
    assert len(re.findall(r'<a href="/requests/(\d+)">', client.get(url).text)) == 1
    filed = client.post(f"{url}/hops/H1/requests", data={"csrf_token": csrf, "chosen": "1",
                                                        "types": "traffic_disclosure"}, follow_redirects=False)
    assert filed.status_code == 303 and filed.headers["location"].endswith("#hop-H1")
    page = client.get(url).text
    links = re.findall(r'<a href="/requests/(\d+)">(XA-\d{4}-\d+)</a>', page)
    assert len(links) == 2, page
    assert "preservation" in page and "traffic disclosure" in page and "AwaitingPreservation" in page
    clock = r'class="badge urgency-\w+">(acknowledge by|response due|data at risk|written confirmation due)'
    assert re.search(clock, page), page  # each request's nearest clock
    detail = client.get(f"/requests/{links[0][0]}").text
    assert f'href="{url}#hop-H1"' in detail and "Drafted from hop" in detail
    again = client.post(f"{url}/hops/H1/requests", data={"csrf_token": csrf})
    assert again.status_code == 409 and "open preservation, traffic_disclosure request already" in again.text
    listing = client.get("/traces").text
    assert url.rsplit("/", 1)[1] in listing and "XB" in listing and "requested" in client.get(url).text


@pytest.mark.parametrize(("overrides", "field", "message"), [
    ({"time_text": "2026-11-27 03:14:07"}, "time_text", "offset"),
    ({"time_text": "2026-11-27 03:14:07 IST"}, "time_text", "IST"),
    ({"time_text": "2026-11-27 3:14:07 +0100"}, "time_text", "AM/PM"),
    ({"ip": "198.51.100.300"}, "ip", "not an IPv4 or IPv6 address"),
    ({"port": "70000"}, "port", "65535"),
    ({"title": ""}, "title", "at least 1"),
    ({"uncertainty": "two seconds"}, "uncertainty", "ISO 8601 duration"),
])
def test_the_form_names_the_field_and_stores_nothing(client: Any, csrf: str, overrides: dict[str, str],
                                                     field: str, message: str) -> None:
    r = client.post("/traces/new", data=_observation(csrf, **overrides), follow_redirects=False)
    assert r.status_code == 422, r.text
    inline = re.search(rf'<span class="field-error" id="err-{field}"[^>]*>([^<]*)</span>', r.text)
    assert inline and message.lower() in inline.group(1).lower(), r.text
    assert "The trace was not opened" in r.text
    assert f'value="{overrides[field]}"' in r.text or field == "title"  # the value typed comes back
    assert "No traces yet" in client.get("/traces").text


def test_a_naive_time_with_its_zone_and_an_unknown_zone_are_both_taken(client: Any, csrf: str) -> None:
    url = _start(client, csrf, time_text=f"{DAY:%Y-%m-%d} 03:14:07", time_zone="Europe/Paris")
    assert WHEN_UTC in client.get(url).text
    url = _start(client, csrf, time_text=f"{DAY:%Y-%m-%d} 03:14:07", offset_unknown="on")
    page = client.get(url).text
    assert "offset unknown: no single instant" in page


def test_answers_by_hand_become_hops_the_origin_or_a_dead_end(client: Any, csrf: str) -> None:
    url = _start(client, csrf)
    client.post(f"{url}/hops/H1/requests", data={"csrf_token": csrf})
    bad = client.post(f"{url}/hops/H1/answer", data={"csrf_token": csrf, "next_hops": "203.0.113.77 at noon"})
    assert bad.status_code == 422 and "line 1: write IP[:PORT][/PROTOCOL]@TIME" in bad.text
    naive = client.post(f"{url}/hops/H1/answer", data={"csrf_token": csrf,
                                                       "next_hops": f"203.0.113.77:4431@{DAY} 02:14:07"})
    assert naive.status_code == 422 and "next_hops[0].time" in naive.text
    answered = client.post(f"{url}/hops/H1/answer", data={
        "csrf_token": csrf, "note": "VPN exit", "protocol": "tcp",
        "next_hops": f"203.0.113.77:4431@{DAY}T02:14:07Z\n[2001:db8:c::7]:443@{DAY}T02:14:08Z"},
        follow_redirects=False)
    assert answered.status_code == 303, answered.text
    page = client.get(url).text
    assert 'id="hop-H2"' in page and 'id="hop-H3"' in page and "Celestia Mobile CGNAT (fictional)" in page
    assert page.count('class="edge"') == 2  # H1 → H2 and H1 → H3, a fan-out
    assert "Calderra High-Tech Crime Office (fictional)" in page  # XC's point of contact
    done = client.post(f"{url}/hops/H2/answer", data={"csrf_token": csrf, "subscriber": "celestia-sub-0815"},
                       follow_redirects=False)
    assert done.status_code == 303
    dead = client.post(f"{url}/hops/H3/answer", data={"csrf_token": csrf, "dead_end": "data deleted"},
                       follow_redirects=False)
    assert dead.status_code == 303
    page = client.get(url).text
    assert "Subscriber identified: <strong>celestia-sub-0815</strong>" in page
    assert "dead end: data deleted" in page and "origin found" in page
    again = client.post(f"{url}/hops/H2/answer", data={"csrf_token": csrf, "dead_end": "x"})
    assert again.status_code == 409 and "the origin already" in again.text


def test_an_answer_document_is_attached_and_read(client: Any, csrf: str) -> None:
    url = _start(client, csrf)
    no_request = client.post(f"{url}/hops/H1/answer", data={"csrf_token": csrf},
                             files={"document": ("answer.json", b"{}", "application/json")})
    assert no_request.status_code in (409, 422) and "request" in no_request.text
    client.post(f"{url}/hops/H1/requests", data={"csrf_token": csrf})
    document = {"format": "nohaven-disclosure/1", "note": "that address was a VPN exit",
                "next_hops": [{"ip": "203.0.113.77", "port": 4431, "protocol": "tcp",
                               "time": f"{DAY}T02:14:07Z"}]}
    r = client.post(f"{url}/hops/H1/answer", data={"csrf_token": csrf},
                    files={"document": ("xb-answer.json", json.dumps(document).encode(), "application/json")},
                    follow_redirects=False)
    assert r.status_code == 303, r.text
    page = client.get(url).text
    evidence = re.search(r'<a href="(/requests/\d+/attachments/\d+)">xb-answer.json</a>', page)
    assert evidence and 'id="hop-H2"' in page and "From the answer document xb-answer.json" in page
    assert client.get(evidence.group(1)).content == json.dumps(document).encode()
    # a PDF and the fields typed from it: the PDF is kept with the answer
    r = client.post(f"{url}/hops/H2/answer", data={"csrf_token": csrf, "dead_end": "no logs kept"},
                    files={"document": ("letter.pdf", b"%PDF-1.4 letter", "application/pdf")})
    assert r.status_code == 422 and "has no request" in r.text  # H2 has no request of its own yet
    assert "letter.pdf" not in client.get(url).text
    client.post(f"{url}/hops/H2/requests", data={"csrf_token": csrf})
    r = client.post(f"{url}/hops/H2/answer", data={"csrf_token": csrf, "dead_end": "no logs kept"},
                    files={"document": ("letter.pdf", b"%PDF-1.4 letter", "application/pdf")},
                    follow_redirects=False)
    assert r.status_code == 303, r.text
    page = client.get(url).text
    h2 = page.split('id="hop-H2"')[1]
    assert "dead end: no logs kept" in page and re.search(r'attachments/\d+">letter.pdf</a>', h2)


def test_a_trace_from_an_email_and_a_hop_by_hand(client: Any, csrf: str) -> None:
    eml = (EMAILS / "clean-4-hop.eml").read_bytes()
    r = client.post("/traces/new", data={"csrf_token": csrf, "title": "Phishing mail", "time_text": "", "ip": ""},
                    files={"eml": ("message.eml", eml, "message/rfc822")}, follow_redirects=False)
    assert r.status_code == 303, r.text
    page = client.get(r.headers["location"]).text
    assert 'id="hop-H1"' in page and "email" in page
    url = r.headers["location"]
    added = client.post(f"{url}/hops", data={"csrf_token": csrf, "parent": "H1", "ip": "203.0.113.9",
                                             "port": "40001", "time_text": f"{DAY}T02:14:07Z",
                                             "uncertainty": "PT1S"}, follow_redirects=False)
    assert added.status_code == 303, added.text
    assert "203.0.113.9:40001" in client.get(url).text
    bad = client.post(f"{url}/hops", data={"csrf_token": csrf, "ip": "203.0.113.9", "time_text": "yesterday"})
    assert bad.status_code == 422 and "time_text" in bad.text
    garbage = client.post("/traces/new", data={"csrf_token": csrf, "title": "x"},
                          files={"eml": ("x.eml", (EMAILS / "not-a-message.eml").read_bytes(), "message/rfc822")})
    assert garbage.status_code == 422 and "The trace was not opened" in garbage.text


def test_need_to_know_and_csrf(node: Node, client: Any, csrf: str) -> None:
    url = _start(client, csrf)
    assert client.post("/traces/new", data={k: v for k, v in _observation(csrf).items()
                                            if k != "csrf_token"}).status_code == 403
    assert client.post(f"{url}/hops/H1/requests", data={}).status_code == 403
    client.post("/logout", data={"csrf_token": csrf})
    log_in(client, "otto", enrol(node, "otto"))  # an officer who is not in the trace's case
    assert client.get(url).status_code == 404
    assert url.rsplit("/", 1)[1] not in client.get("/traces").text


def test_the_navigation_offers_traces_to_the_roles_that_may_trace(node: Node, client: Any, csrf: str) -> None:
    url = _start(client, csrf)
    client.post("/logout", data={"csrf_token": csrf})
    supervisor = log_in(client, "sam", enrol(node, "sam"))
    assert '<a href="/traces">Traces</a>' in client.get("/").text
    assert url.rsplit("/", 1)[1] in client.get("/traces").text  # supervisors see every trace of the node
    client.post("/logout", data={"csrf_token": supervisor})
    log_in(client, "aldo", enrol(node, "aldo"))  # the auditor reads the audit log, not case data
    assert 'href="/traces"' not in client.get("/audit").text
    assert client.get(url).status_code == 404
