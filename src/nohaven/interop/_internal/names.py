"""Namespaces, prefixes and dictionary names of TS 103 120 as nohaven writes and reads them."""

from __future__ import annotations

__all__ = ["NS", "PREFIX_OF", "XSD_NS", "XSI_NS", "XSI_TYPE", "prefixed", "qualified", "split"]

XSD_NS = "http://www.w3.org/2001/XMLSchema"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
XSI_TYPE = f"{{{XSI_NS}}}type"

# The prefixes ETSI's own examples and JSON schemas use; the JSON form names elements with them.
NS = {
    "core": "http://uri.etsi.org/03120/common/2019/10/Core",
    "common": "http://uri.etsi.org/03120/common/2016/02/Common",
    "task": "http://uri.etsi.org/03120/common/2020/09/Task",
    "auth": "http://uri.etsi.org/03120/common/2020/09/Authorisation",
    "doc": "http://uri.etsi.org/03120/common/2020/09/Document",
    "delivery": "http://uri.etsi.org/03120/common/2019/10/Delivery",
    "config": "http://uri.etsi.org/03120/common/2024/06/Config",
    "destination": "http://uri.etsi.org/03120/common/2026/07/Destination",
    "encryption": "http://uri.etsi.org/03120/common/2026/01/Encryption",
    "iripolicy": "http://uri.etsi.org/03120/common/2026/01/IRIPolicy",
    "etsi": "http://uri.etsi.org/03280/common/2017/07",
    "dictionaries": "http://uri.etsi.org/03280/common/2019/10/Dictionaries",
    "xsi": XSI_NS,
}
PREFIX_OF = {uri: prefix for prefix, uri in NS.items()}


def qualified(prefix: str, local: str) -> str:
    """('task', 'Status') -> '{http://uri.etsi.org/03120/common/2020/09/Task}Status'."""
    return f"{{{NS[prefix]}}}{local}"


def split(tag: str) -> tuple[str, str]:
    """'{uri}local' -> (uri, local); an unqualified name has the namespace ''."""
    if tag.startswith("{"):
        uri, _, local = tag[1:].partition("}")
        return uri, local
    return "", tag


def prefixed(tag: str) -> str:
    """A Clark name as people read it: Core elements bare, the others with ETSI's prefix ('task:Status')."""
    uri, local = split(tag)
    prefix = PREFIX_OF.get(uri)
    if prefix is None:
        return tag
    return local if prefix == "core" else f"{prefix}:{local}"
