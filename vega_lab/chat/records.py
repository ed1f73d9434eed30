"""What the conversation store hands back: frozen records, detached from any database session.

Frozen dataclasses rather than ORM rows so a panel or a notebook can keep them after the
connection is gone, compare them, and turn them into JSON without SQLAlchemy in the way.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from vega_lab.chat.schema import utcnow


@dataclass(frozen=True)
class Message:
    """One stored message; ``rating`` is its feedback (+1/-1) if any."""

    id: int
    session_id: str
    role: str
    content: str
    created_at: datetime
    model: str | None = None
    backend: str | None = None
    latency_s: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    error: str | None = None
    rating: int | None = None
    deleted_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: timestamps as ISO 8601 (naive UTC)."""
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        for k in ("created_at", "deleted_at"):
            d[k] = None if d[k] is None else d[k].isoformat()
        return d


@dataclass(frozen=True)
class ChatSession:
    """One conversation; ``messages`` counts its live (not deleted) messages."""

    id: str
    title: str | None
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None
    metadata: dict[str, Any]
    messages: int


def new_session_id() -> str:
    """Sortable and unique across processes: ``c20261121-223755-1a2b3c4d``."""
    return f"c{utcnow():%Y%m%d-%H%M%S}-{secrets.token_hex(4)}"
