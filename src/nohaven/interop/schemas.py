"""The TS 103 120 schema set: where the XSDs are, loading them with nohaven's stand-ins, safe parsing, validation.

The real Core, Common, Task, Delivery, Config, Destination, Encryption and IRIPolicy XSDs are read from a folder
outside the package (ETSI publishes them; the project keeps them beside the repository). They import each other
by namespace only, so each namespace is mapped to its file here. The schemas they import that the folder lacks
(TS 103 280 common types and dictionaries, TS 103 120 Authorisation and Document) come from the stand-ins shipped
in `nohaven/interop/schemas/stand-ins/`; XML-DSig comes from the copy of the W3C schema that `xmlschema` ships.

Incoming XML is parsed with every document type declaration refused (no entities, no external DTD: no XXE, no
entity expansion) and no network or file access; validation names the location of each fault.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element, ParseError

import defusedxml
import defusedxml.ElementTree
import xmlschema

from nohaven.errors import ConfigError, InputError
from nohaven.interop._internal.account import location_of
from nohaven.interop._internal.names import NS, XSD_NS, XSI_TYPE, qualified, split
from nohaven.interop._internal.xmlwriter import serialise

__all__ = ["SCHEMA_DIR_ENV", "Fault", "SchemaSet", "find_schema_dir", "load_schema_set", "parse_xml"]

SCHEMA_DIR_ENV = "NOHAVEN_TS103120_SCHEMA_DIR"
RELATIVE_SCHEMA_DIR = Path("..") / "shared" / "standards" / "etsi-ts-103120" / "schema" / "xsd"
MAX_MESSAGE_BYTES = 16 * 2**20

# namespace -> file in the schema folder (real XSDs) or among the stand-ins
REAL = {
    NS["core"]: "ts_103120_Core.xsd",
    NS["common"]: "ts_103120_Common.xsd",
    NS["task"]: "ts_103120_Task.xsd",
    NS["delivery"]: "ts_103120_Delivery.xsd",
    NS["config"]: "ts_103120_Config.xsd",
    NS["destination"]: "ts_103120_Destination.xsd",
    NS["encryption"]: "ts_103120_Encryption.xsd",
    NS["iripolicy"]: "ts_103120_IRIPolicy.xsd",
}
STAND_INS = {
    NS["etsi"]: "ts_103280_2017_07.xsd",
    NS["dictionaries"]: "ts_103280_2019_10_Dictionaries.xsd",
    NS["auth"]: "ts_103120_Authorisation.xsd",
    NS["doc"]: "ts_103120_Document.xsd",
}


@dataclass(frozen=True)
class Fault:
    """One thing wrong with a message: where (an XPath-like location) and why."""

    location: str
    message: str

    def as_error(self) -> dict[str, str]:
        return {"field": self.location, "message": self.message}


def _repository_root() -> Path:
    # src/nohaven/interop/schemas.py -> the checkout that holds src/
    return Path(__file__).resolve().parents[3]


def find_schema_dir(explicit: str | Path | None = None) -> Path:
    """The folder of the real TS 103 120 XSDs: `explicit`, else $NOHAVEN_TS103120_SCHEMA_DIR, else
    ../shared/standards/etsi-ts-103120/schema/xsd from the current directory or from the repository."""
    if explicit is not None:
        candidates = [(Path(explicit), "--schema-dir")]
    elif os.environ.get(SCHEMA_DIR_ENV):
        candidates = [(Path(os.environ[SCHEMA_DIR_ENV]), SCHEMA_DIR_ENV)]
    else:
        candidates = [(Path.cwd() / RELATIVE_SCHEMA_DIR, "the current directory"),
                      (_repository_root() / RELATIVE_SCHEMA_DIR, "the repository")]
    tried = []
    for folder, origin in candidates:
        missing = [name for name in REAL.values() if not (folder / name).is_file()]
        if not missing:
            return folder.resolve()
        what = "does not exist" if not folder.is_dir() else f"lacks {', '.join(missing)}"
        tried.append(f"{folder} (from {origin}) {what}")
    raise ConfigError("the ETSI TS 103 120 XSDs were not found: " + "; ".join(tried)
                      + f". Point --schema-dir or {SCHEMA_DIR_ENV} at the folder holding {', '.join(REAL.values())}")


def _stand_in(name: str) -> Path:
    return Path(str(resources.files("nohaven.interop").joinpath("schemas", "stand-ins", name)))


def _locations(schema_dir: Path) -> list[tuple[str, str]]:
    return ([(ns, str(schema_dir / name)) for ns, name in REAL.items()]
            + [(ns, str(_stand_in(name))) for ns, name in STAND_INS.items()])


def parse_xml(data: bytes) -> xmlschema.XMLResource:
    """Parse a message, refusing any document type declaration (entities, external DTDs) and any I/O."""
    if len(data) > MAX_MESSAGE_BYTES:
        raise InputError.field("(document)", f"the message is {len(data)} bytes; at most {MAX_MESSAGE_BYTES} are read")
    try:
        # First pass with defusedxml: a DOCTYPE of any kind is refused before anything expands or is fetched.
        defusedxml.ElementTree.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except defusedxml.DTDForbidden:
        raise InputError.field("(document)", "the XML has a document type declaration (DOCTYPE); it is refused, "
                               "since entities and external references can read local files (XXE)") from None
    except (defusedxml.EntitiesForbidden, defusedxml.ExternalReferenceForbidden):
        raise InputError.field("(document)", "the XML declares entities or external references; refused") from None
    except ParseError as exc:
        line, column = exc.position
        raise InputError.field(f"line {line}, column {column + 1}", f"not well-formed XML: {_parse_reason(exc)}") \
            from None
    except ValueError as exc:  # e.g. an encoding declaration Python cannot decode
        raise InputError.field("(document)", f"not readable as XML: {exc}") from None
    # Second pass keeps every element's namespace map (needed to resolve xsi:type); still no I/O at all.
    return xmlschema.XMLResource(data, allow="none", defuse="always")


def _parse_reason(exc: ParseError) -> str:
    text = str(exc)
    return text.split(":", 1)[0] if ": line" in text else text


class SchemaSet:
    """The loaded TS 103 120 schemas, one per schema folder (see load_schema_set)."""

    def __init__(self, schema_dir: Path) -> None:
        self.schema_dir = schema_dir
        self.locations = _locations(schema_dir)
        self.sources = [path for _, path in self.locations]
        self.xsd = self._build(self.sources)
        self._lock = threading.Lock()

    def _build(self, sources: list[Any]) -> xmlschema.XMLSchema10:
        try:
            return xmlschema.XMLSchema10(sources, locations=self.locations, allow="local", defuse="always")
        except (xmlschema.XMLSchemaException, OSError) as exc:
            raise ConfigError(f"the TS 103 120 schemas in {self.schema_dir} could not be loaded: {exc}") from None

    def validate(self, resource: xmlschema.XMLResource) -> list[Fault]:
        """Every schema violation of the message, each with its location."""
        unknown_types = _unknown_types(resource, self.xsd)
        if unknown_types:  # xmlschema stops with an exception at an unknown xsi:type; say where it is instead
            return unknown_types
        schema = self._with_manifest_schemas(resource)
        try:
            return [Fault(_location(error), _reason(error)) for error in schema.iter_errors(resource)]
        except xmlschema.XMLSchemaException as exc:  # the validator gave up; its reason is still the best we have
            return [Fault("(document)", _reason(exc))]

    def require_valid(self, resource: xmlschema.XMLResource, what: str = "message") -> None:
        faults = self.validate(resource)
        if faults:
            first = faults[0]
            more = f" (and {len(faults) - 1} more)" if len(faults) > 1 else ""
            raise InputError(f"{what} does not validate against ETSI TS 103 120: {first.location}: "
                             f"{first.message}{more}", errors=[f.as_error() for f in faults])

    def is_valid_value(self, type_name: str, value: str) -> bool:
        """Whether `value` is a valid TS 103 280 simple type `type_name` (e.g. IPv4Address)."""
        xsd_type = self.xsd.maps.types.get(qualified("etsi", type_name))
        if xsd_type is None or not xsd_type.is_simple():
            return False
        with self._lock:  # xmlschema's validators are not documented as thread-safe
            return bool(xsd_type.is_valid(value))

    def knows_type(self, qname: str, namespaces: dict[str, str]) -> bool:
        """Whether a prefixed type name ('task:LDTaskObject') names a type of these schemas."""
        prefix, _, local = qname.rpartition(":")
        return prefix in namespaces and f"{{{namespaces[prefix]}}}{local}" in self.xsd.maps.types

    def decode(self, resource: xmlschema.XMLResource, namespaces: dict[str, str]) -> Any:
        """The message as the TS 103 120 JSON form's nested mapping (element names prefixed per namespace)."""
        return self._with_manifest_schemas(resource).decode(resource, namespaces=namespaces)

    def encode(self, data: Any, namespaces: dict[str, str]) -> tuple[Element | None, list[Fault]]:
        """A JSON-form mapping back to an XML element tree, with every fault found on the way."""
        try:
            result = self.xsd.encode(data, path="HI1Message", namespaces=namespaces, validation="lax")
        except (xmlschema.XMLSchemaException, TypeError, ValueError) as exc:
            return None, [Fault("(document)", _reason(exc))]
        element, errors = result if isinstance(result, tuple) else (result, [])
        return element, [Fault(_location(e), _reason(e)) for e in errors]

    # -- delivered XML: the manifest carries the schema of the data it delivers -------------------------------

    def _with_manifest_schemas(self, resource: xmlschema.XMLResource) -> xmlschema.XMLSchema10:
        embedded = list(_manifest_schemas(resource))
        if not embedded:
            return self.xsd
        # A per-message schema: the shared one is never extended with what a message brought.
        return self._build(self.sources + embedded)


