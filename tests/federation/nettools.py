"""Federation over real processes: nodes of fictional States on loopback, each a `nohaven serve` process with its
own database and Ed25519 key, sharing one network directory signed by a test authority.

Built on nohaven.demo.network: `prepare` makes the keys and the data directories, `environment` and `start_nodes`
make and start the processes. This harness then chooses free ports, lists each node under the URL it really
serves (https:// for a node given a certificate), can add keys of any validity to the directory, and kills,
restarts and inspects nodes. The test process opens each node's database itself (`NetNode.node`) to create
requests through the services and to check what arrived.
"""

from __future__ import annotations

import contextlib
import ipaddress
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from sqlalchemy import func, select

from nohaven.auth import service as users
from nohaven.auth.models import User
from nohaven.auth.policy import Subject
from nohaven.demo.network import DEMO_NODES, DemoNode, prepare, start_nodes, stop_nodes
from nohaven.directory import service as directory
from nohaven.federation import (
    DirectoryKey,
    EndpointID,
    NetworkDirectory,
    NodeEntry,
    SigningKey,
    load_signing_key,
    sign_directory,
)
from nohaven.federation.models import InboxMessage
from nohaven.federation.network_directory import FORMAT
from nohaven.node import Node
from nohaven.requests.models import CooperationRequest, PeerMessage

SAMPLE = Path(directory.__file__).resolve().parent.parent / "demo" / "sample_directory.yaml"
PASSWORD = "correct horse battery"
# Retries fast enough for a test to watch several outages: 50 ms doubling up to 1 s, polls every 200 ms, and a
# message claimed by a process that died is due again 2 s later.
FAST = {"NOHAVEN_FEDERATION_RETRY_BASE_SECONDS": "0.05", "NOHAVEN_FEDERATION_RETRY_MAX_SECONDS": "1",
        "NOHAVEN_FEDERATION_POLL_SECONDS": "0.2", "NOHAVEN_FEDERATION_TIMEOUT_SECONDS": "2",
        "NOHAVEN_SCHEDULER_ENABLED": "false"}
AGENCIES = {state: agency for state, _, agency in DEMO_NODES}
NODE_IDS = {state: node_id for state, node_id, _ in DEMO_NODES}
DONE = ("received", "acknowledged")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Certificate:
    """A self-signed certificate for one loopback address, and its key (PEM files)."""

    cert: Path
    key: Path

    def context(self) -> ssl.SSLContext:
        """A client context that trusts this certificate only."""
        return ssl.create_default_context(cafile=str(self.cert))


def self_signed_certificate(directory: Path, host: str = "127.0.0.1") -> Certificate:
    """An EC P-256 certificate whose subject alternative name is the IP address `host`, valid for a day."""
    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.now(UTC)
    public = key.public_key()
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False, key_agreement=False,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "tls.crt", directory / "tls.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    return Certificate(cert_path, key_path)


