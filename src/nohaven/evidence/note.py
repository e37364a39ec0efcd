"""C2SP signed notes with Ed25519 keys, and tlog-checkpoint bodies.

A note is UTF-8 text ending in a newline, a blank line, then one or more lines
`— <key name> <base64(key id ‖ signature)>`. The Ed25519 signature covers the text including its final newline.
The key id is the first four bytes of SHA-256(key name ‖ 0x0A ‖ 0x01 ‖ public key), 0x01 being the signature type
of Ed25519. A verifier key is shared as the text `<name>+<hex key id>+<base64(0x01 ‖ public key)>`.

A checkpoint is a note whose text is: origin, tree size in decimal, base64 root hash, then optional extension
lines. A cosignature here is one more Ed25519 note signature on the same text by another party's key (the
receiving State's); a verifier that trusts that key checks it like the log's own.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

__all__ = [
    "Checkpoint",
    "NoteError",
    "NoteSignature",
    "NoteSigner",
    "NoteVerifier",
    "SignedNote",
    "key_id",
]

ED25519 = 0x01
_DASH = "\u2014 "
_MAX_SIGNATURES = 100
_NAME = re.compile(r"^[^\s+]+$")
_DECIMAL = re.compile(r"^(0|[1-9][0-9]{0,18})$")


class NoteError(ValueError):
    """A note, key or checkpoint that is malformed or does not verify."""


def key_id(name: str, public_key: bytes) -> bytes:
    """The signed-note key id of an Ed25519 key: SHA-256(name ‖ 0x0A ‖ 0x01 ‖ key)[:4]."""
    return hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([ED25519]) + public_key).digest()[:4]


def _check_name(name: str) -> str:
    if not name or not _NAME.match(name):
        raise NoteError(f"key name {name!r} must be non-empty, without spaces or '+'")
    return name


def _b64decode(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise NoteError(f"{what} is not base64") from None


@dataclass(frozen=True)
class NoteVerifier:
    """A named Ed25519 public key: the thing a court is told to trust."""

    name: str
    public_key: bytes

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, self.public_key)

    @property
    def vkey(self) -> str:
        """The verifier key text `<name>+<hex key id>+<base64(0x01 ‖ public key)>`."""
        encoded = base64.b64encode(bytes([ED25519]) + self.public_key).decode("ascii")
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
        if len(raw) != 33 or raw[0] != ED25519:
            raise NoteError("the verifier key is not an Ed25519 key (type 0x01 and 32 bytes)")
        verifier = cls(name, raw[1:])
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
    name: str
    key_id: bytes
    signature: bytes
    line: str


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

    def with_signature(self, signer: NoteSigner) -> SignedNote:
        """This note with one more signature line (a cosignature); a key signs once."""
        if any(s.name == signer.name and s.key_id == signer.verifier.key_id for s in self.signatures):
            raise NoteError(f"the note is already signed by {signer.name}")
        line = signer.sign_line(self.text)
        raw = _b64decode(line.rsplit(" ", 1)[1], "signature")
        return SignedNote(self.text, (*self.signatures, NoteSignature(signer.name, raw[:4], raw[4:], line)))


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
