"""Engines and sessions: SQLite in WAL mode with serialised writers, or PostgreSQL through psycopg 3."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from nohaven.config import Settings

__all__ = ["Database", "make_engine"]


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for the URL; SQLite gets WAL, foreign keys and BEGIN IMMEDIATE."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            # Take over transaction control from the driver so we can BEGIN IMMEDIATE.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # Node transactions write (reads are audited) and the audit chain needs one writer at a time, so they
            # take the write lock up front; only sessions marked read-only (never writing) begin deferred.
            read_only = conn.get_execution_options().get("nohaven_read_only")
            conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20, **kwargs)


class Database:
    """The node's database: an engine plus a session factory."""

    def __init__(self, settings: Settings, url: str | None = None) -> None:
        self.settings = settings
        self.url = url or settings.effective_database_url
        if self.url.startswith("sqlite"):
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.engine = make_engine(self.url)
        self.session_factory = sessionmaker(self.engine, expire_on_commit=False)
        self.read_session_factory = sessionmaker(self.engine.execution_options(nohaven_read_only=True),
                                                 expire_on_commit=False)
        # SQLite lets one transaction write at a time; the others retry in its busy handler, sleeping up to
        # 100 ms between tries, so under load the lock sits free while every waiter sleeps and the unluckiest
        # wait seconds. Within this process, writers queue on a lock instead and start the moment it is free.
        # Reentrant, so a nested session behaves as before (SQLite's own busy timeout); other processes still
        # meet the busy handler.
        self._writer = threading.RLock() if self.url.startswith("sqlite") else None

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session whose transaction commits on success and rolls back on any error."""
        with self._writer or nullcontext(), self.session_factory() as session, session.begin():
            yield session

    @contextmanager
    def read_session(self) -> Iterator[Session]:
        """A session that only reads: on SQLite it does not take the write lock. Never write through it."""
        with self.read_session_factory() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
