"""ETSI TS 103 120 (HI-1) export and import of cooperation requests, as XML and as ETSI's JSON form.

One request is one HI1Message: a RequestPayload whose ActionRequests CREATE an Authorisation, a Document that
carries the T-CY template fields TS 103 120 has no element for, and one task per data item (LPTaskObject for a
preservation request, LDTaskObject for the others), each associated with the Authorisation. Both directions are
checked against the TS 103 120 schemas (nohaven.interop.schemas).

Mapping, nohaven field -> TS 103 120 element (ETSI's prefixes; Core elements bare; "D" = a DictionaryEntry
Owner/Name/Value):

  (the message)           Header: SenderIdentifier and ReceiverIdentifier (CountryCode, UniqueIdentifier),
                          TransactionIdentifier (a new UUID), Timestamp, Version V1.23.1 / nohaven / 1
  requesting_state        HI1Object/CountryCode of every object; the sender's CountryCode by default
  requested_state         ReceiverIdentifier/CountryCode
  the requester's         auth:AuthorisationReference; LD tasks also task:Reference, an LDID
    reference             "CC-node-reference" (with "-n" per task when there are several). It is their_reference
                          of an incoming request, our own reference of an outgoing one.
  type                    preservation: task:LPTaskObject, the others: task:LDTaskObject; and
                          auth:AuthorisationLegalType D nohaven/AuthorisationLegalType/<legal basis>:
                          BudapestConventionArt29 (preservation), BudapestConventionArt30 (traffic_disclosure),
                          SecondProtocolArt7 (subscriber), SecondProtocolArt9-10 (emergency),
                          BudapestConventionArt31 (mla)
  type emergency          auth:AuthorisationFlags/auth:AuthorisationFlag D ETSI/AuthorisationFlag/IsEmergency and
                          task:Flags/task:LDTaskFlag D ETSI/LDTaskFlag/IsEmergency
  priority                auth:AuthorisationPriority D ETSI/AuthorisationPriority/High (urgent) or Routine (normal)
  request_date            auth:AuthorisationCreationTimestamp (whole seconds, in UTC as the node keeps it)
  requesting_authority    auth:AuthorisationApprovalDetails/common:ApproverDetails:
    .officer                common:ApproverName
    .organisation, .email,  the first common:ApproverContactDetails: common:Name, EmailAddress, PhoneNumber,
    .phones[0], .fax,         FaxNumber, Address (E.164 numbers without their "+")
    .address
    .phones[1:]             one more common:ApproverContactDetails/common:PhoneNumber each
  status                  task:Status D ETSI/LPTaskStatus or ETSI/LDTaskStatus (nohaven's statuses are these names)
  (what is asked for)     task:DesiredStatus D ETSI/LPTaskDesiredStatus/Preserved or ETSI/LDTaskDesiredStatus/Disclosed
  data_items[i]           the i-th task's task:RequestDetails (one task per data item):
    .data_category          task:Type D ETSI/RequestType/TrafficData, SubscriberData or StoredContentData
    .time_from, .time_to    task:StartTime, task:EndTime (QualifiedDateTime: whole seconds, the offset as written)
    .identifier_type,       task:RequestValues/task:RequestValue: task:FormatType ETSI + IPv4Address, IPv6Address
    .value                    (full form), IPv4CIDR, IPv6CIDR, EmailAddress or InternationalE164 (digits, no "+")
                              when the value is valid as that TS 103 280 type; else FormatOwner nohaven and
                              FormatName the identifier type (ip_port, domain, url, account, device_id, other)
  previous_reference      disclosure and MLA requests: task:AlternativePreservationReferences/
                          task:AlternativePreservationReference/task:ReferenceValue; preservation: the Document
  preservation expiry     task:PreservationExpiration, when the request is Preserved (export only)
  channel, requested_authority, investigating_authority, offence, summary_of_facts, link_to_offence, custodian,
  preservation_reason, mla_to_follow, confirmation_contact, is_extension, requesting_authority.time_zone,
  requesting_authority.office_hours, requesting_authority.preferred_channel
                          doc:DocumentObject with doc:DocumentType D nohaven/DocumentType/TCYRequestFields, one
                          doc:DocumentProperty each: doc:PropertyType D nohaven/TCYField/<field name> and
                          doc:PropertyValue its text ("true" for a set flag; empty values and unset flags left out)
  custodian (import)      task:CSPID, as "UniqueIdentifier (CountryCode)", when no Document names the custodian

Not exported: nohaven's own id and (for an incoming request) its reference, direction (the receiver files the
request as incoming), the case, received_at, acknowledged_at, written_confirmation_at, preserved_at, extends_id
and follows_preservation_id (row ids of this node: the receiver links the requests itself), the legal clocks
other than the preservation expiry, the timeline. On import, a request starts at its initial status and its
clocks follow the receiving State's legal profile; every element not used is reported with its location and
why (ImportResult.unmapped), fields still missing are listed (ImportResult.missing) and defaults nohaven
applied are said (ImportResult.assumed).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from nohaven.errors import InputError
from nohaven.interop._internal.hi1_reader import read_message
from nohaven.interop._internal.hi1_writer import Endpoint, build_message
from nohaven.interop._internal.json_form import (
    JSON_NAMESPACES,
    from_json_text,
    object_types,
    to_clark_types,
    to_prefixed_types,
)
from nohaven.interop._internal.names import NS
from nohaven.interop._internal.xmlwriter import serialise
from nohaven.interop.schemas import SchemaSet, load_schema_set, parse_xml
from nohaven.requests.schema import RequestIn
from nohaven.timeutil import utcnow
from nohaven.validation import errors_of

__all__ = [
    "DEFAULT_NODE_ID",
    "Endpoint",
    "FieldNote",
    "ImportResult",
    "MessageSource",
    "Unmapped",
    "export_json",
    "export_xml",
    "import_json",
    "import_xml",
    "missing_fields",
]

DEFAULT_NODE_ID = "24-7-poc"  # the UniqueIdentifier of an endpoint whose node id nobody gave
WRITTEN_NAMESPACES = {("" if p == "core" else p): NS[p] for p in ("core", "xsi", "common", "task", "auth", "doc")}


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Unmapped(Frozen):
    """An element of the message that nohaven did not keep: where it is, what it is, and why."""

    location: str
    element: str
    reason: str
    value: str | None = None


class FieldNote(Frozen):
    """A request field that is missing or invalid, or that got nohaven's default."""

    field: str
    message: str


