"""TOTP secrets are stored encrypted under the node's secret key, never in clear."""

from __future__ import annotations

import pytest

from conftest import make_user
from nohaven.auth import service as auth
from nohaven.auth import totp
from nohaven.errors import ConfigError
from nohaven.node import Node


def test_the_database_holds_no_plain_totp_secret(node: Node) -> None:
    make_user(node, "olga", "officer")
    with node.work() as session:
        secret = auth.begin_totp_enrolment(auth.get_user(session, "olga"), node.settings)
    with node.work() as session:
        stored = auth.get_user(session, "olga").totp_secret
        assert stored is not None and secret not in stored
        assert auth.totp_secret(auth.get_user(session, "olga"), node.settings) == secret


def test_another_key_or_a_plain_value_is_refused() -> None:
    sealed = totp.seal("JBSWY3DPEHPK3PXP", "node-secret-one-0123456789")
    assert totp.unseal(sealed, "node-secret-one-0123456789") == "JBSWY3DPEHPK3PXP"
    with pytest.raises(ConfigError, match="cannot be decrypted"):
        totp.unseal(sealed, "node-secret-two-0123456789")
    with pytest.raises(ConfigError, match="not encrypted"):
        totp.unseal("JBSWY3DPEHPK3PXP", "node-secret-one-0123456789")
