"""Export: every request type becomes a valid HI1Message with the TS 103 120 elements the mapping promises."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from xml.etree.ElementTree import Element

import pytest
from interoptools import AUTHORITY, JSON_SCHEMAS, SCHEMA_DIR, bodies, create

from conftest import make_user
from nohaven.errors import InputError
from nohaven.interop import Endpoint, export_json, export_xml, import_json, import_xml, load_schema_set, parse_xml
from nohaven.interop._internal.names import NS, XSI_TYPE
from nohaven.node import Node
from nohaven.requests import service as requests

Q = {prefix: f"{{{uri}}}" for prefix, uri in NS.items()}


def objects(data: bytes) -> list[Element]:
    root = parse_xml(data).root
    return list(root.iter(Q["core"] + "HI1Object"))


def kind(obj: Element) -> str:
    return obj.get(XSI_TYPE, "")


def entry(elem: Element | None) -> tuple[str, ...]:
    assert elem is not None
    return tuple(elem.findtext(Q["common"] + part) or "" for part in ("Owner", "Name", "Value"))


@pytest.fixture
def views(node: Node) -> dict[str, dict[str, Any]]:
    olga = make_user(node, "olga", "officer")
    return {name: create(node, olga, body) for name, body in bodies().items()}


def test_each_request_type_exports_a_valid_message(views: dict[str, dict[str, Any]]) -> None:
    expected = {  # type: (task kind, legal basis, request types of the tasks, status, flags)
        "preservation": ("task:LPTaskObject", "BudapestConventionArt29", ["TrafficData", "StoredContentData"],
                         "AwaitingPreservation"),
        "traffic_disclosure": ("task:LDTaskObject", "BudapestConventionArt30", ["TrafficData"], "AwaitingApproval"),
        "subscriber": ("task:LDTaskObject", "SecondProtocolArt7", ["SubscriberData", "SubscriberData"],
                       "AwaitingApproval"),
        "emergency": ("task:LDTaskObject", "SecondProtocolArt9-10", ["SubscriberData"], "AwaitingApproval"),
        "mla": ("task:LDTaskObject", "BudapestConventionArt31", [], "AwaitingApproval"),
    }
    for name, view in views.items():
        data = export_xml(view, schema_dir=SCHEMA_DIR)  # validated inside; a fault would raise
        assert load_schema_set(SCHEMA_DIR).validate(parse_xml(data)) == []
        task_kind, legal, request_types, status = expected[name]
        found = objects(data)
        assert [kind(o) for o in found] == (["auth:AuthorisationObject", "doc:DocumentObject"]
                                            + [task_kind] * max(1, len(view["data_items"]))), name
        authorisation, document, *tasks = found
        auth_id = authorisation.findtext(Q["core"] + "ObjectIdentifier")
        assert all(o.findtext(f"{Q['core']}AssociatedObjects/{Q['core']}AssociatedObject") == auth_id
                   for o in [document, *tasks])
        assert entry(authorisation.find(Q["auth"] + "AuthorisationLegalType")) == (
            "nohaven", "AuthorisationLegalType", legal)
        assert entry(authorisation.find(Q["auth"] + "AuthorisationPriority"))[2] == (
            "High" if view["priority"] == "urgent" else "Routine")
        assert [entry(t.find(f"{Q['task']}RequestDetails/{Q['task']}Type"))[2] for t in tasks
                if t.find(f"{Q['task']}RequestDetails/{Q['task']}Type") is not None] == request_types, name
        assert {entry(t.find(Q["task"] + "Status")) for t in tasks} == {
            ("ETSI", "LPTaskStatus" if name == "preservation" else "LDTaskStatus", status)}
        assert {entry(t.find(Q["task"] + "DesiredStatus"))[2] for t in tasks} == {
            "Preserved" if name == "preservation" else "Disclosed"}
        flags = {entry(f) for f in authorisation.iter(Q["auth"] + "AuthorisationFlag")}
        assert flags == ({("ETSI", "AuthorisationFlag", "IsEmergency")} if name == "emergency" else set())


def test_identifiers_times_and_references(views: dict[str, dict[str, Any]]) -> None:
    def values(name: str) -> list[tuple[str, str, str]]:
        root = parse_xml(export_xml(views[name], schema_dir=SCHEMA_DIR)).root
        fmt = f"{Q['task']}FormatType/{Q['task']}"
        return [(v.findtext(fmt + "FormatOwner") or "", v.findtext(fmt + "FormatName") or "",
                 v.findtext(Q["task"] + "Value") or "") for v in root.iter(Q["task"] + "RequestValue")]

    assert values("preservation") == [("nohaven", "ip_port", "198.51.100.23:51515"),
                                      ("ETSI", "EmailAddress", "ransom@mail.example")]
    assert values("traffic_disclosure") == [("ETSI", "IPv4Address", "203.0.113.7")]
    assert values("subscriber") == [("ETSI", "InternationalE164", "442079460223"), ("nohaven", "account", "user-81723")]
    assert values("emergency") == [("ETSI", "IPv6Address", "2001:0db8:0000:0000:0000:0000:0000:0017")]

    data = export_xml(views["traffic_disclosure"], schema_dir=SCHEMA_DIR)
    root = parse_xml(data).root
    task = objects(data)[2]
    assert task.findtext(f"{Q['task']}RequestDetails/{Q['task']}StartTime") == "2026-11-25T03:00:00+01:00"
    assert task.findtext(Q["task"] + "Reference") == "XB-24-7-poc-XB-247-0002"
    assert task.findtext(f".//{Q['task']}AlternativePreservationReference/{Q['task']}ReferenceValue") == "XB-247-0001"
    authorisation = objects(data)[0]
    assert authorisation.findtext(Q["auth"] + "AuthorisationReference") == "XB-247-0002"
    # the node keeps the instant in UTC, and exports it so
    assert authorisation.findtext(Q["auth"] + "AuthorisationCreationTimestamp") == "2026-11-27T08:15:00+00:00"
    approver = authorisation.find(f"{Q['auth']}AuthorisationApprovalDetails/{Q['common']}ApproverDetails")
    assert approver is not None and approver.findtext(Q["common"] + "ApproverName") == AUTHORITY["officer"]
    assert [c.findtext(Q["common"] + "PhoneNumber") for c in approver.iter(Q["common"] + "ApproverContactDetails")
            ] == ["15555550200", "15555550201"]
    assert root.findtext(f"{Q['core']}Header/{Q['core']}SenderIdentifier/{Q['core']}CountryCode") == "XB"
    assert root.findtext(f"{Q['core']}Header/{Q['core']}ReceiverIdentifier/{Q['core']}CountryCode") == "XA"
    properties = {p.findtext(f"{Q['doc']}PropertyType/{Q['common']}Value"): p.findtext(Q["doc"] + "PropertyValue")
                  for p in root.iter(Q["doc"] + "DocumentProperty")}
    assert properties["offence"] == "Ransomware attack on a hospital"
    assert properties["requesting_authority.time_zone"] == "Europe/Berlin"
    assert properties["mla_to_follow"] == "true"
    assert "previous_reference" not in properties  # it travels in the task for a disclosure


def test_endpoints_timestamp_and_version(views: dict[str, dict[str, Any]]) -> None:
    now = datetime(2026, 11, 28, 10, 0, 0, 123456, tzinfo=UTC)
    data = export_xml(views["mla"], sender=Endpoint(country="XB", node="xb-bfp"),
                      receiver=Endpoint(country="XA", node="xa-ncu"), now=now, schema_dir=SCHEMA_DIR)
    header = parse_xml(data).root.find(Q["core"] + "Header")
    assert header is not None
    assert [header.findtext(f"{Q['core']}{end}/{Q['core']}{part}") for end in ("SenderIdentifier",
            "ReceiverIdentifier") for part in ("CountryCode", "UniqueIdentifier")] == ["XB", "xb-bfp", "XA", "xa-ncu"]
    assert header.findtext(Q["core"] + "Timestamp") == "2026-11-28T10:00:00.123456Z"
    assert [header.findtext(f"{Q['core']}Version/{Q['core']}{p}") for p in (
        "ETSIVersion", "NationalProfileOwner", "NationalProfileVersion")] == ["V1.23.1", "nohaven", "1"]
    assert all(o.findtext(Q["core"] + "OwnerIdentifier") == "xb-bfp" for o in objects(data))


def test_an_outgoing_request_carries_our_reference(node: Node) -> None:
    olga = make_user(node, "olga", "officer")
    view = create(node, olga, {**bodies()["subscriber"], "direction": "outgoing", "requesting_state": "XA",
                               "requested_state": "XB", "their_reference": ""})
    authorisation = objects(export_xml(view, schema_dir=SCHEMA_DIR))[0]
    assert authorisation.findtext(Q["auth"] + "AuthorisationReference") == view["reference"]


def test_a_preserved_request_exports_its_expiry(node: Node) -> None:
    olga = make_user(node, "olga", "officer")
    view = create(node, olga, bodies()["preservation"])
    with node.work() as session:
        view = requests.request_view(requests.transition(session, olga, view["id"], "Preserved"))
    task = objects(export_xml(view, schema_dir=SCHEMA_DIR))[2]
    assert entry(task.find(Q["task"] + "Status"))[2] == "Preserved"
    expiry = datetime.fromisoformat(task.findtext(Q["task"] + "PreservationExpiration") or "")
    assert expiry == datetime.fromisoformat(view["clocks"]["preservation_expires_at"]["due_at"]).replace(microsecond=0)


def test_the_json_form_follows_etsis_json_schemas(views: dict[str, dict[str, Any]]) -> None:
    task_schema = json.loads((JSON_SCHEMAS / "ts_103120_Task.schema.json").read_text())["$defs"]
    core_schema = json.loads((JSON_SCHEMAS / "ts_103120_Core.schema.json").read_text())["$defs"]
    document = export_json(views["emergency"], schema_dir=SCHEMA_DIR)
    assert set(document["Header"]) == set(core_schema["MessageHeader"]["properties"]) - {"WorkflowIdentifier"}
    actions = document["Payload"]["RequestPayload"]["ActionRequests"]["ActionRequest"]
    assert [a["ActionIdentifier"] for a in actions] == [0, 1, 2]
    task = actions[2]["CREATE"]["HI1Object"]
    allowed = task_schema["LDTaskObject"]["properties"]
    assert task["@xsi:type"] in allowed["@xsi:type"]["enum"]
    assert set(task) <= set(allowed)
    details = task["task:RequestDetails"]
    assert set(details) <= set(task_schema["RequestDetails"]["properties"])
    assert isinstance(details["task:RequestValues"]["task:RequestValue"], list)
    assert task["task:Flags"]["task:LDTaskFlag"] == [{"common:Owner": "ETSI", "common:Name": "LDTaskFlag",
                                                       "common:Value": "IsEmergency"}]
    assert actions[0]["CREATE"]["HI1Object"]["@xsi:type"] == (
        "{http://uri.etsi.org/03120/common/2020/09/Authorisation}AuthorisationObject")


def test_a_short_view_or_a_bad_endpoint_is_refused(views: dict[str, dict[str, Any]]) -> None:
    short = {k: v for k, v in views["mla"].items() if k != "template"}
    with pytest.raises(InputError, match="full request view"):
        export_xml(short, schema_dir=SCHEMA_DIR)
    with pytest.raises(InputError, match="node"):
        export_xml(views["mla"], node_id="", schema_dir=SCHEMA_DIR)


def test_a_tampered_export_is_refused_naming_the_location(views: dict[str, dict[str, Any]]) -> None:
    text = export_xml(views["subscriber"], schema_dir=SCHEMA_DIR).decode()
    tampered = text.replace("<task:DesiredStatus>", "<task:Urgency>high</task:Urgency><task:DesiredStatus>", 1)
    with pytest.raises(InputError) as caught:
        import_xml(tampered.encode(), schema_dir=SCHEMA_DIR)
    assert caught.value.errors[0]["field"] == ("/HI1Message/Payload/RequestPayload/ActionRequests/ActionRequest[3]/"
                                               "CREATE/HI1Object/task:Urgency")
    document = export_json(views["subscriber"], schema_dir=SCHEMA_DIR)
    document["Header"]["Timestamp"] = "yesterday"
    with pytest.raises(InputError) as caught:
        import_json(document, schema_dir=SCHEMA_DIR)
    assert caught.value.errors[0]["field"] == "/HI1Message/Header/Timestamp"
