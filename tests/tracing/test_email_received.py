"""One Received header at a time, in the shapes each mail server writes."""

from __future__ import annotations

import pytest

from nohaven.tracing._email_received import read_received

POSTFIX = ("from mail.a.example (mail.a.example [192.0.2.10]) (using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 "
           "(256/256 bits)) (No client certificate requested) by mx.b.example (Postfix) with ESMTPS id 4Dq7kX0b2Fz9vQ "
           "for <bob@b.example>; Tue,  1 Dec 2026 09:14:08 +0100 (CET)")


def test_postfix_helo_then_reverse_name_and_address() -> None:
    fields, date = read_received(POSTFIX)
    assert (fields.helo, fields.from_host, fields.from_ip) == ("mail.a.example", "mail.a.example", "192.0.2.10")
    assert (fields.by_host, fields.protocol, fields.smtp_id, fields.recipient) == (
        "mx.b.example", "ESMTPS", "4Dq7kX0b2Fz9vQ", "bob@b.example")
    assert date == " Tue,  1 Dec 2026 09:14:08 +0100 (CET)"
    assert fields.problems == []


def test_postfix_authenticated_submission_without_reverse_name() -> None:
    fields, _ = read_received("from [10.20.30.40] (unknown [203.0.113.77]) (Authenticated sender: alice@a.example) "
                              "by submit.a.example (Postfix) with ESMTPSA id 4Dq7; Tue, 1 Dec 2026 09:14:07 +0100")
    assert (fields.helo, fields.from_host, fields.from_ip) == ("[10.20.30.40]", None, "203.0.113.77")
    assert fields.authenticated_sender == "alice@a.example"
    assert fields.protocol == "ESMTPSA"


def test_sendmail_with_ident_and_may_be_forged() -> None:
    fields, _ = read_received("from pc17 (root@dsl-77.c.example [198.51.100.77]) (may be forged) by mx.d.example "
                              "(8.17.1/8.17.1) with ESMTP id 0B18E9ab012345 for <carol@d.example>; "
                              "Tue, 1 Dec 2026 09:14:09 +0100")
    assert (fields.helo, fields.from_host, fields.ident, fields.from_ip) == (
        "pc17", "dsl-77.c.example", "root", "198.51.100.77")
    assert fields.server_says_forged
    assert (fields.by_host, fields.protocol) == ("mx.d.example", "ESMTP")


@pytest.mark.parametrize(("value", "host", "helo", "ip", "port"), [
    ("from out.a.example ([192.0.2.25]:40312) by mx.b.example with esmtps (TLS1.3) tls TLS_AES_256_GCM_SHA384 "
     "(Exim 4.96) (envelope-from <alice@a.example>) id 1vKq2T-000Abc-3x for bob@b.example; "
     "Tue, 01 Dec 2026 08:14:10 +0000", "out.a.example", "out.a.example", "192.0.2.25", 40312),
    ("from out.a.example ([192.0.2.25] helo=smtp.a.example) by mx.b.example with esmtp (Exim 4.96) id 1vK; "
     "Tue, 01 Dec 2026 08:14:10 +0000", "out.a.example", "smtp.a.example", "192.0.2.25", None),
    ("from [192.0.2.25] (port=40312 helo=smtp.a.example) by mx.b.example with esmtp (Exim 4.96) id 1vK; "
     "Tue, 01 Dec 2026 08:14:10 +0000", None, "smtp.a.example", "192.0.2.25", 40312),
])
def test_exim_verified_name_address_port_and_helo_when_it_differs(value: str, host: str | None, helo: str,
                                                                  ip: str, port: int | None) -> None:
    fields, _ = read_received(value)
    assert (fields.from_host, fields.helo, fields.from_ip, fields.from_port) == (host, helo, ip, port)
    assert fields.by_host == "mx.b.example"
    assert fields.protocol in ("esmtp", "esmtps")
    assert fields.smtp_id is not None and fields.smtp_id.startswith("1vK")


def test_qmail_smtpd_shape() -> None:
    fields, date = read_received("from unknown (HELO laptop) (198.51.100.23) by relay.c.example with SMTP; "
                                 "1 Dec 2026 08:14:07 -0000")
    assert (fields.from_host, fields.helo, fields.from_ip, fields.by_host) == (
        None, "laptop", "198.51.100.23", "relay.c.example")
    assert date == " 1 Dec 2026 08:14:07 -0000"


@pytest.mark.parametrize("how", ["from network", "by uid 89"])
def test_qmail_invocation_has_no_from_clause_and_is_no_problem(how: str) -> None:
    fields, _ = read_received(f"(qmail 4711 invoked {how}); 1 Dec 2026 08:14:07 -0000")
    assert fields.from_word is None and fields.from_ip is None and fields.by_host is None
    assert fields.qmail == how
    assert fields.problems == []


def test_exchange_bare_addresses_in_comments_and_multi_word_protocol() -> None:
    fields, _ = read_received("from DB9PR01MB0002.eurprd01.prod.exchangelabs.example (2001:db8:10a6:2::20) by "
                              "AM6EUR01FT003.eop-EUR01.prod.protection.outlook.example (2001:db8:10a6:3::30) with "
                              "Microsoft SMTP Server (version=TLS1_2, cipher=TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384) "
                              "id 15.20.7633.25 via Frontend Transport; Tue, 1 Dec 2026 08:14:08 +0000")
    assert fields.from_host == "DB9PR01MB0002.eurprd01.prod.exchangelabs.example"
    assert (fields.from_ip, fields.by_ip) == ("2001:db8:10a6:2::20", "2001:db8:10a6:3::30")
    assert (fields.protocol, fields.smtp_id, fields.via) == ("Microsoft SMTP Server", "15.20.7633.25", "Frontend")


