"""The conversation store: round trips, search, feedback, retention, export, PII, migrations,
and the bad inputs (not SQLite, locked, too new) that must fail clearly and lose nothing."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect

from vega_lab.chat import schema
from vega_lab.chat.pii import luhn_valid, mask_pii
from vega_lab.chat.store import ConversationStore, open_conversations
from vega_lab.errors import ChatError, ConversationStoreError, VegaError


@pytest.fixture
def store(tmp_path: Path) -> ConversationStore:
    s = ConversationStore(tmp_path / "c.sqlite", mask_pii=False)
    yield s
    s.close()


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _fts_consistent(path: Path) -> None:
    """FTS5's own check that the index matches the messages table (raises if it does not)."""
    with sqlite3.connect(path) as con:
        con.execute("INSERT INTO messages_fts(messages_fts) VALUES ('integrity-check')")


def test_round_trip_and_history_order(store: ConversationStore) -> None:
    sid = store.new_session("first", {"notebook": "chat.ipynb"})
    ids = [store.add_message(sid, "system", "be brief")]
    ids.append(store.add_message(sid, "user", "hello"))
    ids.append(
        store.add_message(
            sid,
            "assistant",
            "hi there",
            model="tiny",
            backend="echo",
            latency_s=0.25,
            prompt_tokens=7,
            completion_tokens=2,
        )
    )
    hist = store.history(sid)
    assert [m.id for m in hist] == ids == sorted(ids)
    assert [m.role for m in hist] == ["system", "user", "assistant"]
    last = hist[-1]
    assert (last.model, last.backend, last.latency_s) == ("tiny", "echo", 0.25)
    assert (last.prompt_tokens, last.completion_tokens, last.error) == (7, 2, None)
    assert [m.content for m in store.history(sid, limit=2)] == ["hello", "hi there"]
    with pytest.raises(AttributeError):
        last.content = "changed"  # type: ignore[misc]
    (info,) = store.sessions()
    assert (info.id, info.title, info.metadata, info.messages) == (
        sid,
        "first",
        {"notebook": "chat.ipynb"},
        3,
    )
    assert info.updated_at >= info.created_at
    assert [m.content for m in store.recent(2)] == ["hi there", "hello"]


def test_failed_call_is_logged_with_its_error(store: ConversationStore) -> None:
    sid = store.new_session()
    mid = store.add_message(sid, "assistant", "", backend="openai", error="HTTP 503")
    assert store.message(mid).error == "HTTP 503"
    assert store.stats()["failed_calls"] == 1


@pytest.mark.parametrize(
    ("role", "content"), [("robot", "hi"), ("user", ""), ("user", "   "), ("user", None)]
)
def test_bad_role_or_empty_content_refused(store: ConversationStore, role, content) -> None:
    sid = store.new_session()
    with pytest.raises(ConversationStoreError):
        store.add_message(sid, role, content)
    assert store.history(sid) == []


def test_metadata_must_be_json(store: ConversationStore) -> None:
    with pytest.raises(ConversationStoreError, match="JSON"):
        store.new_session("x", {"when": object()})
    assert store.sessions() == []


def test_forked_child_writes_through_its_own_connection(store: ConversationStore) -> None:
    import multiprocessing as mp

    sid = store.new_session()
    store.add_message(sid, "user", "parent before fork")

    def child() -> None:
        store.add_message(sid, "user", "from the forked child")

    proc = mp.get_context("fork").Process(target=child)
    proc.start()
    proc.join(30)
    assert proc.exitcode == 0
    store.add_message(sid, "user", "parent after fork")
    assert len(store.history(sid)) == 3


def test_unknown_or_deleted_session_takes_no_messages(store: ConversationStore) -> None:
    with pytest.raises(ConversationStoreError, match="new_session"):
        store.add_message("nope", "user", "hi")
    sid = store.new_session()
    store.delete_session(sid)
    with pytest.raises(ConversationStoreError):
        store.add_message(sid, "user", "hi")
    with pytest.raises(ConversationStoreError):
        store.delete_session(sid)


