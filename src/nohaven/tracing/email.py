"""An e-mail's Received-header chain as hops, oldest first, with time safety and forgery flags (issue 6 §4).

Each server that relays a message adds a Received header on top, so the chain is read bottom-up: hop 1 is the
oldest. A hop says who connected (from-host, HELO name, from-IP, sometimes the port), which server added the
header (by-host), the protocol, and that server's clock reading. Delays are computed only between hops whose
instants are known; a later hop stamped earlier is named. Trust is the user's: servers marked trusted vouch
for the hops they added; everything below the trusted servers may have been written by the sender.

Node-free: only the standard library, `nohaven.timeutil` and `nohaven.errors`.
"""

from __future__ import annotations

import ipaddress
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from nohaven.errors import InputError
from nohaven.timeutil import format_duration
from nohaven.tracing._email_date import HopTime, read_date
from nohaven.tracing._email_received import ReceivedFields, read_received

__all__ = ["TRUST_STATES", "HopTime", "ReceivedChain", "ReceivedHop", "parse_message", "read_header_block"]

TRUST_STATES = ("trusted", "after-trusted", "could-be-forged", "unverified")
_FIELD_NAME = re.compile(rb"^[!-9;-~]+[ \t]*:")
_HEADER_END = re.compile(rb"(?:\r?\n|\r(?!\n))[ \t]*(?:\r?\n|\r(?!\n))")
_NOT_ROUTED = [ipaddress.ip_network(n) for n in (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
    "192.168.0.0/16", "224.0.0.0/4", "240.0.0.0/4", "::/128", "::1/128", "fc00::/7", "fe80::/10", "ff00::/8")]
_SKEW_TOLERANCE = 300.0  # seconds a later hop may be stamped earlier before "clock skew" stops being likely
_LONG_DELAY = 86400.0


def _short(text: str, limit: int = 300) -> str:
    """Text cut to a length an observation field holds; a header can be made arbitrarily long."""
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _routed(ip: str) -> bool:
    """Whether the address can be seen on the Internet (documentation ranges count: the demo world uses them)."""
    address = ipaddress.ip_address(ip.split("%")[0])
    return not any(address in net for net in _NOT_ROUTED if net.version == address.version)


@dataclass
class ReceivedHop:
    """One Received header: who handed the message to which server, when by that server's clock, and doubts."""

    index: int  # 1 = the oldest (bottom) header
    raw: str
    line: int  # the line of the message where the header starts
    from_host: str | None
    helo: str | None
    from_ip: str | None
    from_port: int | None
    by_host: str | None
    by_ip: str | None
    protocol: str | None
    timestamp: HopTime
    smtp_id: str | None = None
    recipient: str | None = None
    authenticated_sender: str | None = None
    delay_seconds: float | None = None
    trust: str = "unverified"
    could_be_forged: bool = False
    problems: list[str] = field(default_factory=list)
    message_id: str | None = None
    uncertainty: str = "PT1S"
    uncertainty_reason: str = "the header gives whole seconds"

    @property
    def by_name(self) -> str | None:
        """The server that added the header, by name or else by address."""
        return self.by_host or self.by_ip

    def observation(self) -> dict[str, Any] | None:
        """The observation this hop gives a trace (ObservationIn), or None when it names no routable from-IP."""
        if self.from_ip is None or not _routed(self.from_ip) or self.timestamp.time_text is None:
            return None
        where = f"Received header {self.index} (bottom-up) of message {_short(self.message_id or '(no Message-ID)')}"
        sender = self.from_host or self.helo or "an unnamed host"
        helo = f" (HELO {self.helo})" if self.helo and self.helo != sender else ""
        if self.could_be_forged:
            trust = "could be forged: written below the first server marked trusted"
        elif self.trust == "unverified":
            trust = "unverified: no server in the chain is marked trusted"
        else:
            trust = f"{self.trust}: added by a server marked trusted" if self.trust == "trusted" else (
                "added after the message reached a server marked trusted")
        note = (f"from {_short(sender)}{_short(helo)} [{self.from_ip}] by {_short(self.by_name or 'an unnamed server')}"
                f"{' with ' + _short(self.protocol) if self.protocol else ''}; {trust}; date as written: "
                f"{_short(self.timestamp.source_text)!r}; uncertainty {self.uncertainty} because "
                f"{self.uncertainty_reason}")
        return {"ip": self.from_ip, "port": self.from_port, "protocol": "smtp", "time_text": self.timestamp.time_text,
                "time_zone": None, "offset_unknown": not self.timestamp.offset_known,
                "uncertainty": self.uncertainty, "seen_where": where, "note": note}

    def to_dict(self) -> dict[str, Any]:
        """The hop as JSON-ready values, its observation included."""
        return {"index": self.index, "line": self.line, "from_host": self.from_host, "helo": self.helo,
                "from_ip": self.from_ip, "from_port": self.from_port, "by_host": self.by_host, "by_ip": self.by_ip,
                "protocol": self.protocol, "smtp_id": self.smtp_id, "recipient": self.recipient,
                "authenticated_sender": self.authenticated_sender, "timestamp": self.timestamp.to_dict(),
                "delay_seconds": self.delay_seconds, "trust": self.trust, "could_be_forged": self.could_be_forged,
                "problems": list(self.problems), "observation": self.observation(), "raw": self.raw}


