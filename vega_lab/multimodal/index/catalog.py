"""The index's catalogue: one SQLite file listing sources, items and embedding spaces.

SQLite is the single source of truth: a vectors file only counts once the catalogue points at
its version (see ``vectors.py``), so a crash mid-write leaves the previous state intact. Plain
``sqlite3`` (no SQLAlchemy) with the pragmas the conversation store uses (WAL, busy timeout,
NORMAL sync). Each thread keeps its own connection, reopened in a forked child, so widget
callbacks and worker processes never share a handle; reusing it keeps a search's few catalogue
reads at tens of microseconds instead of a connect + pragmas each.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vega_lab.errors import IndexStoreError
from vega_lab.sqlite_files import check_sqlite_file, enable_wal

__all__ = ["Catalog", "Item", "SourceRecord", "SpaceInfo"]

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS spaces (
    name TEXT PRIMARY KEY, embedder TEXT NOT NULL, dim INTEGER NOT NULL,
    version INTEGER NOT NULL DEFAULT 0, count INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS sources (
    path TEXT PRIMARY KEY, sha256 TEXT NOT NULL, size INTEGER NOT NULL,
    modality TEXT NOT NULL, added_at TEXT NOT NULL, recipe TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS items (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    modality TEXT NOT NULL,
    source TEXT NOT NULL REFERENCES sources(path) ON DELETE CASCADE,
    locator TEXT NOT NULL,
    text TEXT NOT NULL,
    thumbnail TEXT,
    space TEXT NOT NULL REFERENCES spaces(name),
    added_at TEXT NOT NULL,
    metadata TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS items_source ON items(source);
CREATE INDEX IF NOT EXISTS items_space_modality ON items(space, modality);
"""


@dataclass(frozen=True)
class Item:
    """One searchable unit: an image, a video scene, a document chunk or a transcript passage.

    ``locator`` says where inside the source it is: ``{"page": 3, "chunk": 7}`` for a chunk,
    ``{"start": 12.0, "end": 19.5}`` (seconds) for a passage, the same plus ``"frame"`` (the
    index of the frame embedded) for a scene, ``{}`` for a whole image.
    """

    id: int
    modality: str
    source: str
    locator: dict[str, Any]
    text: str
    thumbnail: str | None
    space: str
    added_at: str
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SourceRecord:
    """An indexed file: its content hash, and the ``recipe`` (chunking options, JSON) used."""

    path: str
    sha256: str
    size: int
    modality: str
    added_at: str
    recipe: str = "{}"


@dataclass(frozen=True)
class SpaceInfo:
    """An embedding space: which embedder made its vectors, their dimension, the live version."""

    name: str
    embedder: str
    dim: int
    version: int
    count: int


def _item(row: sqlite3.Row) -> Item:
    return Item(
        id=row["id"],
        modality=row["modality"],
        source=row["source"],
        locator=json.loads(row["locator"]),
        text=row["text"],
        thumbnail=row["thumbnail"],
        space=row["space"],
        added_at=row["added_at"],
        metadata=json.loads(row["metadata"]),
    )


