"""What a format plugin is: its declared columns, a detector and a parser that yields normalised events."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from typing import ClassVar, NamedTuple, cast
from zoneinfo import ZoneInfo

from nohaven.carrier.errors import LineRejected, ZoneRequiredError

__all__ = ["ACTION_END", "ACTION_SEEN", "ACTION_START", "ACTION_WHOLE", "EVENT_COLUMNS", "Event", "LogFormat",
           "Outcome", "Record", "check_event", "parse_kv", "split_endpoint"]

ACTION_START = 0  # a mapping, block or session begins (create, alloc, Start, lease start)
ACTION_SEEN = 1  # it is known to be held at this instant (interim)
ACTION_END = 2  # it ends (close, release, Stop)
ACTION_WHOLE = 3  # one record gives both ends (a close with its duration, a DHCP lease)


class Event(NamedTuple):
    """One normalised event; a format fills the columns it declares and leaves the others None."""

    kind: str  # "nat" (one public port), "block" (a public port range) or "identity" (who held a private address)
    action: int
    t_ms: int  # UTC epoch milliseconds of the event (the end, for a whole record)
    begin_ms: int | None = None  # the start, when the record states it (whole records)
    slack_ms: int = 0  # how far after t_ms (and begin_ms) the true instant may lie
    flags: int = 0
    proto: int | None = None
    priv_ip: bytes | None = None
    priv_port: int | None = None
    pub_ip: bytes | None = None
    pub_port: int | None = None
    port_hi: int | None = None  # last port of a block; for identity rows unused
    ip_hi: bytes | None = None  # identity: last address of the subscriber's prefix (priv_ip is the first)
    dst_ip: bytes | None = None
    dst_port: int | None = None
    subscriber: str | None = None
    station: str | None = None
    mac: str | None = None
    hostname: str | None = None
    session: str | None = None


EVENT_COLUMNS: tuple[str, ...] = Event._fields


class Record(NamedTuple):
    """The text one event comes from: first line number (1-based), how many lines, the text."""

    line: int
    nlines: int
    text: str


Outcome = list[Event] | str  # events, or the reason the record holds nothing to attribute (counted, not stored)


class LogFormat(ABC):
    """A vendor log format. Subclasses declare `name`, `produces`, `columns`, then detect() and parse()."""

    name: ClassVar[str]
    summary: ClassVar[str]
    produces: ClassVar[str]  # "nat", "block", "identity" or "nat+block"
    columns: ClassVar[tuple[str, ...]]
    may_need_zone: ClassVar[bool] = False  # some configurations log local time without an offset

    def __init__(self, zone: ZoneInfo | None = None) -> None:
        self.zone = zone

    @classmethod
    @abstractmethod
    def detect(cls, lines: list[str]) -> int:
        """How many of these sample lines look like this format (0: not this format)."""

    def records(self, lines: Iterable[tuple[int, str]]) -> Iterator[Record]:
        """Group numbered lines into records; one line is one record unless the format says otherwise."""
        for number, text in lines:
            yield Record(number, 1, text)

    @abstractmethod
    def parse(self, record: Record) -> Outcome:
        """Events of one record; raise LineRejected with a reason for a record that does not fit."""

    def read(self, record: Record) -> Outcome:
        """parse(), then every number of every event checked against what its column holds: a value out of range
        (a port of eleven digits, a duration past the year 146,000,000) rejects the line with its name."""
        out = self.parse(record)
        if not isinstance(out, str):
            for event in out:
                check_event(event)
        return out

    def require_zone(self, what: str) -> ZoneInfo:
        if self.zone is None:
            raise ZoneRequiredError(
                f"{self.name}: {what} has no UTC offset; name the zone the device logs in with --tz "
                "(e.g. --tz Europe/Berlin); nohaven does not guess it")
        return self.zone


_KV = re.compile(r'([\w.-]+)="((?:[^"\\]|\\.)*)"')


def parse_kv(text: str) -> dict[str, str]:
    """key="value" pairs (Juniper structured data, F5 LSN)."""
    return dict(_KV.findall(text))


def split_endpoint(text: str) -> tuple[str, str | None]:
    """'1.2.3.4:80', '[2001:db8::1]:80', '2001:db8::1', '10.0.0.1%2:80' -> (address, port or None)."""
    text = text.strip()
    if text.startswith("["):
        addr, _, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else None
    elif text.count(":") == 1:
        addr, port = text.split(":")
    elif text.count(":") > 1 and "." in text.rsplit(":", 1)[-1]:
        addr, port = text, None  # an IPv6 address with an embedded IPv4 tail
    else:
        addr, port = text, None
    addr = addr.split("%", 1)[0]  # route domain / zone index
    if port is not None and not port.isdigit():
        raise LineRejected(f"{text!r}: port {port!r} is not a number")
    return addr, port


# Event fields held in integer columns: (index in Event, name in a reject reason, lowest, highest).
_LIMITS = tuple((Event._fields.index(field), label, low, high) for field, label, low, high in (
    ("t_ms", "time (ms)", -(1 << 62), 1 << 62), ("begin_ms", "start time (ms)", -(1 << 62), 1 << 62),
    ("slack_ms", "time uncertainty (ms)", 0, (1 << 31) - 1), ("proto", "protocol", 0, 127),
    ("priv_port", "private port", 0, 65535), ("pub_port", "public port", 0, 65535),
    ("port_hi", "last port of the block", 0, 65535), ("dst_port", "destination port", 0, 65535)))


def check_event(event: Event) -> None:
    """Raise LineRejected naming the first integer field outside its column's range."""
    for index, label, low, high in _LIMITS:
        value = cast(int | None, event[index])
        if value is not None and not low <= value <= high:
            raise LineRejected(f"{label} {value} is outside {low}-{high}")


def check_port(value: str | int, what: str = "port") -> int:
    port = int(value)
    if not 0 <= port <= 65535:
        raise LineRejected(f"{what} {port} is outside 0-65535")
    return port
