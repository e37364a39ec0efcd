"""Attachments and the exchange state through the API and the web UI, on SQLite and PostgreSQL: files are
streamed into the blob store, read back with their digest, audited; the detail shows each message's delivery."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from sqlalchemy import select
from web_helpers import log_in

from conftest import auth, enrol, make_token, request_body
from nohaven.audit.models import AuditEntry
from nohaven.auth.policy import Peer, Subject
from nohaven.blobs import BlobStore
from nohaven.node import Node
from nohaven.requests import peer
from nohaven.requests.models import PeerMessage
from nohaven.requests.schema import RequestIn
from nohaven.timeutil import utcnow


def received_request(node: Node) -> int:
    data = RequestIn.model_validate(request_body(channel="platform", requesting_state="XB"))
    with node.work() as session:
        return peer.receive_request(session, Peer("XB", "xb-bfp"), str(uuid.uuid4()), data, utcnow()).id


def test_api_attach_download_and_delivery_state(node: Node, client: Any, people: dict[str, Subject]) -> None:
    rid = received_request(node)
    token = make_token(node, "olga")
    assert client.post(f"/api/v1/requests/{rid}/acknowledge", headers=auth(token)).status_code == 200
    content = b'{"subscriber": "fictional"}\n' * 5000
    made = client.post(f"/api/v1/requests/{rid}/attachments", params={"name": "records.json"}, content=content,
                       headers={**auth(token), "content-type": "application/json"})
    assert made.status_code == 201, made.text
    attachment = made.json()
    assert attachment["sha256"] == hashlib.sha256(content).hexdigest() and attachment["size"] == len(content)
    assert BlobStore(node.settings.blob_dir).path(attachment["sha256"]).read_bytes() == content

    view = client.get(f"/api/v1/requests/{rid}", headers=auth(token)).json()
    assert [a["name"] for a in view["attachments"]] == ["records.json"]
    assert view["exchange"]["side"] == "requested" and view["exchange"]["peer"] == "XB/xb-bfp"
    assert [(m["action"], m["state"]) for m in view["messages"]] == [("UPDATE", "queued"), ("DELIVER", "queued")]

    got = client.get(f"/api/v1/requests/{rid}/attachments/{attachment['id']}", headers=auth(token))
    assert got.status_code == 200 and got.content == content
    assert got.headers["x-content-sha256"] == attachment["sha256"]
    assert "records.json" in got.headers["content-disposition"]
    with node.db.session() as session:
        reads = session.execute(select(AuditEntry).where(AuditEntry.action == "request.attachment.read")).all()
        assert len(reads) == 1

    # Someone outside the case neither reads nor adds; a missing name is a 422, not a 500.
    otto = make_token(node, "otto")
    assert client.get(f"/api/v1/requests/{rid}/attachments/{attachment['id']}", headers=auth(otto)).status_code == 404
    assert client.post(f"/api/v1/requests/{rid}/attachments", params={"name": "x"}, content=b"x",
                       headers=auth(otto)).status_code == 404
    assert client.post(f"/api/v1/requests/{rid}/attachments", content=b"x", headers=auth(token)).status_code == 422
    assert client.get(f"/api/v1/requests/{rid}/attachments/999", headers=auth(token)).status_code == 404


def test_web_detail_shows_delivery_and_takes_an_upload(node: Node, client: Any,
                                                       people: dict[str, Subject]) -> None:
    rid = received_request(node)
    generator = enrol(node, "olga")
    csrf = log_in(client, "olga", generator)
    page = client.get(f"/requests/{rid}")
    assert page.status_code == 200 and "Exchange with XB" in page.text and "XB/xb-bfp" in page.text
    assert client.post(f"/requests/{rid}/acknowledge", data={"csrf_token": csrf},
                       follow_redirects=False).status_code == 303
    done = client.post(f"/requests/{rid}/attachments", data={"csrf_token": csrf},
                       files={"file": ("answer.csv", b"ip,port\n198.51.100.23,51515\n", "text/csv")},
                       follow_redirects=False)
    assert done.status_code == 303, done.text
    page = client.get(f"/requests/{rid}").text
    assert "answer.csv" in page and "DELIVER" in page and "queued" in page and "waiting to be sent" in page
    with node.db.session() as session:
        states = [(m.action, m.state) for m in session.execute(select(PeerMessage).order_by(PeerMessage.id)).scalars()]
    assert states == [("UPDATE", "queued"), ("DELIVER", "queued")]
    link = f"/requests/{rid}/attachments/"
    attachment_id = page.split(link, 1)[1].split('"', 1)[0]
    download = client.get(link + attachment_id)
    assert download.status_code == 200 and download.content == b"ip,port\n198.51.100.23,51515\n"
    # Without a file the page comes back with the reason.
    empty = client.post(f"/requests/{rid}/attachments", data={"csrf_token": csrf})
    assert empty.status_code == 422 and "choose a file" in empty.text
