"""An account of a message's elements: which were used, which were refused and why, and the report of the rest.

Each element a mapping uses is marked; whatever is left unmarked below an element that was looked into is
reported with its location, so a report of what was not kept is complete by construction rather than by a list.
"""

from __future__ import annotations

from collections.abc import Mapping
from xml.etree.ElementTree import Element

from nohaven.interop._internal.names import prefixed, qualified, split

__all__ = ["ElementAccount", "location_of"]


def location_of(elem: Element, parent: Mapping[Element, Element]) -> str:
    """An XPath-like location with ETSI's prefixes, positions only where a name repeats among siblings."""
    steps = []
    node: Element | None = elem
    while node is not None:
        above = parent.get(node)
        name = prefixed(node.tag)
        if above is not None:
            same = [c for c in above if c.tag == node.tag]
            if len(same) > 1:
                name += f"[{same.index(node) + 1}]"
        steps.append(name)
        node = above
    return "/" + "/".join(reversed(steps))


class ElementAccount:
    """Bookkeeping over one parsed message; `reasons` says why elements of a given local name are not kept."""

    def __init__(self, root: Element, reasons: Mapping[str, str]) -> None:
        self.root = root
        self.reasons = reasons
        self.parent = {child: parent for parent in root.iter() for child in parent}
        self.used: set[Element] = set()
        self.touched: set[Element] = set()
        self.refused: dict[Element, str] = {}
        self.unmapped: list[dict[str, str | None]] = []

    def path(self, elem: Element) -> str:
        return location_of(elem, self.parent)

    def take(self, *elems: Element | None) -> None:
        """These elements, with all they hold, are used."""
        for elem in elems:
            if elem is None:
                continue
            self.used.add(elem)
            node = self.parent.get(elem)
            while node is not None and node not in self.touched:
                self.touched.add(node)
                node = self.parent.get(node)

    def refuse(self, elem: Element | None, reason: str) -> None:
        """This element is not kept, for this reason."""
        if elem is not None:
            self.refused[elem] = reason
            parent = self.parent.get(elem)
            if parent is not None:
                self.take_structure(parent)

    def take_structure(self, elem: Element) -> None:
        """Mark an element as looked into without consuming it: its unused children will be reported."""
        node: Element | None = elem
        while node is not None and node not in self.touched:
            self.touched.add(node)
            node = self.parent.get(node)

    def report(self, elem: Element, reason: str) -> None:
        """Add the element to what was not kept, with its value when it holds text rather than elements."""
        text = (elem.text or "").strip() if len(elem) == 0 else None
        self.unmapped.append({"location": self.path(elem), "element": prefixed(elem.tag), "reason": reason,
                              "value": text[:200] if text else None})

    def sweep(self, elem: Element) -> None:
        """Report, below `elem`, every element neither used nor looked into (and each one refused)."""
        for child in elem:
            if child in self.refused:
                self.report(child, self.refused[child])
            elif child in self.used:
                continue
            elif child in self.touched:
                self.sweep(child)
            else:
                default = f"nohaven has no field for {prefixed(child.tag)}"
                self.report(child, self.reasons.get(split(child.tag)[1], default))

    # -- small readers --------------------------------------------------------------------------------------

    @staticmethod
    def child(elem: Element | None, prefix: str, local: str) -> Element | None:
        return None if elem is None else elem.find(qualified(prefix, local))

    @staticmethod
    def children(elem: Element | None, prefix: str, local: str) -> list[Element]:
        return [] if elem is None else elem.findall(qualified(prefix, local))

    def text(self, elem: Element | None, prefix: str, local: str) -> str | None:
        found = self.child(elem, prefix, local)
        return None if found is None else (found.text or "").strip()

    def dictionary(self, elem: Element | None) -> tuple[str, str, str] | None:
        if elem is None:
            return None
        return (self.text(elem, "common", "Owner") or "", self.text(elem, "common", "Name") or "",
                self.text(elem, "common", "Value") or "")
