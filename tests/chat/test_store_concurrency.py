"""Several processes (a notebook, the CLI, a dashboard) writing one conversation file at once
lose nothing: 4 spawned writers x 500 messages leave exactly 2000 rows, each session whole."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from vega_lab.chat.store import ConversationStore
from vega_lab.chat.store_bench import bench_store


def test_four_processes_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite"
    result = bench_store(processes=4, messages=500, path=path)
    assert result["messages"] == 2000 and result["msgs_per_s"] > 0
    store = ConversationStore(path, mask_pii=False)
    assert store.stats()["messages"] == 2000
    sessions = {s.id: s for s in store.sessions()}
    assert set(sessions) == set(result["sessions"]) and len(sessions) == 4
    for writer, sid in enumerate(result["sessions"]):
        assert sessions[sid].messages == 500 and sessions[sid].metadata == {"writer": writer}
        contents = [m.content for m in store.history(sid)]
        assert contents == [f"writer {writer} message {i}: the quick brown fox" for i in range(500)]
    assert len(store.search("fox", limit=5000)) == 2000
    store.close()
    with sqlite3.connect(path) as con:
        assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        con.execute("INSERT INTO messages_fts(messages_fts) VALUES ('integrity-check')")
        assert con.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    con.close()
