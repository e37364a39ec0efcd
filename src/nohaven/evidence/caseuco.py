"""The CASE/UCO (JSON-LD) view of a sealed bundle: items, their hashes, and the chain of custody as actions.

Each item is a `uco-observable:File` with a FileFacet (name, size) and a ContentDataFacet carrying one
`uco-types:Hash` per digest (hashMethod as plain text such as "SHA256"). Each custody event is a
`case-investigation:InvestigativeAction` (performer, instrument, object, result, start and end time, location);
an acquisition results in a `case-investigation:ProvenanceRecord` with the exhibit number. Node ids are UUIDs
derived from the bundle's content, so the same bundle always gives the same graph.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

__all__ = ["case_graph"]

_NS = uuid.UUID("6f1c1c8e-2f51-4d86-9a11-3b0c8d0e7a42")
_HASH_NAMES = {"md5": "MD5", "sha1": "SHA1", "sha256": "SHA256"}

CONTEXT = {
    "kb": "http://example.org/kb/",
    "case-investigation": "https://ontology.caseontology.org/case/investigation/",
    "uco-action": "https://ontology.unifiedcyberontology.org/uco/action/",
    "uco-core": "https://ontology.unifiedcyberontology.org/uco/core/",
    "uco-identity": "https://ontology.unifiedcyberontology.org/uco/identity/",
    "uco-location": "https://ontology.unifiedcyberontology.org/uco/location/",
    "uco-observable": "https://ontology.unifiedcyberontology.org/uco/observable/",
    "uco-tool": "https://ontology.unifiedcyberontology.org/uco/tool/",
    "uco-types": "https://ontology.unifiedcyberontology.org/uco/types/",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
}


def _id(kind: str, *key: object) -> str:
    return f"kb:{kind}-{uuid.uuid5(_NS, '|'.join(map(str, (kind, *key))))}"


def _time(text: str) -> dict[str, str]:
    return {"@type": "xsd:dateTime", "@value": text}


def case_graph(case: str, items: Sequence[dict[str, Any]], events: Sequence[tuple[int, dict[str, Any]]],
               origin: str) -> dict[str, Any]:
    """The JSON-LD document for a case's items and custody events (as in the bundle's manifest and events)."""
    graph: list[dict[str, Any]] = []
    nodes: dict[str, dict[str, Any]] = {}

    def add(node: dict[str, Any]) -> str:
        if node["@id"] not in nodes:
            nodes[node["@id"]] = node
            graph.append(node)
        return str(node["@id"])

    file_ids: dict[str, str] = {}
    for item in items:
        fid = _id("file", case, item["sha256"])
        hashes = [{"@id": _id("hash", item["sha256"], algo), "@type": "uco-types:Hash",
                   "uco-types:hashMethod": _HASH_NAMES[algo],
                   "uco-types:hashValue": {"@type": "xsd:hexBinary", "@value": item[algo]}}
                  for algo in ("sha256", "sha1", "md5") if algo in item]
        add({"@id": fid, "@type": "uco-observable:File", "uco-core:hasFacet": [
            {"@id": _id("file-facet", fid), "@type": "uco-observable:FileFacet",
             "uco-observable:fileName": item["name"],
             "uco-observable:sizeInBytes": {"@type": "xsd:integer", "@value": str(item["size"])}},
            {"@id": _id("content-data-facet", fid), "@type": "uco-observable:ContentDataFacet",
             "uco-observable:sizeInBytes": {"@type": "xsd:integer", "@value": str(item["size"])},
             "uco-observable:hash": hashes},
        ]})
        file_ids[item["sha256"]] = fid

    tool_ids: dict[tuple[str, str], str] = {}
    action_ids: list[str] = []
    for index, event in events:
        details = event["details"]
        action: dict[str, Any] = {
            "@id": _id("investigative-action", origin, index), "@type": "case-investigation:InvestigativeAction",
            "uco-core:name": event["event"],
            "uco-core:description": f"custody event {index} of log {origin}",
            "uco-action:performer": {"@id": add({"@id": _id("identity", event["actor"]),
                                                 "@type": "uco-identity:Identity",
                                                 "uco-core:name": event["actor"]})},
            "uco-action:startTime": _time(details.get("started_at", event["at"])),
            "uco-action:endTime": _time(details.get("ended_at", event["at"])),
        }
        tool = (details.get("tool", "nohaven"), details.get("tool_version", ""))
        if tool not in tool_ids:
            tool_node: dict[str, Any] = {"@id": _id("tool", *tool), "@type": "uco-tool:Tool", "uco-core:name": tool[0]}
            if tool[1]:
                tool_node["uco-tool:version"] = tool[1]
            tool_ids[tool] = add(tool_node)
        action["uco-action:instrument"] = {"@id": tool_ids[tool]}
        if details.get("location"):
            action["uco-action:location"] = [{"@id": add({
                "@id": _id("location", details["location"]), "@type": "uco-location:Location",
                "uco-core:description": details["location"]})}]
        objects = [{"@id": file_ids[s]} for s in event["items"] if s in file_ids]
        if objects:
            action["uco-action:object"] = objects
        if event["event"] == "acquired" and objects:
            record = {"@id": _id("provenance-record", origin, index), "@type": "case-investigation:ProvenanceRecord",
                      "case-investigation:exhibitNumber": str(details.get("exhibit", "")),
                      "uco-core:object": objects}
            if details.get("authority"):
                record["uco-core:description"] = f"legal authority: {details['authority']}; source: " \
                                                 f"{details.get('source', '')}"
            action["uco-action:result"] = [{"@id": add(record)}]
        action_ids.append(add(action))

    add({"@id": _id("investigation", origin, case), "@type": "case-investigation:Investigation",
         "uco-core:name": case, "uco-core:object": [{"@id": a} for a in action_ids]})
    return {"@context": CONTEXT, "@graph": graph}