@dataclass
class NetNode:
    """One node: its demo layout, how it is served, its process (when running) and its database."""

    demo: DemoNode
    env: dict[str, str] = field(default_factory=dict)
    database_url: str | None = None
    tls: Certificate | None = None
    process: subprocess.Popen[bytes] | None = None
    _node: Node | None = None

    @property
    def state(self) -> str:
        return self.demo.state

    @property
    def endpoint(self) -> EndpointID:
        return EndpointID(CountryCode=self.demo.state, UniqueIdentifier=self.demo.node_id)

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.demo.host}:{self.demo.port}"

    @property
    def inbox_url(self) -> str:
        return f"{self.url}/federation/v1/inbox"

    @property
    def key(self) -> SigningKey:
        """The node's signing key (as listed in the directory)."""
        return load_signing_key(self.demo.data_dir / "federation" / "node.key")

    @property
    def log_path(self) -> Path:
        return self.demo.data_dir / "serve.log"

    def settings_env(self) -> dict[str, str]:
        env = dict(self.env)
        if self.database_url:
            env["NOHAVEN_DATABASE_URL"] = self.database_url
        if self.tls:
            env["NOHAVEN_TLS_CERT_FILE"], env["NOHAVEN_TLS_KEY_FILE"] = str(self.tls.cert), str(self.tls.key)
        return env

    @property
    def node(self) -> Node:
        """This node's database, opened in the test process."""
        if self._node is None:
            more: dict[str, Any] = {"database_url": self.database_url} if self.database_url else {}
            self._node = Node(self.demo.settings(**more))
        return self._node

    def subject(self, username: str = "olga") -> Subject:
        with self.node.work() as session:
            return users.subject_of(users.get_user(session, username))

    # -- the process -------------------------------------------------------------------------------------------
    def start(self, *, wait: bool = True, timeout: float = 60.0) -> None:
        """Start `nohaven serve` for this node and (unless told not to) wait until it answers."""
        assert self.process is None or self.process.poll() is not None, f"{self.state} is running already"
        self.process = start_nodes([self.demo], extra_env=self.settings_env())[0]
        if wait:
            self.wait_up(timeout)

    def wait_up(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        verify: ssl.SSLContext | bool = self.tls.context() if self.tls else True
        while True:
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"node {self.state} exited at start-up ({self.process.returncode}):\n"
                                     + self.log_tail())
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/api/v1/health", timeout=2, verify=verify).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise AssertionError(f"node {self.state} did not answer on {self.url} within {timeout:.0f} s:\n"
                                     + self.log_tail())
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flushing; whatever the process was doing stops there."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)

    def freeze(self, seconds: float) -> None:
        """SIGSTOP, then SIGCONT after `seconds`: the process holds its connections but answers nothing."""
        assert self.process is not None and self.process.poll() is None
        self.process.send_signal(signal.SIGSTOP)
        try:
            time.sleep(seconds)
        finally:
            self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.process is not None:
            stop_nodes([self.process])

    def restart(self) -> None:
        self.kill()
        self.start()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    # -- looking inside --------------------------------------------------------------------------------------
    def messages(self) -> list[PeerMessage]:
        """The outbox, oldest first."""
        with self.node.db.read_session() as session:
            rows = list(session.execute(select(PeerMessage).order_by(PeerMessage.id)).scalars())
            session.expunge_all()
            return rows

    def message_states(self) -> dict[str, int]:
        with self.node.db.read_session() as session:
            return {state: count for state, count in session.execute(
                select(PeerMessage.state, func.count()).group_by(PeerMessage.state))}

    def incoming(self) -> list[CooperationRequest]:
        with self.node.db.read_session() as session:
            rows = list(session.execute(select(CooperationRequest).where(CooperationRequest.direction == "incoming",
                                                                         CooperationRequest.exchange_id.is_not(None))
                                        .order_by(CooperationRequest.id)).scalars())
            session.expunge_all()
            return rows

    def inbox_rows(self) -> list[InboxMessage]:
        with self.node.db.read_session() as session:
            rows = list(session.execute(select(InboxMessage)).scalars())
            session.expunge_all()
            return rows


@dataclass
class Network:
    """The test network: the authority, the nodes by State, and the keys listed besides the nodes' own."""

    base: Path
    authority: SigningKey
    nodes: dict[str, NetNode]
    serial: int = 1
    extra_keys: dict[str, list[DirectoryKey]] = field(default_factory=dict)

    def __getitem__(self, state: str) -> NetNode:
        return self.nodes[state]

    @property
    def directory_path(self) -> Path:
        return self.base / "network-directory.json"

    def directory(self) -> NetworkDirectory:
        now = datetime.now(UTC).replace(microsecond=0)
        entries = []
        for net in self.nodes.values():
            own = DirectoryKey.for_key(net.key.public, now - timedelta(days=1), now + timedelta(days=30))
            entries.append(NodeEntry(state=net.state, agency=net.demo.agency, node_id=net.demo.node_id,
                                     inbox_url=net.inbox_url, keys=[own, *self.extra_keys.get(net.state, [])]))
        return NetworkDirectory(format=FORMAT, serial=self.serial, issued_at=now, nodes=entries)

    def publish(self) -> NetworkDirectory:
        """Sign the directory as it now stands with the next serial; nodes install it when they (re)start."""
        self.serial += 1
        document = self.directory()
        self.directory_path.write_bytes(sign_directory(document, self.authority))
        return document

    def add_key(self, state: str, key: SigningKey, not_before: datetime, not_after: datetime) -> None:
        """List another key for `state`'s node (publish afterwards)."""
        self.extra_keys.setdefault(state, []).append(DirectoryKey.for_key(key.public, not_before, not_after))

    def close(self) -> None:
        for net in self.nodes.values():
            net.kill()
        for net in self.nodes.values():
            if net._node is not None:
                net._node.close()


