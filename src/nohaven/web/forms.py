"""The new-request form: its fields (every field of RequestIn), turning posted values into a RequestIn, and naming
each problem by the form field it belongs to.

Form field names are the paths pydantic reports (`requesting_authority.officer`, `data_items[0].value`), so an
error lands next to the field that caused it. Local date-times are never given a zone silently: each one comes
with an explicit UTC offset or IANA zone, and a local time that a zone makes ambiguous or impossible is refused.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from functools import cache
from typing import get_args

from pydantic import ValidationError

from nohaven.directory.schema import Channel, Priority
from nohaven.errors import InputError
from nohaven.requests.lifecycle import RequestType
from nohaven.requests.schema import DataCategory, IdentifierType, RequestIn
from nohaven.timeutil import zone, zone_names
from nohaven.validation import errors_of

__all__ = ["SECTIONS", "FormField", "RequestForm", "dom_id", "read_form", "zone_choices"]

_OFFSET = re.compile(r"^([+-])(\d{2}):(\d{2})$")
_ROW = re.compile(r"^data_items\[(\d+)\]\.(\w+)$")
_INDEX = re.compile(r"\[(\d+)\]")
_ZONE_AREAS = ("Africa/", "America/", "Antarctica/", "Asia/", "Atlantic/", "Australia/", "Europe/", "Indian/",
               "Pacific/")
DATA_ITEM_FIELDS = ("identifier_type", "value", "data_category", "time_from", "time_to", "zone")


@dataclass(frozen=True)
class FormField:
    name: str
    label: str
    kind: str = "text"  # text, textarea, select, checkbox, number, datetime, state, zone, email, tel
    options: tuple[str, ...] = ()
    hint: str = ""
    required: bool = False
    default: str = ""  # what the field starts with (the schema's default)


def _choices(literal: object) -> tuple[str, ...]:
    return tuple(str(v) for v in get_args(literal))


SECTIONS: tuple[tuple[str, tuple[FormField, ...]], ...] = (
    ("The request", (
        FormField("type", "Type of request", "select", tuple(t.value for t in RequestType), required=True),
        FormField("direction", "Direction", "select", ("incoming", "outgoing"), default="incoming",
                  hint="incoming: another State asks us; outgoing: we draft a request to another State"),
        FormField("channel", "Received by / sent by", "select", _choices(Channel), required=True,
                  hint="voice, fax, e-mail and in-person requests need a written confirmation"),
        FormField("priority", "Priority", "select", _choices(Priority), required=True),
        FormField("requesting_state", "Requesting State", "state", required=True),
        FormField("requested_state", "Requested State", "state",
                  hint="leave empty for an incoming request: this node's State"),
        FormField("their_reference", "Their reference"),
        FormField("request_date", "Date of the request", "datetime",
                  hint="as written on the request; empty means now"),
        FormField("received_at", "Received at", "datetime",
                  hint="when it reached us; the legal clocks start here; empty means now"),
    )),
    ("Case", (
        FormField("case_reference", "Case reference", hint="an existing case of yours, or empty for a new case"),
        FormField("case_title", "Case title"),
    )),
    ("New request or extension", (
        FormField("is_extension", "This extends an earlier preservation request", "checkbox"),
        FormField("extends_id", "Number of the request it extends", "number"),
        FormField("previous_reference", "Previous reference (as the requester wrote it)"),
        FormField("follows_preservation_id", "For an MLA request: number of the preservation request it follows",
                  "number"),
    )),
    ("Requested authority", (
        FormField("requested_authority", "Requested authority", required=True),
    )),
    ("Requesting authority", (
        FormField("requesting_authority.organisation", "Organisation", required=True),
        FormField("requesting_authority.officer", "Officer", required=True),
        FormField("requesting_authority.address", "Address", "textarea"),
        FormField("requesting_authority.phones", "Phones", "tel", required=True,
                  hint="E.164 (+ and digits), several separated by commas"),
        FormField("requesting_authority.email", "E-mail", "email"),
        FormField("requesting_authority.fax", "Fax", "tel", hint="E.164"),
        FormField("requesting_authority.office_hours", "Office hours", hint="e.g. 24/7, or Mon–Fri 08:00–18:00"),
        FormField("requesting_authority.time_zone", "Their time zone", "zone", required=True,
                  hint="IANA name of the zone the requesting authority works in"),
        FormField("requesting_authority.preferred_channel", "Preferred channel", "select", _choices(Channel),
                  default="email"),
    )),
    ("Contacts", (
        FormField("confirmation_contact", "Contact for the confirmation"),
        FormField("investigating_authority", "Investigating authority", required=True),
    )),
    ("Offence", (
        FormField("offence", "Offence", required=True),
        FormField("summary_of_facts", "Summary of facts", "textarea", required=True),
    )),
    ("Preservation", (
        FormField("link_to_offence", "How the data relates to the offence", "textarea"),
        FormField("custodian", "Custodian of the data / location of the system", "textarea"),
        FormField("preservation_reason", "Why preservation is needed", "textarea"),
        FormField("mla_to_follow", "A request for mutual legal assistance will follow", "checkbox"),
    )),
)
IDENTIFIER_TYPES = _choices(IdentifierType)
DATA_CATEGORIES = _choices(DataCategory)
_FIELDS = {f.name: f for _, fields in SECTIONS for f in fields}
_OPTIONAL_TEXT = {"case_reference", "requested_state", "requesting_authority.email", "requesting_authority.fax"}
_NUMBERS = {"extends_id", "follows_preservation_id"}
_CHECKBOXES = {"is_extension", "mla_to_follow"}
_DATETIMES = {"request_date", "received_at"}


def dom_id(name: str) -> str:
    """A form field name as an HTML id that is also a plain CSS selector (htmx swaps by selector)."""
    return re.sub(r"[^A-Za-z0-9_]+", "-", name).strip("-")


@cache
def zone_choices() -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Offsets first (they are what most requests carry), then IANA zones, for every date-time's zone select."""
    offsets = ["UTC"] + [f"{'+' if m > 0 else '-'}{abs(m) // 60:02d}:{abs(m) % 60:02d}" for m in sorted(
        [h * 60 for h in range(-12, 15) if h] + [-570, -210, 210, 270, 330, 345, 390, 525, 570, 630, 765, 825])]
    names = sorted(z for z in zone_names() if z.startswith(_ZONE_AREAS))
    return (("UTC offset", tuple(offsets)), ("IANA time zone", tuple(names)))


