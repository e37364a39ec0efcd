"""Build the HI1Message for one request view (see nohaven.interop.ts103120 for the mapping table)."""

from __future__ import annotations

import ipaddress
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from xml.etree.ElementTree import Element, SubElement

from pydantic import BaseModel, ConfigDict, Field

from nohaven.errors import InputError
from nohaven.interop._internal.mapping import (
    DESIRED_STATUS,
    DOCUMENT_FIELDS,
    DOCUMENT_NAME,
    DOCUMENT_TYPE,
    ETSI_FORMATS,
    ETSI_VERSION,
    LEGAL_BASIS,
    NATIONAL_OWNER,
    PRIORITY,
    PROFILE_VERSION,
    PROPERTY_NAME,
    REQUEST_TYPE_OF_CATEGORY,
    STATUS_DICTIONARY,
)
from nohaven.interop._internal.names import XSI_TYPE, qualified
from nohaven.timeutil import parse_aware

__all__ = ["Endpoint", "build_message", "etsi_value", "requester_reference"]

QUALIFIED_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(Z|[+-]\d{2}:\d{2})$")
LDID = re.compile(r"^[A-Z]{2}-.+-.+$")
PHONE_PUNCTUATION = re.compile(r"[\s\-.()]")

ValueCheck = Callable[[str, str], bool]


class Endpoint(BaseModel):
    """One end of a message: TS 103 120 EndpointID (ISO country code and the node's unique identifier)."""

    model_config = ConfigDict(frozen=True)

    country: str = Field(pattern=r"^[A-Z]{2}$")
    node: str = Field(min_length=1, max_length=255)


def el(parent: Element, prefix: str, local: str, text: str | None = None) -> Element:
    child = SubElement(parent, qualified(prefix, local))
    if text is not None:
        child.text = text
    return child


def entry(parent: Element, prefix: str, local: str, owner: str, name: str, value: str) -> Element:
    """A common:DictionaryEntry (Owner, Name, Value)."""
    holder = el(parent, prefix, local)
    el(holder, "common", "Owner", owner)
    el(holder, "common", "Name", name)
    el(holder, "common", "Value", value)
    return holder


def qualified_time(text: str, field: str) -> str:
    """An aware timestamp as TS 103 280 QualifiedDateTime (whole seconds, its own offset); text already in that
    form is kept as written."""
    if QUALIFIED_TIME.match(text):
        return text
    return parse_aware(text, field).replace(microsecond=0).isoformat()


def requester_reference(view: dict[str, Any]) -> str:
    """The requesting side's reference: ours when we sent the request, theirs when we received it."""
    return str(view["reference"] if view["direction"] == "outgoing" else view.get("their_reference") or "")


def etsi_value(identifier_type: str, value: str, is_valid: ValueCheck) -> tuple[str, str, str]:
    """(FormatOwner, FormatName, Value) for one identifier: a TS 103 280 format when the value fits one, else
    nohaven's own format named after the identifier type."""
    for format_name in ETSI_FORMATS.get(identifier_type, ()):
        candidate = _in_format(format_name, value)
        if candidate is not None and is_valid(format_name, candidate):
            return "ETSI", format_name, candidate
    return NATIONAL_OWNER, identifier_type, value


def _in_format(format_name: str, value: str) -> str | None:
    try:
        if format_name == "IPv6Address":
            return ipaddress.IPv6Address(value).exploded
        if format_name == "IPv6CIDR":
            return ipaddress.IPv6Interface(value).exploded if "/" in value else None
    except ValueError:
        return None
    if format_name == "InternationalE164":
        digits = PHONE_PUNCTUATION.sub("", value)
        return digits[1:] if digits.startswith("+") else None
    return value


