"""The one place charts are rendered: altair charts of recorded metrics, drawn offline to SVG
with vl-convert, for notebooks (`enable_offline`), reports, panels and exported notebooks.

Altair's default renderer emits HTML that fetches vega-embed from a CDN, so a saved notebook or
a report opened without network shows no chart. Inline SVG needs no JavaScript at all: it draws
in live JupyterLab, in a papermill output, in nbconvert's HTML and in Voila alike. The price is
interactivity (tooltips, zoom), which none of our charts depends on.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import altair as alt
import pandas as pd

RENDERER = "vega_lab_svg"


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


def heatmap(
    frame: pd.DataFrame,
    x: str,
    y: str,
    value: str,
    *,
    text: str | None = None,
    x_sort: list[str] | None = None,
    y_sort: list[str] | None = None,
    domain: tuple[float, float] | None = None,
    title: str | None = None,
    cell: tuple[int, int] = (44, 22),
) -> alt.LayerChart:
    """A grid of ``value`` by ``x`` and ``y`` (red low, green high; grey where the value is
    missing), each cell labelled with its ``text`` column (default: the value to two
    decimals). One row per cell is expected."""
    data = frame.copy()
    if text is None:
        text = "_label"
        data[text] = data[value].map(lambda v: "" if pd.isna(v) else f"{v:.2f}")
    scale = alt.Scale(scheme="redyellowgreen", **({"domain": list(domain)} if domain else {}))
    base = alt.Chart(data).encode(
        x=alt.X(f"{x}:N", sort=x_sort, title=None),
        y=alt.Y(f"{y}:N", sort=y_sort, title=None),
    )
    blank = base.mark_rect(color="#d9d9d9")  # under every cell: shows where a value is missing
    rect = base.mark_rect().encode(
        color=alt.Color(f"{value}:Q", scale=scale, title=value),
        tooltip=[f"{y}:N", f"{x}:N", alt.Tooltip(f"{value}:Q", format=".4f"), f"{text}:N"],
    )
    labels = base.mark_text(fontSize=10).encode(text=f"{text}:N")
    nx, ny = data[x].nunique(), data[y].nunique()
    chart = (blank + rect + labels).properties(
        width=cell[0] * max(nx, 1), height=cell[1] * max(ny, 1)
    )
    return chart.properties(title=title) if title else chart


_ID = re.compile(r'\bid="([^"]+)"')


def to_svg(chart: alt.TopLevelMixin | dict[str, Any]) -> str:
    """Render a chart (or its Vega-Lite spec) to an SVG string without a browser or the network.

    Ids inside (clip paths, legend gradients) are renamed after the drawing: vega numbers them
    per process, so two SVGs inlined in one page could share one, and a chart would clip to, or
    colour its legend with, another chart's definitions. The same chart gets the same ids.
    The root may overflow its box: vl-convert lays text out with a narrower font than a
    browser's fallback, which would otherwise cut legend and axis labels off at the edge.
    """
    import vl_convert as vlc

    spec = chart if isinstance(chart, dict) else chart.to_dict()
    svg = vlc.vegalite_to_svg(spec).replace("<svg ", '<svg style="overflow:visible" ', 1)
    ids = list(dict.fromkeys(_ID.findall(svg)))
    if not ids:
        return svg
    refs = re.compile(r'(\bid="|url\(#|href="#)(' + "|".join(map(re.escape, ids)) + r')(?=[")])')
    canonical = refs.sub(lambda m: f"{m.group(1)}{ids.index(m.group(2))}", svg)
    prefix = "v" + hashlib.sha1(canonical.encode()).hexdigest()[:8]
    return refs.sub(lambda m: f"{m.group(1)}{prefix}-{ids.index(m.group(2))}", svg)


def mimebundle(chart: alt.TopLevelMixin | dict[str, Any]) -> dict[str, str]:
    """A notebook output for ``chart``: the SVG inline in ``text/html`` (what JupyterLab,
    nbconvert and Voila show, as DOM they can style), the same SVG as ``image/svg+xml`` for
    exporters that take images (PDF, Markdown), and a ``text/plain`` stand-in."""
    svg = to_svg(chart)
    return {
        "text/html": f'<div class="vega-lab-chart">{svg}</div>',
        "image/svg+xml": svg,
        "text/plain": "<altair chart, drawn offline as SVG>",
    }


def _render(spec: dict[str, Any], **_metadata: Any) -> dict[str, str]:
    return mimebundle(spec)


alt.renderers.register(RENDERER, _render)


def enable_offline() -> None:
    """Make altair draw every chart shown in this kernel as inline SVG (no network, no
    JavaScript). Each notebook calls it once, in its first code cell."""
    alt.renderers.enable(RENDERER)


_OFFLINE_TEMPLATE = """{%- extends 'lab/index.html.j2' -%}
{% block html_head_js_requirejs %}{% endblock html_head_js_requirejs %}
{% block jupyter_widgets %}{% endblock jupyter_widgets %}
{% block html_head_js_mathjax %}{% endblock html_head_js_mathjax %}
{% block html_head_js_mermaidjs %}{% endblock html_head_js_mermaidjs %}
"""


def notebook_html(notebook: Path | Any) -> str:
    """An executed notebook (a path or an nbformat node) as one self-contained HTML page.

    nbconvert's lab template loads require.js, MathJax, Mermaid and the widget manager from a
    CDN; the page here drops those scripts (charts are inline SVG and need none; LaTeX stays
    as source, saved widget views are not redrawn), so it opens offline without a request.
    """
    import jinja2
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(notebook, 4) if isinstance(notebook, (str, Path)) else notebook
    exporter = HTMLExporter(
        template_name="lab",
        template_file="vega_lab_offline.html.j2",
        extra_loaders=[jinja2.DictLoader({"vega_lab_offline.html.j2": _OFFLINE_TEMPLATE})],
    )
    body, _ = exporter.from_notebook_node(nb)
    return body
