"""C2SP signed notes with Ed25519 keys, and tlog-checkpoint bodies.

A note is UTF-8 text ending in a newline, a blank line, then one or more lines
`— <key name> <base64(key id ‖ signature)>`. The Ed25519 signature covers the text including its final newline.
The key id is the first four bytes of SHA-256(key name ‖ 0x0A ‖ 0x01 ‖ public key), 0x01 being the signature type
of Ed25519. A verifier key is shared as the text `<name>+<hex key id>+<base64(0x01 ‖ public key)>`.

A checkpoint is a note whose text is: origin, tree size in decimal, base64 root hash, then optional extension
lines. A cosignature (the receiving State's) follows C2SP tlog-cosignature v1: a note signature line whose key id
is SHA-256(name ‖ 0x0A ‖ 0x04 ‖ public key)[:4] and whose bytes after the key id are an 8-byte big-endian POSIX
timestamp then the Ed25519 signature over `cosignature/v1\ntime <timestamp>\n` ‖ the checkpoint text. Bundles
cosigned before this format carry a plain (type 0x01) signature line instead; both verify.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

__all__ = [
    "COSIGNATURE_V1",
    "ED25519",
    "Checkpoint",
    "Cosignature",
    "NoteError",
    "NoteSignature",
    "NoteSigner",
    "NoteVerifier",
    "SignedNote",
    "cosigned_message",
    "key_id",
]

ED25519 = 0x01
COSIGNATURE_V1 = 0x04  # C2SP tlog-cosignature, Ed25519: a timestamped signature
_COSIGNATURE_HEADER = b"cosignature/v1\n"
_MAX_TIMESTAMP = 2**63 - 1
_DASH = "\u2014 "
_MAX_SIGNATURES = 100
_NAME = re.compile(r"^[^\s+]+$")
_DECIMAL = re.compile(r"^(0|[1-9][0-9]{0,18})$")


class NoteError(ValueError):
    """A note, key or checkpoint that is malformed or does not verify."""


def key_id(name: str, public_key: bytes, algorithm: int = ED25519) -> bytes:
    """The signed-note key id of an Ed25519 key: SHA-256(name ‖ 0x0A ‖ type ‖ key)[:4], the type being 0x01 for a
    note signature and 0x04 for a tlog-cosignature."""
    return hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([algorithm]) + public_key).digest()[:4]


def cosigned_message(text: bytes, timestamp: int) -> bytes:
    """What a tlog-cosignature v1 signs: the header line, the time line, then the checkpoint text."""
    return _COSIGNATURE_HEADER + b"time %d\n" % timestamp + text


def _check_name(name: str) -> str:
    if not name or not _NAME.match(name):
        raise NoteError(f"key name {name!r} must be non-empty, without spaces or '+'")
    return name


def _b64decode(text: str, what: str) -> bytes:
    """Standard base64, in its one canonical spelling: unused low bits of the last character must be zero, or two
    texts (a signature line, a root) would decode to the same bytes and a changed byte could pass unnoticed."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise NoteError(f"{what} is not base64") from None
    if base64.b64encode(raw).decode("ascii") != text:
        raise NoteError(f"{what} is not in canonical base64 (its last character carries bits that are not data)")
    return raw