@dataclass
class ReceivedChain:
    """A message's hops, oldest first, with the trust rule applied and what it means said in words."""

    hops: list[ReceivedHop]
    message_id: str | None
    trusted: list[str]
    trust_boundary: int | None  # index of the lowest hop of the trusted run, None when nothing matched
    trust_summary: str
    problems: list[str] = field(default_factory=list)

    @property
    def origin(self) -> ReceivedHop | None:
        """The lowest hop a trusted server added: its from-IP is the last fact anyone vouches for (None when
        nothing is trusted)."""
        return self.hops[self.trust_boundary - 1] if self.trust_boundary else None

    def observations(self) -> list[dict[str, Any]]:
        """Every hop's observation, oldest first, for hops that name a routable from-IP."""
        return [obs for hop in self.hops if (obs := hop.observation()) is not None]

    def to_dict(self) -> dict[str, Any]:
        """The chain as JSON-ready values."""
        origin = self.origin
        return {"message_id": self.message_id, "trusted": list(self.trusted), "trust_boundary": self.trust_boundary,
                "trust_summary": self.trust_summary, "problems": list(self.problems),
                "origin": origin.observation() if origin else None,
                "hops": [hop.to_dict() for hop in self.hops]}


def read_header_block(data: bytes) -> tuple[list[tuple[int, str, str]], list[str]]:
    """The message's header fields as (line, name, unfolded value), and problems met; InputError if not a message."""
    if not data.strip():
        raise InputError.field("message", "the file is empty")
    end = _HEADER_END.search(data)
    lines = (data[:end.start() + 1] if end else data).splitlines()  # the body is never read, however large
    start = 1 if lines and lines[0].startswith(b"From ") else 0  # an mbox separator line
    problems: list[str] = []
    if start >= len(lines) or not _FIELD_NAME.match(lines[start]):
        raise InputError.field("message", f"line {start + 1} is not a header field (Name: value): this is not an "
                               "e-mail message (RFC 5322)")
    fields: list[tuple[int, bytes, list[bytes]]] = []
    for number, line in enumerate(lines[start:], start + 1):
        if not line.strip():
            break
        if line[:1] in (b" ", b"\t"):
            fields[-1][2].append(line)
        elif _FIELD_NAME.match(line):
            name, _, value = line.partition(b":")
            fields.append((number, name.strip(), [value]))
        else:
            problems.append(f"line {number} is neither a header field nor a continuation: the headers are read up "
                            f"to line {number - 1}")
            break
    out: list[tuple[int, str, str]] = []
    for number, name, parts in fields:
        raw = b" ".join(p.strip() for p in parts)
        text = raw.decode("utf-8", errors="replace").replace("\x00", "\ufffd")
        if "\ufffd" in text:
            problems.append(f"line {number}: bytes that are not UTF-8, shown as \ufffd")
        out.append((number, name.decode("ascii", errors="replace"), " ".join(text.split())))
    return out, problems


