"""The TS 103 120 schema set: the real XSDs with nohaven's stand-ins validate ETSI's own examples and reject
what the real schemas forbid; the schema folder is found as documented or named in a clear error."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import xmlschema
from interoptools import EXAMPLES, ROOT, SCHEMA_DIR, STANDARDS

from nohaven.errors import ConfigError, InputError
from nohaven.interop import SCHEMA_DIR_ENV, find_schema_dir, load_schema_set, parse_xml
from nohaven.interop.schemas import REAL, STAND_INS

ALL_EXAMPLES = sorted(p.name for p in EXAMPLES.glob("*.xml"))
STAND_IN_DIR = ROOT / "src" / "nohaven" / "interop" / "schemas" / "stand-ins"


def test_the_standards_folder_is_there() -> None:
    """In CI a missing folder must fail the run, never skip it."""
    assert (SCHEMA_DIR / "ts_103120_Core.xsd").is_file(), f"{SCHEMA_DIR} lacks the TS 103 120 XSDs"
    assert len(ALL_EXAMPLES) == 7


@pytest.mark.parametrize("name", ALL_EXAMPLES)
def test_every_etsi_example_validates(name: str) -> None:
    schema = load_schema_set(SCHEMA_DIR)
    assert schema.validate(parse_xml((EXAMPLES / name).read_bytes())) == []


def test_the_delivered_xml_is_checked_against_the_schema_its_manifest_carries() -> None:
    schema = load_schema_set(SCHEMA_DIR)
    text = (EXAMPLES / "request5-XML-Delivery.xml").read_text()
    faults = schema.validate(parse_xml(text.replace("<item2>Bar</item2>", "<item2>Qux</item2>").encode()))
    assert len(faults) == 1
    assert faults[0].location.endswith("delivery:XMLData/{http://FooServiceSchema.example.com/schema/v1.1.1/}FooItem/"
                                       "{http://FooServiceSchema.example.com/schema/v1.1.1/}item2")
    assert "'Foo', 'Bar', 'Baz'" in faults[0].message


def test_an_embedded_schema_may_not_pull_in_other_files() -> None:
    text = (EXAMPLES / "request5-XML-Delivery.xml").read_text()
    tampered = text.replace('<xs:element name="FooItem" type="FooItem"/>',
                            '<xs:include schemaLocation="file:///etc/passwd"/><xs:element name="FooItem" '
                            'type="FooItem"/>')
    with pytest.raises(InputError, match="may not import or include"):
        load_schema_set(SCHEMA_DIR).validate(parse_xml(tampered.encode()))


def test_a_broken_etsi_version_is_rejected_by_the_real_common_schema() -> None:
    text = (EXAMPLES / "request4.xml").read_text().replace("<ETSIVersion>V1.13.1<", "<ETSIVersion>1.18<")
    faults = load_schema_set(SCHEMA_DIR).validate(parse_xml(text.encode()))
    assert [f.location for f in faults] == ["/HI1Message/Header/Version/ETSIVersion"]
    assert "doesn't match any pattern" in faults[0].message


def test_an_unknown_element_is_named_by_its_location() -> None:
    text = (EXAMPLES / "request8_LPTaskObject.xml").read_text().replace(
        "<task:DesiredPreservationExpiration>", "<task:Colour>red</task:Colour><task:DesiredPreservationExpiration>")
    schema = load_schema_set(SCHEMA_DIR)
    faults = schema.validate(parse_xml(text.encode()))
    assert faults and faults[0].location == ("/HI1Message/Payload/RequestPayload/ActionRequests/ActionRequest/CREATE/"
                                             "HI1Object/task:Colour")
    with pytest.raises(InputError) as caught:
        schema.require_valid(parse_xml(text.encode()))
    assert caught.value.errors[0]["field"].endswith("HI1Object/task:Colour")


def test_the_stand_ins_validate_the_etsi_dictionary_definitions() -> None:
    dictionaries = xmlschema.XMLSchema10(str(STAND_IN_DIR / "ts_103280_2019_10_Dictionaries.xsd"),
                                         locations=[("http://uri.etsi.org/03280/common/2017/07",
                                                     str(STAND_IN_DIR / "ts_103280_2017_07.xsd"))])
    assert dictionaries.is_valid(str(STANDARDS / "dictionaries" / "ts_103120_ETSIDictionaryDefinitions.xml"))


@pytest.mark.parametrize("name", sorted(STAND_INS.values()))
def test_each_stand_in_says_what_it_is_and_ships_with_the_package(name: str) -> None:
    head = (STAND_IN_DIR / name).read_text()[:600]
    assert "STAND-IN, not the published file" in head
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert "interop/schemas/stand-ins/*.xsd" in package_data["nohaven"]


@pytest.mark.parametrize(("type_name", "good", "bad"), [
    ("IPv4Address", "192.0.2.1", "192.0.2.256"),
    ("IPv6Address", "2001:0db8:0000:0000:0000:0000:0000:0017", "2001:db8::17"),
    ("InternationalE164", "442079460223", "+442079460223"),
    ("EmailAddress", "adler@police.xb.example", "adler at police"),
    ("UUID", "c02358b2-76cf-4ba4-a8eb-f6436ccaea2e", "C02358B2-76CF-4BA4-A8EB-F6436CCAEA2E"),
])
def test_ts_103280_stand_in_types(type_name: str, good: str, bad: str) -> None:
    schema = load_schema_set(SCHEMA_DIR)
    assert schema.is_valid_value(type_name, good)
    assert not schema.is_valid_value(type_name, bad)


def test_the_schema_folder_is_found_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SCHEMA_DIR_ENV, str(SCHEMA_DIR))
    assert find_schema_dir() == SCHEMA_DIR.resolve()


def test_the_schema_folder_is_found_beside_the_repository(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(SCHEMA_DIR_ENV, raising=False)
    monkeypatch.chdir(tmp_path)  # nothing relative to here: the repository's neighbour is used
    assert find_schema_dir() == SCHEMA_DIR.resolve()


def test_a_missing_schema_folder_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "ts_103120_Core.xsd").write_text("<nothing/>")
    with pytest.raises(ConfigError) as caught:
        find_schema_dir(tmp_path)
    message = caught.value.diagnostics()
    assert str(tmp_path) in message and "--schema-dir" in message
    lacks = message.split(" lacks ")[1].split(". Point")[0]
    assert "ts_103120_Task.xsd" in lacks and "ts_103120_Core.xsd" not in lacks
    monkeypatch.setenv(SCHEMA_DIR_ENV, str(tmp_path / "absent"))
    with pytest.raises(ConfigError, match=re.escape(f"{tmp_path / 'absent'} (from {SCHEMA_DIR_ENV}) does not exist")):
        find_schema_dir()
    assert set(REAL.values()) <= {p.name for p in SCHEMA_DIR.iterdir()}
