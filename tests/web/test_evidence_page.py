"""The case's evidence page: linked from the request detail, acquire by upload (CSRF), seal, download, errors
shown on the page; on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from web_helpers import log_in

from conftest import enrol, request_body
from nohaven.auth.policy import Subject
from nohaven.evidence_node.models import CustodyEvent
from nohaven.node import Node
from nohaven.requests import service as requests


def test_evidence_page_add_seal_download(node: Node, client: Any, people: dict[str, Subject]) -> None:
    with node.work() as session:
        rid = requests.create_request(session, people["olga"], request_body(case_reference="XA-77")).id
    csrf = log_in(client, "olga", enrol(node, "olga"))
    detail = client.get(f"/requests/{rid}")
    assert 'href="/cases/XA-77/evidence"' in detail.text and "Evidence for case XA-77" in detail.text

    fields = {"csrf_token": csrf, "exhibit": "EX-1", "source": "phone", "authority": "warrant 3", "location": "lab"}
    added = client.post("/cases/XA-77/evidence", data=fields, files={"file": ("chat.db", b"messages" * 100)})
    assert added.status_code == 201, added.text
    assert "chat.db" in added.text and "EX-1" in added.text
    no_authority = client.post("/cases/XA-77/evidence", data={**fields, "authority": ""},
                               files={"file": ("x.bin", b"x")})
    assert no_authority.status_code == 422 and "--authority" in no_authority.text
    assert client.post("/cases/XA-77/evidence/seal", data={}).status_code in (403, 400)  # no CSRF token

    sealed = client.post("/cases/XA-77/evidence/seal", data={"csrf_token": csrf}, follow_redirects=True)
    assert sealed.status_code == 200 and "sealed" in sealed.text
    link = sealed.text.split('href="/cases/XA-77/evidence/bundles/')[1].split('"')[0]
    got = client.get(f"/cases/XA-77/evidence/bundles/{link}")
    assert got.status_code == 200 and got.content[:2] == b"PK"
    item = sealed.text.split('href="/cases/XA-77/evidence/items/')[1].split('"')[0]
    copied = client.get(f"/cases/XA-77/evidence/items/{item}")
    assert copied.status_code == 200 and copied.content == b"messages" * 100
    with node.db.read_session() as session:  # each download is a custody event, by whom and through what
        kinds = [json.loads(d) for d in session.execute(select(CustodyEvent.data).order_by(CustodyEvent.seq))
                 .scalars()]
    assert [(e["event"], e["actor"], e["details"].get("via")) for e in kinds] == [
        ("acquired", "olga", None), ("sealed", "olga", None), ("exported", "olga", "web"), ("accessed", "olga", "web")]
    assert client.get("/cases/NOPE/evidence").status_code == 404