def _names_trusted(trusted: Sequence[str], host: str | None, ip: str | None) -> bool:
    """Whether a trusted entry (host, .domain, IP or network) names this host or address."""
    name = (host or "").lower().rstrip(".")
    for entry in trusted:
        wanted = entry.strip().lower().rstrip(".")
        if not wanted:
            continue
        if name and (name == wanted or (wanted.startswith(".") and name.endswith(wanted))):
            return True
        if ip:
            try:
                if ipaddress.ip_address(ip.split("%")[0]) in ipaddress.ip_network(wanted, strict=False):
                    return True
            except ValueError:
                continue
    return False


def _apply_trust(hops: list[ReceivedHop], trusted: Sequence[str]) -> tuple[int | None, str]:
    """Walk down from the newest hop: the run of hops added by trusted servers ends where trust ends."""
    if not trusted:
        return None, ("No server is marked trusted (--trusted), so no hop is verified: any of them could have been "
                      "written by the sender. Mark the receiving organisation's own servers as trusted to see which "
                      "hops could be forged.")
    # A hop was added by a trusted server when its by-clause names one, or when the header above it (written
    # later, by the next server) records a trusted sender: users know their servers' addresses, the by-clause
    # seldom gives them.
    marked = [_names_trusted(trusted, hop.by_host, hop.by_ip) or (
        i + 1 < len(hops) and _names_trusted(trusted, hops[i + 1].from_host, hops[i + 1].from_ip))
        for i, hop in enumerate(hops)]
    if not any(marked):
        return None, (f"None of the servers marked trusted ({', '.join(trusted)}) added a hop of this chain, so no "
                      "hop is verified.")
    top = max(i for i, m in enumerate(marked) if m)
    bottom = top
    # Trust reaches one header further down only when the trusted server recorded a trusted sender: its reverse
    # DNS name or address, never the HELO name (which the sender chooses), nor the by-host the lower header claims.
    while bottom > 0 and marked[bottom - 1] and _names_trusted(trusted, hops[bottom].from_host,
                                                                hops[bottom].from_ip):
        bottom -= 1
    for i, hop in enumerate(hops):
        if i > top:
            hop.trust = "after-trusted"
        elif i >= bottom:
            hop.trust = "trusted"
        else:
            hop.trust, hop.could_be_forged = "could-be-forged", True
            if _names_trusted(trusted, hop.by_host, hop.by_ip):
                hop.problems.append(f"names a trusted server ({hop.by_name}) as its receiver below the trusted run: "
                                    "a forged header, or the message passed the trusted servers twice")
    first = hops[bottom]
    said = (f"The first trusted server, {first.by_name} (hop {first.index}), received the message from "
            f"{_short(first.from_ip or first.from_host or 'an unnamed sender')}")
    said += f" at {_short(first.timestamp.source_text)}." if first.timestamp.source_text else "."
    if bottom == 1:
        said += " Hop 1 was written before it and could be forged: the sender may have invented it."
    elif bottom:
        hops_below = "Hops 1 and 2" if bottom == 2 else f"Hops 1 to {bottom}"
        said += f" {hops_below} were written before it and could be forged: the sender may have invented them."
    return bottom + 1, said


def _time_checks(hops: list[ReceivedHop]) -> None:
    """Delays between consecutive hops whose instants are known; a later hop stamped earlier is named."""
    for previous, hop in itertools.pairwise(hops):
        if previous.timestamp.utc is None or hop.timestamp.utc is None:
            continue
        delay = (hop.timestamp.utc - previous.timestamp.utc).total_seconds()
        hop.delay_seconds = delay
        if delay < 0:
            kind = "clock skew between the two servers is likely" if -delay <= _SKEW_TOLERANCE else (
                "a clock problem, or a sign that a header was forged")
            hop.problems.append(f"stamped {format_duration_seconds(-delay)} before hop {previous.index}, which it "
                                f"received the message from: {kind}")
        elif delay > _LONG_DELAY:
            hop.problems.append(f"{format_duration_seconds(delay)} after hop {previous.index}: the message was queued "
                                "for long, or a clock or offset is wrong")