def test_exchange_mapi_with_a_link_local_zone_index() -> None:
    fields, _ = read_received("from DB9PR01MB0001.example ([fe80::8d1c:4ad7:3a1b:2c9e]) by DB9PR01MB0002.example "
                              "([fe80::8d1c:4ad7:3a1b:2c9e%5]) with mapi id 15.20.7633.025; "
                              "Tue, 1 Dec 2026 08:14:07 +0000")
    assert (fields.from_ip, fields.by_ip, fields.protocol) == ("fe80::8d1c:4ad7:3a1b:2c9e",
                                                               "fe80::8d1c:4ad7:3a1b:2c9e%5", "mapi")


def test_gmail_reverse_name_with_trailing_dot_and_by_an_address() -> None:
    fields, _ = read_received("from mail.a.example (mail.a.example. [192.0.2.10]) by mx.google.example with ESMTPS "
                              "id a1si1234567wrb.123.2026.12.01.00.42.15 for <dave@gmail.example> (version=TLS1_3 "
                              "cipher=TLS_AES_256_GCM_SHA384 bits=256/256); Tue, 01 Dec 2026 00:42:15 -0800 (PST)")
    assert (fields.from_host, fields.from_ip, fields.by_host) == ("mail.a.example", "192.0.2.10", "mx.google.example")
    assert fields.recipient == "dave@gmail.example"
    top, _ = read_received("by 2001:db8:6402:1234:b0:5c4:1234:5678 with SMTP id e5csp1234567edb; "
                           "Tue, 1 Dec 2026 00:42:16 -0800 (PST)")
    assert (top.by_host, top.by_ip, top.protocol, top.from_ip) == (None, "2001:db8:6402:1234:b0:5c4:1234:5678",
                                                                  "SMTP", None)
    assert top.problems == []


def test_ipv6_address_literals() -> None:
    fields, _ = read_received("from mail6.a.example (mail6.a.example [IPv6:2001:DB8:a:0::25]) by mx6.b.example "
                              "(Postfix) with ESMTPS id 4Dv6; Tue, 1 Dec 2026 08:14:08 +0000")
    assert fields.from_ip == "2001:db8:a::25"  # normalised: lower case, zeros compressed


def test_keywords_inside_comments_do_not_start_clauses() -> None:
    fields, _ = read_received("by mail.a.example (Postfix, from userid 1000) id 4AbC; Tue, 1 Dec 2026 09:14:07 +0100")
    assert fields.from_word is None and fields.by_host == "mail.a.example" and fields.smtp_id == "4AbC"


def test_the_date_is_after_the_last_semicolon_outside_comments() -> None:
    _, date = read_received("from a.example (a.example [192.0.2.1] (x; y)) by b.example with SMTP; "
                            "Tue, 1 Dec 2026 09:14:07 +0100 (CET; winter)")
    assert date == " Tue, 1 Dec 2026 09:14:07 +0100 (CET; winter)"


@pytest.mark.parametrize(("value", "problem"), [
    ("from mail.a.example (mail.a.example [192.0.2.10]) by mx.b.example (Postfix with ESMTP id", "no ';'"),
    ("from mail.a.example (mail.a.example [192.0.2.10]) by mx.b.example (Postfix with ESMTP id", "unbalanced"),
    ("hello world", "neither a 'from' nor a 'by'"),
    (";;;; (((", "neither a 'from' nor a 'by'"),
    ("from [999.1.2.3] (unknown [999.1.2.3]) by mx.b.example; Tue, 1 Dec 2026 09:14:07 +0100", "not an IP address"),
    ("from a.example (a.example [192.0.2.1]); Tue, 1 Dec 2026 09:14:07 +0100", "no 'by' clause"),
    ("from a.example by b.example from c.example; Tue, 1 Dec 2026 09:14:07 +0100", "a second 'from'"),
    ("from a.example ([192.0.2.1]:99999) by b.example; Tue, 1 Dec 2026 09:14:07 +0100", "not a TCP port"),
    ("from a.example) by b.example; Tue, 1 Dec 2026 09:14:07 +0100", "closes no comment"),
])
def test_broken_headers_name_their_problem(value: str, problem: str) -> None:
    fields, _ = read_received(value)
    assert any(problem in p for p in fields.problems), fields.problems


@pytest.mark.parametrize("literal", ["[::ffff:192.0.2.10]", "[IPv6:::ffff:192.0.2.10]", "[::FFFF:c000:20a]"])
def test_an_ipv4_mapped_address_is_the_ipv4_host(literal: str) -> None:
    fields, _ = read_received(f"from mail.a.example (mail.a.example {literal}) by mx.b.example with ESMTP; "
                              "Tue, 1 Dec 2026 08:14:08 +0000")
    assert fields.from_ip == "192.0.2.10"


def test_a_bare_address_as_the_from_word_webmail_shape() -> None:
    fields, _ = read_received("from 198.51.100.5 by webmail.a.example with HTTP; Tue, 1 Dec 2026 08:14:07 +0000")
    assert (fields.from_ip, fields.from_host, fields.by_host, fields.protocol) == (
        "198.51.100.5", None, "webmail.a.example", "HTTP")
