"""RFC 3161 timestamps of a bundle's checkpoint, from a time-stamping authority (TSA), and their verification.

The token timestamps SHA-256 of the checkpoint text (origin, size, root: the text every signature covers), so it
dates the whole sealed history without being changed by later cosignatures. It is stored in the bundle as
`custody/checkpoint.tsr`, the TSA's TimeStampResp in DER, exactly as received.

Verification checks, in order: the response is a granted one; its message imprint is SHA-256 and equals the
checkpoint's; and, when the verifier is given the TSA's root certificate, the token's CMS signature, the TSA
certificate's chain to that root and its critical id-kp-timeStamping extended key usage (RFC 3161 §2.3).
`rfc3161-client` does the parsing and the signature checks; it is imported only when a token is met, so the
verifier of bundles without one needs nothing more than before.
"""

from __future__ import annotations

import hashlib
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from nohaven.errors import InputError
from nohaven.evidence.errors import EvidenceError, VerificationError
from nohaven.timeutil import as_utc

__all__ = ["TIMESTAMP", "TimestampError", "TimestampReport", "check_token", "describe_token",
           "load_tsa_certificates", "request_token"]

TIMESTAMP = "custody/checkpoint.tsr"
_SHA256_OID = "2.16.840.1.101.3.4.2.1"
_MAX_RESPONSE = 1024 * 1024


class TimestampError(EvidenceError):
    """The TSA could not be reached or did not give a usable timestamp."""

    title = "Timestamp not obtained"


@dataclass(frozen=True)
class TimestampReport:
    gen_time: str  # ISO 8601 UTC, as the TSA stated it
    tsa: str  # the TSA's name in the token, or the signer certificate's subject
    serial: int
    policy: str
    checked: str  # what was checked, in words

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _client() -> Any:
    try:
        import rfc3161_client
    except ImportError:
        return None
    return rfc3161_client


def request_token(url: str, text: bytes, *, timeout: float = 30.0) -> bytes:
    """Ask the TSA at `url` to timestamp SHA-256(text); returns its TimeStampResp (DER), checked to answer it."""
    if not url.startswith(("http://", "https://")):
        raise InputError.field("--tsa-url", f"{url!r} is not an http:// or https:// URL")
    client = _client()
    if client is None:
        raise TimestampError("RFC 3161 timestamps need the rfc3161-client package")
    request = (client.TimestampRequestBuilder().data(text).hash_algorithm(client.HashAlgorithm.SHA256)
               .nonce(nonce=True).cert_request(cert_request=True).build())
    http = urllib.request.Request(url, data=request.as_bytes(), method="POST",  # noqa: S310 - scheme checked
                                  headers={"Content-Type": "application/timestamp-query",
                                           "Accept": "application/timestamp-reply"})
    try:
        with urllib.request.urlopen(http, timeout=timeout) as answer:  # noqa: S310 - scheme checked above
            body: bytes = answer.read(_MAX_RESPONSE + 1)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise TimestampError(f"the TSA at {url} did not answer: {getattr(exc, 'reason', exc)}") from None
    if len(body) > _MAX_RESPONSE:
        raise TimestampError(f"the TSA at {url} answered with more than {_MAX_RESPONSE} bytes")
    try:
        response = client.decode_timestamp_response(body)
    except ValueError as exc:
        raise TimestampError(f"the TSA at {url} did not answer with a TimeStampResp: {exc}") from None
    if response.status not in (0, 1):  # granted, granted with modifications
        raise TimestampError(f"the TSA at {url} refused to timestamp (status {response.status}: "
                             f"{'; '.join(response.status_string) or 'no reason given'})")
    if response.tst_info.nonce != request.nonce:
        raise TimestampError(f"the TSA at {url} answered another request (nonce differs)")
    problem = _imprint_problem(response, text)
    if problem:
        raise TimestampError(f"the TSA at {url}: {problem}")
    return body


def _imprint_problem(response: Any, text: bytes) -> str | None:
    imprint = response.tst_info.message_imprint
    if imprint.hash_algorithm.dotted_string != _SHA256_OID:
        return f"the token's message imprint is not SHA-256 ({imprint.hash_algorithm.dotted_string})"
    if imprint.message != hashlib.sha256(text).digest():
        return "the token's message imprint is not the SHA-256 of the checkpoint: it timestamps something else"
    return None


def load_tsa_certificates(paths: Sequence[str]) -> list[Any]:
    """The TSA root certificates (PEM files) a verifier is told to trust."""
    from cryptography import x509

    roots = []
    for value in paths:
        try:
            with open(value, "rb") as f:
                roots.extend(x509.load_pem_x509_certificates(f.read()))
        except (OSError, ValueError) as exc:
            raise InputError.field("--tsa-cert", f"{value}: not a readable PEM certificate file: {exc}") from None
    return roots


def describe_token(der: bytes, text: bytes, roots: Sequence[Any]) -> dict[str, Any]:
    """What the verifier reports of a bundle's token: checked (see `check_token`), or, without rfc3161-client
    and without --tsa-cert, present but not checked."""
    if _client() is None and not roots:
        return {"gen_time": None, "tsa": None, "serial": None, "policy": None,
                "checked": "present; not checked (rfc3161-client is not installed)"}
    return check_token(der, text, roots).as_dict()


def check_token(der: bytes, text: bytes, roots: Sequence[Any]) -> TimestampReport:
    """Verify a stored token against the checkpoint text (and the TSA's signature, given its root)."""
    client = _client()
    if client is None:
        raise VerificationError(TIMESTAMP, "the bundle carries an RFC 3161 timestamp; install rfc3161-client to "
                                "check it (or verify without --tsa-cert to leave it unchecked)", check="timestamp")
    try:
        response = client.decode_timestamp_response(der)
    except ValueError as exc:
        raise VerificationError(TIMESTAMP, f"not a readable TimeStampResp: {exc}", check="timestamp") from None
    if response.status not in (0, 1):
        raise VerificationError(TIMESTAMP, f"the TSA did not grant this timestamp (status {response.status})",
                                check="timestamp")
    problem = _imprint_problem(response, text)
    if problem:
        raise VerificationError(TIMESTAMP, problem, check="timestamp")
    checked = "message imprint = SHA-256 of the checkpoint"
    if roots:
        builder = client.VerifierBuilder()
        for root in roots:
            builder = builder.add_root_certificate(root)
        try:
            builder.build().verify_message(response, text)
        except (client.VerificationError, ValueError) as exc:
            raise VerificationError(TIMESTAMP, f"the TSA's signature does not verify against --tsa-cert: {exc}",
                                    check="timestamp") from None
        names = ", ".join(r.subject.rfc4514_string() for r in roots)
        checked += f"; TSA signature and certificate chain verified to {names}"
    else:
        checked += "; TSA signature not checked (no --tsa-cert given)"
    info = response.tst_info
    tsa = _tsa_name(info)
    return TimestampReport(as_utc(info.gen_time).isoformat().replace("+00:00", "Z"), tsa, info.serial_number,
                           info.policy.dotted_string, checked)


def _tsa_name(info: Any) -> str:
    try:
        name = info.name
        value = getattr(name, "value", None)
        if value is not None:
            return str(value.rfc4514_string() if hasattr(value, "rfc4514_string") else value)
    except (ValueError, AttributeError):
        pass
    return "the TSA (no name in the token)"
