"""A running node's handles: settings and database, and the unit of work every action runs in."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import inspect
from sqlalchemy.orm import Session

from nohaven.audit import log as audit
from nohaven.auth.models import LoginAttempt
from nohaven.config import Settings
from nohaven.db.engine import Database
from nohaven.db.migrate import upgrade
from nohaven.errors import NohavenError
from nohaven.timeutil import utcnow

__all__ = ["Node"]

log = logging.getLogger(__name__)


class Node:
    """Settings plus database; `work()` is a transaction that also audits refusals."""

    def __init__(self, settings: Settings, db: Database | None = None) -> None:
        self.settings = settings
        self.db = db or Database(settings)

    def migrate(self) -> None:
        """Bring the schema to the newest migration (idempotent)."""
        upgrade(self.db.engine)

    def is_migrated(self) -> bool:
        return inspect(self.db.engine).has_table("alembic_version")

    @contextmanager
    def work(self) -> Iterator[Session]:
        """One transaction. When the policy refuses or a log-in step fails, the refusal (and the failed attempt,
        for rate limiting) is recorded in a transaction of its own, because the work's own is rolled back."""
        try:
            with self.db.session() as session:
                yield session
        except NohavenError as exc:
            trail, attempt = exc.audit, exc.login_attempt
            if trail or attempt:
                with self.db.session() as session:
                    if attempt:
                        session.add(LoginAttempt(username=attempt[0], client=attempt[1], at=utcnow(), success=False))
                    if trail:
                        fixed = ("actor", "action", "object_type", "object_id", "outcome")
                        audit.record(session, actor=trail["actor"], action=trail["action"],
                                     object_type=trail["object_type"], object_id=trail["object_id"],
                                     outcome=trail.get("outcome", "denied"),
                                     detail={k: v for k, v in trail.items() if k not in fixed})
            raise

    def close(self) -> None:
        self.db.dispose()