def build_network(base: Path, states: Sequence[str] = ("XA", "XB"), *,
                  database_urls: dict[str, str] | None = None, tls: dict[str, Certificate] | None = None,
                  env: dict[str, str] | None = None) -> Network:
    """Keys, data directories and databases (migrated, with the sample directory and an officer `olga`) for the
    given States' nodes, each on a free port, and a signed directory listing them. Nothing is started."""
    database_urls, tls = database_urls or {}, tls or {}
    demo_nodes = prepare(base, first_port=free_port(),
                         nodes=[(state, NODE_IDS[state], AGENCIES[state]) for state in states])
    authority = load_signing_key(base.resolve() / "authority" / "authority.key")
    nodes = {}
    for demo in demo_nodes:
        net = NetNode(replace(demo, port=free_port()), env={**FAST, **(env or {})},
                      database_url=database_urls.get(demo.state), tls=tls.get(demo.state))
        _seed(net.node, demo.state)
        nodes[demo.state] = net
    network = Network(base.resolve(), authority, nodes, serial=1)
    network.publish()
    return network


@contextlib.contextmanager
def running(network: Network, *states: str) -> Iterator[Network]:
    """Start the named nodes (all when none is named); kill every node and close the databases afterwards."""
    try:
        chosen = [network[state] for state in states or tuple(network.nodes)]
        for net in chosen:  # start together, then wait: the start-ups overlap
            net.start(wait=False)
        for net in chosen:
            net.wait_up()
        yield network
    finally:
        network.close()


def _seed(node: Node, state: str) -> None:
    node.migrate()
    with node.work() as session:
        if session.execute(select(User.id).limit(1)).first() is not None:
            return
        directory.import_document(session, directory.load_document(SAMPLE), actor="test")
        directory.set_node_identity(session, state, AGENCIES[state])
        for username, role in (("olga", "officer"), ("sam", "supervisor")):
            users.add_user(session, username=username, role=role, password=PASSWORD, actor="test")


def outgoing_preservation(n: int, *, sender: str = "XA", receiver: str = "XB") -> dict[str, Any]:
    """An outgoing platform preservation request from `sender`'s State to `receiver`'s, different for every n."""
    seen = datetime.now(UTC) - timedelta(days=2, seconds=n)
    return {"type": "preservation", "direction": "outgoing", "channel": "platform", "priority": "urgent",
            "requesting_state": sender, "requested_state": receiver,
            "requested_authority": f"{receiver} 24/7 desk",
            "requesting_authority": {"organisation": AGENCIES[sender], "officer": "Olga Varga",
                                     "phones": ["+15555550100"], "time_zone": "Europe/Paris"},
            "investigating_authority": AGENCIES[sender], "offence": "Ransomware attack on a hospital",
            "summary_of_facts": f"Hospital systems encrypted; ransom note names mailbox {n}.",
            "data_items": [{"identifier_type": "ip_port", "value": f"198.51.100.{n % 254 + 1}:{1024 + n % 60_000}",
                            "data_category": "traffic", "time_from": seen.isoformat(),
                            "time_to": (seen + timedelta(minutes=1)).isoformat()}],
            "link_to_offence": "The attacker connected from this address.", "custodian": "Examplenet ISP",
            "preservation_reason": "Traffic data is deleted after 180 days.", "mla_to_follow": True}


def wait_for(predicate: Any, timeout: float, what: str, *nodes: NetNode, interval: float = 0.1) -> Any:
    """Poll `predicate` until it returns something true; fail naming `what`, with the nodes' logs."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            logs = "\n".join(f"--- {n.state} serve.log ---\n{n.log_tail()}" for n in nodes)
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n{logs}")
        time.sleep(interval)

