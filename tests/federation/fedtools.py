"""A small fictional network for federation tests: an authority, nodes XA and XB, keys of every validity."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from conftest import request_body
from nohaven.federation import (
    CreatePayload,
    DirectoryKey,
    EndpointID,
    Envelope,
    NetworkDirectory,
    NodeEntry,
    SigningKey,
    new_envelope,
    sign_directory,
)

NOW = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
XA = EndpointID(CountryCode="XA", UniqueIdentifier="xa-ncu")
XB = EndpointID(CountryCode="XB", UniqueIdentifier="xb-bfp")
XC = EndpointID(CountryCode="XC", UniqueIdentifier="xc-ccu")


@dataclass
class Network:
    authority: SigningKey
    keys: dict[str, SigningKey] = field(default_factory=dict)
    serial: int = 1

    def directory(self, serial: int | None = None, agency_b: str = "Borvanian Federal Police") -> NetworkDirectory:
        k = self.keys
        return NetworkDirectory(format="nohaven-network-directory/1", serial=serial or self.serial,
                                issued_at=NOW - timedelta(hours=1), nodes=[
            NodeEntry(state="XA", agency="Aldorian National Cybercrime Unit", node_id="xa-ncu",
                      inbox_url="https://xa.example/federation/inbox", keys=[
                          DirectoryKey.for_key(k["xa"].public, NOW - timedelta(days=30), NOW + timedelta(days=365)),
                          DirectoryKey.for_key(k["xa-old"].public, NOW - timedelta(days=400), NOW - timedelta(days=1)),
                          DirectoryKey.for_key(k["xa-next"].public, NOW + timedelta(days=1), NOW + timedelta(days=400)),
                      ]),
            NodeEntry(state="XB", agency=agency_b, node_id="xb-bfp",
                      inbox_url="http://127.0.0.1:8471/federation/inbox", keys=[
                          DirectoryKey.for_key(k["xb"].public, NOW - timedelta(days=30), NOW + timedelta(days=365)),
                      ]),
        ])

    def signed(self, serial: int | None = None, **kwargs: Any) -> bytes:
        return sign_directory(self.directory(serial, **kwargs), self.authority)


def make_network() -> Network:
    return Network(SigningKey.generate(), {name: SigningKey.generate() for name in ("xa", "xa-old", "xa-next", "xb",
                                                                                    "stranger")})


def create_payload(**overrides: Any) -> CreatePayload:
    return CreatePayload.model_validate({"action": "CREATE", "object_id": str(uuid.uuid4()),
                                         "request": request_body(**{"requesting_state": "XA",
                                                                    "requested_state": "XB", **overrides})})


def envelope_from_xa(net: Network, *, key: str = "xa", now: datetime = NOW, receiver: EndpointID = XB,
                     payload: Any = None) -> Envelope:
    return new_envelope(XA, receiver, payload or create_payload(), net.keys[key], now=now)
