"""Hostile or broken input is refused with a message naming the problem: no XXE, no entity expansion, no
fetching, no traceback; JSON is read strictly."""

from __future__ import annotations

import json

import pytest
from interoptools import DATA, EXAMPLES, SCHEMA_DIR

from nohaven.errors import InputError
from nohaven.interop import import_json, import_xml, parse_xml


@pytest.mark.parametrize("name", ["xxe_file_entity.xml", "billion_laughs.xml", "external_dtd.xml"])
def test_a_document_type_declaration_is_refused(name: str) -> None:
    with pytest.raises(InputError) as caught:
        import_xml((DATA / name).read_bytes(), schema_dir=SCHEMA_DIR)
    assert "DOCTYPE" in caught.value.message and "XXE" in caught.value.message
    assert "root:" not in caught.value.diagnostics()  # nothing of /etc/passwd came through


def test_malformed_xml_names_line_and_column() -> None:
    with pytest.raises(InputError) as caught:
        import_xml((DATA / "not_well_formed.xml").read_bytes(), schema_dir=SCHEMA_DIR)
    assert caught.value.errors == [{"field": "line 5, column 5", "message": "not well-formed XML: mismatched tag"}]


def test_an_empty_file_is_not_xml() -> None:
    with pytest.raises(InputError, match="not well-formed XML"):
        parse_xml(b"")


def test_something_else_than_an_hi1_message_is_named_invalid() -> None:
    with pytest.raises(InputError) as caught:
        import_xml(b'<?xml version="1.0"?><Request xmlns="urn:other"><Id>1</Id></Request>', schema_dir=SCHEMA_DIR)
    assert caught.value.errors[0]["field"] == "/Request"
    assert "does not validate against ETSI TS 103 120" in caught.value.message


def test_an_oversized_message_is_not_read(monkeypatch: pytest.MonkeyPatch) -> None:
    from nohaven.interop import schemas

    monkeypatch.setattr(schemas, "MAX_MESSAGE_BYTES", 1000)
    with pytest.raises(InputError, match="at most 1000"):
        parse_xml((EXAMPLES / "request4.xml").read_bytes())


@pytest.mark.parametrize(("text", "expected"), [
    ('{"Header": {}, "Header": {}}', "appears twice"),
    ('{"Header": NaN}', "NaN is not a JSON number"),
    ('{"Header": ', "not valid JSON"),
    ('["HI1Message"]', "is an object"),
])
def test_json_is_read_strictly(text: str, expected: str) -> None:
    with pytest.raises(InputError, match=expected):
        import_json(text, schema_dir=SCHEMA_DIR)


def test_invalid_json_form_names_the_location() -> None:
    document = {"Header": {"SenderIdentifier": {"CountryCode": "xb", "UniqueIdentifier": "a"}}}
    with pytest.raises(InputError) as caught:
        import_json(json.dumps(document), schema_dir=SCHEMA_DIR)
    fields = [e["field"] for e in caught.value.errors]
    assert "/HI1Message/Header/SenderIdentifier/CountryCode" in fields


@pytest.mark.parametrize(("xsi_type", "expected"), [
    ("policy:TrafficPolicyObject", "is not a type of the TS 103 120 schemas nohaven loads"),
    ("task:NoSuchObject", "is not a type of the TS 103 120 schemas nohaven loads"),
    ("nope:Thing", "uses the prefix 'nope', which is not declared"),
])
def test_an_unknown_object_type_is_named_where_it_is(xsi_type: str, expected: str) -> None:
    text = (EXAMPLES / "request8_LPTaskObject.xml").read_text().replace('xsi:type="task:LPTaskObject"',
                                                                       f'xsi:type="{xsi_type}"')
    with pytest.raises(InputError) as caught:
        import_xml(text.encode(), schema_dir=SCHEMA_DIR)
    assert caught.value.errors == [{"field": "/HI1Message/Payload/RequestPayload/ActionRequests/ActionRequest/"
                                             "CREATE/HI1Object", "message": caught.value.errors[0]["message"]}]
    assert expected in caught.value.errors[0]["message"]


def test_an_unknown_object_type_in_json_is_named_where_it_is() -> None:
    document = {"Header": {}, "Payload": {"RequestPayload": {"ActionRequests": {"ActionRequest": [
        {"ActionIdentifier": 0, "CREATE": {"HI1Object": {
            "@xsi:type": "{http://uri.etsi.org/03120/common/2020/09/Task}NoSuchObject",
            "ObjectIdentifier": "f1205c94-4f56-4d97-9717-39410073979b"}}}]}}}}
    with pytest.raises(InputError) as caught:
        import_json(document, schema_dir=SCHEMA_DIR)
    assert caught.value.errors[0]["field"] == ("Payload.RequestPayload.ActionRequests.ActionRequest[0].CREATE."
                                               "HI1Object.@xsi:type")
    assert "NoSuchObject" in caught.value.errors[0]["message"]
