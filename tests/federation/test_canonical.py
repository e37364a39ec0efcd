"""RFC 8785 canonical JSON and strict parsing: what every signature in federation is computed over."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nohaven.errors import InputError
from nohaven.federation.canonical import b64url_decode, b64url_encode, canonical_bytes, parse_json

# RFC 8785 §3.2.3/§3.2.4: the example input and its canonical form.
RFC8785_INPUT = r"""{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
  "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/", "literals": [null, true, false]}"""
RFC8785_OUTPUT = ('{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
                  '"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}').encode()


def test_rfc_8785_example() -> None:
    assert canonical_bytes(parse_json(RFC8785_INPUT)) == RFC8785_OUTPUT


def test_key_order_and_whitespace_do_not_matter() -> None:
    a = parse_json('{"b": {"y": 1, "x": [3, 2]}, "a": "é"}')
    b = parse_json('{"a":"\\u00e9","b":{"x":[3,2],"y":1}}')
    assert canonical_bytes(a) == canonical_bytes(b) == '{"a":"é","b":{"x":[3,2],"y":1}}'.encode()


def test_keys_sort_by_utf16_code_units() -> None:
    # U+1F600 (surrogates D83D DE00) sorts before U+FB33 in UTF-16, after it in code points.
    assert canonical_bytes({"\ufb33": 1, "\U0001f600": 2}) == '{"\U0001f600":2,"\ufb33":1}'.encode()


def test_unicode_is_written_as_utf8_not_normalised() -> None:
    composed, decomposed = "Krak\u00f3w", "Krako\u0301w"
    assert canonical_bytes({"c": composed}) != canonical_bytes({"c": decomposed})
    assert canonical_bytes({"c": composed}) == '{"c":"Kraków"}'.encode()


@given(st.dictionaries(st.text(), st.one_of(st.integers(-(2**53) + 1, 2**53 - 1), st.text(), st.booleans(),
                                           st.none()), max_size=8))
def test_canonical_form_is_stable_across_key_order(value: dict[str, object]) -> None:
    reordered = dict(reversed(list(value.items())))
    assert canonical_bytes(value) == canonical_bytes(reordered)
    assert json.loads(canonical_bytes(value)) == value


def test_integers_beyond_ijson_refused() -> None:
    with pytest.raises(InputError, match="canonicalised"):
        canonical_bytes({"serial": 2**60})


@pytest.mark.parametrize("text", ['{"a": 1, "a": 2}', '{"a": NaN}', '{"a": Infinity}', "{'a': 1}", "[1,]"])
def test_strict_parsing_refuses_ambiguous_json(text: str) -> None:
    with pytest.raises(InputError):
        parse_json(text)


def test_parse_refuses_non_utf8() -> None:
    with pytest.raises(InputError, match="not UTF-8"):
        parse_json(b'{"a": "\xff"}')


def test_base64url_round_trip_and_strictness() -> None:
    data = bytes(range(40))
    text = b64url_encode(data)
    assert "=" not in text and b64url_decode(text, "f") == data
    assert text.endswith("w")  # 40 bytes: the last character carries 4 zero bits
    for bad in (text + "=", "+" + text[1:], "/" + text[1:], "", "A", text[:-1] + "x"):
        with pytest.raises(InputError):
            b64url_decode(bad, "f", length=40)
