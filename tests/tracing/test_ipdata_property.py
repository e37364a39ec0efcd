"""Property: the store's batched look-ups equal a naive scan of the ranges and pytricia's longest-prefix match."""

from __future__ import annotations

import ipaddress
import tempfile
from datetime import date
from pathlib import Path

import pytricia
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nohaven.tracing._ipdata_view import keys_for
from nohaven.tracing.ipdata import IpDataStore

DAY = date(2026, 11, 30)
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _networks(bits: int) -> st.SearchStrategy[list[Network]]:
    cls = ipaddress.IPv4Network if bits == 32 else ipaddress.IPv6Network
    one = st.tuples(st.integers(0, 2**bits - 1), st.integers(1 if bits == 32 else 8, bits)).map(
        lambda pair: cls((pair[0] >> (bits - pair[1]) << (bits - pair[1]), pair[1])))

    def disjoint(nets: list[Network]) -> list[Network]:
        kept: list[Network] = []
        for net in nets:
            if not any(net.overlaps(other) for other in kept):
                kept.append(net)
        return kept

    return st.lists(one, min_size=0, max_size=40).map(disjoint)


def _store(directory: Path, rows: list[tuple[int, int, int]], family: int) -> IpDataStore:
    cls = ipaddress.IPv4Address if family == 4 else ipaddress.IPv6Address
    table = directory / "table.tsv"
    table.write_text("".join(f"{cls(first)}\t{cls(last)}\t{asn}\tXA\tHolder {asn}\n" for first, last, asn in rows))
    store = IpDataStore(directory / "store")
    store.load(table, kind="ip2asn", snapshot_date=DAY)
    return store


def _probes(rows: list[tuple[int, int, int]], extra: list[int], top: int) -> list[int]:
    edges = [v for first, last, _ in rows for v in (first - 1, first, last, last + 1)]
    return [v for v in [*edges, *extra] if 0 <= v <= top]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(nets=st.one_of(_networks(32), _networks(128)), extra=st.lists(st.integers(0, 2**128 - 1), max_size=30))
def test_prefixes_agree_with_naive_scan_and_pytricia(nets: list[Network], extra: list[int]) -> None:
    family = 4 if not nets or nets[0].version == 4 else 6
    bits = 32 if family == 4 else 128
    rows = [(int(n.network_address), int(n.broadcast_address), i + 1) for i, n in enumerate(nets)]
    trie = pytricia.PyTricia(bits)
    for net, (_, _, asn) in zip(nets, rows, strict=True):
        trie[str(net)] = asn
    probes = _probes(rows, [e % 2**bits for e in extra], 2**bits - 1)
    cls = ipaddress.IPv4Address if family == 4 else ipaddress.IPv6Address
    with tempfile.TemporaryDirectory() as scratch:
        if not rows:
            return
        store = _store(Path(scratch), rows, family)
        records = store.lookup_many([str(cls(p)) for p in probes])
        fast = store.view().asn_numbers(family, keys_for(family, probes))
    for probe, record, quick in zip(probes, records, fast, strict=True):
        naive = next((asn for first, last, asn in rows if first <= probe <= last), None)
        assert (record.asn if record else None) == naive == trie.get(str(cls(probe))), cls(probe)
        assert int(quick) == (naive or 0)
        if record is not None:
            assert ipaddress.ip_address(record.ip) in ipaddress.ip_network(record.prefix)


@settings(max_examples=60, deadline=None)
@given(cuts=st.lists(st.integers(0, 2**32 - 1), min_size=2, max_size=60, unique=True),
       gaps=st.lists(st.booleans(), min_size=60, max_size=60), extra=st.lists(st.integers(0, 2**32 - 1), max_size=30))
def test_ranges_of_any_size_agree_with_naive_scan(cuts: list[int], gaps: list[bool], extra: list[int]) -> None:
    bounds = sorted(cuts)
    rows = [(bounds[i], bounds[i + 1] - 1, i + 1) for i in range(len(bounds) - 1)
            if gaps[i] and bounds[i + 1] - 1 >= bounds[i]]
    if not rows:
        return
    probes = _probes(rows, extra, 2**32 - 1)
    with tempfile.TemporaryDirectory() as scratch:
        store = _store(Path(scratch), rows, 4)
        records = store.lookup_many([str(ipaddress.IPv4Address(p)) for p in probes])
    for probe, record in zip(probes, records, strict=True):
        hit = next(((first, last, asn) for first, last, asn in rows if first <= probe <= last), None)
        assert (record.asn if record else None) == (hit[2] if hit else None)
        if record is not None and hit is not None:
            assert (int(ipaddress.ip_address(record.range_first)), int(ipaddress.ip_address(record.range_last))) \
                == hit[:2]
            block = ipaddress.ip_network(record.prefix)
            assert hit[0] <= int(block.network_address) and int(block.broadcast_address) <= hit[1]
            assert ipaddress.ip_address(record.ip) in block


_FIELD = st.one_of(st.sampled_from(["ipv4", "ipv6", "asn", "1.0.0.0", "2001:db8::", "256", "32", "ZZ", "XA", "",
                                    "allocated", "available", "20261130", "00000000", "*", "summary", "99999999999"]),
                   st.text(max_size=12))


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(st.lists(_FIELD, min_size=0, max_size=9), max_size=20),
       separator=st.sampled_from(["|", "\t"]))
def test_any_lines_are_bad_lines_or_an_input_error_never_a_crash(rows: list[list[str]], separator: str) -> None:
    from nohaven.errors import InputError
    from nohaven.tracing.ip2asn import parse_ip2asn
    from nohaven.tracing.rir import parse_rir

    lines = ["2|apnic|20261130|1|19830613|20261129|+1000", *(separator.join(r) for r in rows)]
    for parse in (parse_rir, parse_ip2asn):
        try:
            parsed = parse(lines)
        except InputError:
            continue
        read = len(parsed.v4) + len(parsed.v6)
        accounted = read + parsed.bad_count + sum(parsed.skipped.values())
        # every line is a range, a bad line or a line skipped on purpose (the RIR version line aside)
        assert accounted == len(lines) - (1 if parse is parse_rir else 0)
