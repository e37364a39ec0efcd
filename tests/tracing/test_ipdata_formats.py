"""Loading RIR delegated-extended files of all five registries and ip2asn tables into a store, and what it answers."""

from __future__ import annotations

import gzip
import hashlib
import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from nohaven.errors import ConflictError, InputError
from nohaven.tracing.ipdata import IpDataStore, SnapshotInfo

DATA = Path(__file__).resolve().parent.parent / "_data" / "tracing" / "ipdata"
DAY = date(2026, 11, 30)
REGISTRIES = ("afrinic", "apnic", "arin", "lacnic", "ripencc")


@pytest.fixture
def store(tmp_path: Path) -> IpDataStore:
    return IpDataStore(tmp_path / "ipdata")


@pytest.fixture
def loaded(store: IpDataStore) -> IpDataStore:
    for registry in REGISTRIES:
        store.load(DATA / f"delegated-{registry}-extended-20261130")
    store.load(DATA / "ip2asn-v4.tsv", snapshot_date=DAY)
    store.load(DATA / "ip2asn-v6.tsv", kind="ip2asn", snapshot_date=DAY)
    return store


@pytest.mark.parametrize(("registry", "v4", "v6"), [
    ("afrinic", 3, 2), ("apnic", 5, 2), ("arin", 5, 2), ("lacnic", 3, 2), ("ripencc", 4, 2)])
def test_each_registry_file_loads_whole_and_dated_by_its_version_line(store: IpDataStore, registry: str, v4: int,
                                                                       v6: int) -> None:
    info = store.load(DATA / f"delegated-{registry}-extended-20261130")
    assert (info.kind, info.source, info.snapshot_date) == ("rir", registry, DAY)
    assert (info.v4_ranges, info.v6_ranges, info.bad_count, info.warnings) == (v4, v6, 0, ())
    assert info.skipped["summary"] == 3 and info.skipped["asn record"] >= 1  # asn records are skipped, counted
    assert [i.id for i in store.snapshots()] == [f"rir-{registry}-20261130"]


def test_registry_answers_with_country_status_and_range(loaded: IpDataStore) -> None:
    apnic = loaded.lookup("1.0.5.9")
    assert apnic is not None
    assert (apnic.registry, apnic.country, apnic.status, apnic.prefix) == ("apnic", "AU", "allocated", "1.0.4.0/22")
    assert (apnic.asn, apnic.holder) == (38803, "GTELECOM-AUSTRALIA Gtelecom Pty Ltd")
    japan = loaded.lookup("2001:200:0:8002::1")
    assert japan is not None and (japan.registry, japan.country, japan.prefix) == ("apnic", "JP", "2001:200::/35")
    assert japan.asn == 2500
    kenya = loaded.lookup("2c0f:fe38:1::1")
    assert kenya is not None and (kenya.registry, kenya.country, kenya.asn) == ("afrinic", "KE", None)


def test_count_that_is_not_a_power_of_two_is_a_range(loaded: IpDataStore) -> None:
    inside = loaded.lookup("23.128.2.255")
    after = loaded.lookup("23.128.3.0")
    assert inside is not None and after is not None
    assert (inside.range_first, inside.range_last) == ("23.128.0.0", "23.128.2.255")
    assert inside.prefix == "23.128.2.0/24"  # the largest CIDR block holding the address inside the range
    assert loaded.lookup("23.128.0.1") is not None
    first = loaded.lookup("23.128.0.1")
    assert first is not None and first.prefix == "23.128.0.0/23"
    assert (inside.country, after.country) == ("US", "CA")


def test_unallocated_space_has_no_country(loaded: IpDataStore) -> None:
    for address, registry, status in [("102.67.1.1", "afrinic", "available"), ("102.68.0.1", "afrinic", "reserved"),
                                      ("185.0.1.1", "ripencc", "reserved"), ("185.0.5.1", "ripencc", "available"),
                                      ("23.129.4.4", "arin", "reserved"), ("23.130.4.4", "arin", "available"),
                                      ("1.0.9.1", "apnic", "available"), ("2a14:7581::1", "ripencc", "available")]:
        record = loaded.lookup(address)
        assert record is not None, address
        assert (record.registry, record.country, record.status) == (registry, None, status), address


def test_ip2asn_not_routed_and_registry_country_disagreement(loaded: IpDataStore) -> None:
    unrouted = loaded.lookup("1.0.2.7")
    assert unrouted is not None and unrouted.asn is None and unrouted.holder is None
    assert unrouted.country == "CN" and any("not routed" in n for n in unrouted.notes)
    cloudflare = loaded.lookup("1.0.0.1")
    assert cloudflare is not None and cloudflare.country == "AU"  # the registry's country is kept ...
    assert any("lists country AU" in n and "lists US" in n for n in cloudflare.notes)  # ... and the conflict said