def build_message(view: dict[str, Any], *, sender: Endpoint, receiver: Endpoint, now: datetime,
                  is_valid: ValueCheck) -> Element:
    """The HI1Message: header, then CREATE of the Authorisation, the Document and one task per data item."""
    if "template" not in view:
        raise InputError.field("view", "the export needs the full request view (request_view(req, full=True))")
    root = Element(qualified("core", "HI1Message"))
    header = el(root, "core", "Header")
    for local, end in (("SenderIdentifier", sender), ("ReceiverIdentifier", receiver)):
        holder = el(header, "core", local)
        el(holder, "core", "CountryCode", end.country)
        el(holder, "core", "UniqueIdentifier", end.node)
    el(header, "core", "TransactionIdentifier", str(uuid.uuid4()))
    el(header, "core", "Timestamp", now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
    version = el(header, "core", "Version")
    el(version, "core", "ETSIVersion", ETSI_VERSION)
    el(version, "core", "NationalProfileOwner", NATIONAL_OWNER)
    el(version, "core", "NationalProfileVersion", PROFILE_VERSION)
    actions = el(el(el(root, "core", "Payload"), "core", "RequestPayload"), "core", "ActionRequests")

    def create(type_name: tuple[str, str], associated: str | None) -> tuple[Element, str]:
        action = el(actions, "core", "ActionRequest")
        el(action, "core", "ActionIdentifier", str(len(actions) - 1))
        obj = el(el(action, "core", "CREATE"), "core", "HI1Object")
        obj.set(XSI_TYPE, f"{type_name[0]}:{type_name[1]}")
        object_id = str(uuid.uuid4())
        el(obj, "core", "ObjectIdentifier", object_id)
        el(obj, "core", "CountryCode", sender.country)
        el(obj, "core", "OwnerIdentifier", sender.node)
        if associated:
            el(el(obj, "core", "AssociatedObjects"), "core", "AssociatedObject", associated)
        return obj, object_id

    authorisation, authorisation_id = create(("auth", "AuthorisationObject"), None)
    _authorisation(authorisation, view)
    document, _ = create(("doc", "DocumentObject"), authorisation_id)
    _document(document, view)
    kind = "LP" if view["type"] == "preservation" else "LD"
    items = view["data_items"] or [None]
    for index, item in enumerate(items):
        task, _ = create(("task", f"{kind}TaskObject"), authorisation_id)
        _task(task, kind, view, item, is_valid, sender, index if len(items) > 1 else None)
    return root


def _authorisation(obj: Element, view: dict[str, Any]) -> None:
    reference = requester_reference(view)
    if reference:
        el(obj, "auth", "AuthorisationReference", reference)
    entry(obj, "auth", "AuthorisationLegalType", NATIONAL_OWNER, "AuthorisationLegalType", LEGAL_BASIS[view["type"]])
    entry(obj, "auth", "AuthorisationPriority", "ETSI", "AuthorisationPriority", PRIORITY[view["priority"]])
    el(obj, "auth", "AuthorisationCreationTimestamp", qualified_time(view["request_date"], "request_date"))
    authority = view["template"].get("requesting_authority") or {}
    if authority:
        approver = el(el(obj, "auth", "AuthorisationApprovalDetails"), "common", "ApproverDetails")
        el(approver, "common", "ApproverName", authority["officer"])
        phones = [p.removeprefix("+") for p in authority.get("phones") or []]
        contact = el(approver, "common", "ApproverContactDetails")
        el(contact, "common", "Name", authority["organisation"])
        if authority.get("email"):
            el(contact, "common", "EmailAddress", authority["email"])
        if phones:
            el(contact, "common", "PhoneNumber", phones[0])
        if authority.get("fax"):
            el(contact, "common", "FaxNumber", authority["fax"].removeprefix("+"))
        if authority.get("address"):
            el(contact, "common", "Address", authority["address"])
        for phone in phones[1:]:
            el(el(approver, "common", "ApproverContactDetails"), "common", "PhoneNumber", phone)
    if view["type"] == "emergency":
        entry(el(obj, "auth", "AuthorisationFlags"), "auth", "AuthorisationFlag", "ETSI", "AuthorisationFlag",
              "IsEmergency")


def _document(obj: Element, view: dict[str, Any]) -> None:
    el(obj, "doc", "DocumentName", DOCUMENT_NAME)
    entry(obj, "doc", "DocumentType", *DOCUMENT_TYPE)
    properties = el(obj, "doc", "DocumentProperties")
    values = dict(view["template"])
    values["channel"] = view["channel"]
    values["is_extension"] = view.get("is_extension", False)
    for name, kind in DOCUMENT_FIELDS.items():
        if name == "previous_reference" and view["type"] != "preservation":
            continue  # a disclosure names the preservation it follows in AlternativePreservationReferences
        head, _, tail = name.partition(".")
        value = (values.get(head) or {}).get(tail) if tail else values.get(head)
        if kind is bool:
            if not value:
                continue
            text = "true"
        elif value in (None, ""):
            continue
        else:
            text = str(value)
        prop = el(properties, "doc", "DocumentProperty")
        entry(prop, "doc", "PropertyType", NATIONAL_OWNER, PROPERTY_NAME, name)
        el(prop, "doc", "PropertyValue", text)


def _task(obj: Element, kind: str, view: dict[str, Any], item: dict[str, Any] | None, is_valid: ValueCheck,
          sender: Endpoint, index: int | None) -> None:
    status_name, desired_name = STATUS_DICTIONARY[kind]
    reference = requester_reference(view)
    if kind == "LD" and reference:
        ldid = f"{sender.country}-{sender.node}-{reference}"
        if index is not None:
            ldid += f"-{index + 1}"
        if LDID.match(ldid):
            el(obj, "task", "Reference", ldid)
    entry(obj, "task", "Status", "ETSI", status_name, view["status"])
    entry(obj, "task", "DesiredStatus", "ETSI", desired_name, DESIRED_STATUS[kind])
    details = _request_details(item, is_valid, view["type"])
    if details is not None:
        obj.append(details)
    if kind == "LP":
        expiry = (view.get("clocks") or {}).get("preservation_expires_at")
        if expiry and view["status"] == "Preserved":
            el(obj, "task", "PreservationExpiration", qualified_time(expiry["due_at"], "preservation_expires_at"))
        return
    if view["type"] == "emergency":
        entry(el(obj, "task", "Flags"), "task", "LDTaskFlag", "ETSI", "LDTaskFlag", "IsEmergency")
    previous = view["template"].get("previous_reference")
    if previous:
        holder = el(el(obj, "task", "AlternativePreservationReferences"), "task", "AlternativePreservationReference")
        el(holder, "task", "ReferenceValue", previous)


def _request_details(item: dict[str, Any] | None, is_valid: ValueCheck, request_type: str) -> Element | None:
    details = Element(qualified("task", "RequestDetails"))
    if item is not None:
        entry(details, "task", "Type", "ETSI", "RequestType", REQUEST_TYPE_OF_CATEGORY[item["data_category"]])
        if item.get("time_from"):
            el(details, "task", "StartTime", qualified_time(item["time_from"], "time_from"))
        if item.get("time_to"):
            el(details, "task", "EndTime", qualified_time(item["time_to"], "time_to"))
        owner, format_name, value = etsi_value(item["identifier_type"], item["value"], is_valid)
        request_value = el(el(details, "task", "RequestValues"), "task", "RequestValue")
        format_type = el(request_value, "task", "FormatType")
        el(format_type, "task", "FormatOwner", owner)
        el(format_type, "task", "FormatName", format_name)
        el(request_value, "task", "Value", value)
        return details
    # No data item: the type of data still says what is asked for, where the request type names it.
    category = {"traffic_disclosure": "traffic", "subscriber": "subscriber"}.get(request_type)
    if category is None:
        return None
    entry(details, "task", "Type", "ETSI", "RequestType", REQUEST_TYPE_OF_CATEGORY[category])
    return details
