"""The demo network: three nodes for the fictional States XA, XB and XC on loopback, each with its own SQLite
database and Ed25519 key, sharing one network directory signed by a demo directory authority.

Layout under the demo data directory (created once, reused on later starts):

    authority/authority.key, authority.pub     the demo directory authority (pinned by every node)
    network-directory.json                      the signed network directory
    xa/, xb/, xc/                               each node's data directory (nohaven.db, federation/node.key, blobs/)

Each node runs as its own `nohaven serve` process, configured by NOHAVEN_* variables (see `environment`).
Demo mode only: plain HTTP on loopback, public demo log-ins.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx

from nohaven.config import Settings, load_settings
from nohaven.errors import ConfigError
from nohaven.federation.canonical import parse_json
from nohaven.federation.keys import SigningKey, load_public_key, load_signing_key, write_key_pair
from nohaven.federation.network_directory import (
    FORMAT,
    DirectoryKey,
    NetworkDirectory,
    NodeEntry,
    sign_directory,
)
from nohaven.timeutil import utcnow

__all__ = ["DEMO_NODES", "DemoNode", "environment", "prepare", "start_nodes", "stop_nodes", "wait_until_up"]

DEMO_NODES = (("XA", "xa-ncu", "Aldorian National Cybercrime Unit (fictional)"),
              ("XB", "xb-bfp", "Borvanian Federal Police, 24/7 Cyber Desk (fictional)"),
              ("XC", "xc-htco", "Calderra High-Tech Crime Office (fictional)"))
DIRECTORY_FILE = "network-directory.json"


@dataclass(frozen=True)
class DemoNode:
    state: str
    node_id: str
    agency: str
    host: str
    port: int
    base: Path

    @property
    def data_dir(self) -> Path:
        return self.base / self.state.lower()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def settings(self, **more: object) -> Settings:
        return load_settings(**{k.removeprefix("NOHAVEN_").lower(): v for k, v in environment(self).items()},
                             **more)


def environment(node: DemoNode) -> dict[str, str]:
    """The NOHAVEN_* variables that make `nohaven serve` this demo node."""
    return {"NOHAVEN_DATA_DIR": str(node.data_dir), "NOHAVEN_DEMO_MODE": "true",
            "NOHAVEN_FEDERATION_NODE_ID": node.node_id,
            "NOHAVEN_COOKIE_PREFIX": f"nohaven_{node.state.lower()}",  # one browser, a tab per node
            "NOHAVEN_FEDERATION_AUTHORITY_KEYS": str(node.base / "authority" / "authority.pub"),
            "NOHAVEN_FEDERATION_DIRECTORY_FILE": str(node.base / DIRECTORY_FILE)}


def _key(directory: Path, name: str) -> SigningKey:
    path = directory / f"{name}.key"
    if path.exists():
        return load_signing_key(path)
    key = SigningKey.generate()
    write_key_pair(directory, name, key)
    return key


def prepare(base: Path, *, host: str = "127.0.0.1", first_port: int = 8470,
            nodes: Sequence[tuple[str, str, str]] = DEMO_NODES) -> list[DemoNode]:
    """Create what is missing: the authority key, each node's key, and a signed directory listing them (signed
    again, with the next serial, when the listing changed, e.g. other ports)."""
    from nohaven.demo.ipdata import load_sample  # numpy and the arrays load only when a demo is prepared
    from nohaven.tracing.ipdata import IpDataStore

    base = base.resolve()
    authority = _key(base / "authority", "authority")
    demo_nodes = [DemoNode(state, node_id, agency, host, first_port + i, base)
                  for i, (state, node_id, agency) in enumerate(nodes)]
    now = utcnow().replace(microsecond=0)
    entries = []
    for node in demo_nodes:
        key = _key(node.data_dir / "federation", "node")
        load_sample(IpDataStore(node.settings().ipdata_dir))  # the fictional IP data, replaced at every start
        entries.append(NodeEntry(state=node.state, agency=node.agency, node_id=node.node_id,
                                 inbox_url=f"{node.url}/federation/v1/inbox",
                                 keys=[DirectoryKey.for_key(key.public, now - timedelta(days=1),
                                                            now + timedelta(days=730))]))
    path = base / DIRECTORY_FILE
    serial = 1
    if path.exists():
        current = NetworkDirectory.model_validate(parse_json(path.read_bytes(), DIRECTORY_FILE)["directory"])
        if [(n.state, n.node_id, n.inbox_url, [k.key_id for k in n.keys]) for n in current.nodes] == [
                (n.state, n.node_id, n.inbox_url, [k.key_id for k in n.keys]) for n in entries]:
            return demo_nodes
        serial = current.serial + 1
    document = NetworkDirectory(format=FORMAT, serial=serial, issued_at=now, nodes=entries)
    path.write_bytes(sign_directory(document, authority))
    load_public_key(base / "authority" / "authority.pub")  # written alongside; fail now if it is not readable
    return demo_nodes


def start_nodes(nodes: Sequence[DemoNode], *, log_dir: Path | None = None,
                extra_env: dict[str, str] | None = None) -> list[subprocess.Popen[bytes]]:
    """One `nohaven serve` process per node (their output goes to DATA_DIR/serve.log)."""
    processes = []
    for node in nodes:
        env = {**os.environ, **environment(node), **(extra_env or {})}
        log_path = (log_dir or node.data_dir) / "serve.log"
        with log_path.open("ab") as log:
            processes.append(subprocess.Popen(
                [sys.executable, "-m", "nohaven.cli.main", "serve", "--host", node.host, "--port", str(node.port)],
                env=env, stdout=log, stderr=subprocess.STDOUT))
    return processes


def wait_until_up(nodes: Sequence[DemoNode], processes: Sequence[subprocess.Popen[bytes]] | None = None,
                  timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    for i, node in enumerate(nodes):
        while True:
            if processes is not None and processes[i].poll() is not None:
                raise ConfigError(f"the node of {node.state} stopped at start-up (exit {processes[i].returncode}); "
                                  f"see {node.data_dir / 'serve.log'}")
            try:
                if httpx.get(f"{node.url}/api/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise ConfigError(f"the node of {node.state} did not answer on {node.url} within {timeout:.0f} s")
            time.sleep(0.2)


def is_up(node: DemoNode) -> bool:
    try:
        return httpx.get(f"{node.url}/api/v1/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def stop_nodes(processes: Sequence[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