def test_search_ranks_and_hides_deleted_then_purged(store: ConversationStore, tmp_path) -> None:
    a, b = store.new_session("a"), store.new_session("b")
    m1 = store.add_message(a, "user", "How do I train a federated model with Flower?")
    m2 = store.add_message(a, "assistant", "Federated federated federated averaging.")
    m3 = store.add_message(b, "user", "Federated learning and differential privacy")
    store.add_message(b, "user", "nothing relevant here")
    hits = store.search("federated")
    assert {m.id for m in hits} == {m1, m2, m3}
    assert hits[0].id == m2  # bm25: the densest match first
    assert [m.id for m in store.search('"differential privacy"')] == [m3]
    assert [m.id for m in store.search("feder* AND flower")] == [m1]
    store.delete_message(m2)
    assert {m.id for m in store.search("federated")} == {m1, m3}
    store.delete_session(b)
    assert {m.id for m in store.search("federated")} == {m1}
    assert store.history(b) == []
    assert store.purge(older_than_days=365) == 3  # m2 and session b's two messages
    assert {m.id for m in store.search("federated")} == {m1}
    assert [s.id for s in store.sessions(include_deleted=True)] == [a]
    _fts_consistent(store.path)


@pytest.mark.parametrize("query", ['fox"', "a:b", "AND", "(unclosed"])
def test_bad_search_query_has_a_hint(store: ConversationStore, query: str) -> None:
    store.add_message(store.new_session(), "user", "the quick brown fox")
    with pytest.raises(ConversationStoreError, match="quoted phrases"):
        store.search(query)
    with pytest.raises(ConversationStoreError):
        store.search("  ")


def test_feedback(store: ConversationStore) -> None:
    sid = store.new_session()
    mid = store.add_message(sid, "assistant", "an answer")
    store.add_feedback(mid, 1)
    store.add_feedback(mid, -1, "wrong year")  # rating again replaces
    assert store.history(sid)[0].rating == -1
    assert store.stats()["thumbs_down"] == 1 and store.stats()["thumbs_up"] == 0
    for bad in (0, 2, True, "+1"):
        with pytest.raises(ConversationStoreError, match="rating"):
            store.add_feedback(mid, bad)  # type: ignore[arg-type]
    with pytest.raises(ConversationStoreError, match="no message"):
        store.add_feedback(10_000, 1)
    assert store.frame()["rating"].tolist() == [-1]


def test_retention_purge_by_age(store: ConversationStore) -> None:
    now = schema.utcnow()
    old, mixed = store.new_session("old"), store.new_session("mixed")
    store.add_message(old, "user", "ancient question", created_at=now - timedelta(days=90))
    store.add_message(old, "assistant", "ancient answer", created_at=now - timedelta(days=89))
    store.add_message(mixed, "user", "old part", created_at=now - timedelta(days=40))
    keep = store.add_message(mixed, "user", "fresh part")
    with store.engine.begin() as conn:  # the 'old' session was last active long ago
        conn.exec_driver_sql(
            "UPDATE sessions SET updated_at = ? WHERE id = ?",
            ((now - timedelta(days=89)).isoformat(sep=" "), old),
        )
    fb = store.add_message(old, "assistant", "rated", created_at=now - timedelta(days=60))
    store.add_feedback(fb, 1)
    assert store.purge(older_than_days=30) == 4
    assert [m.id for m in store.history(mixed)] == [keep]
    assert [s.id for s in store.sessions(include_deleted=True)] == [mixed]
    assert store.search("ancient") == []
    assert store.stats()["thumbs_up"] == 0  # feedback went with its message
    assert store.purge(older_than_days=30) == 0
    _fts_consistent(store.path)