def _widen_for_skew(hops: list[ReceivedHop]) -> None:
    """Where two consecutive hops disagree, a clock is off by at least that much: widen the uncertainty of each,
    except a trusted hop facing one that could be forged (the forged stamp is then the likelier liar)."""
    for previous, hop in itertools.pairwise(hops):
        if hop.delay_seconds is None or hop.delay_seconds >= 0:
            continue
        for side, other in ((previous, hop), (hop, previous)):
            if side.trust in ("trusted", "after-trusted") and other.could_be_forged:
                continue
            needed = format_duration_seconds(-hop.delay_seconds + side.timestamp.resolution_seconds)
            side.uncertainty = needed
            side.uncertainty_reason = (f"hops {previous.index} and {hop.index} disagree by "
                                       f"{format_duration_seconds(-hop.delay_seconds)}: a clock is off by that much")


def format_duration_seconds(seconds: float) -> str:
    """Seconds as an ISO 8601 duration, whole seconds rounded up so that a window never shrinks."""
    whole = int(seconds) if float(seconds).is_integer() else int(seconds) + 1
    return format_duration(timedelta(seconds=whole))


def _hop(index: int, line: int, value: str, message_id: str | None) -> ReceivedHop:
    fields: ReceivedFields
    try:
        fields, date_text = read_received(value)
    except Exception as exc:  # the reader is meant never to raise; if it does, the hop still stands, named
        fields, date_text = ReceivedFields(problems=[f"could not be read ({type(exc).__name__})"]), None
    try:
        timestamp = read_date(date_text) if date_text is not None else HopTime(source_text="")
    except Exception as exc:  # as above: a date the reader chokes on is a named problem, never a lost hop
        timestamp = HopTime(source_text=(date_text or "").strip(), problems=[f"date could not be read "
                                                                             f"({type(exc).__name__})"])
    hop = ReceivedHop(index=index, raw=value, line=line, from_host=fields.from_host, helo=fields.helo,
                      from_ip=fields.from_ip, from_port=fields.from_port, by_host=fields.by_host, by_ip=fields.by_ip,
                      protocol=fields.protocol, timestamp=timestamp, smtp_id=fields.smtp_id,
                      recipient=fields.recipient, authenticated_sender=fields.authenticated_sender,
                      message_id=message_id, problems=list(fields.problems))
    if fields.server_says_forged:
        hop.problems.append("the server that added this header wrote 'may be forged': the HELO name does not match "
                            "the sender's address")
    if date_text is not None:
        hop.problems.extend(timestamp.problems)
    if timestamp.resolution_seconds > 1:
        hop.uncertainty, hop.uncertainty_reason = "PT1M", "the header gives the time to the minute only"
    if hop.from_ip and not _routed(hop.from_ip):
        hop.problems.append(f"from-IP {hop.from_ip} is not routed on the Internet (private, loopback or link-local): "
                            "it identifies a host inside an organisation, not a carrier to ask")
    return hop


def parse_message(data: bytes, *, trusted: Sequence[str] = ()) -> ReceivedChain:
    """Read a message's Received headers bottom-up into hops; InputError if it is not a message or has none."""
    header_fields, problems = read_header_block(data)
    message_id = next((value.strip() for _, name, value in header_fields if name.lower() == "message-id"), None)
    received = [(line, value) for line, name, value in header_fields if name.lower() == "received"]
    if not received:
        raise InputError.field("message", "the message has no Received header: there is no chain to read "
                               "(a message saved before it was sent, or with its headers stripped)")
    hops = [_hop(index, line, value, message_id) for index, (line, value) in enumerate(reversed(received), 1)]
    _time_checks(hops)
    boundary, summary = _apply_trust(hops, list(trusted))
    _widen_for_skew(hops)
    return ReceivedChain(hops=hops, message_id=message_id, trusted=list(trusted), trust_boundary=boundary,
                         trust_summary=summary, problems=problems)