def _manifest_schemas(resource: xmlschema.XMLResource) -> Iterable[str]:
    """The XML schemas a DELIVER message embeds in delivery:Manifest/ExternalSchema/ManifestContents/XMLSchema,
    as standalone schema documents. Only self-contained schemas are accepted (no import, include, redefine)."""
    path = "/".join(qualified("delivery", n) for n in ("Manifest", "ExternalSchema", "ManifestContents",
                                                        "XMLSchema", "schema"))
    for holder in resource.root.iter(qualified("core", "HI1Object")):
        for schema_elem in holder.iterfind(path):
            for child in schema_elem.iter():
                if child.tag in {f"{{{XSD_NS}}}{n}" for n in ("import", "include", "redefine", "override")}:
                    raise InputError.field("delivery:Manifest", "an embedded schema may not import or include "
                                           "other schemas")
            yield _as_schema_document(schema_elem, resource.get_nsmap(schema_elem) or {})


def _as_schema_document(elem: Element, nsmap: dict[str, str]) -> str:
    """The embedded delivery:schema element re-rooted as xs:schema, with the namespaces in scope where it was."""
    prefixes = {uri: prefix for prefix, uri in nsmap.items()}
    root = Element(f"{{{XSD_NS}}}schema", dict(elem.attrib))
    root.extend(list(elem))
    root.text = elem.text
    return serialise(root, nsmap=dict(nsmap), prefixes=prefixes, declaration=False)