def test_export_jsonl_session_search_and_all(store: ConversationStore, tmp_path) -> None:
    a, b = store.new_session("alpha"), store.new_session("beta")
    store.add_message(a, "user", "tell me about sqlite wal")
    store.add_message(a, "assistant", "WAL lets readers run beside one writer", latency_s=0.1)
    store.add_message(b, "user", "what is bm25")
    out = tmp_path / "exports" / "a.jsonl"
    assert store.export_jsonl(out, session_id=a) == 2
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["role"] for r in rows] == ["user", "assistant"]
    assert rows[0]["session_title"] == "alpha" and rows[1]["latency_s"] == 0.1
    assert {"id", "session_id", "content", "created_at", "model", "rating"} <= rows[0].keys()
    assert store.export_jsonl(tmp_path / "s.jsonl", search="bm25") == 1
    assert json.loads((tmp_path / "s.jsonl").read_text())["session_id"] == b
    assert store.export_jsonl(tmp_path / "all.jsonl") == 3
    store.delete_session(b)
    assert store.export_jsonl(tmp_path / "all.jsonl") == 2
    with pytest.raises(ConversationStoreError):
        store.export_jsonl(tmp_path / "x.jsonl", session_id=b)
    assert not (tmp_path / "x.jsonl").exists()


def test_mask_pii_rules() -> None:
    text = (
        "mail ada.lovelace+ml@example.co.uk, call +44 20 7946 0958 or (202) 555-0143, "
        "card 4111 1111 1111 1111 and 5555-5555-5555-4444"
    )
    masked, counts = mask_pii(text)
    assert counts == {"email": 1, "phone": 2, "card": 2}
    assert "example" not in masked and "4111" not in masked and "555-0143" not in masked
    assert masked.count("[CARD]") == 2 and masked.count("[PHONE]") == 2
    assert luhn_valid("4111111111111111") and not luhn_valid("4111111111111112")
    kept = "in 2024, 12345 users; order 4111111111111112; 2024-01-15; 192.168.1.100; v3.11.7"
    assert mask_pii(kept) == (kept, {"email": 0, "phone": 0, "card": 0})


def test_store_writes_masked_text_only(tmp_path: Path) -> None:
    store = ConversationStore(tmp_path / "m.sqlite", mask_pii=True)
    sid = store.new_session("from bob@example.com")
    store.add_message(
        sid, "user", "I am bob@example.com, card 4111-1111-1111-1111, +1 202 555 0143"
    )
    store.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("m.sqlite*"))
    assert b"bob@example.com" not in raw and b"4111" not in raw and b"555 0143" not in raw
    store = ConversationStore(tmp_path / "m.sqlite", mask_pii=True)
    (m,) = store.history(sid)
    assert m.content == "I am [EMAIL], card [CARD], [PHONE]"
    assert store.sessions()[0].title == "from [EMAIL]"
    assert store.search("example") == []


def _v1_database(path: Path) -> None:
    """What vega_lab wrote before schema version 2, built with its own migration step."""
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at DATETIME)"
        )
        schema.MIGRATIONS[0][1](conn)
        conn.exec_driver_sql("INSERT INTO schema_version VALUES (1, '2025-01-01 00:00:00')")
        conn.exec_driver_sql(
            "INSERT INTO sessions VALUES ('s1', 'legacy', '2025-01-01 00:00:00.000000', "
            "'2025-01-01 00:00:00.000000', NULL, '{}')"
        )
        conn.exec_driver_sql(
            "INSERT INTO messages (session_id, role, content, created_at) "
            "VALUES ('s1', 'user', 'an old question about kangaroos', '2025-01-01 00:00:00.000000')"
        )
    engine.dispose()


def test_migration_upgrades_an_older_store_and_keeps_data(tmp_path: Path) -> None:
    path = tmp_path / "v1.sqlite"
    _v1_database(path)
    store = ConversationStore(path, mask_pii=False)
    assert (store.upgraded_from, store.schema_version) == (1, schema.SCHEMA_VERSION)
    (m,) = store.history("s1")
    assert m.content == "an old question about kangaroos" and m.error is None
    assert [x.id for x in store.search("kangaroos")] == [m.id]  # FTS built from old rows
    store.add_message("s1", "assistant", "kangaroos hop", error=None)
    assert len(store.search("kangaroos")) == 2
    store.close()
    again = ConversationStore(path, mask_pii=False)
    assert again.upgraded_from == schema.SCHEMA_VERSION
    again.close()