class MessageSource(Frozen):
    """Who sent the message, when, under which version and national profile."""

    sender_country: str
    sender_node: str
    receiver_country: str
    receiver_node: str
    transaction_id: str
    timestamp: str
    etsi_version: str
    profile_owner: str
    profile_version: str


class ImportResult(Frozen):
    """A message read as a request: the RequestIn fields found, and an account of everything else."""

    request: dict[str, Any]
    unmapped: tuple[Unmapped, ...]
    missing: tuple[FieldNote, ...]
    assumed: tuple[FieldNote, ...]
    source: MessageSource


def _endpoints(view: dict[str, Any], sender: Endpoint | None, receiver: Endpoint | None,
               node_id: str) -> tuple[Endpoint, Endpoint]:
    try:
        return (sender or Endpoint(country=view["requesting_state"], node=node_id),
                receiver or Endpoint(country=view["requested_state"], node=node_id))
    except ValidationError as exc:
        errors = errors_of(exc)
        raise InputError(f"endpoint: {errors[0]['field']}: {errors[0]['message']}", errors=errors) from None


def _export_element(view: dict[str, Any], schema: SchemaSet, sender: Endpoint | None, receiver: Endpoint | None,
                    node_id: str, now: datetime | None) -> bytes:
    source, destination = _endpoints(view, sender, receiver, node_id)
    root = build_message(view, sender=source, receiver=destination, now=now or utcnow(),
                         is_valid=schema.is_valid_value)
    data = serialise(root, nsmap=WRITTEN_NAMESPACES, pretty=True).encode("utf-8")
    schema.require_valid(parse_xml(data), "the export")
    return data


def export_xml(view: dict[str, Any], *, sender: Endpoint | None = None, receiver: Endpoint | None = None,
               node_id: str = DEFAULT_NODE_ID, now: datetime | None = None,
               schema_dir: str | Path | None = None) -> bytes:
    """The request view (requests.service.request_view) as a TS 103 120 HI1Message, validated, UTF-8 XML.

    `sender` / `receiver` default to the requesting / requested State with `node_id` as their identifier."""
    return _export_element(view, load_schema_set(schema_dir), sender, receiver, node_id, now)


