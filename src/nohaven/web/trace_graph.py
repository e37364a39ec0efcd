"""What the trace page draws and reads: the graph laid out as boxes in columns by depth (server-side SVG, so it
needs no script), the hops as a timeline with their time three ways, and the next hops an officer types in.

Layout: a hop's depth is the number of hops above it; each depth is a column, hops in a column are stacked in the
order of their parents' rows (so a fan-out stays next to the hop it came from), edges run parent → child.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from nohaven.timeutil import zone

__all__ = ["BOX_H", "BOX_W", "GraphBox", "GraphEdge", "GraphLayout", "hop_times", "layout"]

BOX_W, BOX_H = 270, 96
GAP_X, GAP_Y, MARGIN = 80, 26, 12


@dataclass(frozen=True)
class GraphBox:
    """One hop's box: where it is and what it says."""

    label: str
    x: int
    y: int
    lines: tuple[str, ...]
    status: str
    urgency: str
    anchor: str


@dataclass(frozen=True)
class GraphEdge:
    """An edge from a parent's right side to a child's left side (a cubic curve)."""

    path: str
    title: str


@dataclass(frozen=True)
class GraphLayout:
    """The whole drawing."""

    width: int
    height: int
    boxes: tuple[GraphBox, ...]
    edges: tuple[GraphEdge, ...]


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _box_lines(hop: dict[str, Any]) -> tuple[str, ...]:
    record = (hop.get("resolution") or {}).get("record") or {}
    state = hop.get("responsible_state") or "State unknown"
    holder = record.get("holder") or "holder unknown"
    where = "domestic" if hop.get("domestic") else state
    evidence = len(hop.get("evidence") or [])
    if hop["status"] == "origin":
        subscriber = hop.get("subscriber") or {}
        last = "origin: " + str(subscriber.get("identity") or "subscriber identified")
    elif hop["status"] == "dead_end":
        last = "dead end: " + (hop.get("outcome") or "")
    else:
        last = f"{hop['status']} · {hop['urgency']}" + (f" · {evidence} evidence" if evidence else "")
    return (_short(f"{hop['label']}  {hop['endpoint']}", 34), _short(f"{where} · {holder}", 36), _short(last, 36))


def layout(hops: list[dict[str, Any]]) -> GraphLayout:
    """Boxes in columns by depth and the parent → child edges, for the trace's hop views."""
    by_id = {h["id"]: h for h in hops}
    depth: dict[int, int] = {}

    def depth_of(hop_id: int) -> int:
        if hop_id not in depth:
            parent = by_id[hop_id]["parent_id"]
            depth[hop_id] = 0 if parent is None or parent not in by_id else depth_of(parent) + 1
        return depth[hop_id]

    columns: dict[int, list[dict[str, Any]]] = {}
    for hop in hops:
        columns.setdefault(depth_of(hop["id"]), []).append(hop)
    row: dict[int, int] = {}
    for d in sorted(columns):
        ordered = sorted(columns[d], key=lambda h: (row.get(h["parent_id"], -1), h["id"]))
        for i, hop in enumerate(ordered):
            row[hop["id"]] = i
    boxes = tuple(GraphBox(label=h["label"], x=MARGIN + depth[h["id"]] * (BOX_W + GAP_X),
                           y=MARGIN + row[h["id"]] * (BOX_H + GAP_Y), lines=_box_lines(h), status=h["status"],
                           urgency=h["urgency"], anchor=f"hop-{h['label']}") for h in hops)
    where = {b.label: b for b in boxes}
    edges = []
    for hop in hops:
        parent = by_id.get(hop["parent_id"]) if hop["parent_id"] is not None else None
        if parent is None:
            continue
        a, b = where[parent["label"]], where[hop["label"]]
        x1, y1, x2, y2 = a.x + BOX_W, a.y + BOX_H // 2, b.x, b.y + BOX_H // 2
        mid = (x1 + x2) // 2
        edges.append(GraphEdge(path=f"M{x1},{y1} C{mid},{y1} {mid},{y2} {x2 - 6},{y2}",
                               title=f"{parent['label']} → {hop['label']}: {hop['source']}"))
    width = max((b.x + BOX_W for b in boxes), default=BOX_W) + MARGIN
    height = max((b.y + BOX_H for b in boxes), default=BOX_H) + MARGIN
    return GraphLayout(width=width, height=height, boxes=boxes, edges=tuple(edges))


def _in(instant_text: str, tz_name: str | None) -> str:
    value = datetime.fromisoformat(instant_text)
    if tz_name:
        return f"{value.astimezone(zone(tz_name)):%Y-%m-%d %H:%M:%S %Z (UTC%z)} {tz_name}"
    return "State's zone unknown"


def _utc(instant_text: str) -> str:
    return f"{datetime.fromisoformat(instant_text):%Y-%m-%d %H:%M:%S} UTC"


def hop_times(hops: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The hops by instant (window start when the time names no single instant): the time as written, every UTC
    candidate, the same in the local time of the hop's State, and the window."""
    rows = []
    for hop in hops:
        time = hop["time"]
        tz_name = ((hop.get("resolution") or {}).get("state") or {}).get("time_zone")
        candidates = time["candidates"] or ([time["instant"]] if time["instant"] else [])
        rows.append({
            "label": hop["label"], "endpoint": hop["endpoint"], "state": hop.get("responsible_state"),
            "source_text": time["source_text"], "offset": time["offset"], "ambiguous": time["ambiguous"],
            "notes": time["notes"], "uncertainty": time["uncertainty"],
            "utc": [_utc(c) for c in candidates] or ["offset unknown: no single instant"],
            "local": [_in(c, tz_name) for c in candidates] or ["—"],
            "window": (_utc(time["window_start"]), _utc(time["window_end"])),
            "sort": datetime.fromisoformat(time["instant"] or time["window_start"]),
        })
    rows.sort(key=lambda r: r["sort"])
    return rows


