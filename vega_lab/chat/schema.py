"""The conversation store's tables and the migrations that build them.

The schema is defined by an ordered list of migrations, not by ``create_all``: a database created
by an older vega_lab is upgraded in place at open (one transaction: all steps or none), and one
written by a newer vega_lab is refused rather than misread. The ORM classes below describe the
*latest* schema and are used for ``select()`` queries only; ``tests/chat`` checks they match.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Integer, String, Text, text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from vega_lab.errors import ConversationStoreError

ROLES = ("system", "user", "assistant")


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar = {dict[str, Any]: JSON}


class SessionRow(Base):
    __tablename__ = "sessions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    title: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime)
    meta: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSON)


class MessageRow(Base):
    __tablename__ = "messages"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id"))
    role: Mapped[str] = mapped_column(String(16))
    content: Mapped[str] = mapped_column(Text)
    model: Mapped[str | None] = mapped_column(String(200))
    backend: Mapped[str | None] = mapped_column(String(64))
    latency_s: Mapped[float | None] = mapped_column(Float)
    prompt_tokens: Mapped[int | None] = mapped_column(Integer)
    completion_tokens: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime)
    error: Mapped[str | None] = mapped_column(Text)


class FeedbackRow(Base):
    __tablename__ = "feedback"
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"), primary_key=True)
    rating: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime)


# ---- migrations: version -> step; append only, never edit a released step -----------------


def _v1_tables(conn: Connection) -> None:
    """Sessions, messages and feedback (one rating per message; re-rating replaces it)."""
    for ddl in (
        """CREATE TABLE sessions (
            id VARCHAR(64) PRIMARY KEY, title TEXT, created_at DATETIME NOT NULL,
            updated_at DATETIME NOT NULL, deleted_at DATETIME, metadata JSON)""",
        """CREATE TABLE messages (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            session_id VARCHAR(64) NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
            role VARCHAR(16) NOT NULL CHECK (role IN ('system', 'user', 'assistant')),
            content TEXT NOT NULL, model VARCHAR(200), backend VARCHAR(64), latency_s FLOAT,
            prompt_tokens INTEGER, completion_tokens INTEGER, created_at DATETIME NOT NULL,
            deleted_at DATETIME)""",
        "CREATE INDEX ix_messages_session ON messages (session_id, id)",
        "CREATE INDEX ix_messages_created ON messages (created_at)",
        "CREATE INDEX ix_sessions_updated ON sessions (updated_at)",
        """CREATE TABLE feedback (
            message_id INTEGER PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
            rating INTEGER NOT NULL CHECK (rating IN (-1, 1)), comment TEXT,
            created_at DATETIME NOT NULL)""",
    ):
        conn.exec_driver_sql(ddl)


def _v2_errors_and_fts(conn: Connection) -> None:
    """Failed calls keep their error; an FTS5 index over content, synced by triggers.

    The index is an external-content table (no second copy of the text); ``rebuild`` fills it
    from the messages an older store already holds.
    """
    for ddl in (
        "ALTER TABLE messages ADD COLUMN error TEXT",
        """CREATE VIRTUAL TABLE messages_fts USING fts5(
            content, content='messages', content_rowid='id',
            tokenize='unicode61 remove_diacritics 2')""",
        """CREATE TRIGGER messages_fts_ai AFTER INSERT ON messages BEGIN
            INSERT INTO messages_fts(rowid, content) VALUES (new.id, new.content); END""",
        """CREATE TRIGGER messages_fts_ad AFTER DELETE ON messages BEGIN
            INSERT INTO messages_fts(messages_fts, rowid, content)
            VALUES ('delete', old.id, old.content); END""",
        """CREATE TRIGGER messages_fts_au AFTER UPDATE OF content ON messages BEGIN
            INSERT INTO messages_fts(messages_fts, rowid, content)
            VALUES ('delete', old.id, old.content);
            INSERT INTO messages_fts(rowid, content) VALUES (new.id, new.content); END""",
        "INSERT INTO messages_fts(messages_fts) VALUES ('rebuild')",
    ):
        conn.exec_driver_sql(ddl)


MIGRATIONS: list[tuple[int, Callable[[Connection], None]]] = [
    (1, _v1_tables),
    (2, _v2_errors_and_fts),
]
SCHEMA_VERSION = MIGRATIONS[-1][0]


def schema_version(conn: Connection) -> int:
    """The version recorded in the file (0: empty file or no store yet)."""
    tables = set(
        conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'table'").scalars()
    )
    if "schema_version" not in tables:
        return 0
    return int(conn.execute(text("SELECT max(version) FROM schema_version")).scalar() or 0)


def migrate(conn: Connection, where: str) -> tuple[int, int]:
    """Bring the schema to ``SCHEMA_VERSION`` inside the caller's (IMMEDIATE) transaction.

    Returns (version found, version now). Several processes opening one new file at once are
    safe: the write lock serializes them and each re-reads the version under it.
    """
    tables = set(
        conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'table'").scalars()
    )
    found = schema_version(conn)
    if found == 0 and tables - {"sqlite_sequence"}:
        raise ConversationStoreError(
            f"{where} is a SQLite database but not a conversation store "
            f"(it has tables {', '.join(sorted(tables))})",
            "pass another path to ConversationStore / open_conversations; this file is untouched",
        )
    if found > SCHEMA_VERSION:
        raise ConversationStoreError(
            f"the conversation store {where} has schema version {found}, newer than this "
            f"vega_lab knows ({SCHEMA_VERSION})",
            "upgrade vega_lab (pip install -U vega-lab) to open it; the file is untouched",
        )
    if found == 0:
        conn.exec_driver_sql(
            "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at DATETIME)"
        )
    for version, step in MIGRATIONS:
        if version > found:
            step(conn)
            conn.execute(
                text("INSERT INTO schema_version (version, applied_at) VALUES (:v, :t)"),
                {"v": version, "t": utcnow().isoformat(sep=" ")},
            )
    return found, SCHEMA_VERSION