def test_routing_table_alone_answers_outside_registry_files(store: IpDataStore) -> None:
    store.load(DATA / "ip2asn-v4.tsv", snapshot_date=DAY)
    finding = store.find("193.0.3.3")
    assert finding.record is not None
    assert (finding.record.asn, finding.record.country, finding.record.status) == (3333, "NL", "routed")
    assert finding.record.registry is None and finding.record.rir_snapshot is None
    assert any("no RIR snapshot in force holds 193.0.3.3" in p for p in finding.problems)


def _bad_lines_say(info: SnapshotInfo, expected: dict[int, str]) -> None:
    """The load refused exactly the `expected` lines, each for a reason that says what its entry says."""
    reasons = {bad.line: bad.reason for bad in info.bad_lines}
    assert sorted(reasons) == sorted(expected), reasons
    for line, says in expected.items():
        assert says in reasons[line], (line, reasons[line])


def test_bad_lines_are_counted_with_line_numbers_and_good_ones_kept(store: IpDataStore) -> None:
    info = store.load(DATA / "delegated-broken-extended-20261130")
    assert (info.v4_ranges, info.v6_ranges, info.bad_count) == (2, 0, 7)
    _bad_lines_say(info, {4: "at least 7 fields", 5: "not an IP address", 6: "'lots' is not a number",
                          7: "overlaps the range of line 3", 8: "'France' is not a two-letter code",
                          9: "bits set beyond its prefix length", 10: "status 'sold'"})
    assert any("ipv4 summary line announces 6" in w for w in info.warnings)
    assert store.lookup("2.48.0.9") is not None and store.lookup("2.8.0.1") is not None  # line 3's /12 holds it
    record = store.lookup("2.8.0.1")
    assert record is not None and record.prefix == "2.0.0.0/12"


def test_ip2asn_without_date_is_refused_and_nothing_stored(store: IpDataStore) -> None:
    with pytest.raises(InputError, match="carry no date; give the day") as caught:
        store.load(DATA / "ip2asn-v4.tsv")
    assert caught.value.errors[0]["field"] == "--date"
    assert store.snapshots() == []


def test_rir_date_contradicted_or_unknown_kind_or_empty_is_refused(store: IpDataStore, tmp_path: Path) -> None:
    store.load(DATA / "delegated-apnic-extended-20261130")
    with pytest.raises(InputError, match="version line dates it 2026-11-30, --date says 2026-11-01"):
        store.load(DATA / "delegated-arin-extended-20261130", snapshot_date=date(2026, 11, 1))
    junk = tmp_path / "notes.txt"
    junk.write_text("hello world\n")
    with pytest.raises(InputError, match=r"cannot tell what notes\.txt is"):
        store.load(junk)
    no_version = tmp_path / "delegated-x"
    no_version.write_text("apnic|AU|ipv4|1.0.0.0|256|20110811|assigned|A1\n")
    with pytest.raises(InputError, match="starts with its version line"):
        store.load(no_version)
    only_bad = tmp_path / "bad.tsv"
    only_bad.write_text("1.0.0.0\t1.0.0.255\tAS13335\tUS\tX\n")
    with pytest.raises(InputError, match=r"no address range could be read \(1 bad line\(s\); first: line 1"):
        store.load(only_bad, kind="ip2asn", snapshot_date=DAY)
    with pytest.raises(InputError, match="cannot read"):
        store.load(tmp_path / "missing")
    assert [i.id for i in store.snapshots()] == ["rir-apnic-20261130"]  # what was stored is still there
    assert store.lookup("1.0.0.1") is not None


def test_gzip_files_load_and_reloading_replaces(store: IpDataStore, tmp_path: Path) -> None:
    packed = tmp_path / "ip2asn-v6.tsv.gz"
    with (DATA / "ip2asn-v6.tsv").open("rb") as source, gzip.open(packed, "wb") as target:
        shutil.copyfileobj(source, target)
    first = store.load(packed, snapshot_date=DAY)
    again = store.load(DATA / "ip2asn-v6.tsv", snapshot_date=DAY)
    assert (first.v6_ranges, first.replaced, again.replaced) == (4, False, True)
    assert first.sha256 == hashlib.sha256(packed.read_bytes()).hexdigest()  # the file as given
    assert again.sha256 == hashlib.sha256((DATA / "ip2asn-v6.tsv").read_bytes()).hexdigest()
    assert [i.id for i in store.snapshots()] == ["ip2asn-v6-20261130"]
    assert [i.id for i in IpDataStore(store.directory).snapshots()] == ["ip2asn-v6-20261130"]  # on disk


