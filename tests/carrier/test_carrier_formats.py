"""Every format plugin on realistic lines: events, ignored lines with their reason, rejects with theirs."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from nohaven.carrier import formats
from nohaven.carrier.errors import FormatNotDetectedError, LineRejected, ZoneRequiredError
from nohaven.carrier.formats import Event, Record
from nohaven.carrier.ipaddr import from_bytes
from nohaven.carrier.timeparse import FLAG_TIME_AMBIGUOUS, iso_ms

DATA = Path(__file__).resolve().parent / "_data"

BERLIN = ZoneInfo("Europe/Berlin")


def outcomes(name: str, zone: ZoneInfo | None = BERLIN) -> list[tuple[int, object]]:
    fmt = formats.get(name)(zone)
    lines = (DATA / f"{name}.log").read_text().splitlines()
    result: list[tuple[int, object]] = []
    for record in fmt.records(enumerate(lines, 1)):
        try:
            out = fmt.parse(record)
        except LineRejected as exc:
            result.append((record.line, ("reject", exc.reason)))
            continue
        if isinstance(out, str):
            result.append((record.line, ("ignored", out)))
        else:
            result.extend((record.line, ev) for ev in out)
    return result


def brief(ev: object) -> object:
    """An event as readable text: kind, action, times, private -> public."""
    if not isinstance(ev, Event):
        return ev
    priv = from_bytes(ev.priv_ip) if ev.priv_ip else None
    pub = from_bytes(ev.pub_ip) if ev.pub_ip else None
    text = f"{ev.kind}/{ev.action} {iso_ms(ev.t_ms)}"
    if ev.begin_ms is not None:
        text += f" from {iso_ms(ev.begin_ms)}"
    text += f" {priv}:{ev.priv_port}"
    if ev.kind == "identity":
        return text + f"..{from_bytes(ev.ip_hi or b'')} {ev.subscriber or ev.mac}"
    ports = f"{ev.pub_port}-{ev.port_hi}" if ev.port_hi is not None else f"{ev.pub_port}"
    return text + f" -> {pub}:{ports} p{ev.proto}"


EXPECTED: dict[str, list[tuple[int, object]]] = {
    "juniper-rtflow": [
        (1, "nat/0 2026-11-27T02:14:07.120Z 100.64.0.7:51515 -> 203.0.113.9:40001 p6"),
        (2, ("ignored", "no source translation")),
        (3, "nat/3 2026-11-27T02:15:37.480Z from 2026-11-27T02:14:06.480Z 100.64.0.7:51515 -> 203.0.113.9:40001 p6"),
        (4, ("reject", "field nat-source-address missing")),
    ],
    "juniper-pba": [
        (1, "block/0 2026-11-27T02:00:00.000Z 100.64.3.4:None -> 203.0.113.10:48640-48895 pNone"),
        (2, "block/1 2026-11-27T03:00:00.000Z 100.64.3.4:None -> 203.0.113.10:48640-48895 pNone"),
        (3, "block/2 2026-11-27T04:30:00.000Z 100.64.3.4:None -> 203.0.113.10:48640-48895 pNone"),
        (4, ("reject", "block-port-high 48640 is below block-port-low 48895")),
    ],
    "cisco-asa": [  # the ASA's own timestamp is local time: Berlin, +01:00 in November
        (1, "nat/0 2026-11-27T02:14:07.000Z 100.64.0.7:51515 -> 203.0.113.9:40001 p6"),
        (2, ("ignored", "other ASA message")),
        (3, "nat/3 2026-11-27T02:15:37.000Z from 2026-11-27T02:14:06.000Z 100.64.0.7:51515 -> 203.0.113.9:40001 p6"),
        (4, "block/0 2026-11-27T02:16:00.000Z 100.64.0.9:None -> 203.0.113.11:0-65535 pNone"),
        (5, ("reject", "translation message not in the documented form")),
    ],
    "a10": [
        (1, "nat/0 2026-11-27T02:14:07.000Z 100.64.23.122:51515 -> 203.0.113.9:40001 p6"),
        (2, "nat/0 2026-11-27T02:14:09.000Z 100.64.23.123:5353 -> 203.0.113.9:40002 p17"),
        (3, "nat/2 2026-11-27T02:15:37.000Z 100.64.23.122:51515 -> 203.0.113.9:40001 p6"),
        (4, ("reject", "port 99999 is outside 0-65535")),
    ],
    "f5-lsn": [
        (1, "nat/0 2026-11-27T02:14:07.120Z 100.64.0.7:51515 -> 203.0.113.9:40001 pNone"),
        (2, "nat/3 2026-11-27T02:15:37.120Z from 2026-11-27T02:14:07.120Z 100.64.0.7:51515 -> 203.0.113.9:40001 pNone"),
        (3, "block/0 2026-11-27T02:14:10.000Z 100.64.0.8:None -> 203.0.113.12:0-65535 pNone"),
        (4, ("reject", "start 'yesterday' is not epoch milliseconds")),
    ],
    "citrix-lsn": [
        (1, "nat/0 2026-11-27T02:14:07.000Z 100.64.0.7:51515 -> 203.0.113.9:40001 p6"),
        (2, "nat/0 2026-11-27T02:14:09.000Z 100.64.0.8:5353 -> 203.0.113.9:40002 p17"),
        (3, "nat/2 2026-11-27T02:15:37.000Z 100.64.0.8:5353 -> 203.0.113.9:40002 p17"),
        (4, ("reject", "LSN message in neither the default nor the compact form")),
    ],
    "conntrack": [
        (1, "nat/0 2026-11-27T02:14:07.120Z 100.64.1.2:51515 -> 203.0.113.9:40001 p6"),
        (2, ("ignored", "state update (no new mapping)")),
        (3, "nat/2 2026-11-27T02:15:37.731Z 100.64.1.2:51515 -> 203.0.113.9:40001 p6"),
        (4, ("ignored", "no source translation")),
        (5, ("reject", "original and reply tuples not both present")),
    ],
    "freeradius-detail": [
        (1, "identity/0 2026-11-27T02:10:00.000Z 100.64.0.7:None..100.64.0.7 subscriber-0042"),
        (10, "identity/0 2026-11-27T02:12:00.000Z 100.64.0.8:None..100.64.0.8 subscriber-0043"),
        (10, "identity/0 2026-11-27T02:12:00.000Z 2001:db8:1200:::None..2001:db8:1200:ff:ffff:ffff:ffff:ffff "
             "subscriber-0043"),
        (19, "identity/3 2026-11-27T04:10:00.000Z from 2026-11-27T02:09:59.000Z 100.64.0.7:None..100.64.0.7 "
             "subscriber-0042"),
        (29, ("ignored", "Acct-Status-Type Accounting-On (no session)")),
        (34, ("reject", "attribute line 'Acct-Status-Type Start' not in 'Name = value' form")),
    ],
    "isc-dhcpd-leases": [
        (1, ("ignored", "not a lease declaration")),
        (2, ("ignored", "not a lease declaration")),
        (3, ("ignored", "not a lease declaration")),
        (4, "identity/3 2026-11-27T14:00:00.000Z from 2026-11-27T02:00:00.000Z 100.64.0.7:None..100.64.0.7 "
            "02:00:5e:10:00:07"),
        (13, "identity/3 2026-11-27T20:00:00.000Z from 2026-11-27T02:00:00.000Z 100.64.0.7:None..100.64.0.7 "
             "02:00:5e:10:00:07"),
        (20, ("ignored", "binding state free (not held)")),
        (26, ("reject", "lease without starts")),
    ],
    "kea-csv": [
        (1, ("ignored", "header")),
        (2, "identity/3 2026-11-27T14:00:00.000Z from 2026-11-27T02:00:00.000Z 100.64.0.7:None..100.64.0.7 "
            "02:00:5e:10:00:07"),
        (3, ("ignored", "declined lease (not held)")),
        (4, ("reject", "valid_lifetime or expire is not a number")),
    ],
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_format_parses_sample(name: str) -> None:
    assert [(line, brief(ev)) for line, ev in outcomes(name)] == EXPECTED[name]


def test_every_format_has_a_sample_and_declares_its_columns() -> None:
    assert set(EXPECTED) == set(formats.FORMATS)
    for cls in formats.FORMATS.values():
        assert cls.columns and set(cls.columns) <= set(formats.EVENT_COLUMNS), cls.name
        assert cls.produces in ("nat", "block", "identity", "nat+block")


def test_events_fill_only_declared_columns() -> None:
    for name, cls in formats.FORMATS.items():
        for _line, ev in outcomes(name):
            if isinstance(ev, Event):
                filled = {k for k, v in ev._asdict().items() if v not in (None, 0)} - {"kind"}
                assert filled <= set(cls.columns), (name, filled - set(cls.columns))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_auto_detects_each_sample(name: str) -> None:
    lines = (DATA / f"{name}.log").read_text().splitlines()
    assert formats.detect(lines).name == name


def test_auto_refuses_unknown_lines() -> None:
    with pytest.raises(FormatNotDetectedError, match="no known format"):
        formats.detect(["hello world", "nothing to see"])


def test_local_time_without_zone_is_refused() -> None:
    with pytest.raises(ZoneRequiredError, match="--tz"):
        outcomes("cisco-asa", zone=None)


def test_offset_times_need_no_zone() -> None:
    assert str(brief(outcomes("a10", zone=None)[0][1])).startswith("nat/0 2026-11-27T02:14:07.000Z")


def asa(line: str) -> Record:
    return Record(1, 1, line + ": %ASA-6-305011: Built dynamic UDP translation from inside:100.64.0.7/5353 to "
                  "outside:203.0.113.9/40002")


def test_dst_gap_is_rejected_not_guessed() -> None:
    fmt = formats.get("cisco-asa")(BERLIN)
    with pytest.raises(LineRejected, match="does not exist in Europe/Berlin"):
        fmt.parse(asa("Mar 29 2026 02:30:00"))


def test_repeated_hour_is_flagged_and_covers_both_readings() -> None:
    fmt = formats.get("cisco-asa")(BERLIN)
    out = fmt.parse(asa("Oct 25 2026 02:30:00"))
    assert isinstance(out, list)
    ev = out[0]
    assert ev.flags & FLAG_TIME_AMBIGUOUS
    first = datetime(2026, 10, 25, 2, 30, tzinfo=BERLIN, fold=0)
    second = datetime(2026, 10, 25, 2, 30, tzinfo=BERLIN, fold=1)
    assert ev.t_ms == int(first.timestamp() * 1000)
    assert ev.t_ms + ev.slack_ms >= int(second.timestamp() * 1000)


def test_bsd_header_without_year_is_rejected() -> None:
    fmt = formats.get("a10")(BERLIN)
    with pytest.raises(LineRejected, match="no year"):
        fmt.parse(Record(1, 1, "Nov 27 03:14:07 cgn-2 NAT-TCP-C: 100.64.0.1:1<->192.0.2.1:80,203.0.113.1:2<-->"
                         "192.0.2.1:80"))


def test_ipv6_endpoints() -> None:
    fmt = formats.get("f5-lsn")(None)
    out = fmt.parse(Record(1, 1, 'lsn_event="LSN_ADD",start="1795745647120",cli="[2001:db8::7]:51515",'
                           'nat="[2001:db8:ff::9]:40001"'))
    assert isinstance(out, list)
    assert (from_bytes(out[0].priv_ip or b""), from_bytes(out[0].pub_ip or b"")) == ("2001:db8::7", "2001:db8:ff::9")


@pytest.mark.parametrize(("name", "line", "reason"), [
    ("cisco-asa", "Nov 27 2026 03:14:07: %ASA-6-305011: Built dynamic TCP translation from inside:100.64.0.7/"
     "99999999999 to outside:203.0.113.9/40001", "private port 99999999999 is outside 0-65535"),
    ("conntrack", "[1795745647.120000]\t    [NEW] tcp      6 120 SYN_SENT src=100.64.1.2 dst=192.0.2.80 sport=51515 "
     "dport=99999999999 [UNREPLIED] src=192.0.2.80 dst=203.0.113.9 sport=443 dport=40001",
     "destination port 99999999999 is outside 0-65535"),
    ("conntrack", "[1795745647.120000]\t    [NEW] tcp      300 120 SYN_SENT src=100.64.1.2 dst=192.0.2.80 sport=51515 "
     "dport=443 [UNREPLIED] src=192.0.2.80 dst=203.0.113.9 sport=443 dport=40001", "protocol 300 is outside 0-127"),
    ("juniper-rtflow", '<14>1 2026-11-27T03:14:07Z srx-1 RT_FLOW - RT_FLOW_SESSION_CREATE [junos@2636.1.1.1.2.26 '
     'source-address="100.64.0.1" source-port="50000" destination-address="192.0.2.80" destination-port="123456789012" '
     'nat-source-address="203.0.113.9" nat-source-port="40000" protocol-id="6"]',
     "destination port 123456789012 is outside 0-65535"),
])
def test_numbers_too_large_for_their_column_reject_the_line_with_the_field_named(name: str, line: str,
                                                                                  reason: str) -> None:
    """A number no column can hold is a reject naming the field (it once stopped the whole ingest)."""
    fmt = formats.get(name)(BERLIN)
    with pytest.raises(LineRejected) as caught:
        fmt.read(Record(7, 1, line))
    assert caught.value.reason == reason


@pytest.mark.parametrize("name", sorted(formats.FORMATS))
def test_a_format_emits_only_the_kinds_it_declares(name: str) -> None:
    """The build skips a table no source's format produces, so a format's `produces` must cover its events."""
    kinds = {ev.kind for _, ev in outcomes(name) if isinstance(ev, Event)}
    assert kinds and kinds <= set(formats.get(name).produces.split("+")), (name, kinds)
