"""Transport over HTTPS between real node processes: B serves its inbox with a self-signed certificate for
127.0.0.1; A reaches it only once that certificate is its configured CA (NOHAVEN_FEDERATION_CA_FILE)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from nettools import build_network, outgoing_preservation, running, self_signed_certificate, wait_for

from nohaven.federation.context import load_context
from nohaven.federation.dispatcher import Dispatcher
from nohaven.node import Node
from nohaven.requests import service as requests
from nohaven.requests.models import CooperationRequest

pytestmark = pytest.mark.xdist_group("federation-processes")


def test_a_request_waits_for_a_trusted_certificate_then_flows_over_https(tmp_path: Path) -> None:
    certificate = self_signed_certificate(tmp_path / "tls")
    net = build_network(tmp_path / "net", tls={"XB": certificate})
    a, b = net["XA"], net["XB"]
    assert b.inbox_url.startswith("https://127.0.0.1:")
    with running(net):
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            httpx.get(f"{b.url}/api/v1/health", timeout=5)  # the system's trust store does not know it
        assert httpx.get(f"{b.url}/api/v1/health", timeout=5, verify=certificate.context()).status_code == 200

        with a.node.work() as session:
            request_id = requests.create_request(session, a.subject(), outgoing_preservation(1)).id

        def refused_twice() -> bool:
            (message,) = a.messages()
            return message.attempts >= 2 and message.state == "queued" and bool(message.last_error)

        wait_for(refused_twice, 30, "A to try B twice and fail", a, b)
        (message,) = a.messages()
        assert "CERTIFICATE_VERIFY_FAILED" in message.last_error, message.last_error
        assert b.inbox_url in message.last_error
        assert b.incoming() == []

        a.stop()
        a.env["NOHAVEN_FEDERATION_CA_FILE"] = str(certificate.cert)
        a.start()
        wait_for(lambda: a.messages()[0].state == "received", 30, "the request to arrive over HTTPS", a, b)

        (message,) = a.messages()
        assert message.last_error == ""
        (arrived,) = b.incoming()
        assert arrived.exchange_id == message.object_id
        with a.node.db.read_session() as session:
            assert session.get(CooperationRequest, request_id).their_reference == arrived.reference

        # The same setting in-process: the dispatcher's client trusts exactly that certificate (and builds
        # its TLS context without httpx's deprecated path form, which pytest would turn into an error).
        settings = a.demo.settings(federation_ca_file=certificate.cert)
        dispatcher = Dispatcher(load_context(Node(settings)))
        try:
            assert dispatcher.client.get(f"{b.url}/api/v1/health").status_code == 200
        finally:
            dispatcher.client.close()
            dispatcher.ctx.node.close()