def test_another_store_object_sees_what_one_loaded(store: IpDataStore) -> None:
    reader = IpDataStore(store.directory)
    assert reader.lookup("193.0.0.1") is None
    store.load(DATA / "delegated-ripencc-extended-20261130")
    record = reader.lookup("193.0.0.1")
    assert record is not None and record.country == "NL"


def test_addresses_are_normalised_and_bad_ones_named(loaded: IpDataStore) -> None:
    records = loaded.lookup_many(["::ffff:1.0.4.1", "[2001:200::1]", " 193.0.0.1 ", "10.0.0.1"])
    assert [r.ip if r else None for r in records] == ["1.0.4.1", "2001:200::1", "193.0.0.1", None]
    with pytest.raises(InputError) as caught:
        loaded.lookup_many(["1.0.0.1", "1.0.0.256"])
    assert caught.value.errors[0]["field"] == "ips[1]"
    with pytest.raises(InputError, match="no UTC offset"):
        loaded.lookup("1.0.0.1", datetime(2026, 12, 1))  # noqa: DTZ001


def test_snapshot_in_force_per_series(store: IpDataStore, tmp_path: Path) -> None:
    older = tmp_path / "older"
    older.write_text((DATA / "delegated-arin-extended-20261130").read_text()
                     .replace("2.3|arin|20261130|", "2.3|arin|20260101|")
                     .replace("arin|CA|ipv4|23.128.3.0", "arin|MX|ipv4|23.128.3.0"))
    store.load(older)
    store.load(DATA / "delegated-arin-extended-20261130")
    store.load(DATA / "delegated-apnic-extended-20261130")

    def country(at: datetime) -> str | None:
        record = store.lookup("23.128.3.1", at)
        return record.country if record else None

    assert country(datetime(2026, 6, 1, tzinfo=UTC)) == "MX"
    assert country(datetime(2026, 11, 30, 0, 0, tzinfo=UTC)) == "CA"
    assert country(datetime(2026, 11, 30, 0, 30, 0, tzinfo=UTC).astimezone()) == "CA"
    assert country(datetime.fromisoformat("2026-11-30T00:30:00+01:00")) == "MX"  # still the 29th in UTC
    assert country(datetime(2025, 12, 31, tzinfo=UTC)) is None
    early = store.find("1.0.0.1", datetime(2026, 6, 1, tzinfo=UTC))
    assert early.record is None
    assert any(p.startswith("apnic (rir): no snapshot dated on or before 2026-06-01; only 2026-11-30")
               for p in early.problems)
    assert store.lookup("1.0.0.1") is not None  # the latest, when no instant is given


def test_ip2asn_bad_rows_are_named(store: IpDataStore, tmp_path: Path) -> None:
    table = tmp_path / "ip2asn.tsv"
    table.write_text("1.0.0.0\t1.0.0.255\t13335\tUS\tGood\n"
                     "01.0.1.0\t1.0.1.255\t13335\tUS\tLeading zero\n"
                     "1.0.2.0\t2001:db8::\t13335\tUS\tMixed\n"
                     "1.0.3.255\t1.0.3.0\t13335\tUS\tReversed\n"
                     "1.0.4.0\t1.0.4.255\tAS13335\tUS\tAS text\n"
                     "1.0.5.0\t1.0.5.255\t13335\tUSA\tCountry\n"
                     "1.0.6.0 1.0.6.255 13335 US spaces\n"
                     "1.0.7.0\t1.0.7.255\t4294967296\tUS\tToo big\n")
    info = store.load(table, kind="ip2asn", snapshot_date=DAY)
    assert info.v4_ranges == 1
    _bad_lines_say(info, {2: "not a pair of IP addresses",  # 01.0.1.0 could be read as octal: refused
                          3: "mixes IPv4 and IPv6", 4: "before range_start", 5: "'AS13335' is not a number",
                          6: "'USA' is not a two-letter code", 7: "5 tab-separated fields", 8: "0 to 4294967295"})


def test_a_snapshot_loaded_again_is_seen_by_a_store_that_had_read_it(store: IpDataStore, tmp_path: Path) -> None:
    store.load(DATA / "ip2asn-v4.tsv", snapshot_date=DAY)
    reader = IpDataStore(store.directory)
    before = reader.lookup("1.0.0.1")
    assert before is not None and before.asn == 13335
    changed = tmp_path / "ip2asn-v4.tsv"
    changed.write_text((DATA / "ip2asn-v4.tsv").read_text().replace("\t13335\t", "\t64999\t"))
    store.load(changed, snapshot_date=DAY)
    after = reader.lookup("1.0.0.1")
    assert after is not None and after.asn == 64999


