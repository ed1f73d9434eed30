"""SQLite plumbing for the conversation store: which file, its pragmas, its errors.

Kept apart from the store's API because it is about *being a good neighbour* in a shared file:
refuse a file that is not SQLite before SQLite touches it, run WAL with a busy timeout, take the
write lock at BEGIN, and translate driver errors into one ``ConversationStoreError``.
"""

from __future__ import annotations

import os
import sqlite3
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from vega_lab.errors import ConversationStoreError, VegaError
from vega_lab.sqlite_files import check_sqlite_file, enable_wal


def sqlite_path(path_or_url: str | Path) -> Path:
    """The file behind a path or a ``sqlite:///`` URL; other URLs are refused (FTS5 is SQLite)."""
    s = str(path_or_url)
    if "://" in s:
        if not s.startswith("sqlite:///") or s == "sqlite:///" or ":memory:" in s:
            raise ConversationStoreError(
                f"the conversation store needs a SQLite file, got {s!r}",
                "pass a file path or a sqlite:///path URL",
            )
        s = s.removeprefix("sqlite:///")
    return Path(s).expanduser().resolve()


def check_file(path: Path) -> None:
    """Refuse a path that is not (and cannot become) a SQLite file, before opening it."""
    check_sqlite_file(
        path, ConversationStoreError, "the conversation store", "data/conversations.sqlite"
    )


def pragmas(busy_timeout_s: float):
    """A ``connect`` listener: WAL, busy timeout, NORMAL sync (safe in WAL), foreign keys."""

    def on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # SQLAlchemy emits BEGIN itself (see on_begin)
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
        enable_wal(cur, busy_timeout_s)
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    return on_connect


def on_begin(conn: Connection) -> None:
    """``BEGIN IMMEDIATE`` for writes: the lock is taken (or waited for) before any read.

    A deferred transaction that reads and then writes can fail at once with "database is
    locked" when another process wrote in between, whatever the busy timeout; immediate ones
    queue on the busy timeout instead. Reads stay deferred and never block writers under WAL.
    """
    mode = conn.get_execution_options().get("vega_begin", "DEFERRED")
    conn.exec_driver_sql(f"BEGIN {mode}")


def driver_message(exc: BaseException) -> str:
    return str(getattr(exc, "orig", None) or exc)


@contextmanager
def guard(path: Path, action: str, busy_timeout_s: float) -> Iterator[None]:
    """Turn driver errors into one ConversationStoreError that names the file and the fix."""
    try:
        yield
    except VegaError:
        raise
    except (SQLAlchemyError, sqlite3.Error) as exc:
        msg = driver_message(exc)
        if "locked" in msg or "busy" in msg:
            raise ConversationStoreError(
                f"cannot {action}: the conversation store {path} stayed locked by another "
                f"process for {busy_timeout_s:g} s; nothing was written",
                "let the other writer (a notebook, the CLI, a dashboard) finish, then retry",
            ) from exc
        if "not a database" in msg or "malformed" in msg:
            raise ConversationStoreError(
                f"cannot {action}: {path} is not a readable SQLite database ({msg})",
                "point the conversation store at a new file, or move this one away",
            ) from exc
        if action.startswith("search") and any(
            k in msg for k in ("fts5", "syntax error", "no such column", "unterminated")
        ):
            raise ConversationStoreError(
                f"bad {action} ({msg})",
                'use words, "quoted phrases", AND/OR/NOT and prefix*; '
                "put punctuation inside double quotes",
            ) from exc
        raise ConversationStoreError(
            f"cannot {action} in the conversation store {path}: {msg}",
            "check the file's permissions and free disk space",
        ) from exc


_ENGINES: weakref.WeakSet[Engine] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for engine in list(_ENGINES):
        engine.dispose(close=False)  # the parent keeps its connections; the child opens its own


def fork_safe(engine: Engine) -> Engine:
    """A forked child (multiprocessing 'fork', a Ray/Papermill worker) must not reuse the
    parent's SQLite handles: two processes on one handle corrupt locks. Drop them in the child.
    """
    _ENGINES.add(engine)
    return engine


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
