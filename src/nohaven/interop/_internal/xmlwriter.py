"""Serialise an ElementTree with the namespace prefixes we choose, all declared on the root element.

ElementTree's own writer invents prefixes (ns0, ns1) and declares only the namespaces that tags use, while
xsi:type values name types by prefix: a prefix the writer did not declare would leave them dangling.
"""

from __future__ import annotations

from xml.etree.ElementTree import Element
from xml.sax.saxutils import escape, quoteattr

from nohaven.interop._internal.names import split

__all__ = ["serialise"]


def serialise(root: Element, *, nsmap: dict[str, str], prefixes: dict[str, str] | None = None,
              declaration: bool = True, pretty: bool = False) -> str:
    """`nsmap` (prefix -> namespace, '' for the default) is declared on the root; namespaces met that it lacks
    get ns1, ns2, ...; `prefixes` (namespace -> prefix) says which prefix writes which namespace."""
    declared = dict(nsmap)
    chosen = dict(prefixes or {})
    for uri in _namespaces(root):
        if uri not in chosen:
            existing = next((p for p, u in declared.items() if u == uri), None)
            if existing is None:
                existing = f"ns{len(declared) + 1}"
                declared[existing] = uri
            chosen[uri] = existing

    def name(tag: str) -> str:
        uri, local = split(tag)
        if not uri:
            return local
        prefix = chosen[uri]
        return f"{prefix}:{local}" if prefix else local

    out: list[str] = ['<?xml version="1.0" encoding="UTF-8"?>\n'] if declaration else []

    def write(elem: Element, depth: int, is_root: bool) -> None:
        attrs = []
        if is_root:
            attrs += [f"xmlns{':' + p if p else ''}={quoteattr(u)}" for p, u in declared.items()]
        if not split(elem.tag)[0] and declared.get(""):
            attrs.append('xmlns=""')  # an unqualified element under a default namespace
        attrs += [f"{name(k)}={quoteattr(v)}" for k, v in elem.attrib.items()]
        pad = "  " * depth if pretty else ""
        out.append(f"{pad}<{name(elem.tag)}{''.join(' ' + a for a in attrs)}")
        children = list(elem)
        text = elem.text or ""
        if not children and not text:
            out.append("/>")
        elif not children:
            out.append(f">{escape(text)}</{name(elem.tag)}>")
        else:
            out.append(">" + ("\n" if pretty else escape(text)))
            for child in children:
                write(child, depth + 1, False)
                if pretty:
                    out.append("\n")
                elif child.tail:
                    out.append(escape(child.tail))
            out.append(f"{pad}</{name(elem.tag)}>")

    write(root, 0, True)
    if pretty:
        out.append("\n")
    return "".join(out)


def _namespaces(root: Element) -> list[str]:
    seen: dict[str, None] = {}
    for elem in root.iter():
        for tag in (elem.tag, *elem.attrib):
            uri = split(tag)[0]
            if uri:
                seen.setdefault(uri)
    return list(seen)
