"""Chat analytics on a store seeded with known timestamps, latencies and tokens."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from vega_lab.charts import to_svg
from vega_lab.chat import analytics
from vega_lab.chat.store import ConversationStore


@pytest.fixture
def seeded(tmp_path: Path) -> ConversationStore:
    store = ConversationStore(tmp_path / "c.sqlite")
    sid = store.new_session("seeded")
    d1, d2 = datetime(2025, 3, 1, 10), datetime(2025, 3, 2, 9)

    def turn(at: datetime, latency: float, tokens: int | None) -> int:
        store.add_message(sid, "user", "q", created_at=at)
        return store.add_message(
            sid, "assistant", "a", latency_s=latency, completion_tokens=tokens, created_at=at
        )

    # Day 1: latencies 1, 2, 3, 4 s with 10 tokens each; one failed call (excluded).
    ids = [turn(d1, lat, 10) for lat in (1.0, 2.0, 3.0, 4.0)]
    store.add_message(sid, "assistant", "", latency_s=99.0, error="BackendError", created_at=d1)
    # Day 2: one streamed answer without a token count, one with 40 tokens in 2 s.
    turn(d2, 5.0, None)
    last = turn(d2, 2.0, 40)
    store.add_feedback(ids[0], 1)
    store.add_feedback(ids[1], 1)
    store.add_feedback(ids[2], -1)
    store.add_feedback(last, -1)
    return store


def test_daily_numbers(seeded: ConversationStore) -> None:
    days = analytics.daily(seeded.frame())
    assert list(days.columns) == analytics.DAILY_COLUMNS
    d1, d2 = days.iloc[0], days.iloc[1]
    assert (d1["messages"], d1["answers"], d2["messages"], d2["answers"]) == (9, 4, 4, 2)
    assert d1["latency_p50"] == pytest.approx(2.5)  # failed call's 99 s left out
    assert d1["latency_p95"] == pytest.approx(3.85)
    assert d1["tokens_per_s"] == pytest.approx((10 + 5 + 10 / 3 + 2.5) / 4)
    assert d2["latency_p50"] == pytest.approx(3.5)
    assert d2["tokens_per_s"] == pytest.approx(20.0)  # the streamed answer has no count
    assert (d1["thumbs_up"], d1["thumbs_down"], d2["thumbs_up"], d2["thumbs_down"]) == (2, 1, 0, 1)


def test_summary_and_throughput(seeded: ConversationStore) -> None:
    frame = seeded.frame()
    tps = analytics.throughput(frame)
    assert sorted(tps["tokens_per_s"].round(3)) == [2.5, 3.333, 5.0, 10.0, 20.0]
    s = analytics.summary(frame)
    assert (s["messages"], s["sessions"], s["answers"], s["failed_calls"]) == (13, 1, 6, 1)
    assert s["latency_p50"] == pytest.approx(2.5)
    assert (s["thumbs_up"], s["thumbs_down"]) == (2, 2)


def test_charts_render_and_an_empty_store_is_fine(
    seeded: ConversationStore, tmp_path: Path
) -> None:
    svg = to_svg(analytics.dashboard_chart(seeded.frame()))
    for title in ("messages per day", "answer latency", "tokens per second", "feedback per day"):
        assert title in svg
    empty = ConversationStore(tmp_path / "empty.sqlite").frame()
    assert analytics.daily(empty).empty
    assert analytics.summary(empty)["latency_p50"] is None
    assert to_svg(analytics.dashboard_chart(empty)).startswith("<svg")
