"""C2SP signed notes and checkpoints: key ids, verifier keys, signatures, cosignatures, canonical JSON."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime

import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from hypothesis import given, settings
from hypothesis import strategies as st

from nohaven.errors import InputError
from nohaven.evidence.canonical import canonical_bytes
from nohaven.evidence.note import Checkpoint, NoteError, NoteSigner, NoteVerifier, SignedNote


def test_key_id_is_the_signed_note_formula() -> None:
    signer = NoteSigner.generate("xa.example/evidence")
    pub = signer.verifier.public_key
    assert signer.verifier.key_id == hashlib.sha256(b"xa.example/evidence\n\x01" + pub).digest()[:4]
    vkey = signer.verifier.vkey
    name, hex_id, key = vkey.split("+", 2)
    assert (name, hex_id) == ("xa.example/evidence", signer.verifier.key_id.hex())
    assert base64.b64decode(key) == b"\x01" + pub
    assert NoteVerifier.parse(vkey) == signer.verifier
    with pytest.raises(NoteError, match="key id"):
        NoteVerifier.parse(f"{name}+00000000+{key}")


def test_checkpoint_note_layout_and_signature() -> None:
    signer = NoteSigner.generate("xa.example/evidence")
    root = hashlib.sha256(b"root").digest()
    note = Checkpoint("xa.example/evidence", 42, root).sign(signer)
    data = note.serialize().decode()
    body, sigs = data.split("\n\n")
    assert body.split("\n") == ["xa.example/evidence", "42", base64.b64encode(root).decode()]
    assert sigs.startswith("\u2014 xa.example/evidence ") and sigs.endswith("\n")
    raw = base64.b64decode(sigs.strip().split(" ")[2])
    assert raw[:4] == signer.verifier.key_id and len(raw) == 68
    # The signature covers the text including its final newline, and only that.
    assert signer.verifier.verify(note.text, raw[4:])
    parsed = SignedNote.parse(note.serialize())
    assert parsed.signed_by(signer.verifier) is not None
    assert Checkpoint.from_text(parsed.text) == Checkpoint("xa.example/evidence", 42, root)


def test_cosignature_and_forgery() -> None:
    sender, receiver = NoteSigner.generate("xa.example/evidence"), NoteSigner.generate("xb.example/evidence")
    note = Checkpoint("xa.example/evidence", 3, b"\x07" * 32).sign(sender)
    cosigned = SignedNote.parse(note.with_signature(receiver).serialize())
    assert [s.name for s in cosigned.signatures] == ["xa.example/evidence", "xb.example/evidence"]
    assert cosigned.signed_by(sender.verifier) and cosigned.signed_by(receiver.verifier)
    with pytest.raises(NoteError, match="already signed"):
        cosigned.with_signature(receiver)
    # Another text under the same signature lines does not verify.
    forged = SignedNote(Checkpoint("xa.example/evidence", 4, b"\x07" * 32).text(), cosigned.signatures)
    with pytest.raises(NoteError, match="does not verify"):
        forged.signed_by(sender.verifier)
    # A key with the same name but another key id is simply absent.
    assert cosigned.signed_by(NoteSigner.generate("xa.example/evidence").verifier) is None


def test_tlog_cosignature_layout_as_c2sp_defines_it() -> None:
    sender, cosigner = NoteSigner.generate("xa.example/evidence"), NoteSigner.generate("xb.example/evidence")
    note = Checkpoint("xa.example/evidence", 3, b"\x07" * 32).sign(sender)
    at = datetime(2026, 11, 30, 12, 0, 1, 999_000, tzinfo=UTC)
    cosigned = SignedNote.parse(note.with_cosignature(cosigner, at).serialize())
    line = cosigned.signatures[1]
    name, encoded = line.line.removeprefix("\u2014 ").split(" ")
    raw = base64.b64decode(encoded)
    pub = cosigner.verifier.public_key
    # Key id with signature type 0x04, then a big-endian u64 POSIX time, then Ed25519 over the v1 message.
    assert name == "xb.example/evidence" and len(raw) == 4 + 8 + 64
    assert raw[:4] == hashlib.sha256(b"xb.example/evidence\n\x04" + pub).digest()[:4]
    assert int.from_bytes(raw[4:12], "big") == 1796040001
    message = b"cosignature/v1\ntime 1796040001\n" + note.text
    Ed25519PublicKey.from_public_bytes(pub).verify(raw[12:], message)  # raises if it is not that message
    found = cosigned.cosigned_by(cosigner.verifier)
    assert found is not None and found.at == datetime(2026, 11, 30, 12, 0, 1, tzinfo=UTC)
    assert cosigned.signed_by(cosigner.verifier) is None  # not a plain note signature
    # A cosigner vkey (type 0x04) reads back; the cosigner's key signs once, in either form.
    assert NoteVerifier.parse(cosigner.verifier.cosigner.vkey) == cosigner.verifier.cosigner
    with pytest.raises(NoteError, match="already signed"):
        cosigned.with_signature(cosigner)
    # Another time under the same signature does not verify.
    shifted = base64.b64encode(raw[:4] + (1796040002).to_bytes(8, "big") + raw[12:]).decode()
    forged = SignedNote.parse(note.serialize() + f"\u2014 xb.example/evidence {shifted}\n".encode())
    with pytest.raises(NoteError, match="does not verify"):
        forged.cosigned_by(cosigner.verifier)
    with pytest.raises(NoteError, match="offset"):
        note.with_cosignature(cosigner, datetime(2026, 11, 30, 12, 0))  # noqa: DTZ001 - the naive time refused


@pytest.mark.parametrize("data", [
    b"origin\n1\nAAAA\n",  # no blank line
    b"origin\n1\n\n- origin AAAA\n",  # not an em dash
    "origin\n1\n\n\u2014 origin !!!\n".encode(),  # not base64
    "origin\x01\n\n\u2014 origin AAAAAAAA\n".encode(),  # control character
    "origin\n1\n\n\u2014 origin AAAAAAB=\n".encode(),  # base64 whose padding bits are not zero (not canonical)
])
def test_malformed_notes_are_refused(data: bytes) -> None:
    with pytest.raises(NoteError):
        SignedNote.parse(data)


@pytest.mark.parametrize("text", [b"o\n1\n", b"o\n01\nAAAA\n", b"o\n-1\n" + base64.b64encode(b"x" * 32) + b"\n",
                                  b"o\n1\n" + base64.b64encode(b"x" * 31) + b"\n"])
def test_malformed_checkpoints_are_refused(text: bytes) -> None:
    with pytest.raises(NoteError):
        Checkpoint.from_text(text)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_fast_canonical_json_equals_rfc8785(value: object) -> None:
    assert canonical_bytes(value) == rfc8785.dumps(value)


wider_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**60), 2**60) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(wider_values)
def test_canonical_json_equals_rfc8785_or_both_refuse(value: object) -> None:
    """Floats and integers beyond 2^53 leave the fast path: the bytes are rfc8785's, or both refuse the value."""
    try:
        expected = rfc8785.dumps(value)  # type: ignore[arg-type]
    except rfc8785.CanonicalizationError:
        with pytest.raises(InputError):
            canonical_bytes(value)
        return
    assert canonical_bytes(value) == expected


def test_a_proof_hash_in_another_base64_spelling_is_refused() -> None:
    """Standard base64 leaves two bits of a 32-byte hash's last character unused; a text that sets them decodes
    to the same bytes, so such a changed byte would pass unnoticed unless the spelling itself is checked."""
    from nohaven.evidence.proofs import InclusionProof, b64

    signer = NoteSigner.generate("xa.example/evidence")
    note = Checkpoint("xa.example/evidence", 2, b"\x07" * 32).sign(signer)
    h = bytes(31) + b"\x10"
    text = InclusionProof(0, (h,), note).serialize()
    assert InclusionProof.parse(text).path == (h,)
    canonical = b64(h)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    last = canonical[-2]
    respelled = canonical[:-2] + alphabet[alphabet.index(last) + 1] + "="
    assert base64.b64decode(respelled) == h  # the same bytes...
    with pytest.raises(ValueError, match="canonical base64"):  # ...but not the same text
        InclusionProof.parse(text.replace(canonical.encode(), respelled.encode()))
