"""A failed log-in step is recorded even though the caller's transaction rolls back with the error."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from conftest import PASSWORD, make_user
from nohaven.audit.models import AuditEntry
from nohaven.auth import service as auth
from nohaven.auth.models import LoginAttempt
from nohaven.errors import AuthenticationError, RateLimitedError
from nohaven.node import Node


def _failed_attempts(node: Node, username: str) -> int:
    with node.db.session() as session:
        return int(session.execute(select(func.count()).select_from(LoginAttempt).where(
            LoginAttempt.username == username, LoginAttempt.success.is_(False))).scalar_one())


def test_wrong_password_escaping_the_unit_of_work_is_still_recorded_and_audited(node: Node) -> None:
    make_user(node, "olga", "officer")
    with pytest.raises(AuthenticationError), node.work() as session:
        auth.login_password(session, node.settings, "olga", "not the password", "127.0.0.9")
    assert _failed_attempts(node, "olga") == 1
    with node.db.session() as session:
        entry = session.execute(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1)).scalar_one()
    assert (entry.action, entry.outcome, entry.object_id) == ("login.password", "failed", "olga")


def test_five_escaped_failures_lock_the_account_even_for_the_right_password(node: Node) -> None:
    make_user(node, "olga", "officer")
    for _ in range(node.settings.login_max_failures):
        with pytest.raises(AuthenticationError), node.work() as session:
            auth.login_password(session, node.settings, "olga", "guess", "")
    with pytest.raises(RateLimitedError), node.work() as session:
        auth.login_password(session, node.settings, "olga", PASSWORD, "")


def test_wrong_second_factor_escaping_is_recorded(node: Node) -> None:
    make_user(node, "olga", "officer")
    with node.work() as session:
        user = auth.get_user(session, "olga")
        secret = auth.begin_totp_enrolment(user, node.settings)
        user.totp_enabled = True
    assert secret
    with pytest.raises(AuthenticationError), node.work() as session:
        auth.check_second_factor(session, node.settings, auth.get_user(session, "olga"), "zzzzz-zzzzz", "")
    assert _failed_attempts(node, "olga") == 1