def test_orm_matches_migrated_schema(store: ConversationStore) -> None:
    insp = inspect(store.engine)
    for row in (schema.SessionRow, schema.MessageRow, schema.FeedbackRow):
        table = row.__table__
        assert {c["name"] for c in insp.get_columns(table.name)} == {c.name for c in table.c}


def test_newer_schema_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "future.sqlite"
    ConversationStore(path, mask_pii=False).close()
    with sqlite3.connect(path) as con:
        con.execute("INSERT INTO schema_version VALUES (99, '2030-01-01')")
    con.close()
    before = _digest(path)
    with pytest.raises(ConversationStoreError, match="upgrade vega_lab"):
        ConversationStore(path, mask_pii=False)
    assert _digest(path) == before


def test_not_sqlite_refused_and_untouched(tmp_path: Path) -> None:
    path = tmp_path / "notes.sqlite"
    path.write_text("these are my notes, not a database\n" * 50)
    before = _digest(path)
    with pytest.raises(ConversationStoreError, match="not a SQLite database") as err:
        ConversationStore(path, mask_pii=False)
    assert str(path) in str(err.value) and err.value.hint
    assert isinstance(err.value, ChatError) and isinstance(err.value, VegaError)
    assert _digest(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.sqlite"]


def test_other_sqlite_database_refused(tmp_path: Path) -> None:
    path = tmp_path / "results.sqlite"
    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE runs (id TEXT)")
    con.close()
    with pytest.raises(ConversationStoreError, match="not a conversation store"):
        ConversationStore(path, mask_pii=False)
    with sqlite3.connect(path) as con:
        names = [r[0] for r in con.execute("SELECT name FROM sqlite_master")]
    con.close()
    assert names == ["runs"]


def test_non_sqlite_url_refused(tmp_path: Path) -> None:
    with pytest.raises(ConversationStoreError, match="SQLite file"):
        ConversationStore("postgresql://localhost/chat")
    with pytest.raises(ConversationStoreError, match="directory"):
        ConversationStore(tmp_path, mask_pii=False)


def test_locked_store_fails_clearly_and_loses_nothing(tmp_path: Path) -> None:
    path = tmp_path / "locked.sqlite"
    store = ConversationStore(path, mask_pii=False, busy_timeout_s=0.2)
    sid = store.new_session("mine")
    kept = store.add_message(sid, "user", "written before the lock")
    other = sqlite3.connect(path, timeout=5, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    other.execute(
        "INSERT INTO messages (session_id, role, content, created_at) "
        "VALUES (?, 'user', 'the other writer', '2026-01-01 00:00:00.000000')",
        (sid,),
    )
    with pytest.raises(ConversationStoreError, match="locked") as err:
        store.add_message(sid, "assistant", "blocked write")
    assert str(path) in str(err.value)
    assert [m.id for m in store.history(sid)] == [kept]  # readers still read under WAL
    other.execute("COMMIT")
    other.close()
    assert [m.content for m in store.history(sid)] == [
        "written before the lock",
        "the other writer",
    ]
    store.add_message(sid, "assistant", "after the lock")
    assert len(store.history(sid)) == 3
    store.close()


def test_open_conversations_default_path_and_cache(workspace: Path) -> None:
    store = open_conversations()
    assert store.path == workspace / "data" / "conversations.sqlite"
    assert open_conversations() is store
    assert open_conversations(store.path) is store
    assert store.mask_pii is False


def test_frame_and_stats(store: ConversationStore) -> None:
    sid = store.new_session("s")
    store.add_message(sid, "user", "q", prompt_tokens=3)
    mid = store.add_message(sid, "assistant", "a", latency_s=0.5, completion_tokens=4)
    store.add_feedback(mid, 1)
    df = store.frame()
    assert list(df["role"]) == ["user", "assistant"] and list(df["session_title"]) == ["s", "s"]
    assert df["rating"].isna().tolist() == [True, False]
    st = store.stats()
    assert (st["sessions"], st["messages"], st["thumbs_up"]) == (1, 2, 1)
    assert (st["prompt_tokens"], st["completion_tokens"], st["mean_latency_s"]) == (3, 4, 0.5)
    assert st["schema_version"] == schema.SCHEMA_VERSION
