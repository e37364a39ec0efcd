"""An answer as ETSI TS 103 120: the LD task marked Disclosed, and a delivery carrying the disclosed data.

One HI1Message with two actions: UPDATE of the requester's `task:LDTaskObject` (its LDID, `Status`
ETSI/LDTaskStatus/Disclosed) and DELIVER of a `delivery:DeliveryObject` that names the same LDID and task and
carries the answer (the JSON `lookup --json` prints) as embedded binary data with its SHA-256, under a
`nohaven/ManifestSpecification/CarrierAttribution` manifest. Built with the standard library only, so the
carrier toolkit stays free of the node (nohaven.interop imports the node's request model; the tests validate
these messages with it against the real XSDs).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from xml.etree.ElementTree import Element, SubElement, register_namespace, tostring

from nohaven.errors import InputError

__all__ = ["Endpoint", "delivery_message"]

NS = {
    "core": "http://uri.etsi.org/03120/common/2019/10/Core",
    "common": "http://uri.etsi.org/03120/common/2016/02/Common",
    "task": "http://uri.etsi.org/03120/common/2020/09/Task",
    "delivery": "http://uri.etsi.org/03120/common/2019/10/Delivery",
    "xsi": "http://www.w3.org/2001/XMLSchema-instance",
}
ETSI_VERSION = "V1.23.1"
OWNER = "nohaven"
_LDID = re.compile(r"^[A-Z]{2}-[^-]+-.+$")
_ENDPOINT = re.compile(r"^([A-Z]{2}):(.{1,255})$")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


@dataclass(frozen=True)
class Endpoint:
    """A TS 103 120 EndpointID: ISO country code and unique identifier, written CC:IDENTIFIER."""

    country: str
    node: str

    @classmethod
    def parse(cls, text: str, field: str) -> Endpoint:
        m = _ENDPOINT.match(text.strip())
        if m is None:
            raise InputError.field(field, f"{field} must be COUNTRY:IDENTIFIER (e.g. DE:isp-1), not {text!r}")
        return cls(m.group(1), m.group(2))


def _q(prefix: str, local: str) -> str:
    return f"{{{NS[prefix]}}}{local}"


def _el(parent: Element, prefix: str, local: str, text: str | None = None) -> Element:
    child = SubElement(parent, _q(prefix, local))
    if text is not None:
        child.text = text
    return child


def _entry(parent: Element, prefix: str, local: str, owner: str, name: str, value: str) -> None:
    holder = _el(parent, prefix, local)
    _el(holder, "common", "Owner", owner)
    _el(holder, "common", "Name", name)
    _el(holder, "common", "Value", value)


def _object(parent: Element, xsi_type: str, identifier: str, sender: Endpoint) -> Element:
    obj = _el(parent, "core", "HI1Object")
    obj.set(_q("xsi", "type"), xsi_type)
    _el(obj, "core", "ObjectIdentifier", identifier)
    _el(obj, "core", "CountryCode", sender.country)
    _el(obj, "core", "OwnerIdentifier", sender.node)
    return obj


def delivery_message(answer: Any, *, ldid: str, sender: Endpoint, receiver: Endpoint, task_id: str | None = None,
                     now: datetime | None = None) -> bytes:
    """The HI1Message (UTF-8 XML) disclosing `answer` for the LD task `ldid`."""
    if not _LDID.match(ldid):
        raise InputError.field("ldid", f"--ldid must be an LDID, COUNTRY-OWNER-REFERENCE (e.g. FR-pj-2026-41), "
                                 f"not {ldid!r}")
    if task_id is not None and not _UUID.match(task_id):
        raise InputError.field("task-id", f"--task-id must be the LD task's object identifier (a UUID v4), "
                                 f"not {task_id!r}")
    for prefix, uri in NS.items():
        register_namespace("" if prefix == "core" else prefix, uri)
    task_id = task_id or str(uuid.uuid4())
    data = json.dumps(answer, indent=1, sort_keys=True).encode()
    root = Element(_q("core", "HI1Message"))
    header = _el(root, "core", "Header")
    for local, end in (("SenderIdentifier", sender), ("ReceiverIdentifier", receiver)):
        holder = _el(header, "core", local)
        _el(holder, "core", "CountryCode", end.country)
        _el(holder, "core", "UniqueIdentifier", end.node)
    _el(header, "core", "TransactionIdentifier", str(uuid.uuid4()))
    _el(header, "core", "Timestamp", (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
    version = _el(header, "core", "Version")
    _el(version, "core", "ETSIVersion", ETSI_VERSION)
    _el(version, "core", "NationalProfileOwner", OWNER)
    _el(version, "core", "NationalProfileVersion", "1")
    actions = _el(_el(_el(root, "core", "Payload"), "core", "RequestPayload"), "core", "ActionRequests")

    update = _el(actions, "core", "ActionRequest")
    _el(update, "core", "ActionIdentifier", "0")
    task = _object(_el(update, "core", "UPDATE"), "task:LDTaskObject", task_id, sender)
    _el(task, "task", "Reference", ldid)
    _entry(task, "task", "Status", "ETSI", "LDTaskStatus", "Disclosed")

    deliver = _el(actions, "core", "ActionRequest")
    _el(deliver, "core", "ActionIdentifier", "1")
    holder = _el(deliver, "core", "DELIVER")
    delivery_id = str(uuid.uuid4())
    _el(holder, "core", "Identifier", delivery_id)
    obj = _object(holder, "delivery:DeliveryObject", delivery_id, sender)
    _el(_el(obj, "core", "AssociatedObjects"), "core", "AssociatedObject", task_id)
    _el(_el(obj, "delivery", "Reference"), "delivery", "LDID", ldid)
    _el(obj, "delivery", "DeliveryID", str(uuid.uuid4()))
    _el(obj, "delivery", "SequenceNumber", "1")
    _el(obj, "delivery", "LastSequence", "true")
    _entry(_el(obj, "delivery", "Manifest"), "delivery", "Specification", OWNER, "ManifestSpecification",
           "CarrierAttribution")
    binary = _el(_el(obj, "delivery", "Delivery"), "delivery", "BinaryData")
    _el(binary, "delivery", "Data", base64.b64encode(data).decode())
    _el(binary, "delivery", "ContentType", "application/json")
    _el(binary, "delivery", "Checksum", hashlib.sha256(data).hexdigest())
    _el(binary, "delivery", "ChecksumType", "SHA256")
    _el(binary, "delivery", "OriginalFilename", "answer.json")
    _el(binary, "delivery", "ContentLength", str(len(data)))
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + tostring(root, encoding="unicode").encode() + b"\n"
