"""The signed network directory: which nodes exist, where their inboxes are, which keys speak for them.

Document (JSON):

    {"directory": {"format": "nohaven-network-directory/1", "serial": 7, "issued_at": "2026-11-28T10:00:00Z",
                   "nodes": [{"state": "XA", "agency": "...", "node_id": "xa-ncu", "inbox_url": "https://...",
                              "keys": [{"key_id": "<16 hex>", "algorithm": "Ed25519", "public_key": "<base64url>",
                                        "not_before": "...", "not_after": "..."}]}]},
     "signature": {"algorithm": "Ed25519", "key_id": "<authority key id>", "value": "<base64url>"}}

The signature is Ed25519 by a directory-authority key over the RFC 8785 canonical JSON of the `directory` value
exactly as it appears in the file. A node pins the authority's public key(s); `install_directory` keeps every
directory that verified in the table `federation_directories` and refuses one whose serial is lower than the
highest installed (rollback). The highest serial is the current directory, verified again at every load.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from nohaven.audit import log as audit
from nohaven.directory.schema import AwareDateTime
from nohaven.directory.schema import CountryCode as IsoCountryCode
from nohaven.errors import InputError
from nohaven.federation.canonical import b64url_decode, b64url_encode, canonical_bytes, parse_json
from nohaven.federation.errors import (
    DirectoryRefusedError,
    DirectoryRollbackError,
    DirectorySignatureError,
    MalformedDirectoryError,
    UnknownAuthorityKeyError,
)
from nohaven.federation.keys import ALGORITHM, KEY_ID, SigningKey, VerifyKey, key_id_of
from nohaven.federation.models import InstalledDirectory
from nohaven.timeutil import utcnow
from nohaven.validation import errors_of

__all__ = [
    "FORMAT",
    "DirectoryKey",
    "EndpointID",
    "NetworkDirectory",
    "NodeEntry",
    "SignedDirectory",
    "current_directory",
    "install_directory",
    "sign_directory",
    "verify_directory",
]

FORMAT = "nohaven-network-directory/1"
MAX_SERIAL = 2**53 - 1  # the largest integer RFC 8785 (I-JSON) represents exactly
UNIQUE_ID = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,255}$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EndpointID(Strict):
    """A node's name as TS 103 120 writes it (EndpointID): ISO country code plus a unique identifier."""

    CountryCode: IsoCountryCode
    UniqueIdentifier: str = Field(pattern=UNIQUE_ID)

    def __str__(self) -> str:
        return f"{self.CountryCode}/{self.UniqueIdentifier}"


class DirectoryKey(Strict):
    """One public key of a node, valid from `not_before` (inclusive) until `not_after` (exclusive)."""

    key_id: str = Field(pattern=KEY_ID.pattern)
    algorithm: Literal["Ed25519"]
    public_key: str
    not_before: AwareDateTime
    not_after: AwareDateTime

    @field_validator("public_key")
    @classmethod
    def _raw_key(cls, value: str) -> str:
        try:
            b64url_decode(value, "public_key", length=32)
        except InputError as exc:
            raise ValueError(exc.errors[0]["message"]) from None
        return value

    @model_validator(mode="after")
    def _consistent(self) -> DirectoryKey:
        if self.key_id != key_id_of(b64url_decode(self.public_key, "public_key", 32)):
            raise ValueError("key_id is not the id of public_key (first 8 bytes of its SHA-256, in hex)")
        if self.not_after <= self.not_before:
            raise ValueError("not_after must be later than not_before")
        return self

    def verify_key(self) -> VerifyKey:
        return VerifyKey.from_b64url(self.public_key)

    def valid_at(self, at: datetime) -> bool:
        return self.not_before <= at < self.not_after

    @classmethod
    def for_key(cls, key: VerifyKey, not_before: datetime, not_after: datetime) -> DirectoryKey:
        return cls(key_id=key.key_id, algorithm=ALGORITHM, public_key=key.b64url, not_before=not_before,
                   not_after=not_after)


