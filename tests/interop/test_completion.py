"""Completing an imported request: defaults fill gaps, settings override, nested parts merge; and the public
names of nohaven.interop change only on purpose."""

from __future__ import annotations

import pytest

import nohaven.interop as interop
from nohaven.errors import InputError
from nohaven.interop import complete, missing_fields, parse_setting

IMPORTED = {"type": "preservation", "requesting_state": "XB", "their_reference": "XB-1", "custodian": "",
            "requesting_authority": {"officer": "Insp. K. Adler", "phones": ["+15555550200"]},
            "data_items": [{"identifier_type": "phone", "value": "+442079460223"}]}


def test_defaults_fill_what_the_message_left_empty() -> None:
    defaults = {"channel": "email", "their_reference": "ignored", "custodian": "Examplephone Ltd",
                "requesting_authority": {"officer": "ignored", "organisation": "Borvanian Federal Police",
                                         "time_zone": "Europe/Berlin"}}
    merged = complete(IMPORTED, defaults)
    assert merged["channel"] == "email" and merged["their_reference"] == "XB-1"
    assert merged["custodian"] == "Examplephone Ltd"  # empty in the message
    assert merged["requesting_authority"] == {"officer": "Insp. K. Adler", "phones": ["+15555550200"],
                                              "organisation": "Borvanian Federal Police", "time_zone": "Europe/Berlin"}
    assert IMPORTED["custodian"] == ""  # the imported fields are not changed in place


def test_settings_override_the_message_and_the_defaults() -> None:
    merged = complete(IMPORTED, {"priority": "normal"}, [
        "priority=urgent", "mla_to_follow=true", "their_reference=0012", "requesting_authority.officer=Insp. B",
        "data_items.0.data_category=subscriber", "requesting_authority.phones=[+15555550100, +15555550101]",
        "data_items.1={identifier_type: email, value: a@b.example}"])
    assert merged["priority"] == "urgent" and merged["mla_to_follow"] is True
    assert merged["their_reference"] == "0012"  # stays text: no YAML number guessing
    assert merged["requesting_authority"]["officer"] == "Insp. B"
    assert merged["requesting_authority"]["phones"] == ["+15555550100", "+15555550101"]
    assert merged["data_items"] == [
        {"identifier_type": "phone", "value": "+442079460223", "data_category": "subscriber"},
        {"identifier_type": "email", "value": "a@b.example"}]


@pytest.mark.parametrize(("setting", "message"), [
    ("colour=red", "'colour' is not a request field"),
    ("priority", "is not FIELD=VALUE"),
    ("requesting_authority..officer=x", "is not a field name"),
    ("data_items.5.value=x", "there is no item 5"),
    ("data_items=[unclosed", "not a valid YAML list or mapping"),
])
def test_bad_settings_name_the_option(setting: str, message: str) -> None:
    with pytest.raises(InputError) as caught:
        complete(IMPORTED, None, [setting])
    assert caught.value.errors[0]["field"] == "--set" and message in caught.value.errors[0]["message"]


def test_unknown_default_fields_are_refused() -> None:
    with pytest.raises(InputError, match="colour"):
        complete(IMPORTED, {"colour": "red"})


def test_a_setting_is_parsed_into_a_path_and_a_value() -> None:
    assert parse_setting("data_items.0.time_from=2026-11-25T03:14:07+01:00") == (
        ["data_items", 0, "time_from"], "2026-11-25T03:14:07+01:00")
    assert parse_setting("is_extension=false") == (["is_extension"], False)


def test_missing_fields_keep_the_import_s_explanation() -> None:
    why = interop.FieldNote(field="type", message="say which request it is")
    notes = missing_fields({"requesting_state": "XB"}, explained=[why])
    assert notes[0] == why
    assert {"channel", "priority", "offence", "summary_of_facts"} <= {n.field for n in notes}
    assert all(n.field != "type" for n in missing_fields({"type": "mla"}, explained=[why]))


def test_the_public_surface_is_pinned() -> None:
    assert set(interop.__all__) == {
        "DEFAULT_NODE_ID", "SCHEMA_DIR_ENV", "Endpoint", "Fault", "FieldNote", "ImportResult", "MessageSource",
        "SchemaSet", "Unmapped", "complete", "export_json", "export_xml", "find_schema_dir", "import_json",
        "import_xml", "load_schema_set", "missing_fields", "parse_setting", "parse_xml"}
    assert all(hasattr(interop, name) for name in interop.__all__)
