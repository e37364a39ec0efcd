"""Interoperability with other systems' formats: ETSI TS 103 120 (HI-1) export and import of requests."""

from __future__ import annotations

from nohaven.interop.completion import complete, parse_setting
from nohaven.interop.schemas import SCHEMA_DIR_ENV, Fault, SchemaSet, find_schema_dir, load_schema_set, parse_xml
from nohaven.interop.ts103120 import (
    DEFAULT_NODE_ID,
    Endpoint,
    FieldNote,
    ImportResult,
    MessageSource,
    Unmapped,
    export_json,
    export_xml,
    import_json,
    import_xml,
    missing_fields,
)

__all__ = [
    "DEFAULT_NODE_ID",
    "SCHEMA_DIR_ENV",
    "Endpoint",
    "Fault",
    "FieldNote",
    "ImportResult",
    "MessageSource",
    "SchemaSet",
    "Unmapped",
    "complete",
    "export_json",
    "export_xml",
    "find_schema_dir",
    "import_json",
    "import_xml",
    "load_schema_set",
    "missing_fields",
    "parse_setting",
    "parse_xml",
]