def _inbox_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError("inbox_url must be an https:// URL")
    if parts.scheme == "http" and not _loopback(parts.hostname):
        raise ValueError("plain http:// is allowed only on loopback (demo and tests); use https://")
    return value


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class NodeEntry(Strict):
    state: IsoCountryCode
    agency: str = Field(min_length=1, max_length=300)
    node_id: str = Field(pattern=UNIQUE_ID)
    inbox_url: str = Field(max_length=2000)
    keys: list[DirectoryKey] = Field(min_length=1)

    @field_validator("inbox_url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _inbox_url(value)

    @property
    def endpoint(self) -> EndpointID:
        return EndpointID(CountryCode=self.state, UniqueIdentifier=self.node_id)

    def key(self, key_id: str) -> DirectoryKey | None:
        return next((k for k in self.keys if k.key_id == key_id), None)


class NetworkDirectory(Strict):
    format: Literal["nohaven-network-directory/1"]
    serial: int = Field(ge=1, le=MAX_SERIAL)
    issued_at: AwareDateTime
    nodes: list[NodeEntry]

    @model_validator(mode="after")
    def _unique(self) -> NetworkDirectory:
        seen_nodes: set[tuple[str, str]] = set()
        seen_keys: set[str] = set()
        for node in self.nodes:
            name = (node.state, node.node_id)
            if name in seen_nodes:
                raise ValueError(f"node {node.state}/{node.node_id} is listed twice")
            seen_nodes.add(name)
            for key in node.keys:
                if key.key_id in seen_keys:
                    raise ValueError(f"key {key.key_id} is listed twice")
                seen_keys.add(key.key_id)
        return self

    def node(self, endpoint: EndpointID) -> NodeEntry | None:
        """The node this endpoint names, if the directory lists it."""
        return next((n for n in self.nodes if n.state == endpoint.CountryCode
                     and n.node_id == endpoint.UniqueIdentifier), None)


class DirectorySignature(Strict):
    algorithm: Literal["Ed25519"]
    key_id: str = Field(pattern=KEY_ID.pattern)
    value: str


@dataclass(frozen=True)
class SignedDirectory:
    """A directory whose signature verified, with the authority key that signed it."""

    directory: NetworkDirectory
    authority_key_id: str
    digest: str  # SHA-256 of the canonical `directory` value, hex

    def summary(self) -> dict[str, Any]:
        d = self.directory
        return {"serial": d.serial, "issued_at": d.issued_at.isoformat(), "authority_key_id": self.authority_key_id,
                "sha256": self.digest,
                "nodes": [{"state": n.state, "node_id": n.node_id, "agency": n.agency, "inbox_url": n.inbox_url,
                           "keys": [{"key_id": k.key_id, "not_before": k.not_before.isoformat(),
                                     "not_after": k.not_after.isoformat()} for k in n.keys]} for n in d.nodes]}


def sign_directory(directory: NetworkDirectory, key: SigningKey) -> bytes:
    """The signed directory document (UTF-8 JSON) for `directory`, signed by the authority `key`."""
    body = directory.model_dump(mode="json")
    signature = {"algorithm": ALGORITHM, "key_id": key.key_id,
                 "value": b64url_encode(key.sign(canonical_bytes(body, "directory")))}
    text = json.dumps({"directory": body, "signature": signature}, indent=2, ensure_ascii=False)
    return (text + "\n").encode("utf-8")


def _malformed(message: str, errors: list[dict[str, str]] | None = None) -> MalformedDirectoryError:
    return MalformedDirectoryError(message, errors=errors or None)


def verify_directory(data: bytes | str, authority_keys: Sequence[VerifyKey]) -> SignedDirectory:
    """Verify a signed directory document against the pinned authority keys; raise a DirectoryRefusedError
    naming what failed (malformed, unknown authority key, signature)."""
    try:
        document = parse_json(data, "signed directory")
    except InputError as exc:
        raise _malformed(exc.message) from None
    if not isinstance(document, dict) or set(document) != {"directory", "signature"}:
        raise _malformed("a signed directory is an object with exactly the members 'directory' and 'signature'")
    try:
        signature = DirectorySignature.model_validate(document["signature"])
        value = b64url_decode(signature.value, "signature.value", length=64)
    except ValidationError as exc:
        errors = errors_of(exc)
        raise _malformed(f"signature.{errors[0]['field']}: {errors[0]['message']}", errors) from None
    except InputError as exc:
        raise _malformed(exc.message) from None
    pinned = {k.key_id: k for k in authority_keys}
    authority = pinned.get(signature.key_id)
    if authority is None:
        raise UnknownAuthorityKeyError(
            f"signed by key {signature.key_id}, which is not a pinned directory-authority key "
            f"(pinned: {', '.join(sorted(pinned)) or 'none'})", key_id=signature.key_id)
    try:
        canonical = canonical_bytes(document["directory"], "directory")
    except InputError as exc:
        raise _malformed(exc.message) from None
    if not authority.verifies(value, canonical):
        raise DirectorySignatureError(f"the signature by authority key {signature.key_id} does not verify: the "
                                      "directory was altered or signed by another key", key_id=signature.key_id)
    try:
        directory = NetworkDirectory.model_validate(document["directory"])
    except ValidationError as exc:
        errors = [{"field": "directory." + e["field"], "message": e["message"]} for e in errors_of(exc)]
        raise _malformed(f"{errors[0]['field']}: {errors[0]['message']}", errors) from None
    return SignedDirectory(directory, signature.key_id, hashlib.sha256(canonical).hexdigest())


def _refuse(error: DirectoryRefusedError, actor: str, serial: object = "") -> DirectoryRefusedError:
    # Node.work() audits a refusal carrying a trail, in a transaction of its own.
    error.audit = {"actor": actor, "action": "federation.directory.install",
                   "object_type": "network_directory", "object_id": str(serial),
                   "reason": f"{error.reason}: {error.message}"}
    return error


def install_directory(session: Session, data: bytes | str, authority_keys: Sequence[VerifyKey], *,
                      actor: str) -> tuple[SignedDirectory, bool]:
    """Verify and keep a signed directory; refuse a lower serial than the current one (rollback), or the same
    serial with other content. Returns the directory and whether it is newly installed."""
    try:
        signed = verify_directory(data, authority_keys)
    except DirectoryRefusedError as exc:
        raise _refuse(exc, actor) from None
    serial = signed.directory.serial
    current = session.execute(
        select(InstalledDirectory).order_by(InstalledDirectory.serial.desc()).limit(1)
    ).scalar_one_or_none()
    if current is not None and serial < current.serial:
        raise _refuse(DirectoryRollbackError(f"serial {serial} is older than the current directory's serial "
                                             f"{current.serial}; keeping serial {current.serial}",
                                             serial=serial, current_serial=current.serial), actor, serial)
    if current is not None and serial == current.serial:
        if current.sha256 == signed.digest:
            return signed, False
        raise _refuse(DirectoryRollbackError(f"serial {serial} is already installed with other content; a new "
                                             "directory needs a higher serial", serial=serial), actor, serial)
    text = data.decode("utf-8") if isinstance(data, bytes) else data
    session.add(InstalledDirectory(serial=serial, issued_at=signed.directory.issued_at,
                                   authority_key_id=signed.authority_key_id, sha256=signed.digest, document=text,
                                   installed_at=utcnow(), installed_by=actor))
    audit.record(session, actor=actor, action="federation.directory.install", object_type="network_directory",
                 object_id=serial, detail={"sha256": signed.digest, "authority_key_id": signed.authority_key_id,
                                           "previous_serial": current.serial if current else None,
                                           "nodes": len(signed.directory.nodes)})
    session.flush()
    return signed, True


def current_directory(session: Session, authority_keys: Sequence[VerifyKey]) -> SignedDirectory | None:
    """The last good directory (highest installed serial), verified again; None if none was installed."""
    row = session.execute(
        select(InstalledDirectory).order_by(InstalledDirectory.serial.desc()).limit(1)
    ).scalar_one_or_none()
    if row is None:
        return None
    signed = verify_directory(row.document, authority_keys)
    if signed.directory.serial != row.serial or signed.digest != row.sha256:
        raise DirectorySignatureError(f"the stored directory with serial {row.serial} does not match its record")
    return signed
