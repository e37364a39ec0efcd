"""Whole messages: hops oldest first, delays, the trust rule, and the observations a trace is seeded with."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from nohaven.errors import InputError
from nohaven.tracing.email import ReceivedChain, parse_message
from nohaven.tracing.schema import ObservationIn
from nohaven.tracing.timestamps import read_time

EMAIL = Path(__file__).resolve().parent.parent / "_data" / "tracing" / "email"
CHAINS = sorted(p.name for p in EMAIL.glob("*.eml") if p.name not in ("not-a-message.eml", "no-received.eml"))


def chain(name: str, *trusted: str) -> ReceivedChain:
    return parse_message((EMAIL / name).read_bytes(), trusted=trusted)


def test_clean_chain_through_two_organisations_oldest_first() -> None:
    hops = chain("clean-4-hop.eml").hops
    assert [(h.index, h.from_ip, h.by_host, h.protocol) for h in hops] == [
        (1, "203.0.113.77", "submit.a.example", "ESMTPSA"), (2, "192.0.2.10", "out.a.example", "ESMTPS"),
        (3, "192.0.2.25", "mx.b.example", "esmtps"), (4, "192.0.2.201", "store.b.example", "LMTP")]
    assert [h.timestamp.utc for h in hops] == [datetime(2026, 12, 1, 8, 14, s, tzinfo=UTC) for s in (7, 8, 10, 11)]
    assert [h.delay_seconds for h in hops] == [None, 1.0, 2.0, 1.0]  # +0100, +0100, +0000, +0100: offsets applied
    assert [h.line for h in hops] == [18, 12, 6, 3]  # where each header starts in the file, for the record
    assert hops[0].authenticated_sender == "alice@a.example"
    assert hops[2].from_port == 40312
    assert all(h.problems == [] for h in hops)


def test_nothing_trusted_means_every_hop_unverified_and_it_is_said() -> None:
    result = chain("clean-4-hop.eml")
    assert {h.trust for h in result.hops} == {"unverified"}
    assert not any(h.could_be_forged for h in result.hops)
    assert result.trust_boundary is None
    assert "No server is marked trusted" in result.trust_summary
    assert all("unverified" in obs["note"] for obs in result.observations())


def test_hops_below_the_first_trusted_server_could_be_forged() -> None:
    result = chain("clean-4-hop.eml", "mx.b.example")
    assert [h.trust for h in result.hops] == ["could-be-forged", "could-be-forged", "trusted", "after-trusted"]
    assert [h.could_be_forged for h in result.hops] == [True, True, False, False]
    assert result.trust_boundary == 3
    assert "mx.b.example (hop 3), received the message from 192.0.2.25" in result.trust_summary
    assert "Hops 1 and 2 were written before it" in result.trust_summary
    assert "Hops 1 to 3 were written before it" in chain("exchange.eml", "mx.b.example").trust_summary
    assert result.origin is result.hops[2]
    assert result.to_dict()["origin"]["ip"] == "192.0.2.25"
    assert chain("clean-4-hop.eml").origin is None


def test_a_trusted_domain_extends_trust_through_the_servers_it_names() -> None:
    result = chain("clean-4-hop.eml", ".b.example")
    assert [h.trust for h in result.hops] == ["could-be-forged", "could-be-forged", "trusted", "trusted"]


def test_trust_by_network_matches_the_address_a_server_gives_in_its_by_clause() -> None:
    result = chain("exchange.eml", "2001:db8:10a6::/48")
    # Hop 1's server gives only a link-local address, but hop 2 recorded it as 2001:db8:10a6:2::20: trusted too.
    assert [h.trust for h in result.hops] == ["trusted", "trusted", "trusted", "after-trusted"]
    narrower = chain("exchange.eml", "2001:db8:10a6:3::30", "2001:db8:10a6:4::40")
    assert [h.trust for h in narrower.hops] == ["could-be-forged", "trusted", "trusted", "after-trusted"]


@pytest.mark.parametrize(("entry", "trust"), [
    ("192.0.2.201", ["could-be-forged", "could-be-forged", "trusted", "after-trusted"]),
    ("192.0.2.0/24", ["trusted", "trusted", "trusted", "after-trusted"]),
])
def test_trust_by_address_matches_the_sender_the_next_server_recorded(entry: str, trust: list[str]) -> None:
    # mx.b.example gives no address in its by-clause; store.b.example recorded it as 192.0.2.201.
    assert [h.trust for h in chain("clean-4-hop.eml", entry).hops] == trust


def test_trusting_a_server_that_is_not_in_the_chain_is_said() -> None:
    result = chain("clean-4-hop.eml", "mx.elsewhere.example")
    assert {h.trust for h in result.hops} == {"unverified"}
    assert "None of the servers marked trusted (mx.elsewhere.example)" in result.trust_summary


def test_forged_lower_hops_injected_by_the_sender() -> None:
    result = chain("forged-lower-hops.eml", "mx.b.example")
    hops = result.hops
    # The injected hop 2 names the trusted mx.b.example, but the real mx.b.example (hop 3) recorded a connection
    # from 203.0.113.77 (no reverse name; HELO says mail.bank.example), not from itself: trust stops at hop 3.
    assert [h.trust for h in hops] == ["could-be-forged", "could-be-forged", "trusted", "after-trusted"]
    assert (hops[2].from_ip, hops[2].from_host, hops[2].helo) == ("203.0.113.77", None, "mail.bank.example")
    assert any("names a trusted server (mx.b.example)" in p for p in hops[1].problems)
    assert hops[2].delay_seconds == -2364.0
    assert any("before hop 2" in p and "forged" in p for p in hops[2].problems)
    # The trusted stamp keeps its one-second uncertainty; the stamp that could be forged is the likelier liar.
    assert (hops[1].uncertainty, hops[2].uncertainty) == ("PT39M25S", "PT1S")
    assert "received the message from 203.0.113.77" in result.trust_summary


def test_unknown_zones_and_minus_zero_are_offset_unknown_never_utc() -> None:
    hops = chain("unknown-zones.eml").hops
    assert [h.timestamp.offset_known for h in hops] == [False, False, False, True, False]
    assert [h.timestamp.utc for h in hops] == [None, None, None, datetime(2026, 12, 1, 8, 14, 10, tzinfo=UTC), None]
    assert hops[1].timestamp.wall_clock == "2026-12-01T08:14:07"
    assert [h.delay_seconds for h in hops] == [None, None, None, None, None]  # no delay against an unknown instant
    assert hops[0].observation() is None  # qmail's own line names no address
    seeded = hops[1].observation()
    assert seeded is not None and seeded["offset_unknown"] is True and seeded["time_zone"] is None
    assert seeded["time_text"] == "1 Dec 2026 08:14:07"
    assert "'1 Dec 2026 08:14:07 -0000'" in seeded["note"]  # the date exactly as the header wrote it


def test_a_dst_transition_between_hops_gives_the_real_delay() -> None:
    hops = chain("dst-transition.eml").hops
    assert [h.timestamp.offset for h in hops] == ["+01:00", "+02:00", "+00:00", "-04:00"]
    assert [h.delay_seconds for h in hops] == [None, 40.0, 5.0, 5.0]
    assert all(h.problems == [] for h in hops)


def test_ipv6_hops() -> None:
    hops = chain("ipv6.eml", "mx6.b.example").hops
    assert [h.from_ip for h in hops] == ["2001:db8:ff::1", "2001:db8:a::25", "2001:db8:b::25"]
    assert (hops[2].from_port, hops[2].helo, hops[2].from_host) == (48822, "edge6.b.example", "mx6.b.example")
    assert [h.trust for h in hops] == ["could-be-forged", "trusted", "after-trusted"]
    obs = hops[2].observation()
    assert obs is not None and (obs["ip"], obs["port"]) == ("2001:db8:b::25", 48822)


def test_exchange_chain_and_its_internal_link_local_hop() -> None:
    hops = chain("exchange.eml").hops
    assert [h.protocol for h in hops] == ["mapi", "Microsoft SMTP Server", "Microsoft SMTP Server", "ESMTPS"]
    assert hops[0].from_ip == "fe80::8d1c:4ad7:3a1b:2c9e"
    assert hops[0].observation() is None
    assert any("not routed on the Internet" in p for p in hops[0].problems)
    assert hops[3].from_host == "mail-am6eur01on2130.outbound.protection.outlook.example"
    assert hops[3].helo == "EUR01-AM6-obe.outbound.protection.outlook.example"
    assert [h.delay_seconds for h in hops] == [None, 1.0, 0.0, 1.0]


def test_gmail_chain() -> None:
    hops = chain("gmail.eml").hops
    assert [(h.from_ip, h.by_name) for h in hops] == [("192.0.2.10", "mx.google.example"),
                                                      (None, "2001:db8:6402:1234:b0:5c4:1234:5678")]
    assert hops[1].delay_seconds == 1.0


def test_truncated_and_garbage_headers_become_hops_with_their_problems() -> None:
    result = chain("garbage.eml")
    hops = result.hops
    assert len(hops) == 6
    assert any("no ';'" in p for p in hops[0].problems) and hops[0].from_ip == "192.0.2.10"
    assert any("not UTF-8" in p for p in result.problems)
    assert "\ufffd" in (hops[1].helo or "")
    assert any("neither a 'from' nor a 'by'" in p for p in hops[2].problems)
    assert any("no such date" in p for p in hops[3].problems) and hops[3].timestamp.utc is None
    assert any("neither a 'from' nor a 'by'" in p for p in hops[4].problems)
    assert hops[5].problems == [] and hops[5].timestamp.utc == datetime(2026, 12, 1, 8, 14, 11, tzinfo=UTC)
    assert [h.observation() is not None for h in hops] == [False, True, False, False, False, True]


@pytest.mark.parametrize(("name", "message"), [("not-a-message.eml", "not an e-mail message"),
                                               ("no-received.eml", "no Received header")])
def test_a_file_that_gives_no_chain_is_refused(name: str, message: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_message((EMAIL / name).read_bytes())
    assert message in caught.value.diagnostics()
    assert caught.value.errors[0]["field"] == "message"


@pytest.mark.parametrize("data", [b"", b"\n\n", b"\x00\x01\x02binary", b"%PDF-1.7\n%\xe2\xe3\n"])
def test_empty_or_binary_input_is_refused(data: bytes) -> None:
    with pytest.raises(InputError):
        parse_message(data)


def test_an_mbox_separator_line_is_skipped() -> None:
    data = b"From alice@a.example Tue Dec  1 09:14:07 2026\n" + (EMAIL / "gmail.eml").read_bytes()
    assert len(parse_message(data).hops) == 2


@pytest.mark.parametrize("name", CHAINS)
def test_every_observation_reads_in_the_trace_reader_as_the_hop_says(name: str) -> None:
    """The contract with the traces piece: the observation's time reads back to this hop's instant or window."""
    for hop in chain(name, "mx.b.example").hops:
        obs = hop.observation()
        if obs is None:
            continue
        assert set(obs) == {"ip", "port", "protocol", "time_text", "time_zone", "offset_unknown", "uncertainty",
                            "seen_where", "note"}
        assert obs["ip"] == hop.from_ip and obs["protocol"] == "smtp"
        assert obs["seen_where"].startswith(f"Received header {hop.index} (bottom-up) of message ")
        read = read_time(obs["time_text"], time_zone=obs["time_zone"], offset_unknown=obs["offset_unknown"],
                         uncertainty=obs["uncertainty"])
        if hop.timestamp.offset_known:
            assert read.instant == hop.timestamp.utc
        else:
            assert read.instant is None and not read.offset_known
            wall = datetime.fromisoformat(hop.timestamp.wall_clock or "").replace(tzinfo=UTC)
            assert read.window_start < wall < read.window_end


def test_the_json_form_carries_every_hop_and_its_observation() -> None:
    data = chain("forged-lower-hops.eml", "mx.b.example").to_dict()
    assert data["message_id"] == "<security-notice-0001@bank.example>" and data["trust_boundary"] == 3
    assert [h["could_be_forged"] for h in data["hops"]] == [True, True, False, False]
    assert data["hops"][2]["observation"]["ip"] == "203.0.113.77"
    assert data["hops"][2]["timestamp"]["utc"] == "2026-12-01T08:20:41+00:00"


@pytest.mark.parametrize("name", CHAINS)
def test_every_observation_is_accepted_by_the_trace_schema(name: str) -> None:
    for obs in chain(name, "mx.b.example").observations():
        assert ObservationIn(**obs).ip == obs["ip"]


def test_an_observation_from_an_enormous_header_still_fits_the_trace_schema() -> None:
    huge = "x" * 20000
    data = (f"Received: from {huge}.example ({huge}.example [192.0.2.10]) by mx.{huge}.example with ESMTP;"
            f" Tue, 1 Dec 2026 09:14:07 +0100 ({huge})\nMessage-ID: <{huge}@a.example>\n\nbody\n").encode()
    obs = parse_message(data).hops[0].observation()
    assert obs is not None
    assert ObservationIn(**obs).ip == "192.0.2.10"


@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"])
def test_the_headers_end_at_the_first_blank_line_whatever_the_line_endings(newline: bytes) -> None:
    lines = [b"Received: from a.example (a.example [192.0.2.1])", b"\tby b.example with ESMTP;",
             b"\tTue, 1 Dec 2026 09:14:07 +0100", b"Subject: forwarded", b"",
             b"Received: from body.example (body.example [192.0.2.2]) by c.example; Tue, 1 Dec 2026 09:14:08 +0100"]
    hops = parse_message(newline.join(lines)).hops
    assert [(h.from_ip, h.by_host, h.timestamp.utc) for h in hops] == [
        ("192.0.2.1", "b.example", datetime(2026, 12, 1, 8, 14, 7, tzinfo=UTC))]


def test_problems_quote_an_enormous_header_briefly() -> None:
    huge = "[" * 50000
    data = (f"Received: {huge} from a.example (a.example [{huge}]) by b.example; Tue, 99 {huge} 2026 +0100\n"
            f"Received: {huge}; Tue, 1 Dec 2026 09:14:07 +0100\n\nbody\n").encode()
    result = parse_message(data, trusted=["b.example"])
    problems = [p for hop in result.hops for p in hop.problems]
    assert len(problems) >= 3
    assert all(len(p) < 400 for p in problems), [len(p) for p in problems]
    assert len(result.trust_summary) < 1000
