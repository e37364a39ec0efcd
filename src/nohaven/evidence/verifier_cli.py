"""The verifier's command line, shared by `nohaven verify` and `python -m nohaven.evidence verify`.

Exit codes: 0 verified; 1 a check failed (the message names the item, event or signature); 2 bad arguments
(an unreadable trust key, for example).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from nohaven.errors import NohavenError
from nohaven.evidence.errors import VerificationError
from nohaven.evidence.note import NoteError, NoteVerifier
from nohaven.evidence.timestamp import load_tsa_certificates
from nohaven.evidence.verify import BundleReport, verify_bundle

__all__ = ["load_trusted", "main", "render_report", "verify_command"]


class TrustKeyError(ValueError):
    pass


def load_trusted(values: Sequence[str]) -> list[NoteVerifier]:
    """Verifier keys from `--trust` values: each a .vkey file (one key per line) or the key text itself."""
    keys: list[NoteVerifier] = []
    for value in values:
        path = Path(value)
        if "+" not in value or path.exists():
            try:
                lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
            except (OSError, UnicodeDecodeError) as exc:
                raise TrustKeyError(f"--trust {value}: cannot read it as a verifier key file: {exc}") from None
        else:
            lines = [value]
        for line in lines:
            try:
                keys.append(NoteVerifier.parse(line))
            except NoteError as exc:
                raise TrustKeyError(f"--trust {value}: {exc}") from None
    return keys


def render_report(report: BundleReport) -> str:
    lines = ["VERIFIED", f"  case:       {report.case}", f"  log:        {report.origin} (tree size "
             f"{report.tree_size}, root {report.root})",
             f"  sealed:     {report.sealed_at} by {report.sealed_by}",
             f"  items:      {report.items} ({report.total_bytes} bytes; SHA-256, SHA-1 and MD5 match)",
             "  events:     " + ", ".join(f"{n} {k}" for k, n in sorted(report.events.items())) +
             " (each proven in the checkpointed log)"]
    if report.timestamp is not None:
        t = report.timestamp
        lines.append("  timestamp:  RFC 3161 token" + (f" of {t['tsa']} at {t['gen_time']} (serial {t['serial']})"
                                                         if t["gen_time"] else "") + f": {t['checked']}")
    for sig in report.signatures:
        label = "cosignature:" if sig.kind == "cosignature" else "signature:  "
        when = f", cosigned at {sig.cosigned_at}" if sig.cosigned_at else ""
        if sig.fingerprint:
            lines.append(f"  {label}{sig.name} key id {sig.key_id} {sig.status}{when} "
                         f"(trusted key, SHA-256 fingerprint {sig.fingerprint})")
        else:
            lines.append(f"  {label}{sig.name} key id {sig.key_id} {sig.status}")
    return "\n".join(lines)


def verify_command(bundle: Path, trust: Sequence[str], as_json: bool, out: TextIO, err: TextIO,
                   tsa_certs: Sequence[str] = ()) -> int:
    """Verify and print; returns the exit code."""
    try:
        trusted = load_trusted(trust)
        roots = load_tsa_certificates(tsa_certs)
    except TrustKeyError as exc:
        err.write(f"error: {exc}\n")
        return 2
    except NohavenError as exc:
        err.write(f"error: {exc.message}\n")
        return 2
    for key in trusted:
        err.write(f"trusting {key.name} key id {key.key_id.hex()} SHA-256 fingerprint {key.fingerprint}\n")
    for root in roots:
        err.write(f"trusting TSA root {root.subject.rfc4514_string()}\n")
    try:
        report = verify_bundle(bundle, trusted, tsa_roots=roots)
    except VerificationError as exc:
        if as_json:
            out.write(json.dumps({"verified": False, "where": exc.where, "check": exc.check,
                                  "message": exc.message}, indent=2) + "\n")
        err.write(f"FAILED: {exc.message}\n")
        return 1
    except NohavenError as exc:
        err.write(f"FAILED: {exc.diagnostics()}\n")
        return 1
    out.write(json.dumps(report.as_dict(), indent=2) + "\n" if as_json else render_report(report) + "\n")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nohaven.evidence", description="Verify evidence bundles offline.")
    sub = parser.add_subparsers(dest="command", required=True)
    verify = sub.add_parser("verify", help="verify a sealed bundle")
    verify.add_argument("bundle", type=Path)
    verify.add_argument("--trust", action="append", default=[], metavar="KEY",
                        help="a trusted verifier key (file or text); repeat for each signer you expect")
    verify.add_argument("--tsa-cert", action="append", default=[], metavar="FILE",
                        help="the RFC 3161 TSA's root certificate (PEM): check the bundle's timestamp signature")
    verify.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    return verify_command(args.bundle, args.trust, args.json, sys.stdout, sys.stderr, args.tsa_cert)
