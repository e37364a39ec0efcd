"""Ed25519 keys: generation, key ids, PEM and raw base64url forms, key files (private ones mode 0600).

Key id: the first 8 bytes of SHA-256 over the 32-byte raw public key, written as 16 lowercase hex digits. Hex,
not base64url, because people read key ids aloud and compare them in logs and on the phone; 64 bits are enough
to name a key among a network's few hundred (an id only selects a key, the signature still has to verify).
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from nohaven.errors import ConflictError, InputError
from nohaven.federation.canonical import b64url_decode, b64url_encode
from nohaven.federation.errors import KeyFileError

__all__ = [
    "ALGORITHM",
    "SigningKey",
    "VerifyKey",
    "key_id_of",
    "load_public_key",
    "load_signing_key",
    "write_key_pair",
]

ALGORITHM = "Ed25519"
KEY_ID = re.compile(r"^[0-9a-f]{16}$")


def key_id_of(raw_public_key: bytes) -> str:
    """The key id of a raw 32-byte Ed25519 public key: hex of the first 8 bytes of its SHA-256."""
    return hashlib.sha256(raw_public_key).digest()[:8].hex()


@dataclass(frozen=True)
class VerifyKey:
    """An Ed25519 public key and its id."""

    key: Ed25519PublicKey

    @classmethod
    def from_raw(cls, raw: bytes) -> VerifyKey:
        return cls(Ed25519PublicKey.from_public_bytes(raw))

    @classmethod
    def from_b64url(cls, text: str, field: str = "public_key") -> VerifyKey:
        return cls.from_raw(b64url_decode(text, field, length=32))

    @property
    def raw(self) -> bytes:
        return self.key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    @property
    def b64url(self) -> str:
        return b64url_encode(self.raw)

    @property
    def key_id(self) -> str:
        return key_id_of(self.raw)

    def pem(self) -> bytes:
        return self.key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def verifies(self, signature: bytes, data: bytes) -> bool:
        """True if `signature` is this key's Ed25519 signature over exactly `data`."""
        try:
            self.key.verify(signature, data)
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True)
class SigningKey:
    """An Ed25519 private key; its public half and id come with it."""

    key: Ed25519PrivateKey

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(Ed25519PrivateKey.generate())

    @property
    def public(self) -> VerifyKey:
        return VerifyKey(self.key.public_key())

    @property
    def key_id(self) -> str:
        return self.public.key_id

    def sign(self, data: bytes) -> bytes:
        return self.key.sign(data)

    def pem(self) -> bytes:
        return self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())

    def __repr__(self) -> str:  # never print key material
        return f"SigningKey(key_id={self.key_id!r})"


def _write_new(path: Path, data: bytes, mode: int) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        raise ConflictError(f"{path} exists; refusing to overwrite a key (move it away first)") from None
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(path, mode)  # the umask may have narrowed the public file's mode; the private one stays 0600


def write_key_pair(directory: Path, name: str, key: SigningKey) -> tuple[Path, Path]:
    """Write NAME.key (PKCS#8 PEM, mode 0600) and NAME.pub (PEM) into `directory`; never overwrite."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", name):
        raise InputError.field("--name", f"{name!r}: use letters, digits, '.', '_' and '-' (at most 64)")
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    private, public = directory / f"{name}.key", directory / f"{name}.pub"
    if public.exists():
        raise ConflictError(f"{public} exists; refusing to overwrite a key (move it away first)")
    _write_new(private, key.pem(), 0o600)
    _write_new(public, key.public.pem(), 0o644)
    return private, public


def _read(path: Path, option: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise KeyFileError.field(option, f"cannot read {path}: {exc.strerror}") from None


def load_signing_key(path: Path, option: str = "--key") -> SigningKey:
    """A private key from a PKCS#8 PEM file that nobody but its owner can read."""
    data = _read(path, option)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise KeyFileError.field(option, f"{path} is readable by others (mode {mode:04o}); chmod 600 it")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise KeyFileError.field(option, f"{path} is not an unencrypted PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError.field(option, f"{path} holds a {type(key).__name__}, not an Ed25519 key")
    return SigningKey(key)


def load_public_key(path: Path, option: str = "--authority-key") -> VerifyKey:
    """A public key from a PEM file or from a file holding the raw key as one line of base64url."""
    data = _read(path, option)
    if data.lstrip().startswith(b"-----BEGIN"):
        try:
            key = serialization.load_pem_public_key(data)
        except (ValueError, TypeError):
            raise KeyFileError.field(option, f"{path} is not a PEM public key") from None
        if not isinstance(key, Ed25519PublicKey):
            raise KeyFileError.field(option, f"{path} holds a {type(key).__name__}, not an Ed25519 key")
        return VerifyKey(key)
    try:
        return VerifyKey.from_b64url(data.decode("ascii").strip(), option)
    except (UnicodeDecodeError, InputError):
        raise KeyFileError.field(option, f"{path} is neither a PEM public key nor a raw key in base64url") from None
