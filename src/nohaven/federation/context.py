"""A node's place in the federation: its name, its signing key, the pinned authority keys and the current signed
network directory — loaded from the settings and the database, and checked at start-up.

Settings (see nohaven.config): NOHAVEN_FEDERATION_NODE_ID names this node in the directory and turns federation on;
NOHAVEN_FEDERATION_KEY_FILE (default DATA_DIR/federation/node.key); NOHAVEN_FEDERATION_AUTHORITY_KEYS (pinned
directory-authority public keys, comma-separated files); NOHAVEN_FEDERATION_DIRECTORY_FILE (a signed directory
installed at start-up when its serial is newer than the current one).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from nohaven.config import Settings
from nohaven.directory import service as directory
from nohaven.errors import ConfigError
from nohaven.federation.errors import DirectoryRefusedError
from nohaven.federation.keys import SigningKey, VerifyKey, load_public_key, load_signing_key
from nohaven.federation.models import InstalledDirectory
from nohaven.federation.network_directory import (
    EndpointID,
    NetworkDirectory,
    NodeEntry,
    SignedDirectory,
    current_directory,
    install_directory,
)
from nohaven.node import Node
from nohaven.timeutil import utcnow

__all__ = ["FederationContext", "load_context"]

ACTOR = "federation-startup"
log = logging.getLogger(__name__)


@dataclass
class FederationContext:
    node: Node
    me: EndpointID
    key: SigningKey
    authority_keys: list[VerifyKey]
    skew: timedelta
    _directory: SignedDirectory
    _lock: threading.Lock

    @property
    def settings(self) -> Settings:
        return self.node.settings

    def directory(self) -> NetworkDirectory:
        """The current directory; a newer one installed meanwhile (by `nohaven federation directory-install`,
        perhaps from another process) is picked up here."""
        with self.node.db.read_session() as session:
            serial = session.execute(select(func.max(InstalledDirectory.serial))).scalar_one_or_none()
            if serial is not None and serial != self._directory.directory.serial:
                with self._lock:
                    signed = current_directory(session, self.authority_keys)
                    if signed is not None:
                        self._directory = signed
        return self._directory.directory

    def node_of_state(self, state: str, node_id: str | None = None) -> NodeEntry | None:
        """The directory's node for a State (the named one if given; else the State's first node)."""
        for entry in self.directory().nodes:
            if entry.state == state and (node_id is None or entry.node_id == node_id):
                return entry
        return None


def _install_offered(node: Node, path: Path, authority: list[VerifyKey]) -> None:
    """Install the configured directory file if it is newer; a refused one is audited and the last good
    directory kept (the node still starts if it has one)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"NOHAVEN_FEDERATION_DIRECTORY_FILE: cannot read {path}: {exc.strerror}") from None
    try:
        with node.work() as session:
            install_directory(session, data, authority, actor=ACTOR)
    except DirectoryRefusedError as exc:
        log.warning("network directory %s refused (%s); keeping the last good one", path, exc.message)


def load_context(node: Node) -> FederationContext | None:
    """The node's federation context, or None when federation is off. Refuses to start, naming the setting,
    when the key, the pinned authority keys or the directory are missing or do not agree."""
    settings = node.settings
    if settings.federation_node_id is None:
        return None
    key_path = settings.federation_key_path
    if not key_path.exists():
        raise ConfigError(f"federation is on (NOHAVEN_FEDERATION_NODE_ID={settings.federation_node_id}) but the node "
                          f"key {key_path} does not exist: create it with `nohaven federation keygen --out "
                          f"{key_path.parent} --name {key_path.stem}` and have its public key listed in the "
                          "network directory")
    key = load_signing_key(key_path, "NOHAVEN_FEDERATION_KEY_FILE")
    paths = settings.authority_key_paths
    if not paths:
        raise ConfigError("federation is on but no directory-authority key is pinned: set "
                          "NOHAVEN_FEDERATION_AUTHORITY_KEYS to the authority's public key file(s)")
    authority = [load_public_key(p, "NOHAVEN_FEDERATION_AUTHORITY_KEYS") for p in paths]
    if settings.federation_directory_file is not None:
        _install_offered(node, settings.federation_directory_file, authority)
    with node.work() as session:
        signed = current_directory(session, authority)
        own_state = directory.node_identity(session).state_code
    if signed is None:
        raise ConfigError("federation is on but no network directory is installed: set "
                          "NOHAVEN_FEDERATION_DIRECTORY_FILE or run `nohaven federation directory-install`")
    me = EndpointID(CountryCode=own_state, UniqueIdentifier=settings.federation_node_id)
    entry = signed.directory.node(me)
    if entry is None:
        raise ConfigError(f"this node ({me}) is not in the network directory (serial {signed.directory.serial})")
    listed = entry.key(key.key_id)
    if listed is None:
        raise ConfigError(f"the node key {key.key_id} ({key_path}) is not one of {me}'s keys in the network "
                          f"directory (serial {signed.directory.serial}): "
                          + ", ".join(k.key_id for k in entry.keys))
    if not listed.valid_at(utcnow()):
        raise ConfigError(f"the node key {key.key_id} is outside its validity in the network directory "
                          f"({listed.not_before.isoformat()} to {listed.not_after.isoformat()})")
    return FederationContext(node=node, me=me, key=key, authority_keys=authority,
                             skew=timedelta(seconds=settings.federation_skew_seconds), _directory=signed,
                             _lock=threading.Lock())