class Catalog:
    """Rows of the catalogue; writes happen inside ``transaction()`` (BEGIN IMMEDIATE)."""

    def __init__(self, path: Path, busy_timeout_s: float = 30.0) -> None:
        self.path = path
        self.busy_timeout_s = busy_timeout_s
        self._local = threading.local()
        check_sqlite_file(path, IndexStoreError, "the index", "data/index/index.sqlite")
        with self.transaction("create the index catalogue") as con:
            for stmt in filter(str.strip, _SCHEMA.split(";")):  # executescript would COMMIT
                con.execute(stmt)
            row = con.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
            if row is None:
                con.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
            elif int(row["value"]) > SCHEMA_VERSION:
                raise IndexStoreError(
                    f"{path} was written by a newer vega_lab (schema {row['value']}, "
                    f"this one reads {SCHEMA_VERSION})",
                    "upgrade vega_lab to open this index",
                )

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, timeout=self.busy_timeout_s, isolation_level=None)
        con.row_factory = sqlite3.Row
        con.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_s * 1000)}")
        enable_wal(con, self.busy_timeout_s)
        con.execute("PRAGMA synchronous=NORMAL")
        con.execute("PRAGMA foreign_keys=ON")
        return con

    def _thread_connection(self) -> tuple[sqlite3.Connection, bool]:
        """This thread's connection (made once per thread and process); a nested transaction
        gets a private one. Returns (connection, whether to close it afterwards)."""
        con, pid = getattr(self._local, "con", None), getattr(self._local, "pid", None)
        if con is not None and pid == os.getpid() and not con.in_transaction:
            return con, False
        if con is not None and pid == os.getpid():
            return self._connect(), True  # nested: the outer transaction keeps its connection
        self._local.con, self._local.pid = self._connect(), os.getpid()
        return self._local.con, False

    @contextmanager
    def transaction(self, action: str, write: bool = True) -> Iterator[sqlite3.Connection]:
        """One transaction; driver errors become an ``IndexStoreError``.

        Writes take the lock at BEGIN (IMMEDIATE), so two processes adding to one index queue
        on the busy timeout instead of failing half-way.
        """
        try:
            con, private = self._thread_connection()
        except sqlite3.Error as exc:
            raise self._error(action, exc) from exc
        try:
            con.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            yield con
            con.execute("COMMIT")
        except BaseException as exc:
            if con.in_transaction:
                con.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise self._error(action, exc) from exc
            raise
        finally:
            if private:
                con.close()

    def _error(self, action: str, exc: sqlite3.Error) -> IndexStoreError:
        msg = str(exc)
        if "locked" in msg or "busy" in msg:
            return IndexStoreError(
                f"cannot {action}: {self.path} stayed locked by another process for "
                f"{self.busy_timeout_s:g} s; nothing was written",
                "let the other writer finish, then retry",
            )
        if "not a database" in msg or "malformed" in msg:
            return IndexStoreError(
                f"cannot {action}: {self.path} is not a readable SQLite database ({msg})",
                "open the index in another folder, or move this one away",
            )
        return IndexStoreError(
            f"cannot {action} in {self.path}: {msg}",
            "check the folder's permissions and free disk space",
        )

    # -- reads (each in its own short transaction) ------------------------------------------

    def spaces(self, con: sqlite3.Connection | None = None) -> dict[str, SpaceInfo]:
        if con is None:
            with self.transaction("read the spaces", write=False) as c:
                return self.spaces(c)
        rows = con.execute("SELECT * FROM spaces ORDER BY name").fetchall()
        return {r["name"]: SpaceInfo(**dict(r)) for r in rows}

    def source(self, path: str, con: sqlite3.Connection | None = None) -> SourceRecord | None:
        if con is None:
            with self.transaction("read a source", write=False) as c:
                return self.source(path, c)
        row = con.execute("SELECT * FROM sources WHERE path=?", (path,)).fetchone()
        return None if row is None else SourceRecord(**dict(row))

    def sources(self) -> list[SourceRecord]:
        with self.transaction("list the sources", write=False) as con:
            rows = con.execute("SELECT * FROM sources ORDER BY path").fetchall()
        return [SourceRecord(**dict(r)) for r in rows]

    def items(self, ids: list[int] | None = None, modality: str | None = None) -> list[Item]:
        """Items by id (in the order given; unknown ids left out) or all of a modality."""
        with self.transaction("read items", write=False) as con:
            if ids is None:
                sql, args = "SELECT * FROM items", []
                if modality is not None:
                    sql, args = sql + " WHERE modality=?", [modality]
                return [_item(r) for r in con.execute(sql + " ORDER BY id", args)]
            found: dict[int, Item] = {}
            for start in range(0, len(ids), 500):  # SQLite's bound-parameter limit
                part = [int(i) for i in ids[start : start + 500]]
                marks = ",".join("?" * len(part))
                for r in con.execute(f"SELECT * FROM items WHERE id IN ({marks})", part):
                    found[r["id"]] = _item(r)
        return [found[i] for i in ids if i in found]

    def ids_where(self, space: str, modalities: list[str]) -> list[int]:
        marks = ",".join("?" * len(modalities))
        with self.transaction("filter items", write=False) as con:
            rows = con.execute(
                f"SELECT id FROM items WHERE space=? AND modality IN ({marks})",
                [space, *modalities],
            ).fetchall()
        return [r["id"] for r in rows]

    def counts(self) -> dict[tuple[str, str], int]:
        """Items per (space, modality)."""
        with self.transaction("count items", write=False) as con:
            rows = con.execute(
                "SELECT space, modality, COUNT(*) AS n FROM items GROUP BY space, modality"
            )
            return {(r["space"], r["modality"]): r["n"] for r in rows}

    def thumbnails_of(self, sha256: str) -> set[str]:
        """Thumbnail paths of the items of every source with this content hash."""
        with self.transaction("read thumbnails", write=False) as con:
            rows = con.execute(
                "SELECT DISTINCT items.thumbnail FROM items JOIN sources "
                "ON sources.path = items.source "
                "WHERE sources.sha256 = ? AND items.thumbnail IS NOT NULL",
                (sha256,),
            )
            return {r["thumbnail"] for r in rows}

    def source_item_ids(self, path: str) -> list[int]:
        with self.transaction("read a source's items", write=False) as con:
            rows = con.execute("SELECT id FROM items WHERE source=? ORDER BY id", (path,))
            return [r["id"] for r in rows]

    # -- writes (inside a transaction the caller holds) -------------------------------------

    @staticmethod
    def delete_source(con: sqlite3.Connection, path: str) -> dict[str, list[int]]:
        """Remove a source and its items; returns the removed item ids per space."""
        removed: dict[str, list[int]] = {}
        for r in con.execute("SELECT id, space FROM items WHERE source=?", (path,)):
            removed.setdefault(r["space"], []).append(r["id"])
        con.execute("DELETE FROM items WHERE source=?", (path,))
        con.execute("DELETE FROM sources WHERE path=?", (path,))
        return removed

    @staticmethod
    def insert_source(con: sqlite3.Connection, rec: SourceRecord) -> None:
        """Insert a source, or update it in place: a file whose items live in two spaces (a
        video's scenes and its speech) arrives as one write per space, each with the record.
        An upsert, not INSERT OR REPLACE, which would delete the row and cascade to its items.
        """
        con.execute(
            "INSERT INTO sources (path, sha256, size, modality, added_at, recipe) "
            "VALUES (?,?,?,?,?,?) ON CONFLICT(path) DO UPDATE SET sha256=excluded.sha256, "
            "size=excluded.size, modality=excluded.modality, added_at=excluded.added_at, "
            "recipe=excluded.recipe",
            (rec.path, rec.sha256, rec.size, rec.modality, rec.added_at, rec.recipe),
        )

    @staticmethod
    def insert_item(con: sqlite3.Connection, draft: dict[str, Any]) -> int:
        cur = con.execute(
            "INSERT INTO items (modality, source, locator, text, thumbnail, space, added_at, "
            "metadata) VALUES (?,?,?,?,?,?,?,?)",
            (
                draft["modality"],
                draft["source"],
                json.dumps(draft.get("locator") or {}),
                draft.get("text") or "",
                draft.get("thumbnail"),
                draft["space"],
                draft["added_at"],
                json.dumps(draft.get("metadata") or {}, default=str),
            ),
        )
        return int(cur.lastrowid)

    @staticmethod
    def ensure_space(con: sqlite3.Connection, name: str, embedder: str, dim: int) -> SpaceInfo:
        """Record a space's embedder the first time; refuse another embedder afterwards."""
        row = con.execute("SELECT * FROM spaces WHERE name=?", (name,)).fetchone()
        if row is None:
            con.execute(
                "INSERT INTO spaces (name, embedder, dim) VALUES (?,?,?)", (name, embedder, dim)
            )
            return SpaceInfo(name, embedder, dim, 0, 0)
        info = SpaceInfo(**dict(row))
        check_embedder(info, embedder, dim)
        return info

    @staticmethod
    def set_version(con: sqlite3.Connection, name: str, version: int, count: int) -> None:
        con.execute("UPDATE spaces SET version=?, count=? WHERE name=?", (version, count, name))


def check_embedder(info: SpaceInfo, embedder: str, dim: int) -> None:
    """Vectors from two models in one space would make every score meaningless: refuse."""
    if info.embedder != embedder or info.dim != dim:
        raise IndexStoreError(
            f"the index's {info.name!r} space holds vectors from {info.embedder!r} "
            f"(dim {info.dim}); the embedder given is {embedder!r} (dim {dim})",
            "open the index with the embedder it was built with (check the clip_model "
            "setting), or build a new index in another folder",
        )
