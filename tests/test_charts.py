"""vega_lab.charts: charts render to inline SVG without a network, in one place, for every
notebook (the browser checks are in test_charts_browser.py and test_notebooks.py)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import altair as alt
import nbformat
import pandas as pd
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from tests.conftest import REPO
from tests.test_notebooks import NOTEBOOKS
from vega_lab import charts


@pytest.fixture
def renderer() -> Iterator[None]:
    """Leave altair's active renderer as it was found."""
    before = alt.renderers.active
    yield
    alt.renderers.enable(before)


def _heatmap(scheme: str) -> alt.Chart:
    frame = pd.DataFrame({"x": [0, 1, 0, 1], "y": [0, 0, 1, 1], "v": [1.0, 2.0, 3.0, 4.0]})
    return (
        alt.Chart(frame)
        .mark_rect()
        .encode(x="x:O", y="y:O", color=alt.Color("v:Q", scale=alt.Scale(scheme=scheme)))
    )


def test_enable_offline_makes_every_chart_inline_svg(renderer: None) -> None:
    chart = _heatmap("blues")
    assert "cdn.jsdelivr" in chart._repr_mimebundle_()["text/html"]  # altair's default
    charts.enable_offline()
    bundle = chart._repr_mimebundle_()
    assert set(bundle) == {"text/html", "image/svg+xml", "text/plain"}
    html = bundle["text/html"]
    assert html.startswith('<div class="vega-lab-chart"><svg') and 'class="marks"' in html
    assert "<script" not in html and "http" not in html.replace("http://www.w3.org/", "")
    assert bundle["image/svg+xml"] in html


def test_svg_ids_are_unique_per_chart_and_resolve_inside_it() -> None:
    """Two charts inlined in one page must not share a legend gradient (vega numbers ids from
    0 in every SVG, so the second chart would show the first one's colours)."""
    blues, magma = charts.to_svg(_heatmap("blues")), charts.to_svg(_heatmap("magma"))
    ids = [set(re.findall(r'\bid="([^"]+)"', svg)) for svg in (blues, magma)]
    assert ids[0] and ids[1] and not ids[0] & ids[1]
    for svg, own in zip((blues, magma), ids, strict=True):
        assert set(re.findall(r"url\(#([^)]+)\)", svg)) <= own
    assert charts.to_svg(_heatmap("blues")) == blues  # deterministic: reruns diff cleanly


def test_notebook_html_loads_nothing_from_a_cdn() -> None:
    output = new_output("display_data", data=charts.mimebundle(_heatmap("blues")))
    nb = new_notebook(
        cells=[new_markdown_cell("# A chart\n$x^2$"), new_code_cell("chart", outputs=[output])]
    )
    page = charts.notebook_html(nb)
    assert 'class="marks"' in page
    remote = re.findall(r"""<(?:script|link)[^>]+(?:src|href)=["']?(https?:[^"' >]+)""", page)
    assert remote == []


def test_every_notebook_enables_offline_charts_once_first() -> None:
    """Thin notebooks: the one call, in the first code cell after the parameters, and no other
    way of rendering charts (no renderer choice, no hand-made SVG displays)."""
    for path in NOTEBOOKS:
        rel = path.relative_to(REPO).as_posix()
        code = [
            c.source
            for c in nbformat.read(path, 4).cells
            if c.cell_type == "code" and "parameters" not in c.metadata.get("tags", [])
        ]
        calls = [i for i, src in enumerate(code) if re.search(r"^enable_offline\(\)", src, re.M)]
        assert calls == [0], f"{rel}: enable_offline() in code cells {calls}, want [0]"
        for src in code:
            assert "alt.renderers" not in src and "to_svg" not in src, rel
