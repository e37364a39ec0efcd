"""Ed25519 keys: ids, the RFC 8032 test vector, PEM and base64url forms, key files and their modes."""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from nohaven.errors import ConflictError
from nohaven.federation import KeyFileError, SigningKey, VerifyKey, key_id_of, load_public_key, load_signing_key
from nohaven.federation.keys import write_key_pair

# RFC 8032 §7.1, TEST 1
RFC8032_SECRET = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
RFC8032_PUBLIC = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
RFC8032_SIGNATURE = bytes.fromhex("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
                                  "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b")


def test_key_id_is_first_eight_bytes_of_sha256_of_the_raw_key_in_hex() -> None:
    assert key_id_of(RFC8032_PUBLIC) == hashlib.sha256(RFC8032_PUBLIC).hexdigest()[:16]
    assert key_id_of(RFC8032_PUBLIC) == "21fe31dfa154a261"


def test_signing_is_pure_ed25519_as_rfc_8032() -> None:
    key = SigningKey(Ed25519PrivateKey.from_private_bytes(RFC8032_SECRET))
    assert key.public.raw == RFC8032_PUBLIC
    assert key.sign(b"") == RFC8032_SIGNATURE
    assert VerifyKey.from_raw(RFC8032_PUBLIC).verifies(RFC8032_SIGNATURE, b"")
    assert not VerifyKey.from_raw(RFC8032_PUBLIC).verifies(RFC8032_SIGNATURE, b"\x00")


def test_key_pair_files_private_0600_and_both_load_back(tmp_path: Path) -> None:
    key = SigningKey.generate()
    private, public = write_key_pair(tmp_path / "keys", "xa", key)
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "keys").stat().st_mode) == 0o700
    assert b"PRIVATE KEY" in private.read_bytes() and b"PUBLIC KEY" in public.read_bytes()
    assert load_signing_key(private).key_id == key.key_id
    assert load_public_key(public).raw == key.public.raw
    assert repr(key) == f"SigningKey(key_id={key.key_id!r})"  # no key material in logs


def test_existing_key_is_never_overwritten(tmp_path: Path) -> None:
    write_key_pair(tmp_path, "xa", SigningKey.generate())
    before = (tmp_path / "xa.key").read_bytes()
    with pytest.raises(ConflictError, match="refusing to overwrite"):
        write_key_pair(tmp_path, "xa", SigningKey.generate())
    assert (tmp_path / "xa.key").read_bytes() == before


def test_public_key_as_raw_base64url_line(tmp_path: Path) -> None:
    key = SigningKey.generate()
    (tmp_path / "k.pub").write_text(key.public.b64url + "\n")
    assert load_public_key(tmp_path / "k.pub").key_id == key.key_id


def test_private_key_readable_by_others_is_refused(tmp_path: Path) -> None:
    private, _ = write_key_pair(tmp_path, "xa", SigningKey.generate())
    private.chmod(0o644)
    with pytest.raises(KeyFileError, match="chmod 600") as caught:
        load_signing_key(private)
    assert caught.value.exit_code == 2 and caught.value.errors[0]["field"] == "--key"


@pytest.mark.parametrize("content", [b"", b"not a key", b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
                                     b"AAAA", b"2g0Y3Xsn5FcHjjDwl7YdnzyGei7sqSaR6KaG0cxICBI="])
def test_bad_public_key_files_name_the_option(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "bad.pub").write_bytes(content)
    with pytest.raises(KeyFileError) as caught:
        load_public_key(tmp_path / "bad.pub", "--authority-key")
    assert caught.value.errors[0]["field"] == "--authority-key"


def test_missing_key_file_and_non_ed25519_key(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="cannot read"):
        load_signing_key(tmp_path / "absent.key")
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    other = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    path = tmp_path / "ec.key"
    path.write_bytes(other)
    path.chmod(0o600)
    with pytest.raises(KeyFileError, match="not an Ed25519 key"):
        load_signing_key(path)