@dataclass(frozen=True)
class NoteVerifier:
    """A named Ed25519 public key: the thing a court is told to trust. `algorithm` 0x01 checks note signatures
    (and, trusted for the same key, its cosignatures); 0x04 checks tlog-cosignatures only."""

    name: str
    public_key: bytes
    algorithm: int = ED25519

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, self.public_key, self.algorithm)

    @property
    def cosigner(self) -> NoteVerifier:
        """The same key as a tlog-cosignature (type 0x04) verifier."""
        return NoteVerifier(self.name, self.public_key, COSIGNATURE_V1)

    @property
    def vkey(self) -> str:
        """The verifier key text `<name>+<hex key id>+<base64(type ‖ public key)>`."""
        encoded = base64.b64encode(bytes([self.algorithm]) + self.public_key).decode("ascii")
        return f"{self.name}+{self.key_id.hex()}+{encoded}"

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the raw public key, hex: what people compare over the phone."""
        return hashlib.sha256(self.public_key).hexdigest()

    @classmethod
    def parse(cls, text: str) -> NoteVerifier:
        """Read a verifier key text; its key id must match its name and key."""
        parts = text.strip().split("+", 2)  # standard base64 may itself hold "+"
        if len(parts) != 3:
            raise NoteError("a verifier key reads <name>+<hex key id>+<base64 key>")
        name, hex_id, encoded = parts
        _check_name(name)
        raw = _b64decode(encoded, "the verifier key")
        if len(raw) != 33 or raw[0] not in (ED25519, COSIGNATURE_V1):
            raise NoteError("the verifier key is not an Ed25519 key (type 0x01 or cosigner type 0x04, and 32 bytes)")
        verifier = cls(name, raw[1:], raw[0])
        if hex_id.lower() != verifier.key_id.hex() or len(hex_id) != 8:
            raise NoteError(f"the verifier key for {name} names key id {hex_id}, but its key has "
                            f"{verifier.key_id.hex()}")
        return verifier

    def verify(self, text: bytes, signature: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, text)
        except InvalidSignature:
            return False
        return True


class NoteSigner:
    """A named Ed25519 private key that signs notes."""

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        self.name = _check_name(name)
        self._key = private_key
        raw = private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.verifier = NoteVerifier(name, raw)

    @classmethod
    def generate(cls, name: str) -> NoteSigner:
        return cls(name, Ed25519PrivateKey.generate())

    def sign_line(self, text: bytes) -> str:
        """The signature line for a note text."""
        signature = self._key.sign(text)
        encoded = base64.b64encode(self.verifier.key_id + signature).decode("ascii")
        return f"{_DASH}{self.name} {encoded}"

    def cosign_line(self, text: bytes, at: datetime) -> str:
        """The tlog-cosignature v1 line for a checkpoint text, timestamped `at` (whole seconds)."""
        if at.tzinfo is None:
            raise NoteError("a cosignature's time must carry its offset")
        timestamp = int(at.timestamp())
        if not 0 <= timestamp <= _MAX_TIMESTAMP:
            raise NoteError(f"a cosignature's time must be after 1970 (got {at.isoformat()})")
        signature = self._key.sign(cosigned_message(text, timestamp))
        raw = self.verifier.cosigner.key_id + timestamp.to_bytes(8, "big") + signature
        return f"{_DASH}{self.name} {base64.b64encode(raw).decode('ascii')}"

    def save(self, directory: Path) -> tuple[Path, Path]:
        """Write NAME-safe.key (PKCS#8 PEM, mode 0600, never overwritten) and .vkey; return both paths."""
        stem = re.sub(r"[^A-Za-z0-9._-]", "_", self.name)
        directory.mkdir(parents=True, exist_ok=True)
        key_path, vkey_path = directory / f"{stem}.key", directory / f"{stem}.vkey"
        pem = self._key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())
        header = f"# signed-note key name: {self.name}\n".encode()
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(header + pem)
        vkey_path.write_text(self.verifier.vkey + "\n", encoding="ascii")
        return key_path, vkey_path

    @classmethod
    def load(cls, path: Path) -> NoteSigner:
        """Read a key written by `save` (its first line names the key)."""
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise NoteError(f"cannot read the key {path}: {exc.strerror}") from None
        if os.name == "posix" and path.stat().st_mode & 0o077:
            raise NoteError(f"the key {path} can be read by others; chmod 600 it")
        first, _, pem = data.partition(b"\n")
        prefix = b"# signed-note key name: "
        if not first.startswith(prefix):
            raise NoteError(f"{path} does not start with '# signed-note key name: NAME'")
        try:
            key = serialization.load_pem_private_key(pem, password=None)
        except (ValueError, TypeError):
            raise NoteError(f"{path} does not hold a PEM private key") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise NoteError(f"{path} is not an Ed25519 key")
        return cls(first[len(prefix):].decode("utf-8").strip(), key)


@dataclass(frozen=True)
class NoteSignature:
    """One signature line: its key name and id, and the bytes after the key id (for a cosignature, the
    timestamp and then the signature)."""

    name: str
    key_id: bytes
    signature: bytes
    line: str


@dataclass(frozen=True)
class Cosignature:
    """A verified tlog-cosignature line and the time its cosigner stated."""

    line: NoteSignature
    timestamp: int

    @property
    def at(self) -> datetime:
        return datetime.fromtimestamp(self.timestamp, UTC)


