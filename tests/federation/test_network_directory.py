"""The signed network directory: signature, pinned authority, malformed documents, rollback, last good kept."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from fedtools import NOW, XA, XB, XC, Network, make_network
from pydantic import ValidationError
from sqlalchemy import func, select, update

from nohaven.audit.models import AuditEntry
from nohaven.federation import (
    DirectoryKey,
    DirectoryRollbackError,
    DirectorySignatureError,
    MalformedDirectoryError,
    NodeEntry,
    UnknownAuthorityKeyError,
    current_directory,
    install_directory,
    sign_directory,
    verify_directory,
)
from nohaven.federation.models import InstalledDirectory
from nohaven.node import Node


@pytest.fixture(scope="module")
def net() -> Network:
    return make_network()


def test_signed_directory_verifies_and_names_its_nodes(net: Network) -> None:
    signed = verify_directory(net.signed(), [net.authority.public])
    assert signed.authority_key_id == net.authority.key_id
    assert signed.directory.node(XA) is not None and signed.directory.node(XB) is not None
    assert signed.directory.node(XC) is None
    assert signed.summary()["nodes"][0]["keys"][0]["key_id"] == net.keys["xa"].key_id


def test_reformatted_document_still_verifies(net: Network) -> None:
    # The signature covers canonical JSON, not the bytes of the file.
    document = json.loads(net.signed())
    reordered = {"signature": document["signature"],
                 "directory": dict(reversed(list(document["directory"].items())))}
    assert verify_directory(json.dumps(reordered, indent=7), [net.authority.public]).directory.serial == 1


def test_any_altered_field_breaks_the_signature(net: Network) -> None:
    document = json.loads(net.signed())
    document["directory"]["nodes"][1]["inbox_url"] = "https://attacker.example/inbox"
    with pytest.raises(DirectorySignatureError, match="does not verify") as caught:
        verify_directory(json.dumps(document), [net.authority.public])
    assert caught.value.exit_code == 1 and caught.value.reason == "signature"


def test_a_key_slipped_into_a_node_breaks_the_signature(net: Network) -> None:
    document = json.loads(net.signed())
    extra = DirectoryKey.for_key(net.keys["stranger"].public, NOW, NOW + timedelta(days=1)).model_dump(mode="json")
    document["directory"]["nodes"][0]["keys"].append(extra)
    with pytest.raises(DirectorySignatureError):
        verify_directory(json.dumps(document), [net.authority.public])


def test_signed_by_a_key_that_is_not_pinned(net: Network) -> None:
    with pytest.raises(UnknownAuthorityKeyError, match="not a pinned directory-authority key") as caught:
        verify_directory(net.signed(), [net.keys["stranger"].public])
    assert caught.value.reason == "unknown_authority_key"


def test_forged_signature_claiming_the_pinned_key_id(net: Network) -> None:
    forged = json.loads(sign_directory(net.directory(), net.keys["stranger"]))
    forged["signature"]["key_id"] = net.authority.key_id
    with pytest.raises(DirectorySignatureError):
        verify_directory(json.dumps(forged), [net.authority.public])


def test_any_pinned_key_may_sign_for_rotation(net: Network) -> None:
    signed = sign_directory(net.directory(), net.keys["stranger"])
    assert verify_directory(signed, [net.authority.public, net.keys["stranger"].public]).authority_key_id == \
        net.keys["stranger"].key_id


@pytest.mark.parametrize("mutate, message", [
    (lambda d: "not json", "not JSON"),
    (lambda d: {"directory": d["directory"]}, "exactly the members"),
    (lambda d: {**d, "extra": 1}, "exactly the members"),
    (lambda d: {**d, "signature": {**d["signature"], "algorithm": "RSA"}}, "signature.algorithm"),
    (lambda d: {**d, "signature": {**d["signature"], "value": "AAAA"}}, "expected 64 bytes"),
])
def test_malformed_documents_are_named(net: Network, mutate: Any, message: str) -> None:
    document = mutate(json.loads(net.signed()))
    text = document if isinstance(document, str) else json.dumps(document)
    with pytest.raises(MalformedDirectoryError, match=message) as caught:
        verify_directory(text, [net.authority.public])
    assert caught.value.reason == "malformed" and caught.value.exit_code == 1


def test_correctly_signed_but_invalid_content_is_malformed_naming_the_field(net: Network) -> None:
    body = net.directory().model_dump(mode="json")
    body["nodes"][0]["keys"][0]["key_id"] = "0" * 16
    from nohaven.federation.canonical import b64url_encode, canonical_bytes

    signature = {"algorithm": "Ed25519", "key_id": net.authority.key_id,
                 "value": b64url_encode(net.authority.sign(canonical_bytes(body)))}
    with pytest.raises(MalformedDirectoryError) as caught:
        verify_directory(json.dumps({"directory": body, "signature": signature}), [net.authority.public])
    assert caught.value.errors[0]["field"] == "directory.nodes[0].keys[0]"
    assert "key_id is not the id of public_key" in caught.value.errors[0]["message"]


def test_directory_content_rules(net: Network) -> None:
    key = DirectoryKey.for_key(net.keys["xa"].public, NOW, NOW + timedelta(days=1))
    with pytest.raises(ValidationError, match="only on loopback"):
        NodeEntry(state="XA", agency="A", node_id="a", inbox_url="http://xa.example/inbox", keys=[key])
    assert NodeEntry(state="XA", agency="A", node_id="a", inbox_url="http://[::1]:8470/inbox", keys=[key])
    with pytest.raises(ValidationError, match="not_after must be later"):
        DirectoryKey.for_key(net.keys["xa"].public, NOW, NOW)
    with pytest.raises(ValidationError, match="no UTC offset"):
        DirectoryKey.for_key(net.keys["xa"].public, NOW.replace(tzinfo=None), NOW + timedelta(days=1))
    doc = net.directory().model_dump(mode="json")
    doc["nodes"].append(doc["nodes"][0])
    with pytest.raises(ValidationError, match="listed twice"):
        type(net.directory()).model_validate(doc)


# --- the node's loader, on SQLite and PostgreSQL -----------------------------------------------------------------

def _installed(node: Node) -> list[int]:
    with node.db.session() as session:
        return list(session.execute(select(InstalledDirectory.serial).order_by(InstalledDirectory.serial)).scalars())


def test_install_keeps_the_newest_and_refuses_rollback(node: Node, net: Network) -> None:
    keys = [net.authority.public]
    with node.work() as session:
        assert current_directory(session, keys) is None
        assert install_directory(session, net.signed(serial=5), keys, actor="ada")[1] is True
    with node.work() as session:
        assert install_directory(session, net.signed(serial=7), keys, actor="ada")[1] is True
    with pytest.raises(DirectoryRollbackError, match="serial 6 is older than the current directory's serial 7"):
        with node.work() as session:
            install_directory(session, net.signed(serial=6), keys, actor="ada")
    with node.db.session() as session:
        current = current_directory(session, keys)
        assert current is not None and current.directory.serial == 7
        denied = session.execute(select(AuditEntry).where(AuditEntry.outcome == "denied")).scalars().all()
        assert [(e.action, e.object_id) for e in denied] == [("federation.directory.install", "6")]
        assert "rollback" in denied[0].detail["reason"]
    assert _installed(node) == [5, 7]


def test_same_serial_same_content_is_a_no_op_other_content_refused(node: Node, net: Network) -> None:
    keys = [net.authority.public]
    with node.work() as session:
        install_directory(session, net.signed(serial=3), keys, actor="ada")
    with node.work() as session:  # re-signing the same content gives another file, but the same directory
        assert install_directory(session, net.signed(serial=3), keys, actor="ada")[1] is False
    with pytest.raises(DirectoryRollbackError, match="already installed with other content"):
        with node.work() as session:
            install_directory(session, net.signed(serial=3, agency_b="Someone Else"), keys, actor="ada")
    assert _installed(node) == [3]


def test_bad_signature_is_refused_audited_and_the_last_good_kept(node: Node, net: Network) -> None:
    keys = [net.authority.public]
    with node.work() as session:
        install_directory(session, net.signed(serial=2), keys, actor="ada")
    tampered = json.loads(net.signed(serial=9))
    tampered["directory"]["nodes"][0]["inbox_url"] = "https://attacker.example/inbox"
    with pytest.raises(DirectorySignatureError), node.work() as session:
        install_directory(session, json.dumps(tampered), keys, actor="ada")
    with pytest.raises(UnknownAuthorityKeyError), node.work() as session:
        install_directory(session, sign_directory(net.directory(10), net.keys["stranger"]), keys, actor="ada")
    with node.db.session() as session:
        current = current_directory(session, keys)
        assert current is not None and current.directory.serial == 2
        reasons = session.execute(select(AuditEntry.detail).where(AuditEntry.outcome == "denied")).scalars().all()
        assert [r["reason"].split(":")[0] for r in reasons] == ["signature", "unknown_authority_key"]
        assert session.execute(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "federation.directory.install", AuditEntry.outcome == "ok")).scalar_one() == 1


def test_stored_directory_is_verified_again_at_load(node: Node, net: Network) -> None:
    keys = [net.authority.public]
    with node.work() as session:
        install_directory(session, net.signed(serial=4), keys, actor="ada")
    with node.db.session() as session:
        text = session.get(InstalledDirectory, 4).document  # type: ignore[union-attr]
        session.execute(update(InstalledDirectory).values(document=text.replace("xa.example", "evil.example")))
    with node.db.session() as session, pytest.raises(DirectorySignatureError):
        current_directory(session, keys)
    with node.db.session() as session, pytest.raises(UnknownAuthorityKeyError):  # the pin moved on
        current_directory(session, [net.keys["stranger"].public])
