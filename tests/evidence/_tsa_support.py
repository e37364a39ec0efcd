"""A real RFC 3161 time-stamping authority for the tests: `openssl ts -reply` behind a loopback HTTP server, with a
test CA and a TSA certificate (critical id-kp-timeStamping) made here with openssl."""

from __future__ import annotations

import subprocess
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from _evidence_support import require_tool

TSA_CONFIG = """\
[ tsa ]
default_tsa = tsa_config1

[ tsa_config1 ]
dir = {dir}
serial = $dir/tsaserial
crypto_device = builtin
signer_cert = $dir/tsa.crt
signer_key = $dir/tsa.key
signer_digest = sha256
default_policy = 1.2.3.4.1
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = yes
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""


@dataclass
class LocalTSA:
    url: str
    ca_cert: Path
    queries: list[bytes] = field(default_factory=list)


def make_ca(openssl: str, folder: Path, name: str) -> tuple[Path, Path]:
    """A self-signed CA certificate and its key."""
    folder.mkdir(parents=True, exist_ok=True)
    key, cert = folder / "ca.key", folder / "ca.crt"
    subprocess.run([openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", str(key), "-out", str(cert), "-subj", f"/CN={name}", "-days", "2",
                    "-addext", "basicConstraints=critical,CA:true",
                    "-addext", "keyUsage=critical,keyCertSign,cRLSign"], check=True, capture_output=True)
    return cert, key


def _tsa_certificate(openssl: str, folder: Path, ca_cert: Path, ca_key: Path) -> None:
    (folder / "tsa.ext").write_text("basicConstraints=critical,CA:false\nkeyUsage=critical,digitalSignature\n"
                                    "extendedKeyUsage=critical,timeStamping\n")
    subprocess.run([openssl, "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", str(folder / "tsa.key"), "-out", str(folder / "tsa.csr"), "-subj", "/CN=Test TSA"],
                   check=True, capture_output=True)
    subprocess.run([openssl, "x509", "-req", "-in", str(folder / "tsa.csr"), "-CA", str(ca_cert), "-CAkey",
                    str(ca_key), "-CAcreateserial", "-out", str(folder / "tsa.crt"), "-days", "2", "-extfile",
                    str(folder / "tsa.ext")], check=True, capture_output=True)


def _handler(openssl: str, config: Path, seen: list[bytes]) -> type[BaseHTTPRequestHandler]:
    class Reply(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            query = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            seen.append(query)
            with tempfile.TemporaryDirectory() as tmp:
                (Path(tmp) / "q.tsq").write_bytes(query)
                done = subprocess.run([openssl, "ts", "-reply", "-config", str(config), "-section", "tsa_config1",
                                       "-queryfile", str(Path(tmp) / "q.tsq"), "-out", str(Path(tmp) / "r.tsr")],
                                      capture_output=True, check=False)
                body = (Path(tmp) / "r.tsr").read_bytes() if done.returncode == 0 else done.stderr
            self.send_response(200 if done.returncode == 0 else 500)
            self.send_header("Content-Type", "application/timestamp-reply")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return

    return Reply


@pytest.fixture(name="tsa")
def tsa_fixture(tmp_path: Path) -> Iterator[LocalTSA]:
    """A running local TSA (loopback only) and the CA certificate its signer chains to."""
    openssl = require_tool("openssl")
    folder = tmp_path / "tsa"
    ca_cert, ca_key = make_ca(openssl, folder, "Test TSA CA")
    _tsa_certificate(openssl, folder, ca_cert, ca_key)
    config = folder / "tsa.cnf"
    config.write_text(TSA_CONFIG.format(dir=folder))
    seen: list[bytes] = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(openssl, config, seen))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield LocalTSA(f"http://127.0.0.1:{server.server_address[1]}/tsr", ca_cert, seen)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
