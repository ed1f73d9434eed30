"""Chat analytics over ``store.frame()``: per-day volume, latency, throughput and feedback.

Pure pandas + altair so a Voila dashboard, a report and a test compute the same numbers; the
dashboard only composes the charts built here.
"""

from __future__ import annotations

from typing import Any

import altair as alt
import pandas as pd

__all__ = [
    "daily",
    "dashboard_chart",
    "feedback_chart",
    "latency_chart",
    "messages_chart",
    "summary",
    "throughput",
    "throughput_chart",
]

DAILY_COLUMNS = [
    "day",
    "messages",
    "answers",
    "latency_p50",
    "latency_p95",
    "tokens_per_s",
    "thumbs_up",
    "thumbs_down",
]


def _answers(frame: pd.DataFrame) -> pd.DataFrame:
    """Assistant rows that carry an answer: failed calls would skew latency and throughput."""
    ok = (frame["role"] == "assistant") & frame["error"].isna()
    return frame[ok]


def _day(frame: pd.DataFrame) -> pd.Series:
    return pd.to_datetime(frame["created_at"]).dt.floor("D")


def throughput(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per answered assistant message with a token count: ``tokens_per_s`` is
    completion_tokens / latency_s (streamed answers without counts are left out)."""
    a = _answers(frame)
    a = a[a["completion_tokens"].notna() & (a["latency_s"] > 0)]
    out = pd.DataFrame(
        {
            "message_id": a["message_id"],
            "created_at": pd.to_datetime(a["created_at"]),
            "day": _day(a),
            "completion_tokens": a["completion_tokens"].astype(float),
            "latency_s": a["latency_s"].astype(float),
        }
    )
    out["tokens_per_s"] = out["completion_tokens"] / out["latency_s"]
    return out.reset_index(drop=True)


def daily(frame: pd.DataFrame) -> pd.DataFrame:
    """Per day (UTC): messages (all roles), answers, latency p50/p95 of answers, mean tokens
    per second, thumbs up/down on that day's messages. Days without messages are absent."""
    if frame.empty:
        return pd.DataFrame(columns=DAILY_COLUMNS)
    f = frame.assign(day=_day(frame))
    out = f.groupby("day").size().rename("messages").to_frame()
    a = _answers(f)
    lat = a.dropna(subset=["latency_s"]).groupby("day")["latency_s"]
    out["answers"] = a.groupby("day").size()
    out["latency_p50"] = lat.quantile(0.5)
    out["latency_p95"] = lat.quantile(0.95)
    out["tokens_per_s"] = throughput(frame).groupby("day")["tokens_per_s"].mean()
    rating = f["rating"].astype("Float64")
    out["thumbs_up"] = (rating == 1).fillna(False).groupby(f["day"]).sum()
    out["thumbs_down"] = (rating == -1).fillna(False).groupby(f["day"]).sum()
    out[["answers", "thumbs_up", "thumbs_down"]] = (
        out[["answers", "thumbs_up", "thumbs_down"]].fillna(0).astype(int)
    )
    return out.reset_index()[DAILY_COLUMNS]


def summary(frame: pd.DataFrame) -> dict[str, Any]:
    """Headline numbers for the dashboard's first line."""
    a = _answers(frame)
    lat = a["latency_s"].dropna()
    tps = throughput(frame)["tokens_per_s"]
    rating = frame["rating"].dropna()
    return {
        "messages": len(frame),
        "sessions": int(frame["session_id"].nunique()),
        "answers": len(a),
        "failed_calls": int(((frame["role"] == "assistant") & frame["error"].notna()).sum()),
        "latency_p50": float(lat.quantile(0.5)) if len(lat) else None,
        "latency_p95": float(lat.quantile(0.95)) if len(lat) else None,
        "tokens_per_s": float(tps.mean()) if len(tps) else None,
        "thumbs_up": int((rating == 1).sum()),
        "thumbs_down": int((rating == -1).sum()),
    }


# ---- charts ---------------------------------------------------------------------------------
_W, _H = 360, 200


def _x() -> alt.X:
    return alt.X("day:T", title="day", timeUnit="yearmonthdate")


def messages_chart(days: pd.DataFrame) -> alt.Chart:
    """Messages per day as bars."""
    return (
        alt.Chart(days, title="messages per day")
        .mark_bar()
        .encode(x=_x(), y=alt.Y("messages:Q", title="messages"), tooltip=["day:T", "messages:Q"])
        .properties(width=_W, height=_H)
    )


def latency_chart(days: pd.DataFrame) -> alt.Chart:
    """Answer latency p50 and p95 per day, one line each."""
    long = days.melt(
        id_vars="day", value_vars=["latency_p50", "latency_p95"], var_name="q", value_name="s"
    ).dropna(subset=["s"])
    long["q"] = long["q"].str.replace("latency_", "")
    return (
        alt.Chart(long, title="answer latency (s)")
        .mark_line(point=True)
        .encode(
            x=_x(),
            y=alt.Y("s:Q", title="seconds"),
            color=alt.Color("q:N", title="quantile"),
            tooltip=["day:T", "q:N", alt.Tooltip("s:Q", format=".2f")],
        )
        .properties(width=_W, height=_H)
    )


def throughput_chart(frame: pd.DataFrame) -> alt.Chart:
    """Tokens per second of each answer (points) and the daily mean (line)."""
    data = throughput(frame)
    base = alt.Chart(data, title="tokens per second").encode(x=_x())
    points = base.mark_circle(opacity=0.5).encode(
        y=alt.Y("tokens_per_s:Q", title="tokens/s"),
        tooltip=["message_id:Q", alt.Tooltip("tokens_per_s:Q", format=".1f")],
    )
    line = base.mark_line().encode(y="mean(tokens_per_s):Q")
    return (points + line).properties(width=_W, height=_H)


def feedback_chart(days: pd.DataFrame) -> alt.Chart:
    """Thumbs up (above zero) and down (below) per day."""
    long = pd.DataFrame(
        {
            "day": list(days["day"]) * 2,
            "rating": ["up"] * len(days) + ["down"] * len(days),
            "count": list(days["thumbs_up"]) + [-v for v in days["thumbs_down"]],
        }
    )
    return (
        alt.Chart(long, title="feedback per day")
        .mark_bar()
        .encode(
            x=_x(),
            y=alt.Y("count:Q", title="thumbs (down < 0 < up)"),
            color=alt.Color(
                "rating:N", scale=alt.Scale(domain=["up", "down"], range=["#1b7f3b", "#b00020"])
            ),
            tooltip=["day:T", "rating:N", "count:Q"],
        )
        .properties(width=_W, height=_H)
    )


def dashboard_chart(frame: pd.DataFrame) -> alt.VConcatChart:
    """The four charts in a 2 × 2 grid."""
    days = daily(frame)
    return alt.vconcat(
        alt.hconcat(messages_chart(days), latency_chart(days)),
        alt.hconcat(throughput_chart(frame), feedback_chart(days)),
    )
