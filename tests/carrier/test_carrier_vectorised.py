"""The vectorised parse paths (compiled and Arrow) against the reference parser: the same store, byte for byte.

The three paths ingest the same files (rejects, ignored lines, local times with --tz across a DST gap and a repeated
hour, fractions of every length, IPv6, CRLF and lone CR line ends, bytes that are not UTF-8, keys out of order or
repeated), in blocks small enough that lines fall on both sides of block edges; every file of the two stores
must be identical.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nohaven.carrier import formats, nativeparse
from nohaven.carrier.blocks import parse_block
from nohaven.carrier.errors import ZoneRequiredError
from nohaven.carrier.ingest import ParseOptions, _events_table, ingest
from nohaven.carrier.store import Store, event_table
from nohaven.carrier.vectorised import A10Fast, JuniperRtFlowFast

PATHS = {"native": ParseOptions(), "arrow": ParseOptions(native=False), "reference": ParseOptions(vectorised=False)}

DATA = Path(__file__).resolve().parent / "_data"
BERLIN = ZoneInfo("Europe/Berlin")


def snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.name != "LOCK"}


def a10_lines(zoned: bool) -> list[bytes]:
    pair = "100.64.1.{i}:{p}<->192.0.2.80:443,203.0.113.{j}:{q}<-->192.0.2.80:443"
    stamps = ["2026-11-27T03:14:07+01:00", "2026-11-27T03:14:07.5Z", "2026-11-27T03:14:07.12-05:30",
              "2026-11-27 03:14:07.123+0100", "2026-11-27T03:14:07.1234567+00:00", "2026-02-30T01:00:00Z"]
    if not zoned:  # local times: an ordinary one, one in the repeated hour, one that does not exist
        stamps += ["2026-11-27T03:14:07", "2026-10-25T02:30:00.250", "2026-03-29T02:30:00"]
    out = []
    for n, stamp in enumerate(stamps * 3):
        kind = ("TCP-C", "UDP-F", "ICMP-C")[n % 3]
        out.append(f"{stamp} cgn-{n % 2} NAT-{kind}: " + pair.format(i=n % 250 + 1, p=40000 + n, j=n % 9, q=1024 + n))
    out += [
        "2026-11-27T03:15:38+01:00 cgn-2 NAT-TCP-C: 100.64.23.124:51515<->192.0.2.80:443,203.0.113.9:99999"
        "<-->192.0.2.80:443",  # port out of range: rejected
        "2026-11-27T03:15:39+01:00 cgn-2 NAT-TCP-C: [2001:db8::7]:5000<->[2001:db8::80]:443,"
        "[2001:db8:1::9]:6000<-->[2001:db8::80]:443",  # IPv6: the reference parser's
        "2026-11-27T03:15:40+01:00 cgn-2 NAT-TCP-C:  100.64.1.1:1<->192.0.2.80:443,203.0.113.9:2<-->192.0.2.80:443",
        "2026-11-27T03:15:41+01:00 cgn-2 NAT-TCP-C: 010.64.1.1:1<->192.0.2.80:443,203.0.113.9:2<-->192.0.2.80:443",
        "2026-11-27T03:15:42+01:00 cgn-2 NAT-TCP-C: broken",
        "<14>1 2026-11-27T03:15:43+01:00 cgn-2 NAT-UDP-F: 100.64.1.2:7<->192.0.2.80:53,203.0.113.9:8<-->192.0.2.80:53",
        "Nov 27 03:15:44 cgn-2 NAT-TCP-C: 100.64.1.1:1<->192.0.2.80:443,203.0.113.9:2<-->192.0.2.80:443",
        "2026-11-27T03:15:45+01:00 cgn-2 system: fan speed normal",
        "",
    ]
    lines = [line.encode() for line in out]
    lines.insert(4, lines[1] + b"\r")  # CRLF
    lines.insert(7, b"2026-11-27T03:15:46+01:00 cgn-2 NAT-TCP-C: \xff\xfe not utf-8")
    lines.insert(9, lines[2] + b"\r" + lines[3])  # a lone CR ends a line too
    return lines


def rtflow_lines() -> list[bytes]:
    head = "<14>1 {t} srx-1 RT_FLOW - RT_FLOW_SESSION_{ev} [junos@2636.1.1.1.2.26"
    body = ('source-address="100.64.0.{i}" source-port="{p}" destination-address="192.0.2.80" destination-port="443" '
            'service-name="junos-https" nat-source-address="203.0.113.9" nat-source-port="{q}" '
            'src-nat-rule-type="source rule" protocol-id="6" policy-name="allow-out"')
    out = []
    for n, t in enumerate(["2026-11-27T03:14:07.120+01:00", "2026-11-27T02:14:08Z", "2026-11-27T03:14:09.5+01:00"] * 4):
        ev = "CREATE" if n % 2 == 0 else "CLOSE"
        tail = ' reason="TCP FIN" elapsed-time="90" application="UNKNOWN"]' if ev == "CLOSE" else "]"
        out.append(head.format(t=t, ev=ev) + " " + body.format(i=n + 1, p=50000 + n, q=40000 + n) + tail)
    first = out[0]
    out += [
        first.replace(' protocol-id="6"', ""),  # a field missing: rejected
        first.replace("CREATE", "CLOSE"),  # a close without elapsed-time: rejected
        first.replace('nat-source-address="203.0.113.9"', 'nat-source-address="0.0.0.0"'),  # ignored
        first.replace('nat-source-port="40000"', 'nat-source-port="50000"').replace(
            'nat-source-address="203.0.113.9"', 'nat-source-address="100.64.0.1"'),  # untranslated: ignored
        first.replace("]", ' nat-source-port="41000"]'),  # a repeated key: the last one counts
        first.replace('source-address="100.64.0.1" source-port="50000" ', "").replace(
            "]", ' source-port="50000" source-address="100.64.0.1"]'),  # keys in another order
        first.replace("srx-1", "RT_FLOW_SESSION_CLOSE"),  # the message id twice
        first.replace('nat-source-port="40000"', 'nat-source-port="70000"'),  # out of range: rejected
        first.replace("2026-11-27T03:14:07.120+01:00", "2026-11-31T03:14:07+01:00"),  # no such day: rejected
        first.replace("RT_FLOW_SESSION_CREATE", "RT_FLOW_SESSION_DENY"),
        first.replace('"100.64.0.1"', '"2001:db8::1"'),
        first.replace('policy-name="allow-out"', 'policy-name="a \\"quoted\\" name"'),
    ]
    return [line.encode() for line in out]


def f5_lines() -> list[bytes]:
    add = 'lsn_event="LSN_ADD",start="{s}",cli="100.64.0.{i}:{p}",nat="203.0.113.9:{q}",dst="192.0.2.80:443"'
    delete = add.replace("LSN_ADD", "LSN_DELETE") + ',duration="{d}"'
    out = []
    for n in range(12):
        start = 1795745647120 + n * 1037
        line = (add if n % 2 == 0 else delete).format(s=start, i=n + 1, p=51000 + n, q=40000 + n, d=90000 + n)
        if n % 3 == 0:
            line += f',pem_subscriber_id="subscriber-00{n}"'
        elif n % 3 == 1:
            line += ',pem_subscriber_id="No-lookup"'
        out.append(line)
    first, second = out[0], out[1]
    out += [
        "Nov 27 03:14:07 bigip-1 info tmm1[11]: " + first,  # a syslog header before the event
        first.replace(',dst="192.0.2.80:443"', ""),  # no destination
        first.replace("LSN_ADD", "LSN_INBOUND_ADD"), second.replace("LSN_DELETE", "LSN_INBOUND_DELETE"),
        second.replace(',duration="90001"', ""),  # a delete without its duration: rejected
        first.replace('start="1795745647120"', 'start="yesterday"'),  # rejected
        first.replace(":51000", ":70000"),  # a port out of range: rejected
        first.replace('nat="203.0.113.9:40000"', 'nat="203.0.113.9"'),  # the whole address: a block
        first.replace('cli="100.64.0.1:51000"', 'cli="[2001:db8::1]:51000"'),  # IPv6: the reference's
        first + ',nat="203.0.113.10:40000"',  # a repeated key: the last one counts
        first.replace("LSN_ADD", "LSN_QUOTA_EXCEEDED"),  # not a mapping: ignored
        first.replace('dst="192.0.2.80:443"', 'dst="192.0.2.80:99999"'),  # out of range: rejected
        first + ',proto="udp"',
        first.replace("subscriber-000", 'sub \\"quoted\\"'),
        "",
    ]
    return [line.encode() for line in out]


def asa_lines() -> list[bytes]:
    body = "Built dynamic TCP translation from inside:100.64.0.{i}/{p} to outside:203.0.113.9/{q}"
    teardown = ("Teardown dynamic UDP translation from inside:100.64.0.{i}/{p} to outside:203.0.113.9/{q} "
                "duration 0:01:30")
    heads = ["Nov 27 2026 03:14:07: %ASA-6-305011: ", "Nov  7 2026 03:14:07.250: %ASA-6-305012: ",
             "<166>Nov 27 2026 03:14:08 asa-1 : %ASA-6-305011: ", "2026-11-27T03:14:09.5+01:00 asa-1 %FTD-6-305012: ",
             "Oct 25 2026 02:30:00: %ASA-6-305011: ", "Mar 29 2026 02:30:00: %ASA-6-305011: ",
             "<14>1 2026-11-27T02:14:10Z asa-2 : %ASA-6-305011: "]
    out = []
    for n, head in enumerate(heads * 2):
        out.append(head + (body if n % 2 == 0 else teardown).format(i=n + 1, p=50000 + n, q=40000 + n))
    first = out[0]
    out += [
        first.replace("/50000", "/50000(LOCAL\\alice)"),  # a user name after the port
        first.replace("Built dynamic TCP", "Teardown static ICMP"),  # a teardown without its duration
        first.replace("/40000", "/70000"),  # a port out of range: rejected
        first.replace("/40000", "/40000 extra words"),  # text after the translation: the reference reads it
        first.replace("Nov 27 2026", "Foo 27 2026"), first.replace("Nov 27 2026", "Nov 27"),  # rejected
        first.replace("Nov 27 2026", "Feb 30 2026"),  # no such day
        first.replace("100.64.0.1", "2001:db8::1"),  # IPv6: the reference's
        first.replace("305011", "305009").replace("TCP ", "").replace("/50000", "").replace("/40000", ""),  # a block
        first.replace("%ASA-6-305011:", "%ASA-6-302013:"),  # another message: ignored
        first.replace(": Built", ":   Built"), first.replace("inside:", "in side:"),
        "",
    ]
    return [line.encode() for line in out]


def conntrack_lines() -> list[bytes]:
    new = ("[{t}]\t    [NEW] tcp      6 120 SYN_SENT src=100.64.1.{i} dst=192.0.2.80 sport={p} dport=443 [UNREPLIED] "
           "src=192.0.2.80 dst=203.0.113.9 sport=443 dport={q}")
    destroy = "[{t}]\t[DESTROY] udp      17 src=100.64.1.{i} dst=192.0.2.80 sport={p} dport=53 src=192.0.2.80 " \
              "dst=203.0.113.9 sport=53 dport={q} mark=0 use=1"
    out = []
    for n, t in enumerate(["1795745647.120000", "1795745648.5", "1795745649.12", "1795745650.123456789"] * 3):
        out.append((new if n % 2 == 0 else destroy).format(t=t, i=n + 1, p=50000 + n, q=40000 + n))
    first = out[0]
    out += [
        first.replace("[NEW]", "[UPDATE]"),  # ignored
        first.replace("tcp      6", "ipv4     2 tcp      6"),  # the reference's
        first.replace("dport=40000", "dport=070000"), first.replace("sport=50000", "sport=050000"),
        first.replace("dst=203.0.113.9 sport=443 dport=40000", "dst=100.64.1.1 sport=443 dport=50000"),  # no NAT
        first.replace(" [UNREPLIED] src=192.0.2.80 dst=203.0.113.9 sport=443 dport=40000", ""),  # one tuple
        first.replace("sport=50000 dport=443 ", ""),  # no ports: ignored
        first.replace("6 120", "300 120"),  # a protocol past the column: rejected
        first + " zone=3 xsrc=1", first + " ", first.replace("1795745647.120000", "1795745647.1234567890"),
        first.replace("100.64.1.1", "2001:db8::1"), "",
    ]
    return [line.encode() for line in out]


def citrix_lines() -> list[bytes]:
    head = "11/27/2026:02:14:{s:02d} GMT ns-cgn-1 0-PPE-0 : default LSN LSN_ADDRPORT_MAPPING {n} 0 : "
    default = ("Client IP:Port:TD 100.64.0.{i}:{p}:0, NatIP:NatPort 203.0.113.9:{q}, Destination IP:Port:TD "
               "192.0.2.80:443:0, Protocol: TCP")
    compact = "{code}100.64.0.{i}:{p}:0 203.0.113.9:{q} 198.51.100.53:53:0 UDP"
    out = []
    for n in range(12):
        body = default if n % 3 == 0 else compact
        code = ("C ", "D ", "", "SD ")[n % 4]
        out.append(head.format(s=n, n=1000 + n) + body.format(i=n + 1, p=50000 + n, q=40000 + n, code=code))
    first, second = out[0], out[1]
    out += [
        first.replace(" GMT", ""),  # local time: --tz places it
        first.replace("11/27/2026:02:14:00 GMT", "03/29/2026:02:30:00"),  # in Berlin's DST gap: rejected
        first.replace("Destination IP:Port:TD 192.0.2.80:443:0", "Destination IP:TD 192.0.2.80:0"),  # no port
        first.replace(", Destination IP:Port:TD 192.0.2.80:443:0", ""),  # no destination
        first.replace("Destination IP:TD", "Destination IP:TD").replace("Port:TD 192.0.2.80", "TD 192.0.2.80"),
        first.replace("NatIP:NatPort", "Mapped IP:Port"), first.replace("Protocol: TCP", "Protocol: tcp"),
        first.replace("Protocol: TCP", "Protocol: GRE"),  # a protocol the store has no number for
        first + ", Deleted", second.replace(" 198.51.100.53:53:0", ""), second.replace("UDP", "UDP  "),
        first.replace("LSN_ADDRPORT_MAPPING", "LSN_SESSION"), first.replace("LSN_ADDRPORT_MAPPING", "LSN_QUOTA"),
        first.replace(":40000", ":70000"), first.replace("11/27/2026", "13/27/2026"),
        first.replace("ns-cgn-1", "LSN-box"), first.replace("100.64.0.1", "2001:db8::1"), "",
    ]
    return [line.encode() for line in out]


def write(path: Path, lines: list[bytes], final_newline: bool = True) -> Path:
    path.write_bytes(b"\n".join(lines) + (b"\n" if final_newline else b""))
    return path


@pytest.mark.parametrize("block_bytes", [300, 1 << 20])
def test_vectorised_and_reference_paths_write_identical_stores(tmp_path: Path, block_bytes: int) -> None:
    a10 = write(tmp_path / "a10.log", a10_lines(zoned=True) * 5)
    local = write(tmp_path / "a10-local.log", a10_lines(zoned=False) * 3, final_newline=False)
    rtflow = write(tmp_path / "rtflow.log", rtflow_lines() * 5)
    f5 = write(tmp_path / "f5.log", f5_lines() * 5)
    asa = write(tmp_path / "asa.log", asa_lines() * 5)
    conntrack = write(tmp_path / "conntrack.log", conntrack_lines() * 5)
    citrix = write(tmp_path / "citrix.log", citrix_lines() * 5)
    samples = [str(DATA / "a10.log"), str(DATA / "juniper-rtflow.log"), str(DATA / "f5-lsn.log"),
               str(DATA / "conntrack.log")]
    stores = {}
    for label, path_options in PATHS.items():
        options = ParseOptions(path_options.vectorised, path_options.native, block_bytes)
        store = Store(tmp_path / f"store-{label}")
        first = ingest(store, [*samples, str(a10), str(rtflow), str(f5), str(conntrack)], fmt="auto", options=options)
        second = ingest(store, [str(local)], fmt="a10", zone=BERLIN, options=options)
        third = ingest(store, [str(DATA / "cisco-asa.log"), str(asa)], fmt="cisco-asa", zone=BERLIN, options=options)
        ingest(store, [str(DATA / "citrix-lsn.log"), str(citrix)], fmt="citrix-lsn", zone=BERLIN, options=options)
        stores[label] = (snapshot(store.root), first.as_dict(), second.as_dict(), third.as_dict())
    reference = stores["reference"]
    for label in ("native", "arrow"):
        fast = stores[label]
        assert fast[0] == reference[0], label
        for a, b in zip(fast[1:], reference[1:], strict=True):
            for f, g in zip(a["files"], b["files"], strict=True):
                f.pop("seconds", None), g.pop("seconds", None)
            a.pop("seconds", None), b.pop("seconds", None)
            assert a == b, label
    # the input holds what it should: rejects with reasons, a repeated hour flagged, a DST gap rejected
    root = tmp_path / "store-native"
    rejects = "".join(p.read_text() for p in (root / "rejects").glob("*.tsv"))
    assert "port 99999 is outside 0-65535" in rejects and "does not exist in Europe/Berlin" in rejects
    assert "RT_FLOW_SESSION_CLOSE without a numeric elapsed-time" in rejects and "field protocol-id" in rejects
    assert "LSN_DELETE without a numeric duration" in rejects and "'yesterday' is not epoch milliseconds" in rejects
    con = duckdb.connect()
    con.register("events", event_table(sorted((root / "events").glob("*.arrow")), ["flags"]))
    flagged = con.execute("SELECT count(*) FROM events WHERE flags & 1 = 1")
    # the repeated-hour lines: a10's three times per copy in three copies, the ASA's twice per copy in five
    assert flagged.fetchall() == [(19,)]


def test_local_times_without_zone_are_refused_on_both_paths(tmp_path: Path) -> None:
    local = write(tmp_path / "a10-local.log", a10_lines(zoned=False))
    for label, options in PATHS.items():
        with pytest.raises(ZoneRequiredError):
            ingest(Store(tmp_path / f"s-{label}"), [str(local)], fmt="a10",
                   options=ParseOptions(options.vectorised, options.native, block_bytes=300))


def test_the_compiled_parser_is_built_and_admits_what_the_arrow_path_admits() -> None:
    """The install compiles the parser (a missing one would only slow ingest down, so say it loudly here), and it
    admits exactly the lines the Arrow patterns admit: the same grammar, so a line either path leaves goes to
    the reference parser on both."""
    assert nativeparse.available(), "nohaven.carrier._natparse is not built: reinstall with a C compiler"
    for name, fast_cls, lines in (("a10", A10Fast, a10_lines(zoned=True) + a10_lines(zoned=False)),
                                  ("juniper-rtflow", JuniperRtFlowFast, rtflow_lines())):
        text = [line for line in lines if b"\r" not in line and b"\xff" not in line]
        reference = formats.get(name)(BERLIN)
        native = nativeparse.NativeParser(reference)
        events, rest, n = native.parse(b"\n".join(text) + b"\n", 1, 0)
        assert n == len(text)
        admitted_native = set(events.column("line").to_pylist())
        arrow = fast_cls(BERLIN, reference)
        array = pa.array([t.decode() for t in text], pa.large_string())
        groups, ok = arrow.admit(array)
        arrow.columns(array, groups, ok)
        admitted_arrow = {int(i) + 1 for i in np.flatnonzero(ok)}
        assert admitted_native == admitted_arrow, name
        assert len(admitted_native) >= len(text) // 3, name  # the grammar admits the ordinary lines
        assert {number for number, _ in rest} == set(range(1, n + 1)) - admitted_native
    for name, lines, expected in (("cisco-asa", asa_lines(), 14), ("conntrack", conntrack_lines(), 12),
                                  ("citrix-lsn", citrix_lines(), 19)):
        native = nativeparse.NativeParser(formats.get(name)(BERLIN))
        events, rest, n = native.parse(b"\n".join(lines), 1, 0)
        # the ordinary lines (but the ASA's two in a DST gap) and the ASA's user name and bare teardown; no other
        assert (events.num_rows, n - len(rest)) == (expected, expected), name


_MUTATIONS = st.lists(st.tuples(st.integers(0, 400), st.sampled_from(
    ['', '0', '9', '.', ':', ' ', '"', '\\', '-', '+', 'Z', 'T', ']', '[', '<', '>', '=', 'x', '5', '2', '\t'])),
    min_size=1, max_size=3)


def _one_line(fmt: str, text: str, use_native: bool) -> tuple[list[object], list[tuple[int, str, str]], dict[str, int]]:
    reference = formats.get(fmt)(BERLIN)
    fast = nativeparse.NativeParser(reference) if use_native else None
    result = parse_block(text.encode(), 1, fast, reference, 7, _events_table)
    return result.events.to_pylist(), result.rejects, result.ignored


_LINES = {"a10": lambda: a10_lines(zoned=True), "juniper-rtflow": rtflow_lines, "cisco-asa": asa_lines,
          "conntrack": conntrack_lines, "citrix-lsn": citrix_lines}


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(sorted(_LINES)), st.integers(0, 11), _MUTATIONS)
def test_the_compiled_parser_reads_mutated_lines_as_the_reference_does(fmt: str, pick: int,
                                                                       edits: list[tuple[int, str]]) -> None:
    """A valid line with a few characters replaced, inserted or deleted: events, reject reasons and ignored
    reasons are those of the reference parser, whichever path reads it."""
    lines = [t.decode() for t in _LINES[fmt]() if b"\xff" not in t]
    text = lines[pick % len(lines)]
    for position, char in edits:
        at = position % (len(text) + 1)
        text = text[:at] + char + text[at + (1 if char == "" or position % 2 else 0):]
    text = text.replace("\n", " ").replace("\r", " ")
    assert _one_line(fmt, text, True) == _one_line(fmt, text, False)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=9000), st.integers(0, 20))
def test_a_blocks_newlines_and_carriage_returns_are_counted_in_one_scan(noise: bytes, every: int) -> None:
    """The compiled scan (sixteen bytes at a time, its counters summed every 255 rounds) counts what bytes.count
    does, on data of every length around those boundaries."""
    data = noise if not every else bytes(b if i % (every + 1) else (b"\n\r"[i % 2]) for i, b in enumerate(noise))
    data += b"\n" * (4080 * (every % 3))  # past one round of byte counters
    assert nativeparse.scan(data) == (data.count(b"\n"), data.count(b"\r"))