def iana_zones() -> tuple[str, ...]:
    return zone_choices()[1][1]


def _tz(zone_text: str, what: str) -> tzinfo:
    if zone_text == "UTC":
        return UTC
    match = _OFFSET.match(zone_text)
    if match:
        sign, hours, minutes = match.groups()
        delta = timedelta(hours=int(hours), minutes=int(minutes))
        if delta > timedelta(hours=14):
            raise ValueError(f"{zone_text} is not a UTC offset (at most ±14:00)")
        return timezone(-delta if sign == "-" else delta)
    try:
        return zone(zone_text, what)
    except InputError:
        raise ValueError(f"{zone_text!r} is neither a UTC offset such as +01:00 nor an IANA zone") from None


def localise(local_text: str, zone_text: str, what: str) -> datetime:
    """A datetime-local value read in the zone the user chose; refuses a missing zone and ambiguous local times."""
    try:
        value = datetime.fromisoformat(local_text.strip())
    except ValueError:
        raise ValueError(f"{local_text!r} is not a date and time") from None
    if value.tzinfo is not None:
        return value
    if not zone_text:
        raise ValueError(f"say in which zone {what} is written (a UTC offset or an IANA zone); "
                         "nohaven never assumes one")
    tz = _tz(zone_text, what)
    early, late = value.replace(tzinfo=tz, fold=0), value.replace(tzinfo=tz, fold=1)
    if early.utcoffset() != late.utcoffset():
        if early.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == value:
            raise ValueError(f"{value:%Y-%m-%d %H:%M} happens twice in {zone_text} (clocks go back); "
                             "choose the UTC offset instead")
        raise ValueError(f"{value:%Y-%m-%d %H:%M} does not exist in {zone_text} (clocks go forward); "
                         "check the time or choose the UTC offset")
    return early


def _row_indices(form: Mapping[str, str]) -> list[int]:
    found = sorted({int(m.group(1)) for key in form if (m := _ROW.match(key))})
    return found or [0]


@dataclass
class RequestForm:
    """What the user posted, what it means, and what is wrong with it, field by field."""

    values: dict[str, str]
    rows: list[int]
    errors: dict[str, list[str]] = field(default_factory=dict)
    readings: list[str] = field(default_factory=list)  # how each local time was read, in UTC
    model: RequestIn | None = None

    def add_error(self, name: str, message: str) -> None:
        self.errors.setdefault(name, []).append(message)

    def keys(self) -> list[str]:
        """Every place an error can show, for clearing old messages."""
        names = [*list(_FIELDS), "data_items", "(form)"]
        for row in self.rows:
            names += [f"data_items[{row}]"] + [f"data_items[{row}].{f}" for f in DATA_ITEM_FIELDS]
        return names

    def error_list(self) -> list[tuple[str, str]]:
        return [(name, message) for name, messages in self.errors.items() for message in messages]