@dataclass(frozen=True)
class SignedNote:
    """A parsed note: its signed text and its signature lines (nothing verified yet)."""

    text: bytes
    signatures: tuple[NoteSignature, ...]

    @classmethod
    def parse(cls, data: bytes) -> SignedNote:
        try:
            decoded = data.decode("utf-8")
        except UnicodeDecodeError:
            raise NoteError("the note is not UTF-8") from None
        if any(ord(c) < 0x20 and c != "\n" for c in decoded):
            raise NoteError("the note holds a control character")
        split = decoded.rfind("\n\n")
        if split < 0 or not decoded.endswith("\n"):
            raise NoteError("the note has no blank line before its signatures, or does not end in a newline")
        text, block = decoded[: split + 1], decoded[split + 2:]
        lines = block[:-1].split("\n")
        if len(lines) > _MAX_SIGNATURES:
            raise NoteError(f"the note has more than {_MAX_SIGNATURES} signatures")
        signatures = []
        for number, line in enumerate(lines, 1):
            if not line.startswith(_DASH):
                raise NoteError(f"signature line {number} does not start with an em dash and a space")
            name, sep, encoded = line[len(_DASH):].partition(" ")
            if not sep or " " in encoded:
                raise NoteError(f"signature line {number} is not '— <name> <base64>'")
            _check_name(name)
            raw = _b64decode(encoded, f"signature line {number}")
            if len(raw) < 5:
                raise NoteError(f"signature line {number} is too short")
            signatures.append(NoteSignature(name, raw[:4], raw[4:], line))
        return cls(text.encode("utf-8"), tuple(signatures))

    def serialize(self) -> bytes:
        return self.text + b"\n" + "".join(s.line + "\n" for s in self.signatures).encode("utf-8")

    def signed_by(self, verifier: NoteVerifier) -> NoteSignature | None:
        """The signature line of this key, verified; None when the note carries none from it.

        Raises NoteError when a line names this key (name and key id) but its signature does not verify.
        """
        for sig in self.signatures:
            if sig.name == verifier.name and sig.key_id == verifier.key_id:
                if len(sig.signature) != 64 or not verifier.verify(self.text, sig.signature):
                    raise NoteError(f"the signature of {verifier.name} (key id {verifier.key_id.hex()}) "
                                    "does not verify")
                return sig
        return None

    def cosigned_by(self, verifier: NoteVerifier) -> Cosignature | None:
        """The tlog-cosignature line of this key (as cosigner, type 0x04), verified; None when there is none.

        Raises NoteError when a line names this cosigner but is malformed or does not verify."""
        cosigner = verifier.cosigner
        for sig in self.signatures:
            if sig.name == cosigner.name and sig.key_id == cosigner.key_id:
                if len(sig.signature) != 72:
                    raise NoteError(f"the cosignature of {cosigner.name} (key id {cosigner.key_id.hex()}) is not a "
                                    "timestamp and an Ed25519 signature (72 bytes)")
                timestamp = int.from_bytes(sig.signature[:8], "big")
                if timestamp > _MAX_TIMESTAMP or not cosigner.verify(cosigned_message(self.text, timestamp),
                                                                     sig.signature[8:]):
                    raise NoteError(f"the cosignature of {cosigner.name} (key id {cosigner.key_id.hex()}) does not "
                                    "verify")
                return Cosignature(sig, timestamp)
        return None

    def with_signature(self, signer: NoteSigner) -> SignedNote:
        """This note with one more plain signature line; a key signs once."""
        self._refuse_second(signer)
        return self._adding(signer.name, signer.sign_line(self.text))

    def with_cosignature(self, signer: NoteSigner, at: datetime) -> SignedNote:
        """This checkpoint with the signer's tlog-cosignature v1 line, timestamped `at`; a key signs once."""
        self._refuse_second(signer)
        return self._adding(signer.name, signer.cosign_line(self.text, at))

    def _refuse_second(self, signer: NoteSigner) -> None:
        ids = {signer.verifier.key_id, signer.verifier.cosigner.key_id}
        if any(s.name == signer.name and s.key_id in ids for s in self.signatures):
            raise NoteError(f"the note is already signed by {signer.name}")

    def _adding(self, name: str, line: str) -> SignedNote:
        raw = _b64decode(line.rsplit(" ", 1)[1], "signature")
        return SignedNote(self.text, (*self.signatures, NoteSignature(name, raw[:4], raw[4:], line)))


@dataclass(frozen=True)
class Checkpoint:
    """A tlog-checkpoint body: origin, size, root hash (and extension lines, kept but not interpreted)."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def text(self) -> bytes:
        lines = [self.origin, str(self.size), base64.b64encode(self.root).decode("ascii"), *self.extensions]
        return ("\n".join(lines) + "\n").encode("utf-8")

    def sign(self, signer: NoteSigner) -> SignedNote:
        text = self.text()
        line = signer.sign_line(text)
        raw = _b64decode(line.rsplit(" ", 1)[1], "signature")
        return SignedNote(text, (NoteSignature(signer.name, raw[:4], raw[4:], line),))

    @classmethod
    def from_text(cls, text: bytes) -> Checkpoint:
        lines = text.decode("utf-8").split("\n")
        if len(lines) < 4 or lines[-1] != "":
            raise NoteError("a checkpoint has at least three lines: origin, size, root hash")
        origin, size_text, root_text, *extensions = lines[:-1]
        if not origin:
            raise NoteError("the checkpoint's origin line is empty")
        if not _DECIMAL.match(size_text):
            raise NoteError(f"the checkpoint's size line {size_text!r} is not a decimal number")
        root = _b64decode(root_text, "the checkpoint's root hash")
        if len(root) != 32:
            raise NoteError("the checkpoint's root hash does not have 32 bytes")
        if any(not e for e in extensions):
            raise NoteError("the checkpoint has an empty extension line")
        return cls(origin, int(size_text), root, tuple(extensions))
