"""Import: ETSI's own examples map with an exact account of what was left out; nohaven's exports come back as
the same request; messages that hold no request say so."""

from __future__ import annotations

from datetime import UTC
from typing import Any

import pytest
from interoptools import EXAMPLES, SCHEMA_DIR, bodies, create

from conftest import make_user
from nohaven.errors import InputError
from nohaven.interop import export_json, export_xml, import_json, import_xml
from nohaven.node import Node
from nohaven.requests.schema import RequestIn

OBJECT = "/HI1Message/Payload/RequestPayload/ActionRequests/ActionRequest{}/CREATE/HI1Object"
NOT_CARRIED = {"case_reference", "case_title", "received_at", "extends_id", "follows_preservation_id"}


def unmapped(result: Any) -> list[tuple[str, str, str | None]]:
    return [(u.location, u.element, u.value) for u in result.unmapped]


def test_request4_preservation_link() -> None:
    result = import_xml((EXAMPLES / "request4-Preservation-Link.xml").read_bytes(), schema_dir=SCHEMA_DIR)
    assert result.request == {
        "direction": "incoming", "requesting_state": "XX", "requested_state": "XX", "their_reference": "W000001",
        "previous_reference": "ExternalReferenceValue", "custodian": "ACTOR02 (XX)",
        "data_items": [{"identifier_type": "phone", "value": "+442079460223", "time_from": "2019-09-30T12:00:00Z",
                        "time_to": "2019-12-30T12:00:00Z"}],
    }
    assert unmapped(result) == [
        (OBJECT.format("[1]") + "/auth:AuthorisationTimespan", "auth:AuthorisationTimespan", None),
        (OBJECT.format("[2]") + "/task:Reference", "task:Reference", "XX-ACTOR01-1234"),
        (OBJECT.format("[2]") + "/task:DeliveryDetails", "task:DeliveryDetails", None),
        (OBJECT.format("[2]") + "/task:AlternativePreservationReferences/task:AlternativePreservationReference/"
         "task:NatureOfReference", "task:NatureOfReference", "Preservation Request Type"),
    ]
    reasons = [u.reason for u in result.unmapped]
    assert "no period of validity" in reasons[0]
    assert "their_reference is taken from the Authorisation ('W000001')" in reasons[1]
    assert "does not deliver results" in reasons[2]
    assert "not its nature" in reasons[3]
    assert [(m.field, m.message) for m in result.missing][:1] == [
        ("type", "an LDTaskObject without a request Type of traffic or subscriber data, an emergency flag or "
                 "nohaven's legal type: say which request it is (traffic_disclosure, subscriber, emergency or mla)")]
    assert [m.field for m in result.missing] == ["type", "channel", "priority", "requested_authority",
                                                 "requesting_authority", "investigating_authority", "offence",
                                                 "summary_of_facts"]
    assert [(a.field, a.message) for a in result.assumed] == [
        ("data_items[0].data_category", "the request details name no Type; nohaven's default 'traffic' applies")]
    assert result.source.model_dump() == {
        "sender_country": "XX", "sender_node": "ACTOR01", "receiver_country": "XX", "receiver_node": "ACTOR02",
        "transaction_id": "c02358b2-76cf-4ba4-a8eb-f6436ccaea2e", "timestamp": "2019-09-30T13:37:00.000000Z",
        "etsi_version": "V1.14.1", "profile_owner": "XX", "profile_version": "v1.0"}


def test_request8_lp_task_object() -> None:
    result = import_xml((EXAMPLES / "request8_LPTaskObject.xml").read_bytes(), schema_dir=SCHEMA_DIR)
    assert result.request == {
        "direction": "incoming", "requesting_state": "XX", "requested_state": "XX", "type": "preservation",
        "data_items": [{"identifier_type": "phone", "value": "+442079460223", "time_from": "2023-05-01T12:00:00Z",
                        "time_to": "2023-05-02T12:00:00Z"}],
    }
    assert unmapped(result) == [(OBJECT.format("") + "/task:DesiredPreservationExpiration",
                                 "task:DesiredPreservationExpiration", "2023-06-30T12:00:00Z")]
    assert "legal profile" in result.unmapped[0].reason
    assert [m.field for m in result.missing] == [
        "channel", "priority", "requested_authority", "requesting_authority", "investigating_authority", "offence",
        "summary_of_facts", "preservation_reason", "custodian", "mla_to_follow", "link_to_offence"]


def test_request4_is_a_subscriber_request_by_its_request_type() -> None:
    result = import_xml((EXAMPLES / "request4.xml").read_bytes(), schema_dir=SCHEMA_DIR)
    assert result.request["type"] == "subscriber"
    assert result.request["data_items"][0]["data_category"] == "subscriber"
    assert result.assumed == ()


