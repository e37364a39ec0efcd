"""Helpers for the clock tests: requests at a fixed instant, and their clocks as plain values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from conftest import request_body
from nohaven.directory import service as directory
from nohaven.requests import service as requests
from nohaven.requests.models import Clock

DATA = Path(__file__).resolve().parent.parent / "_data"
# A Monday night; the rota in tests/_data/directory/xa_with_rota.yaml covers it.
T0 = datetime(2030, 3, 4, 1, 0, tzinfo=UTC)


def body_at(when: datetime, **overrides: Any) -> dict[str, Any]:
    """A valid preservation request whose data dates from two days before `when`."""
    items = [{"identifier_type": "ip_port", "value": "198.51.100.23:51515", "data_category": "traffic",
              "time_from": (when - timedelta(days=2)).isoformat(),
              "time_to": (when - timedelta(days=2) + timedelta(hours=1)).isoformat()}]
    return request_body(**{"data_items": items, **overrides})


def create(node: Any, subject: Any, when: datetime = T0, **overrides: Any) -> int:
    with node.work() as session:
        return requests.create_request(session, subject, body_at(when, **overrides), now=when).id


def clocks(node: Any, request_id: int) -> dict[str, Clock]:
    with node.work() as session:
        rows = session.execute(select(Clock).where(Clock.request_id == request_id)).scalars().all()
        return {c.kind: c for c in rows}


def import_file(node: Any, name: str) -> None:
    with node.work() as session:
        directory.import_document(session, directory.load_document(DATA / "directory" / name), actor="test")