def test_a_damaged_store_is_said_not_a_traceback(store: IpDataStore) -> None:
    store.load(DATA / "ip2asn-v4.tsv", snapshot_date=DAY)
    (store.directory / "ip2asn-v4-20261130.npz").write_bytes(b"not numpy")
    with pytest.raises(ConflictError, match=r"ip2asn-v4-20261130\.npz cannot be read.*load ip2asn-v4\.tsv again"):
        IpDataStore(store.directory).lookup("1.0.0.1")
    (store.directory / "snapshots.json").write_text("{")
    with pytest.raises(ConflictError, match=r"snapshots\.json cannot be read"):
        IpDataStore(store.directory).snapshots()


def test_one_shared_store_per_directory_sees_new_loads(store: IpDataStore) -> None:
    shared = IpDataStore.shared(store.directory)
    assert IpDataStore.shared(store.directory / ".") is shared
    assert shared.lookup("1.0.0.1") is None
    store.load(DATA / "ip2asn-v4.tsv", snapshot_date=DAY)
    record = shared.lookup("1.0.0.1")
    assert record is not None and record.asn == 13335


def test_u32_tables_and_a_byte_order_mark(store: IpDataStore, tmp_path: Path) -> None:
    table = tmp_path / "ip2asn-v4-u32.tsv"
    table.write_text("\ufeff16777216\t16777471\t13335\tUS\tCLOUDFLARENET\n4294967295\t4294967296\t1\tUS\tX\n")
    info = store.load(table, snapshot_date=DAY)
    assert (info.kind, info.v4_ranges, [b.line for b in info.bad_lines]) == ("ip2asn", 1, [2])
    record = store.lookup("1.0.0.200")
    assert record is not None and (record.asn, record.prefix) == (13335, "1.0.0.0/24")
    delegated = tmp_path / "delegated-apnic-extended-20261130"
    delegated.write_bytes(b"\xef\xbb\xbf" + (DATA / "delegated-apnic-extended-20261130").read_bytes())
    assert store.load(delegated).v4_ranges == 5


def _delegated(tmp_path: Path, registry: str, day: str, record: str) -> Path:
    path = tmp_path / f"delegated-{registry}-extended-{day}"
    path.write_text(f"2|{registry}|{day}|1|19830101|{day}|+0000\n{registry}|{record}\n")
    return path


def test_registries_that_disagree_handed_out_beats_available_then_newer_wins(store: IpDataStore,
                                                                             tmp_path: Path) -> None:
    store.load(_delegated(tmp_path, "arin", "20261001", "US|ipv4|45.0.0.0|256|20100101|allocated|a"))
    store.load(_delegated(tmp_path, "ripencc", "20261101", "|ipv4|45.0.0.0|256||available"))
    record = store.lookup("45.0.0.9")
    assert record is not None and (record.registry, record.country, record.status) == ("arin", "US", "allocated")
    store.load(_delegated(tmp_path, "lacnic", "20261115", "BR|ipv4|45.0.0.0|256|20261110|allocated|b"))
    record = store.lookup("45.0.0.9")
    assert record is not None and (record.registry, record.country) == ("lacnic", "BR")
    before = store.lookup("45.0.0.9", datetime(2026, 11, 10, tzinfo=UTC))
    assert before is not None and before.registry == "arin"


def test_progress_is_reported_to_the_end(store: IpDataStore) -> None:
    calls: list[tuple[int, int]] = []
    path = DATA / "delegated-ripencc-extended-20261130"
    store.load(path, progress=lambda done, total: calls.append((done, total)))
    size = path.stat().st_size
    assert calls and calls[-1] == (size, size) and all(total == size for _, total in calls)


def test_version_lines_as_registries_write_them(store: IpDataStore, tmp_path: Path) -> None:
    # RIPE NCC's serial is a Unix time, not a date: the end date dates the file. AFRINIC's offset is "00000".
    ripe = tmp_path / "delegated-ripencc-extended-20260922"
    ripe.write_text("2|ripencc|1790114399|2|19700101|20260922|+0200\n"
                    "ripencc|EU|ipv4|2.16.0.0|524288|20100910|allocated|1faabfb2|e-stats\n"
                    "ripencc||ipv4|5.2.0.0|8192|20110915|available\n")
    afrinic = tmp_path / "delegated-afrinic-extended-20260928"
    afrinic.write_text("2|afrinic|20260928|1|00000000|20260928|00000\n"
                       "afrinic|ZZ|ipv4|41.57.112.0|2048||reserved|\n")
    assert store.load(ripe).snapshot_date == date(2026, 9, 22)
    assert store.load(afrinic).snapshot_date == date(2026, 9, 28)
    europe = store.lookup("2.20.0.1")
    assert europe is not None and europe.country == "EU"  # as written; resolution then says EU is no State