@pytest.mark.parametrize(("name", "message"), [
    ("response4.xml", "a response, not a request"),
    ("request5-XML-Delivery.xml", "CREATEs no LPTaskObject or LDTaskObject"),
    ("request_ee_config.xml", "CREATEs no LPTaskObject or LDTaskObject"),
])
def test_messages_without_a_request_say_so(name: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        import_xml((EXAMPLES / name).read_bytes(), schema_dir=SCHEMA_DIR)


def test_unknown_statuses_flags_formats_and_documents_are_reported() -> None:
    text = (EXAMPLES / "request4.xml").read_text()
    text = text.replace("<task:FormatName>InternationalE164</task:FormatName>",
                        "<task:FormatName>IMSI</task:FormatName>")
    text = text.replace("<task:Value>442079460223</task:Value>", "<task:Value>001010123456789</task:Value>")
    text = text.replace("<task:Reference>XX-ACTOR01-1234</task:Reference>",
                        "<task:Reference>XX-ACTOR01-W000001</task:Reference><task:Status><common:Owner>ETSI"
                        "</common:Owner><common:Name>LDTaskStatus</common:Name><common:Value>Disclosed</common:Value>"
                        "</task:Status>")
    text = text.replace("</task:CSPID>", "</task:CSPID><task:Flags><task:LDTaskFlag><common:Owner>ETSI</common:Owner>"
                        "<common:Name>LDTaskFlag</common:Name><common:Value>IsTest</common:Value></task:LDTaskFlag>"
                        "</task:Flags>")
    result = import_xml(text.encode(), schema_dir=SCHEMA_DIR)
    assert result.request["data_items"][0]["identifier_type"] == "account"
    assert result.request["their_reference"] == "W000001"  # the LDID derived from it is not reported
    by_element = {u.element: u for u in result.unmapped}
    assert set(by_element) == {"auth:AuthorisationTimespan", "task:DeliveryDetails", "task:Status",
                               "task:LDTaskFlag"}
    assert "starts at AwaitingApproval" in by_element["task:Status"].reason
    assert "ETSI/LDTaskFlag/IsTest" in by_element["task:LDTaskFlag"].reason


def test_a_value_that_is_not_its_format_is_kept_as_other() -> None:
    text = (EXAMPLES / "request8_LPTaskObject.xml").read_text().replace("442079460223", "+44 20 7946")
    result = import_xml(text.encode(), schema_dir=SCHEMA_DIR)
    assert result.request["data_items"][0] == {"identifier_type": "other", "value": "+44 20 7946",
                                               "time_from": "2023-05-01T12:00:00Z", "time_to": "2023-05-02T12:00:00Z"}
    assert (result.unmapped[0].element, result.unmapped[0].value) == ("task:FormatType", "ETSI/InternationalE164")
    assert "not a valid TS 103 280 InternationalE164" in result.unmapped[0].reason


def _comparable(fields: dict[str, Any]) -> dict[str, Any]:
    """The request's fields; request_date as its instant (the database keeps it in UTC, the export says so)."""
    request = RequestIn.model_validate(fields)
    values = request.model_dump(mode="json", exclude=NOT_CARRIED)
    values["request_date"] = request.request_date.astimezone(UTC).isoformat() if request.request_date else None
    return values


@pytest.mark.parametrize("form", ["xml", "json"])
def test_export_then_import_gives_the_same_request(node: Node, form: str) -> None:
    olga = make_user(node, "olga", "officer")
    for name, body in bodies().items():
        view = create(node, olga, body)
        if form == "xml":
            result = import_xml(export_xml(view, schema_dir=SCHEMA_DIR), schema_dir=SCHEMA_DIR)
        else:
            result = import_json(export_json(view, schema_dir=SCHEMA_DIR), schema_dir=SCHEMA_DIR)
        assert result.unmapped == () and result.missing == () and result.assumed == (), name
        expected = {**body, "requested_state": "XA"}
        assert _comparable(result.request) == _comparable(expected), name


def test_an_imported_export_is_created_as_the_same_incoming_request(node: Node) -> None:
    olga = make_user(node, "olga", "officer")
    original = create(node, olga, bodies()["preservation"])
    result = import_xml(export_xml(original, schema_dir=SCHEMA_DIR), schema_dir=SCHEMA_DIR)
    copy = create(node, olga, result.request)
    same = ("type", "direction", "channel", "priority", "status", "requesting_state", "requested_state",
            "their_reference", "request_date", "data_items", "template")
    assert {k: copy[k] for k in same} == {k: original[k] for k in same}
    assert copy["id"] != original["id"]


def test_an_extension_needs_the_original_named_here(node: Node) -> None:
    olga = make_user(node, "olga", "officer")
    original = create(node, olga, bodies()["preservation"])
    view = {**original, "is_extension": True, "template": {**original["template"], "previous_reference": "XB-1"}}
    result = import_xml(export_xml(view, schema_dir=SCHEMA_DIR), schema_dir=SCHEMA_DIR)
    assert result.request["is_extension"] is True and result.request["previous_reference"] == "XB-1"
    assert [(m.field, m.message) for m in result.missing] == [
        ("extends_id", "an extension names the original request it extends")]


def test_mixed_lp_and_ld_tasks_are_refused() -> None:
    text = (EXAMPLES / "request4.xml").read_text()
    text = text.replace('xsi:type="task:LDTaskObject"', 'xsi:type="task:LPTaskObject"')
    text = text.replace("</ActionRequests>", _second_ld_task() + "</ActionRequests>")
    with pytest.raises(InputError, match="mixes LP and LD tasks"):
        import_xml(_without_ld_elements(text).encode(), schema_dir=SCHEMA_DIR)


def _second_ld_task() -> str:
    return ('<ActionRequest><ActionIdentifier>2</ActionIdentifier><CREATE><HI1Object xsi:type="task:LDTaskObject">'
            "<ObjectIdentifier>3b36a78b-b628-416d-bd22-404e68a0cd36</ObjectIdentifier></HI1Object></CREATE>"
            "</ActionRequest>")


def _without_ld_elements(text: str) -> str:
    """request4's task turned into an LP task keeps only what an LPTaskObject may hold."""
    start = text.index("<task:Reference>")
    text = text[:start] + text[text.index("<task:RequestDetails>"):]
    start = text.index("<task:DeliveryDetails>")
    return text[:start] + text[text.index("</task:CSPID>") + len("</task:CSPID>"):]
