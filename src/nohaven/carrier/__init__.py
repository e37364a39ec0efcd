"""Carrier toolkit: ingest NAT/CGNAT, RADIUS and DHCP logs into a Parquet store, attribute IP:port@time, preserve.

Usable by a carrier without a node: nothing here imports the node's database, API, web UI, requests, auth or
audit packages (a test pins that).
"""

from __future__ import annotations

from nohaven.carrier.formats import FORMATS, LogFormat

__all__ = ["FORMATS", "LogFormat"]