def _unknown_types(resource: xmlschema.XMLResource, xsd: xmlschema.XMLSchema10) -> list[Fault]:
    """Elements whose xsi:type names a prefix not declared there, or a type none of the schemas define."""
    parent = {child: above for above in resource.root.iter() for child in above}
    faults = []
    for elem in resource.root.iter():
        value = elem.get(XSI_TYPE)
        if value is None:
            continue
        prefix, _, local = value.rpartition(":")
        nsmap = resource.get_nsmap(elem) or {}
        if prefix not in nsmap:
            faults.append(Fault(location_of(elem, parent), f"xsi:type {value!r} uses the prefix {prefix!r}, which "
                                "is not declared"))
        elif f"{{{nsmap[prefix]}}}{local}" not in xsd.maps.types:  # the same test as SchemaSet.knows_type
            faults.append(Fault(location_of(elem, parent), f"xsi:type {value!r}: {{{nsmap[prefix]}}}{local} is not a "
                                "type of the TS 103 120 schemas nohaven loads"))
    return faults


def _location(error: Any) -> str:
    """Where the fault is; for an unexpected child, the child itself rather than its parent."""
    path = error.path or "(document)"
    tag = getattr(error, "invalid_tag", None)
    if tag and isinstance(tag, str):
        uri, local = split(tag)
        prefix = next((p for p, u in (getattr(error, "namespaces", None) or {}).items() if u == uri), None)
        path += "/" + (local if prefix == "" or not uri else f"{prefix}:{local}" if prefix else tag)
    return path


def _reason(error: Any) -> str:
    reason = getattr(error, "reason", None) or str(error)
    return " ".join(str(reason).split())


@cache
def _load(schema_dir: Path) -> SchemaSet:
    return SchemaSet(schema_dir)


def load_schema_set(schema_dir: str | Path | None = None) -> SchemaSet:
    """The schema set for `schema_dir` (found by find_schema_dir when None), loaded once per process."""
    return _load(find_schema_dir(schema_dir))
