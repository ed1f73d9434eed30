"""Altair charts of recorded metrics, rendered offline to SVG with vl-convert.

SVG keeps reports and dashboards self-contained: no vega-embed from a CDN, which this
workbench never reaches.
"""

from __future__ import annotations

import altair as alt
import pandas as pd


def metric_curves(
    frame: pd.DataFrame,
    metric: str,
    *,
    color: str = "run",
    title: str | None = None,
    width: int = 420,
    height: int = 240,
) -> alt.Chart:
    """Lines of ``value`` by ``step`` for one metric, one line per ``color`` group (mean over
    anything else, e.g. seeds), with a band of min..max when a group has several runs."""
    data = frame[frame["name"] == metric].copy()
    data["step"] = data["step"].astype(float)
    base = alt.Chart(data, title=title or metric).encode(
        x=alt.X("step:Q", title="step"),
        color=alt.Color(f"{color}:N", title=color),
    )
    line = base.mark_line(point=True).encode(
        y=alt.Y("mean(value):Q", title=metric, scale=alt.Scale(zero=False)),
        tooltip=[alt.Tooltip(f"{color}:N"), "step:Q", alt.Tooltip("mean(value):Q", format=".4f")],
    )
    band = base.mark_area(opacity=0.15).encode(y="min(value):Q", y2="max(value):Q")
    return (band + line).properties(width=width, height=height)


def final_bars(
    frame: pd.DataFrame, metric: str, *, label: str = "config", width: int = 420, height: int = 240
) -> alt.Chart:
    """Final value of a metric per group: a point per run and the group mean as a bar."""
    bars = (
        alt.Chart(frame)
        .mark_bar(opacity=0.5)
        .encode(
            x=alt.X(f"{label}:N", title=label, sort=None),
            y=alt.Y("mean(value):Q", title=metric),
        )
    )
    points = (
        alt.Chart(frame)
        .mark_circle(size=50)
        .encode(x=alt.X(f"{label}:N", sort=None), y="value:Q", tooltip=["run_id:N", "value:Q"])
    )
    return (bars + points).properties(width=width, height=height, title=f"final {metric}")


def to_svg(chart: alt.TopLevelMixin) -> str:
    """Render a chart to an SVG string without a browser or the network."""
    import vl_convert as vlc

    return vlc.vegalite_to_svg(chart.to_dict())
