"""Next hops as text: one parser for the web form and the command line (nohaven.tracing.endpoints)."""

from __future__ import annotations

import pytest

from nohaven.errors import InputError
from nohaven.tracing.endpoints import parse_next_hop, read_next_hops

T = "2026-11-27T02:14:07Z"


@pytest.mark.parametrize(("text", "expected"), [
    (f"203.0.113.77:4431@{T}", ("203.0.113.77", 4431, None)),
    (f"203.0.113.77:4431/tcp@{T}", ("203.0.113.77", 4431, "tcp")),
    (f"203.0.113.77/udp@{T}", ("203.0.113.77", None, "udp")),
    (f"[2001:db8::1]:443@{T}", ("2001:db8::1", 443, None)),
    (f"[2001:db8::1]:443/tcp@{T}", ("2001:db8::1", 443, "tcp")),
    (f"2001:db8::1@{T}", ("2001:db8::1", None, None)),
    (f"  198.51.100.7:0@ {T} ", ("198.51.100.7", 0, None)),
])
def test_the_shapes_both_surfaces_accept(text: str, expected: tuple[object, ...]) -> None:
    hop = parse_next_hop(text, "--next")
    assert (hop["ip"], hop["port"], hop["protocol"]) == expected and hop["time"] == T


@pytest.mark.parametrize(("text", "message"), [
    ("203.0.113.77 at noon", "line 2: write IP[:PORT][/PROTOCOL]@TIME"),
    (f"203.0.113.999:1@{T}", "line 2: '203.0.113.999' is not an IPv4 or IPv6 address"),
    (f"203.0.113.7:70000@{T}", "line 2: port '70000' is not a number from 0 to 65535"),
    (f"203.0.113.7:4a@{T}", "line 2: port '4a' is not a number from 0 to 65535"),
    (f"[2001:db8::1]x@{T}", "line 2: '[2001:db8::1]x' is not [IPv6]:port"),
    (f"203.0.113.7:1/T CP@{T}", "line 2: protocol 'T CP' is not a protocol name"),
    ("203.0.113.7:1@", "line 2: write IP[:PORT][/PROTOCOL]@TIME"),
])
def test_each_mistake_is_named_with_its_line(text: str, message: str) -> None:
    with pytest.raises(InputError) as caught:
        read_next_hops(f"# answered by phone\n{text}\n", "next_hops")
    assert caught.value.errors[0]["field"] == "next_hops"
    assert message in caught.value.errors[0]["message"]


def test_the_form_protocol_applies_to_lines_that_name_none() -> None:
    hops = read_next_hops(f"203.0.113.77:4431@{T}\n\n[2001:db8::1]:443/udp@{T}\n", "next_hops", "tcp")
    assert [(h["ip"], h["protocol"]) for h in hops] == [("203.0.113.77", "tcp"), ("2001:db8::1", "udp")]
