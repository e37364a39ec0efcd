"""Read a validated HI1Message into RequestIn fields, keeping account of every element that was not used
(see account.ElementAccount): whatever a CREATEd object holds that the mapping did not use, and every action that
is not a CREATE, is reported with its location and why."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from xml.etree.ElementTree import Element

from nohaven.errors import InputError
from nohaven.interop._internal.account import ElementAccount
from nohaven.interop._internal.mapping import (
    CATEGORY_OF_REQUEST_TYPE,
    DESIRED_STATUS,
    DOCUMENT_FIELDS,
    DOCUMENT_TYPE,
    LEGAL_BASIS,
    NATIONAL_OWNER,
    PRIORITY,
    PROPERTY_NAME,
    STATUS_DICTIONARY,
)
from nohaven.interop._internal.names import NS, XSI_TYPE, prefixed, qualified, split
from nohaven.requests.lifecycle import initial_status

__all__ = ["MessageReading", "read_message"]

NamespacesAt = Callable[[Element], "dict[str, str] | None"]
ValueCheck = Callable[[str, str], bool]

REQUEST_TYPE_OF_LEGAL_BASIS = {value: key for key, value in LEGAL_BASIS.items()}
PRIORITY_OF = {value: key for key, value in PRIORITY.items()}
NATIONAL_IDENTIFIER_TYPES = ("ip_address", "ip_port", "email", "phone", "domain", "url", "account", "device_id",
                             "other")
IDENTIFIER_OF_FORMAT = {
    "IPv4Address": "ip_address", "IPv6Address": "ip_address", "IPv4CIDR": "ip_address", "IPv6CIDR": "ip_address",
    "EmailAddress": "email", "InternationalizedEmailAddress": "email", "InternationalE164": "phone",
    "IMEI": "device_id", "IMEICheckDigit": "device_id", "IMEISV": "device_id", "MACAddress": "device_id",
    "EUI64": "device_id", "IMSI": "account", "ICCID": "account",
}

# Why an element nohaven reads nothing from is left out, where there is more to say than "no field for it".
REASONS = {
    "DesiredPreservationExpiration": "the preservation period follows the requested State's legal profile; "
                                     "nohaven keeps no expiry asked for by the requester",
    "PreservationExpiration": "the preservation period follows the requested State's legal profile",
    "DeliveryDetails": "nohaven does not deliver results to an address named in the request",
    "AuthorisationTimespan": "nohaven keeps no period of validity for a request",
    "Deadlines": "deadlines are the legal clocks nohaven computes from the requested State's legal profile",
    "NatureOfReference": "nohaven keeps the reference (previous_reference), not its nature",
    "TransmissionTime": "nohaven keeps the reference (previous_reference), not when it was sent",
    "StatusReason": "a request imported here starts afresh; the sender's status reason is not kept",
    "ManualInformation": "nohaven has no field for manual-processing notes",
    "ExternalIdentifier": "nohaven keeps no external identifier of an object",
    "LastChanged": "nohaven records its own times of change",
    "Generation": "nohaven keeps no generation counter of an object",
    "NationalHandlingParameters": "national handling parameters of another profile are not understood",
}


@dataclass
class MessageReading:
    """What the reader found: RequestIn fields, where each element went, and what could not be kept."""

    fields: dict[str, Any] = field(default_factory=dict)
    source: dict[str, str] = field(default_factory=dict)
    unmapped: list[dict[str, str | None]] = field(default_factory=list)
    assumed: list[dict[str, str]] = field(default_factory=list)
    missing: list[dict[str, str]] = field(default_factory=list)


class _Reader(ElementAccount):
    def __init__(self, root: Element, nsmap_of: NamespacesAt, is_valid: ValueCheck) -> None:
        super().__init__(root, REASONS)
        self.nsmap_of = nsmap_of
        self.is_valid = is_valid
        self.out = MessageReading(unmapped=self.unmapped)

    def object_type(self, obj: Element) -> str:
        """The xsi:type of an HI1Object as a Clark name, its prefix resolved where it was written."""
        raw = obj.get(XSI_TYPE, "")
        prefix, _, local = raw.rpartition(":")
        nsmap = self.nsmap_of(obj) or {}
        return f"{{{nsmap.get(prefix, '')}}}{local}"

    # -- the message ----------------------------------------------------------------------------------------

    def read(self) -> MessageReading:
        self._header()
        objects = self._objects()
        tasks = [o for o in objects if split(self.object_type(o))[1] in ("LPTaskObject", "LDTaskObject")
                 and split(self.object_type(o))[0] == NS["task"]]
        if not tasks:
            raise InputError.field("/HI1Message/Payload",
                                   "the message CREATEs no LPTaskObject or LDTaskObject: there is no request in it")
        kinds = {split(self.object_type(t))[1][:2] for t in tasks}
        if len(kinds) > 1:
            raise InputError.field(self.path(tasks[0]), "the message mixes LP and LD tasks: preservation and "
                                   "disclosure are separate requests; split the message")
        kind = kinds.pop()
        authorisations = [o for o in objects if self.object_type(o) == qualified("auth", "AuthorisationObject")]
        documents = [o for o in objects if self.object_type(o) == qualified("doc", "DocumentObject")]
        authorisation = self._pick_authorisation(authorisations, tasks)
        for obj in objects:
            if obj not in tasks and obj not in authorisations and obj not in documents:
                self.refuse(obj, f"a {prefixed(self.object_type(obj))} is not part of a request nohaven imports")
        self.out.fields["direction"] = "incoming"
        self._states(authorisation, tasks)
        for document in documents:
            self._document(document)
        flags = self._authorisation(authorisation) if authorisation is not None else set()
        categories, emergency = self._tasks(tasks, kind, authorisation)
        self._type_and_priority(kind, authorisation, categories, emergency or "IsEmergency" in flags)
        for obj in objects:
            self.take(self.child(obj, "core", "ObjectIdentifier"), self.child(obj, "core", "OwnerIdentifier"),
                      self.child(obj, "core", "AssociatedObjects"))
        for action in self.children(self._actions(), "core", "ActionRequest"):
            self.sweep(action)
        return self.out

    def _header(self) -> None:
        header = self.child(self.root, "core", "Header")
        sender = self.child(header, "core", "SenderIdentifier")
        receiver = self.child(header, "core", "ReceiverIdentifier")
        version = self.child(header, "core", "Version")
        self.out.source = {
            "sender_country": self.text(sender, "core", "CountryCode") or "",
            "sender_node": self.text(sender, "core", "UniqueIdentifier") or "",
            "receiver_country": self.text(receiver, "core", "CountryCode") or "",
            "receiver_node": self.text(receiver, "core", "UniqueIdentifier") or "",
            "transaction_id": self.text(header, "core", "TransactionIdentifier") or "",
            "timestamp": self.text(header, "core", "Timestamp") or "",
            "etsi_version": self.text(version, "core", "ETSIVersion") or "",
            "profile_owner": self.text(version, "core", "NationalProfileOwner") or "",
            "profile_version": self.text(version, "core", "NationalProfileVersion") or "",
        }
        self.take(header)

    def _actions(self) -> Element | None:
        payload = self.child(self.root, "core", "Payload")
        request = self.child(payload, "core", "RequestPayload")
        if request is None:
            raise InputError.field("/HI1Message/Payload", "the message is a response, not a request: nothing to "
                                   "import")
        return self.child(request, "core", "ActionRequests")

    def _objects(self) -> list[Element]:
        objects = []
        for action in self.children(self._actions(), "core", "ActionRequest"):
            self.take(self.child(action, "core", "ActionIdentifier"))
            create = self.child(action, "core", "CREATE")
            if create is None:
                verb = next((c for c in action if c.tag != qualified("core", "ActionIdentifier")), action)
                self.refuse(verb, f"{split(verb.tag)[1]} actions are not imported: only the CREATE of a request")
                continue
            obj = self.child(create, "core", "HI1Object")
            if obj is not None:
                self.take_structure(obj)
                objects.append(obj)
        return objects

    def _pick_authorisation(self, authorisations: list[Element], tasks: list[Element]) -> Element | None:
        linked = {(a.text or "").strip() for t in tasks
                  for a in self.children(self.child(t, "core", "AssociatedObjects"), "core", "AssociatedObject")}
        chosen = next((a for a in authorisations if self.text(a, "core", "ObjectIdentifier") in linked),
                      authorisations[0] if authorisations else None)
        for other in authorisations:
            if other is not chosen:
                self.refuse(other, "one Authorisation makes one request; this further one is not kept")
        return chosen

    def _states(self, authorisation: Element | None, tasks: list[Element]) -> None:
        requesting = None
        for obj in [authorisation, *tasks]:
            code = self.child(obj, "core", "CountryCode")
            if code is None:
                continue
            value = (code.text or "").strip()
            if requesting is None or value == requesting:
                requesting = value
                self.take(code)
            else:
                self.refuse(code, f"the request's requesting State is {requesting}; this object says {value}")
        self.out.fields["requesting_state"] = requesting or self.out.source["sender_country"]
        if self.out.source["receiver_country"]:
            self.out.fields["requested_state"] = self.out.source["receiver_country"]

    # -- Authorisation ----------------------------------------------------------------------------------------

    def _authorisation(self, obj: Element) -> set[str]:
        reference = self.child(obj, "auth", "AuthorisationReference")
        if reference is not None and (reference.text or "").strip():
            self.out.fields["their_reference"] = (reference.text or "").strip()
            self.take(reference)
        created = self.child(obj, "auth", "AuthorisationCreationTimestamp")
        if created is not None:
            self.out.fields["request_date"] = (created.text or "").strip()
            self.take(created)
        approvals = self.children(obj, "auth", "AuthorisationApprovalDetails")
        if approvals:
            self._requesting_authority(approvals[0])
        for extra in approvals[1:]:
            self.refuse(extra, "the requesting authority is read from the first approval details only")
        flags = set()
        holder = self.child(obj, "auth", "AuthorisationFlags")
        for flag in self.children(holder, "auth", "AuthorisationFlag"):
            if self.dictionary(flag) == ("ETSI", "AuthorisationFlag", "IsEmergency"):
                flags.add("IsEmergency")
                self.take(flag)
            else:
                self.refuse(flag, f"the flag {'/'.join(self.dictionary(flag) or ())} has no meaning in nohaven")
        return flags

    def _requesting_authority(self, approval: Element) -> None:
        details = self.child(approval, "common", "ApproverDetails")
        if details is None:
            return
        authority: dict[str, Any] = {}
        name = self.child(details, "common", "ApproverName")
        if name is not None:
            authority["officer"] = (name.text or "").strip()
            self.take(name)
        phones: list[str] = []
        for index, contact in enumerate(self.children(details, "common", "ApproverContactDetails")):
            for local in ("PhoneNumber", "ApproverPhoneNumber"):
                phone = self.child(contact, "common", local)
                if phone is not None:
                    phones.append("+" + (phone.text or "").strip())
                    self.take(phone)
            if index:
                continue
            for local, key in (("Name", "organisation"), ("Address", "address"), ("EmailAddress", "email"),
                               ("ApproverEmailAddress", "email"), ("FaxNumber", "fax")):
                found = self.child(contact, "common", local)
                if found is None:
                    continue
                if key in authority:
                    self.refuse(found, f"requesting_authority.{key} is taken from common:EmailAddress")
                    continue
                value = (found.text or "").strip()
                authority[key] = "+" + value if key == "fax" else value
                self.take(found)
        if phones:
            authority["phones"] = phones
        if authority:
            merged = dict(self.out.fields.get("requesting_authority") or {})
            merged.update(authority)
            self.out.fields["requesting_authority"] = merged

    # -- Document ---------------------------------------------------------------------------------------------

    def _document(self, obj: Element) -> None:
        kind = self.dictionary(self.child(obj, "doc", "DocumentType"))
        if kind != DOCUMENT_TYPE:
            label = "/".join(kind) if kind else "without a type"
            self.refuse(obj, f"a document {label} is not kept: nohaven stores no attached documents")
            return
        self.take(self.child(obj, "doc", "DocumentType"), self.child(obj, "doc", "DocumentName"),
                  self.child(obj, "core", "CountryCode"))
        for prop in self.children(self.child(obj, "doc", "DocumentProperties"), "doc", "DocumentProperty"):
            owner, dictionary, name = self.dictionary(self.child(prop, "doc", "PropertyType")) or ("", "", "")
            value_elem = self.child(prop, "doc", "PropertyValue")
            value = "" if value_elem is None else (value_elem.text or "")
            if (owner, dictionary) != (NATIONAL_OWNER, PROPERTY_NAME) or name not in DOCUMENT_FIELDS:
                self.refuse(prop, f"the property {owner}/{dictionary}/{name} is not a T-CY field nohaven knows")
                continue
            if DOCUMENT_FIELDS[name] is bool:
                if value.strip() not in ("true", "false"):
                    self.refuse(prop, f"{name} must be true or false, not {value.strip()!r}")
                    continue
                parsed: Any = value.strip() == "true"
            else:
                parsed = value
            head, _, tail = name.partition(".")
            if tail:
                merged = dict(self.out.fields.get(head) or {})
                merged[tail] = parsed
                self.out.fields[head] = merged
            else:
                self.out.fields[head] = parsed
            self.take(prop)

    # -- tasks ------------------------------------------------------------------------------------------------

    def _tasks(self, tasks: list[Element], kind: str, authorisation: Element | None) -> tuple[set[str], bool]:
        status_name, desired_name = STATUS_DICTIONARY[kind]
        start = initial_status("preservation" if kind == "LP" else "other")
        items: list[dict[str, Any]] = []
        categories: set[str] = set()
        emergency = False
        for task in tasks:
            status = self.child(task, "task", "Status")
            if status is not None:
                if self.dictionary(status) == ("ETSI", status_name, start):
                    self.take(status)
                else:
                    self.refuse(status, f"a request imported here starts at {start}; the sender's status "
                                f"{(self.dictionary(status) or ('', '', ''))[2]} is not kept")
            desired = self.child(task, "task", "DesiredStatus")
            if desired is not None:
                if self.dictionary(desired) == ("ETSI", desired_name, DESIRED_STATUS[kind]):
                    self.take(desired)
                else:
                    self.refuse(desired, f"nohaven imports requests that ask for {DESIRED_STATUS[kind]}; desired "
                                f"status {(self.dictionary(desired) or ('', '', ''))[2]} is not kept")
            found = self._request_details(task, items)
            categories |= found
            for flag in self.children(self.child(task, "task", "Flags"), "task", "LDTaskFlag"):
                if self.dictionary(flag) == ("ETSI", "LDTaskFlag", "IsEmergency"):
                    emergency = True
                    self.take(flag)
                else:
                    self.refuse(flag, f"the flag {'/'.join(self.dictionary(flag) or ())} has no meaning in nohaven")
            self._previous_reference(task)
            self._custodian(task)
        self._task_references(tasks)
        self.out.fields["data_items"] = items
        return categories, emergency

    def _request_details(self, task: Element, items: list[dict[str, Any]]) -> set[str]:
        details = self.child(task, "task", "RequestDetails")
        if details is None:
            return set()
        self.take_structure(details)
        categories: tuple[str, ...] = ()
        type_elem = self.child(details, "task", "Type")
        if type_elem is not None:
            owner, name, value = self.dictionary(type_elem) or ("", "", "")
            if (owner, name) == ("ETSI", "RequestType") and value in CATEGORY_OF_REQUEST_TYPE:
                categories = CATEGORY_OF_REQUEST_TYPE[value]
                self.take(type_elem)
            else:
                self.refuse(type_elem, f"the request type {owner}/{name}/{value} is not one of nohaven's data "
                            "categories (traffic, subscriber, content)")
        times = {}
        for local, key in (("StartTime", "time_from"), ("EndTime", "time_to")):
            found = self.child(details, "task", local)
            if found is not None:
                times[key] = (found.text or "").strip()
                self.take(found)
        for request_value in self.children(self.child(details, "task", "RequestValues"), "task", "RequestValue"):
            identifier = self._identifier(request_value)
            if identifier is None:
                continue
            for category in categories or (None,):
                item: dict[str, Any] = {"identifier_type": identifier[0], "value": identifier[1], **times}
                if category is None:
                    self.out.assumed.append({"field": f"data_items[{len(items)}].data_category",
                                             "message": "the request details name no Type; nohaven's default "
                                                        "'traffic' applies"})
                else:
                    item["data_category"] = category
                items.append(item)
        return set(categories)

    def _identifier(self, request_value: Element) -> tuple[str, str] | None:
        format_type = self.child(request_value, "task", "FormatType")
        owner = self.text(format_type, "task", "FormatOwner") or ""
        name = self.text(format_type, "task", "FormatName") or ""
        raw = self.text(request_value, "task", "Value") or ""
        if owner == NATIONAL_OWNER and name in NATIONAL_IDENTIFIER_TYPES:
            self.take(request_value)
            return name, raw
        self.take(request_value)
        if owner == "ETSI" and name in IDENTIFIER_OF_FORMAT:
            if self.is_valid(name, raw):
                return IDENTIFIER_OF_FORMAT[name], _from_etsi(name, raw)
            reason = f"the value is not a valid TS 103 280 {name}; it is kept as identifier type 'other'"
        else:
            reason = "no nohaven identifier type for this format; the value is kept as identifier type 'other'"
        where = format_type if format_type is not None else request_value
        self.out.unmapped.append({"location": self.path(where), "element": prefixed(where.tag),
                                  "value": f"{owner}/{name}", "reason": reason})
        return "other", raw

    def _previous_reference(self, task: Element) -> None:
        holder = self.child(task, "task", "AlternativePreservationReferences")
        for reference in self.children(holder, "task", "AlternativePreservationReference"):
            value = self.child(reference, "task", "ReferenceValue")
            if value is None:
                continue
            text = (value.text or "").strip()
            if self.out.fields.get("previous_reference") in (None, text):
                self.out.fields["previous_reference"] = text
                self.take(value)
            else:
                self.refuse(value, "previous_reference holds one reference; it is "
                            f"{self.out.fields['previous_reference']!r}")

    def _custodian(self, task: Element) -> None:
        csp = self.child(task, "task", "CSPID")
        if csp is None:
            return
        text = f"{self.text(csp, 'core', 'UniqueIdentifier')} ({self.text(csp, 'core', 'CountryCode')})"
        if self.out.fields.get("custodian") in (None, text):
            self.out.fields["custodian"] = text
            self.take(csp)
        else:
            self.refuse(csp, f"the custodian is {self.out.fields['custodian']!r} already")

    def _task_references(self, tasks: list[Element]) -> None:
        reference = self.out.fields.get("their_reference")
        for task in tasks:
            ldid = self.child(task, "task", "Reference")
            if ldid is None:
                continue
            text = (ldid.text or "").strip()
            if reference is None:
                reference = self.out.fields["their_reference"] = text
            ours = re.fullmatch(rf"[A-Z]{{2}}-.+-{re.escape(reference)}(-\d+)?", text)
            if text == reference or ours:
                self.take(ldid)
            else:
                self.refuse(ldid, f"their_reference is taken from the Authorisation ({reference!r}); this task "
                            "reference is not kept")

    # -- what kind of request ---------------------------------------------------------------------------------

    def _type_and_priority(self, kind: str, authorisation: Element | None, categories: set[str],
                           emergency: bool) -> None:
        request_type = "preservation" if kind == "LP" else None
        legal = self.child(authorisation, "auth", "AuthorisationLegalType")
        if legal is not None:
            owner, name, value = self.dictionary(legal) or ("", "", "")
            stated = REQUEST_TYPE_OF_LEGAL_BASIS.get(value) if (owner, name) == (NATIONAL_OWNER,
                                                                                 "AuthorisationLegalType") else None
            if stated is not None and (stated == "preservation") == (kind == "LP"):
                request_type = stated
                self.take(legal)
            else:
                self.refuse(legal, f"the legal type {owner}/{name}/{value} does not name a nohaven request type "
                            f"for an {kind} task")
        if request_type is None:
            if emergency:
                request_type = "emergency"
            elif categories == {"traffic"}:
                request_type = "traffic_disclosure"
            elif categories == {"subscriber"}:
                request_type = "subscriber"
        if request_type is None:
            self.out.missing.append({"field": "type", "message": "an LDTaskObject without a request Type of "
                                     "traffic or subscriber data, an emergency flag or nohaven's legal type: say "
                                     "which request it is (traffic_disclosure, subscriber, emergency or mla)"})
        else:
            self.out.fields["type"] = request_type
        priority = self.child(authorisation, "auth", "AuthorisationPriority")
        if priority is not None:
            owner, name, value = self.dictionary(priority) or ("", "", "")
            if (owner, name) == ("ETSI", "AuthorisationPriority") and value in PRIORITY_OF:
                self.out.fields["priority"] = PRIORITY_OF[value]
                self.take(priority)
            else:
                self.refuse(priority, f"the priority {owner}/{name}/{value} is not High or Routine")
        if "priority" not in self.out.fields and emergency:
            self.out.fields["priority"] = "urgent"
            self.out.assumed.append({"field": "priority", "message": "an emergency request is urgent"})


def _from_etsi(format_name: str, value: str) -> str:
    """A TS 103 280 value as nohaven writes it: E.164 with its plus, IPv6 compressed."""
    if format_name == "InternationalE164":
        return "+" + value
    try:
        if format_name == "IPv6Address":
            return ipaddress.IPv6Address(value).compressed
        if format_name == "IPv6CIDR":
            return ipaddress.IPv6Interface(value).compressed
    except ValueError:
        return value
    return value


def read_message(root: Element, nsmap_of: NamespacesAt, is_valid: ValueCheck) -> MessageReading:
    """Map a schema-valid HI1Message; `nsmap_of(elem)` gives the namespaces in scope at an element and
    `is_valid(type, value)` checks a value against a TS 103 280 type."""
    return _Reader(root, nsmap_of, is_valid).read()