def read_form(form: Mapping[str, str]) -> RequestForm:
    """Build a RequestIn from posted form values; every problem is kept under its form field's name."""
    result = RequestForm(values={k: v for k, v in form.items() if isinstance(v, str)}, rows=_row_indices(form))
    payload, row_of = _payload(result)
    try:
        result.model = RequestIn.model_validate(payload)
        problems = result.model.problems()
    except ValidationError as exc:
        for error in errors_of(exc):
            result.add_error(_form_name(error["field"], row_of), error["message"])
        # What the request type needs is worth saying now too, not only after every format error is fixed.
        problems = RequestIn.model_construct(**payload).problems()  # type: ignore[arg-type]
    for problem in problems:
        name = _form_name(problem["field"], row_of)
        if name not in result.errors:
            result.add_error(name, problem["message"])
    if result.errors:
        result.model = None
    return result


def _payload(result: RequestForm) -> tuple[dict[str, object], list[int]]:
    values = result.values
    payload: dict[str, object] = {}
    authority: dict[str, object] = {}
    for name in _FIELDS:
        raw = values.get(name, "").strip()
        if name in _CHECKBOXES:
            value: object = name in values
        elif name in _DATETIMES:
            if not raw:
                continue
            try:
                when = localise(raw, values.get(f"{name}_zone", ""), _FIELDS[name].label.lower())
            except ValueError as exc:
                result.add_error(name, str(exc))
                continue
            result.readings.append(f"{_FIELDS[name].label}: {raw.replace('T', ' ')} "
                                   f"{values.get(f'{name}_zone', '')} = {when.astimezone(UTC):%Y-%m-%d %H:%M} UTC")
            value = when.isoformat()
        elif name in _NUMBERS:
            if not raw:
                continue
            value = int(raw) if raw.isdigit() else raw
        elif name == "requesting_authority.phones":
            value = [p.strip() for p in re.split(r"[,;\n]", raw) if p.strip()]
        elif not raw and (name in _OPTIONAL_TEXT or name == "direction"):
            continue
        elif not raw and _FIELDS[name].kind in ("select", "state", "zone"):
            continue  # pydantic reports the missing choice by name
        else:
            value = raw
        if name.startswith("requesting_authority."):
            authority[name.split(".", 1)[1]] = value
        else:
            payload[name] = value
    payload["requesting_authority"] = authority
    items, row_of = _data_items(result)
    payload["data_items"] = items
    return payload, row_of


def _data_items(result: RequestForm) -> tuple[list[dict[str, object]], list[int]]:
    """The filled-in rows (an untouched row is not an item) and which form row each item came from."""
    items: list[dict[str, object]] = []
    row_of: list[int] = []
    for row in result.rows:
        def get(name: str, row: int = row) -> str:
            return result.values.get(f"data_items[{row}].{name}", "").strip()

        if not (get("value") or get("time_from") or get("time_to")):
            continue
        item: dict[str, object] = {"identifier_type": get("identifier_type"), "value": get("value"),
                                   "data_category": get("data_category") or "traffic"}
        for end in ("time_from", "time_to"):
            if not get(end):
                continue
            name = f"data_items[{row}].{end}"
            try:
                when = localise(get(end), get("zone"), f"the data item's {end.replace('_', ' ')}")
            except ValueError as exc:
                result.add_error(name if get("zone") else f"data_items[{row}].zone", str(exc))
                continue
            item[end] = when.isoformat()
            result.readings.append(f"Data item {row + 1} {end.replace('_', ' ')}: {get(end).replace('T', ' ')} "
                                   f"{get('zone')} = {when.astimezone(UTC):%Y-%m-%d %H:%M} UTC")
        items.append(item)
        row_of.append(row)
    return items, row_of


def _form_name(path: str, row_of: list[int]) -> str:
    """A pydantic field path as the form field it belongs to ('requesting_authority.phones[0]' → its input)."""
    match = re.match(r"^data_items\[(\d+)\](.*)$", path)
    if match:
        index = int(match.group(1))
        row = row_of[index] if index < len(row_of) else index
        path = f"data_items[{row}]{match.group(2)}"
        return path
    while path not in _FIELDS and _INDEX.search(path):
        path = path[:_INDEX.search(path).start()]  # type: ignore[union-attr]
    if path in _FIELDS or path == "data_items":
        return path
    if path.startswith("requesting_authority"):
        return "requesting_authority.organisation" if path == "requesting_authority" else path
    return "(form)"
