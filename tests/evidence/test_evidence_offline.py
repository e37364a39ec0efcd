"""The bundle outside the node: case_validate accepts case.jsonld; the verifier runs in a venv of its own deps."""

from __future__ import annotations

import os
import subprocess
import venv
import zipfile
from pathlib import Path

from _evidence_support import Sealed, require_tool, sealed_fixture  # noqa: F401  (the `sealed` fixture)
from _tsa_support import LocalTSA, tsa_fixture  # noqa: F401  (the `tsa` fixture)

from nohaven.evidence.bundle import seal

ROOT = Path(__file__).resolve().parents[2]


def test_case_jsonld_conforms_to_case_uco(sealed: Sealed, tmp_path: Path) -> None:
    case_validate = require_tool("case_validate")
    with zipfile.ZipFile(sealed.bundle) as zf:
        (tmp_path / "case.jsonld").write_bytes(zf.read("case.jsonld"))
    # case-utils ships the CASE and UCO ontologies; it validates without network access.
    done = subprocess.run([case_validate, str(tmp_path / "case.jsonld")], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Conforms: True" in done.stdout
    graph = (tmp_path / "case.jsonld").read_text()
    for term in ("case-investigation:InvestigativeAction", "case-investigation:ProvenanceRecord",
                 "uco-types:Hash", "uco-observable:ContentDataFacet", '"uco-types:hashMethod":"SHA256"',
                 '"case-investigation:exhibitNumber":"EX-1"'):
        assert term in graph


def test_verifier_in_a_fresh_virtualenv_with_only_its_dependencies(sealed: Sealed, tmp_path: Path,
                                                                    tsa: LocalTSA) -> None:
    env_dir = tmp_path / "court"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    quiet = {"capture_output": True, "text": True, "timeout": 300}
    deps = subprocess.run([python, "-m", "pip", "install", "--quiet", "cryptography", "rfc8785"], **quiet)
    assert deps.returncode == 0, deps.stderr
    # nohaven itself without its dependencies (pip builds it with the build backend pyproject.toml names).
    own = subprocess.run([python, "-m", "pip", "install", "--quiet", "--no-deps", str(ROOT)], **quiet)
    assert own.returncode == 0, own.stderr
    listed = subprocess.run([python, "-m", "pip", "list", "--format", "freeze"], **quiet).stdout.lower()
    for absent in ("sqlalchemy", "fastapi", "typer", "rich", "pydantic", "rfc3161"):
        assert absent not in listed
    vkey = sealed.signer.verifier.vkey
    clean_env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    done = subprocess.run([python, "-m", "nohaven.evidence", "verify", str(sealed.bundle), "--trust", vkey],
                          env=clean_env, cwd=tmp_path, **quiet)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("VERIFIED") and "3 acquired" in done.stdout
    assert sealed.signer.verifier.fingerprint in done.stderr
    # The same verifier catches a changed item, and says which.
    tampered = tmp_path / "tampered.zip"
    with zipfile.ZipFile(sealed.bundle) as zin, zipfile.ZipFile(tampered, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            zout.writestr(info, data.replace(b"Pay now.", b"Pay me.!") if info.filename.endswith(".eml") else data)
    bad = subprocess.run([python, "-m", "nohaven.evidence", "verify", str(tampered), "--trust", vkey],
                         env=clean_env, cwd=tmp_path, **quiet)
    assert bad.returncode == 1 and "FAILED: items/EX-1/seized/mail/message.eml" in bad.stderr


    # A bundle with an RFC 3161 timestamp verifies there too; without rfc3161-client the token is reported as
    # present and not checked (and asking for its check with --tsa-cert says what to install).
    stamped = tmp_path / "stamped.zip"
    seal(sealed.store, sealed.store.log, sealed.signer, "XA-2026-0042", stamped, "olga.petrova", tsa_url=tsa.url)
    done = subprocess.run([python, "-m", "nohaven.evidence", "verify", str(stamped), "--trust", vkey],
                          env=clean_env, cwd=tmp_path, **quiet)
    assert done.returncode == 0, done.stderr
    assert "timestamp:  RFC 3161 token: present; not checked (rfc3161-client is not installed)" in done.stdout
    asked = subprocess.run([python, "-m", "nohaven.evidence", "verify", str(stamped), "--trust", vkey, "--tsa-cert",
                            str(tsa.ca_cert)], env=clean_env, cwd=tmp_path, **quiet)
    assert asked.returncode == 1 and "install rfc3161-client" in asked.stderr
