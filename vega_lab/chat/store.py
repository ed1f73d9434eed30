"""The conversation store: chat sessions, messages and feedback in one SQLite file.

A notebook, the CLI and a Voila dashboard may all write at once, so the file runs in WAL mode
(readers never block the writer), every write is one short ``BEGIN IMMEDIATE`` transaction (it
takes the write lock up front, so SQLite's busy timeout applies instead of a mid-transaction
"database is locked"), and a writer that still cannot get the lock gets a
``ConversationStoreError`` naming the file, with its transaction rolled back: nothing half-written.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    DateTime,
    bindparam,
    create_engine,
    delete,
    event,
    func,
    insert,
    literal_column,
    select,
    update,
)
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql import column, table

from vega_lab.chat import sqlite as _sqlite
from vega_lab.chat.pii import mask_pii as _mask
from vega_lab.chat.records import ChatSession, Message, new_session_id
from vega_lab.chat.schema import ROLES, FeedbackRow, MessageRow, SessionRow, migrate, utcnow
from vega_lab.errors import ConversationStoreError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ChatSession", "ConversationStore", "Message", "open_conversations"]

_M = MessageRow
_FTS = literal_column("messages_fts")
_FTS_TABLE = table("messages_fts", column("rowid"))
# The hot path (one chat turn) as prebuilt Core statements: SQLAlchemy then skips rebuilding and
# re-hashing the statement per call, which was most of a message's write cost.
_MT, _ST = MessageRow.__table__, SessionRow.__table__
_INSERT_MESSAGE = insert(_MT).returning(_MT.c.id)
_TOUCH_SESSION = (
    update(_ST)
    .where(_ST.c.id == bindparam("sid"), _ST.c.deleted_at.is_(None))
    .values(updated_at=func.max(_ST.c.updated_at, bindparam("now", type_=DateTime())))
)


class ConversationStore:
    """Typed access to one conversation database; share one instance per file per process.

    ``mask_pii`` (default: setting ``VEGA_CHAT_MASK_PII``) masks emails, phones and card numbers
    in titles, contents, errors and comments before they are written. After opening,
    ``schema_version`` is the file's version and ``upgraded_from`` the one found (0: new file).
    """

    def __init__(
        self,
        path_or_url: str | Path,
        *,
        mask_pii: bool | None = None,
        busy_timeout_s: float = 30.0,
    ) -> None:
        self.path = _sqlite.sqlite_path(path_or_url)
        self.url = f"sqlite:///{self.path}"
        self.busy_timeout_s = busy_timeout_s
        if mask_pii is None:
            from vega_lab.config import get_settings

            mask_pii = get_settings().chat_mask_pii
        self.mask_pii = mask_pii
        _sqlite.check_file(self.path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConversationStoreError(
                f"cannot create the folder for {self.path}: {exc}", "check the path"
            ) from exc
        self.engine: Engine = _sqlite.fork_safe(
            create_engine(self.url, connect_args={"timeout": busy_timeout_s})
        )
        event.listen(self.engine, "connect", _sqlite.pragmas(busy_timeout_s))
        event.listen(self.engine, "begin", _sqlite.on_begin)
        try:
            with self._write("open the store") as conn:
                self.upgraded_from, self.schema_version = migrate(conn, str(self.path))
        except Exception:
            self.engine.dispose()
            raise

    # ---- plumbing -----------------------------------------------------------------------
    @contextmanager
    def _write(self, action: str) -> Iterator[Connection]:
        """One short write transaction that holds the write lock from its first statement."""
        with _sqlite.guard(self.path, action, self.busy_timeout_s), self.engine.connect() as conn:
            conn.execution_options(vega_begin="IMMEDIATE")
            with conn.begin():
                yield conn

    @contextmanager
    def _read(self, action: str) -> Iterator[Connection]:
        with _sqlite.guard(self.path, action, self.busy_timeout_s), self.engine.connect() as conn:
            yield conn

    def _clean(self, text: str | None) -> str | None:
        return text if text is None or not self.mask_pii else _mask(text)[0]

    def close(self) -> None:
        """Release pooled connections (the file stays; opening it again reuses it)."""
        self.engine.dispose()

    # ---- writes -------------------------------------------------------------------------
    def new_session(
        self, title: str | None = None, metadata: Mapping[str, Any] | None = None
    ) -> str:
        """Start a conversation and return its id (``metadata`` must be JSON-serializable)."""
        try:
            meta = json.loads(json.dumps(dict(metadata or {})))
        except (TypeError, ValueError) as exc:
            raise ConversationStoreError(
                f"session metadata is not JSON-serializable: {exc}",
                "pass str/number/bool/list/dict values",
            ) from exc
        sid, now = new_session_id(), utcnow()
        with self._write("create a session") as conn:
            conn.execute(
                insert(SessionRow).values(
                    id=sid,
                    title=self._clean(title),
                    created_at=now,
                    updated_at=now,
                    meta=meta,
                )
            )
        return sid

    def add_message(
        self,
        session_id: str,
        role: str,
        content: str,
        *,
        model: str | None = None,
        backend: str | None = None,
        latency_s: float | None = None,
        prompt_tokens: int | None = None,
        completion_tokens: int | None = None,
        error: str | None = None,
        created_at: datetime | None = None,
    ) -> int:
        """Append a message (masked first when ``mask_pii``) and return its id.

        A failed backend call is logged too: empty ``content`` is accepted only with ``error``.
        ``created_at`` (naive UTC) lets importers keep original timestamps.
        """
        if role not in ROLES:
            raise ConversationStoreError(
                f"unknown message role {role!r}", f"use one of {', '.join(ROLES)}"
            )
        if not isinstance(content, str):
            raise ConversationStoreError(
                f"message content must be a str, got {type(content).__name__}"
            )
        if not content.strip() and not error:
            raise ConversationStoreError(
                "message content is empty", "log a failed call with error='...' instead"
            )
        row = {
            "session_id": session_id,
            "role": role,
            "content": self._clean(content),
            "model": model,
            "backend": backend,
            "latency_s": latency_s,
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "error": self._clean(error),
            "created_at": created_at or utcnow(),
        }
        with self._write("add a message") as conn:
            touched = conn.execute(_TOUCH_SESSION, {"sid": session_id, "now": row["created_at"]})
            if not touched.rowcount:
                raise ConversationStoreError(
                    f"no live session {session_id!r} in {self.path}",
                    "start one with new_session() (a deleted session takes no new messages)",
                )
            return int(conn.execute(_INSERT_MESSAGE, row).scalar_one())

    def add_feedback(self, message_id: int, rating: int, comment: str | None = None) -> None:
        """Thumbs up (+1) or down (-1); rating a message again replaces its earlier feedback."""
        if rating not in (1, -1) or isinstance(rating, bool):
            raise ConversationStoreError(f"rating must be +1 or -1, got {rating!r}")
        with self._write("add feedback") as conn:
            if conn.execute(select(_M.id).where(_M.id == message_id)).first() is None:
                raise ConversationStoreError(
                    f"no message {message_id!r} in {self.path}", "rate a message id it returned"
                )
            values = {"rating": rating, "comment": self._clean(comment), "created_at": utcnow()}
            stmt = sqlite_insert(FeedbackRow).values(message_id=message_id, **values)
            conn.execute(stmt.on_conflict_do_update(index_elements=["message_id"], set_=values))

    def delete_session(self, session_id: str) -> None:
        """Soft delete: hidden from history, search and exports at once; purge() erases it."""
        now = utcnow()
        with self._write("delete a session") as conn:
            n = conn.execute(
                update(SessionRow)
                .where(SessionRow.id == session_id, SessionRow.deleted_at.is_(None))
                .values(deleted_at=now)
            ).rowcount
            if not n:
                raise ConversationStoreError(f"no live session {session_id!r} in {self.path}")
            conn.execute(
                update(MessageRow)
                .where(_M.session_id == session_id, _M.deleted_at.is_(None))
                .values(deleted_at=now)
            )

    def delete_message(self, message_id: int) -> None:
        """Soft-delete one message."""
        with self._write("delete a message") as conn:
            n = conn.execute(
                update(MessageRow)
                .where(_M.id == message_id, _M.deleted_at.is_(None))
                .values(deleted_at=utcnow())
            ).rowcount
            if not n:
                raise ConversationStoreError(f"no live message {message_id!r} in {self.path}")

    def purge(self, older_than_days: float) -> int:
        """Erase for good: every soft-deleted row, and messages older than the retention age.

        Sessions left empty and idle past the cutoff go too. FTS rows and feedback follow their
        messages (trigger and cascade). Returns the number of messages erased.
        """
        if older_than_days < 0:
            raise ConversationStoreError(f"older_than_days must be >= 0, got {older_than_days}")
        cutoff = utcnow() - timedelta(days=older_than_days)
        dead_sessions = select(SessionRow.id).where(SessionRow.deleted_at.is_not(None))
        with self._write("purge") as conn:
            n = conn.execute(
                delete(MessageRow).where(
                    _M.deleted_at.is_not(None)
                    | (_M.created_at < cutoff)
                    | _M.session_id.in_(dead_sessions)
                )
            ).rowcount
            conn.execute(
                delete(SessionRow).where(
                    SessionRow.deleted_at.is_not(None)
                    | (
                        (SessionRow.updated_at < cutoff)
                        & ~select(_M.id).where(_M.session_id == SessionRow.id).exists()
                    )
                )
            )
        return int(n)

    # ---- reads --------------------------------------------------------------------------
    def _messages(self, conn: Connection, stmt: Any) -> list[Message]:
        return [Message(**row._mapping) for row in conn.execute(stmt)]

    def _select_messages(self, *, include_deleted: bool = False) -> Any:
        stmt = (
            select(*_MT.c, FeedbackRow.rating)
            .join(SessionRow, SessionRow.id == _M.session_id)
            .outerjoin(FeedbackRow, FeedbackRow.message_id == _M.id)
        )
        if not include_deleted:
            stmt = stmt.where(_M.deleted_at.is_(None), SessionRow.deleted_at.is_(None))
        return stmt

    def history(self, session_id: str, limit: int | None = None) -> list[Message]:
        """A session's live messages, oldest first (the last ``limit`` when given)."""
        stmt = self._select_messages().where(_M.session_id == session_id)
        with self._read("read history") as conn:
            if limit is None:
                return self._messages(conn, stmt.order_by(_M.id))
            last = self._messages(conn, stmt.order_by(_M.id.desc()).limit(limit))
        return last[::-1]

    def message(self, message_id: int) -> Message:
        """One message by id, soft-deleted or not (``deleted_at`` says which)."""
        stmt = self._select_messages(include_deleted=True).where(_M.id == message_id)
        with self._read("read a message") as conn:
            found = self._messages(conn, stmt)
        if not found:
            raise ConversationStoreError(f"no message {message_id!r} in {self.path}")
        return found[0]

    def recent(self, limit: int = 20) -> list[Message]:
        """The newest live messages across all sessions, newest first."""
        stmt = self._select_messages().order_by(_M.id.desc()).limit(limit)
        with self._read("read recent messages") as conn:
            return self._messages(conn, stmt)

    def search(self, text: str, limit: int = 20) -> list[Message]:
        """Live messages matching an FTS5 query, best (bm25) first.

        ``text`` is FTS5 syntax: words, "a phrase", AND/OR/NOT, prefix*; a malformed query
        raises ConversationStoreError with a hint rather than SQLite's bare syntax error.
        """
        if not text or not text.strip():
            raise ConversationStoreError("empty search query", "pass words to look for")
        stmt = (
            self._select_messages()
            .join(_FTS_TABLE, _FTS_TABLE.c.rowid == _M.id)
            .where(_FTS.op("MATCH")(text))
            .order_by(func.bm25(_FTS), _M.id.desc())
            .limit(limit)
        )
        with self._read(f"search query {text!r}") as conn:
            return self._messages(conn, stmt)

    def sessions(
        self, limit: int | None = None, include_deleted: bool = False
    ) -> list[ChatSession]:
        """Conversations, most recently active first, with their live message counts."""
        count = (
            select(func.count(_M.id))
            .where(_M.session_id == SessionRow.id, _M.deleted_at.is_(None))
            .scalar_subquery()
        )
        s = SessionRow
        stmt = select(
            s.id, s.title, s.created_at, s.updated_at, s.deleted_at, s.meta, count.label("n")
        ).order_by(s.updated_at.desc(), s.id.desc())
        if not include_deleted:
            stmt = stmt.where(s.deleted_at.is_(None))
        if limit is not None:
            stmt = stmt.limit(limit)
        with self._read("list sessions") as conn:
            rows = conn.execute(stmt).all()
        return [ChatSession(*r[:5], metadata=r[5] or {}, messages=int(r[6])) for r in rows]

    # ---- exports and views (vega_lab.chat.export) ---------------------------------------
    def export_jsonl(
        self, path: str | Path, *, session_id: str | None = None, search: str | None = None
    ) -> int:
        """Write live messages (one session, a search, or all) as JSON lines; returns the count."""
        from vega_lab.chat.export import export_jsonl

        return export_jsonl(self, path, session_id=session_id, search=search)

    def frame(self, *, include_deleted: bool = False) -> pd.DataFrame:
        """One row per message, for dashboards and pandas analysis."""
        from vega_lab.chat.export import frame

        return frame(self, include_deleted=include_deleted)

    def stats(self) -> dict[str, Any]:
        """Counts, ratings, latency and tokens at a glance (``vega-lab chat stats``)."""
        from vega_lab.chat.export import stats

        return stats(self)


_STORES: dict[tuple[str, bool | None], ConversationStore] = {}


def open_conversations(
    path: str | Path | None = None, *, mask_pii: bool | None = None
) -> ConversationStore:
    """The store at ``path`` (default ``data/conversations.sqlite``), shared within the process."""
    if path is None:
        from vega_lab.config import get_settings

        path = get_settings().data_path / "conversations.sqlite"
    key = (str(_sqlite.sqlite_path(path)), mask_pii)
    if key not in _STORES:
        _STORES[key] = ConversationStore(path, mask_pii=mask_pii)
    return _STORES[key]
