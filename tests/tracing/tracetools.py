"""Helpers of the trace tests: the node's IP data loaded from the demo sample, observations, an officer's trace."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from nohaven.auth.policy import Subject
from nohaven.demo.ipdata import load_sample
from nohaven.node import Node
from nohaven.tracing import service
from nohaven.tracing.ipdata import IpDataStore

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
# The intrusion of the issue: the victim's server logged the VPN exit in Borvania (XB).
VPN_HIT: dict[str, Any] = {"ip": "198.51.100.23", "port": 51515, "protocol": "tcp",
                           "time_text": "2026-11-27 03:14:07 CET", "uncertainty": "PT2S",
                           "seen_where": "victim web server access log", "note": "first intrusion"}


def load_ipdata(node: Node) -> None:
    """The demo's fictional registry snapshots, in the node's own IP data directory."""
    load_sample(IpDataStore(node.settings.ipdata_dir))


def open_trace(node: Node, subject: Subject, *observations: dict[str, Any], **fields: Any) -> str:
    """The reference of a trace opened by `subject` from the observations (the VPN hit when none is given)."""
    body = {"title": "Intrusion at the Aldor hospital", "offence": "Illegal access (Budapest Art. 2)",
            "summary": "The hospital's web server was entered from abroad and patient records copied.",
            "observations": list(observations) or [VPN_HIT], **fields}
    with node.work() as session:
        return service.create_trace(session, subject, body, settings=node.settings, now=NOW).reference
