"""No header, however mangled, crashes the reader: it becomes a hop with its problems named."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from nohaven.tracing._email_date import read_date
from nohaven.tracing.email import parse_message

EMAIL = Path(__file__).resolve().parent.parent / "_data" / "tracing" / "email"
PIECES = ["from", "by", "with", "id", "for", "via", "(", ")", "[", "]", ";", " ", "\t", "helo=", "HELO", "IPv6:",
          "unknown", "mail.a.example", "192.0.2.10", "2001:db8::1", "fe80::1%5", ":25", "<bob@b.example>", "\\",
          "Tue,", "1", "Dec", "2026", "09:14:07", "+0100", "-0000", "EST", "Z", "(CET)", "60", "99", "qmail 1 invoked"]
header_text = st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=12)), max_size=40).map("".join)


def _message(value: str) -> bytes:
    folded = value.replace("\r", " ").replace("\n", "\n ")
    return f"Received: {folded}\nMessage-ID: <fuzz@a.example>\n\nbody\n".encode("utf-8", errors="surrogatepass")


@settings(max_examples=400, deadline=None)
@given(header_text)
def test_any_received_header_gives_one_hop_and_never_raises(value: str) -> None:
    chain = parse_message(_message(value), trusted=["mail.a.example", "192.0.2.0/24"])
    assert len(chain.hops) == 1
    hop = chain.hops[0]
    assert hop.trust in ("trusted", "after-trusted", "could-be-forged", "unverified")
    obs = hop.observation()
    assert obs is None or obs["ip"] == hop.from_ip
    assert hop.timestamp.utc is None or hop.timestamp.utc.tzinfo is not None  # never a naive instant
    hop.to_dict()


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=60))
def test_any_date_text_is_read_or_named_never_raised(text: str) -> None:
    reading = read_date(text)
    assert (reading.utc is None) or (reading.offset_known and reading.utc.tzinfo is not None)
    if reading.utc is None and text.strip():
        assert reading.problems


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=300), st.integers(min_value=0, max_value=2000))
def test_bytes_spliced_into_a_real_message_never_crash(noise: bytes, at: int) -> None:
    real = (EMAIL / "clean-4-hop.eml").read_bytes()
    at = min(at, len(real))
    data = real[:at] + noise + real[at:]
    try:
        chain = parse_message(data, trusted=["mx.b.example"])
    except Exception as exc:  # only the clear refusal is allowed, never a crash
        from nohaven.errors import InputError

        assert isinstance(exc, InputError), repr(exc)
    else:
        assert all(hop.index == i for i, hop in enumerate(chain.hops, 1))
