"""Getting conversations out: JSONL exports, a pandas frame for dashboards, summary stats.

Separate from the store's read/write API because these are views over it, written with the
same ``select()`` queries; the JSONL rows are what ``vega_lab.datasets`` builders consume.
The store offers them as methods (``store.frame()``), so this module names the store only
through the ``ReadableStore`` protocol: the import arrow points one way, store -> export.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import func, select

from vega_lab.chat.records import ChatSession, Message
from vega_lab.chat.schema import FeedbackRow, MessageRow, SessionRow, schema_version
from vega_lab.errors import ConversationStoreError

if TYPE_CHECKING:
    import pandas as pd
    from sqlalchemy.engine import Connection

_M = MessageRow


class ReadableStore(Protocol):
    """What the exports read from a ``ConversationStore`` (its read side, nothing more)."""

    path: Path

    def _read(self, action: str) -> AbstractContextManager[Connection]: ...

    def _messages(self, conn: Connection, stmt: Any) -> list[Message]: ...

    def _select_messages(self, *, include_deleted: bool = False) -> Any: ...

    def history(self, session_id: str, limit: int | None = None) -> list[Message]: ...

    def search(self, text: str, limit: int = 20) -> list[Message]: ...

    def sessions(
        self, limit: int | None = None, include_deleted: bool = False
    ) -> Sequence[ChatSession]: ...


FRAME_COLUMNS = [
    "message_id",
    "session_id",
    "session_title",
    "role",
    "content",
    "model",
    "backend",
    "latency_s",
    "prompt_tokens",
    "completion_tokens",
    "error",
    "rating",
    "created_at",
    "deleted_at",
]


def export_jsonl(
    store: ReadableStore,
    path: str | Path,
    *,
    session_id: str | None = None,
    search: str | None = None,
) -> int:
    """Write one JSON object per live message (oldest first; search hits best first).

    The file is written beside its target and renamed into place, so a failed export never
    leaves half a file where a previous good one was.
    """
    if session_id is not None and search is not None:
        raise ConversationStoreError("pass session_id or search, not both")
    if session_id is not None:
        if session_id not in {s.id for s in store.sessions(include_deleted=False)}:
            raise ConversationStoreError(
                f"no live session {session_id!r} in {store.path}", "list them with sessions()"
            )
        messages = store.history(session_id)
    elif search is not None:
        messages = store.search(search, limit=1_000_000)
    else:
        with store._read("export") as conn:
            messages = store._messages(conn, store._select_messages().order_by(_M.id))
    titles = {s.id: s.title for s in store.sessions(include_deleted=True)}
    target = Path(path).expanduser().resolve()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            for m in messages:
                row = {"session_title": titles.get(m.session_id), **m.to_dict()}
                row.pop("deleted_at")
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        os.replace(tmp, target)
    except OSError as exc:
        raise ConversationStoreError(
            f"cannot write the export {target}: {exc}", "check the folder and free space"
        ) from exc
    return len(messages)


def frame(store: ReadableStore, *, include_deleted: bool = False) -> pd.DataFrame:
    """One row per message with its session title and rating (columns: ``FRAME_COLUMNS``)."""
    import pandas as pd

    stmt = (
        select(
            _M.id.label("message_id"),
            _M.session_id,
            SessionRow.title.label("session_title"),
            _M.role,
            _M.content,
            _M.model,
            _M.backend,
            _M.latency_s,
            _M.prompt_tokens,
            _M.completion_tokens,
            _M.error,
            FeedbackRow.rating,
            _M.created_at,
            func.coalesce(_M.deleted_at, SessionRow.deleted_at).label("deleted_at"),
        )
        .join(SessionRow, SessionRow.id == _M.session_id)
        .outerjoin(FeedbackRow, FeedbackRow.message_id == _M.id)
        .order_by(_M.id)
    )
    if not include_deleted:
        stmt = stmt.where(_M.deleted_at.is_(None), SessionRow.deleted_at.is_(None))
    with store._read("build a frame") as conn:
        rows = conn.execute(stmt).all()
    df = pd.DataFrame(rows, columns=FRAME_COLUMNS)
    for col in ("created_at", "deleted_at"):
        df[col] = pd.to_datetime(df[col])
    for col in ("prompt_tokens", "completion_tokens", "rating"):
        df[col] = df[col].astype("Int64")
    df["latency_s"] = df["latency_s"].astype(float)
    return df


def stats(store: ReadableStore) -> dict[str, Any]:
    """Live and deleted counts, feedback, latency and tokens, schema version and file size."""
    live_m = _M.deleted_at.is_(None)
    with store._read("read stats") as conn:
        sessions = dict(
            conn.execute(
                select(SessionRow.deleted_at.is_(None), func.count()).group_by(
                    SessionRow.deleted_at.is_(None)
                )
            ).all()
        )
        row = conn.execute(
            select(
                func.count().filter(live_m),
                func.count().filter(~live_m),
                func.count().filter(_M.error.is_not(None)),
                func.avg(_M.latency_s).filter(live_m & (_M.role == "assistant")),
                func.coalesce(func.sum(_M.prompt_tokens), 0),
                func.coalesce(func.sum(_M.completion_tokens), 0),
            )
        ).one()
        ratings = dict(
            conn.execute(
                select(FeedbackRow.rating, func.count()).group_by(FeedbackRow.rating)
            ).all()
        )
        by_role = dict(
            conn.execute(select(_M.role, func.count()).where(live_m).group_by(_M.role)).all()
        )
        version = schema_version(conn)
    size = sum(
        p.stat().st_size
        for p in (store.path, store.path.with_name(store.path.name + "-wal"))
        if p.exists()
    )
    return {
        "path": str(store.path),
        "schema_version": version,
        "sessions": int(sessions.get(True, 0)),
        "deleted_sessions": int(sessions.get(False, 0)),
        "messages": int(row[0]),
        "deleted_messages": int(row[1]),
        "failed_calls": int(row[2]),
        "messages_by_role": {k: int(v) for k, v in by_role.items()},
        "thumbs_up": int(ratings.get(1, 0)),
        "thumbs_down": int(ratings.get(-1, 0)),
        "mean_latency_s": None if row[3] is None else float(row[3]),
        "prompt_tokens": int(row[4]),
        "completion_tokens": int(row[5]),
        "bytes": size,
    }