def export_json(view: dict[str, Any], *, sender: Endpoint | None = None, receiver: Endpoint | None = None,
                node_id: str = DEFAULT_NODE_ID, now: datetime | None = None, schema_dir: str | Path | None = None
                ) -> dict[str, Any]:
    """The same HI1Message in ETSI's JSON form (see nohaven.interop._internal.json_form)."""
    schema = load_schema_set(schema_dir)
    data = _export_element(view, schema, sender, receiver, node_id, now)
    decoded = schema.decode(parse_xml(data), namespaces=WRITTEN_NAMESPACES)
    result: dict[str, Any] = to_clark_types(decoded, WRITTEN_NAMESPACES)
    return result


def import_xml(data: bytes, *, schema_dir: str | Path | None = None) -> ImportResult:
    """Read a TS 103 120 HI1Message as an incoming request (RequestIn fields), with what could not be kept.

    Malformed XML, a DOCTYPE (XXE) or a schema violation raise InputError naming the location."""
    schema = load_schema_set(schema_dir)
    resource = parse_xml(data)
    schema.require_valid(resource)
    reading = read_message(resource.root, resource.get_nsmap, schema.is_valid_value)
    missing = missing_fields(reading.fields, explained=[FieldNote(**note) for note in reading.missing])
    return ImportResult(request=reading.fields, unmapped=tuple(Unmapped(**u) for u in reading.unmapped),
                        missing=tuple(missing), assumed=tuple(FieldNote(**a) for a in reading.assumed),
                        source=MessageSource(**reading.source))


def import_json(data: dict[str, Any] | str | bytes, *, schema_dir: str | Path | None = None) -> ImportResult:
    """Read the JSON form of an HI1Message (as export_json writes it) as an incoming request."""
    document = from_json_text(data) if isinstance(data, str | bytes) else data
    if not isinstance(document, dict):
        raise InputError.field("(document)", "the JSON form of an HI1Message is an object")
    schema = load_schema_set(schema_dir)
    namespaces = dict(JSON_NAMESPACES)
    namespaces.update({key.partition(":")[2]: value for key, value in document.items()
                       if key.startswith("@xmlns") and isinstance(value, str)})
    prefixed = to_prefixed_types(document)
    unknown = [(where, value) for where, value in object_types(prefixed) if not schema.knows_type(value, namespaces)]
    if unknown:
        raise InputError(f"{unknown[0][0]}: {unknown[0][1]!r} is not a type of the TS 103 120 schemas nohaven loads",
                         errors=[{"field": w, "message": f"{v!r} is not a known object type"} for w, v in unknown])
    element, faults = schema.encode(prefixed, namespaces)
    if faults or element is None:
        first = faults[0] if faults else None
        raise InputError("the JSON does not validate against ETSI TS 103 120"
                         + (f": {first.location}: {first.message}" if first else ""),
                         errors=[f.as_error() for f in faults])
    return import_xml(serialise(element, nsmap=namespaces).encode("utf-8"), schema_dir=schema.schema_dir)


def missing_fields(fields: dict[str, Any], explained: Sequence[FieldNote] = ()) -> list[FieldNote]:
    """What `fields` still lacks, or has wrong, to be an acceptable RequestIn (its T-CY problems included).

    A field named in `explained` (what the import knows about why it is missing) keeps that explanation."""
    notes = _validation_notes(fields)
    why = {note.field: note for note in explained}
    result = [why.pop(note.field, note) if note.message == "required" else note for note in notes]
    return result + [note for note in why.values() if note.field not in fields]


def _validation_notes(fields: dict[str, Any]) -> list[FieldNote]:
    notes: list[FieldNote] = []
    try:
        request = RequestIn.model_validate(fields)
    except ValidationError as exc:
        notes = [FieldNote(**e) for e in errors_of(exc)]
        known = {name: value for name, value in fields.items() if name in RequestIn.model_fields}
        request = RequestIn.model_construct(**known)
    try:
        problems = request.problems()
    except (AttributeError, TypeError):  # fields too broken for the template checks; the errors above say why
        problems = []
    seen = {note.field for note in notes}
    notes += [FieldNote(**p) for p in problems if p["field"] not in seen]
    return notes
