"""Charts draw with the network cut, in real Chromium: a sweep report and its run reports (with
the executed notebook they embed), and the Voila dashboards that draw charts. Every request to a
host outside 127.0.0.1 is aborted and recorded; none may happen. (Executed notebooks are checked
in test_notebooks.py, the experiments and multimodal dashboards in test_dashboard_browser.py.)"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import altair as alt
import nbformat
import pandas as pd
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output
from papermill.iorw import load_notebook_node
from papermill.parameterize import parameterize_notebook

from tests.browser import drawn_charts, launch_chromium, offline_context
from tests.conftest import REPO, tiny_notebook
from tests.federated.test_matrix_results import record_robustness_runs
from tests.test_notebooks import SMALL
from vega_lab import charts
from vega_lab.chat import open_conversations
from vega_lab.experiments import run_sweep
from vega_lab.servers import start_dashboards

pytestmark = pytest.mark.slow

CHART_CELL = """\
import altair as alt
import pandas as pd

from vega_lab.charts import enable_offline

enable_offline()
values = pd.DataFrame({"step": range(steps), "value": [scale * (s + 1) for s in range(steps)]})
alt.Chart(values, title="value").mark_line(point=True).encode(x="step:Q", y="value:Q")
"""

SPEC = """\
name: offline_charts
notebook: {notebook}
executor: local
workers: 2
grid:
  scale: [1.0, 2.0]
seeds: [0]
"""

# Dashboards whose first view draws a chart: (notebook, charts at least, parameters). The
# federated and privacy panels draw after a run, so those run on load (autorun); the chat
# analytics read exchanges recorded below instead of asking the model for demo ones; the
# federated dashboard also draws the robustness heatmap from the matrix recorded below.
DASHBOARDS = [
    ("chat_analytics.ipynb", 1, {"demo": False}),
    ("federated.ipynb", 2, SMALL["widgets/federated.ipynb"]),
    ("privacy.ipynb", 1, SMALL["widgets/privacy.ipynb"]),
]


@pytest.fixture(scope="module")
def chromium() -> Any:
    with launch_chromium() as browser:
        yield browser


def _open(context: Any, path: Path) -> Any:
    page = context.new_page()
    page.goto(path.as_uri())
    return page


def test_the_check_catches_a_cdn_chart(chromium: Any, tmp_path: Path) -> None:
    """Altair's default output (vega-embed from a CDN) neither draws nor goes unnoticed; ours
    beside it draws."""
    chart = (
        alt.Chart(pd.DataFrame({"x": [1, 2, 3], "y": [3, 1, 2]})).mark_line().encode(x="x", y="y")
    )
    with alt.renderers.enable("default"):
        cdn = chart._repr_mimebundle_()
    outputs = [
        new_output("display_data", data=cdn),
        new_output("display_data", data=charts.mimebundle(chart)),
    ]
    page_file = tmp_path / "two.html"
    page_file.write_text(
        charts.notebook_html(new_notebook(cells=[new_code_cell("c", outputs=outputs)]))
    )
    with offline_context(chromium) as (context, offline):
        page = _open(context, page_file)
        page.wait_for_timeout(500)  # vega-embed's loader would have asked by now
        drawn = drawn_charts(page)
    assert len(drawn) == 1 and drawn[0] >= 1
    assert any("cdn.jsdelivr.net" in url for url in offline.blocked), offline.blocked


def test_sweep_and_run_reports_draw_offline(chromium: Any, workspace: Path) -> None:
    notebook = tiny_notebook(workspace / "charted.ipynb")
    nb = nbformat.read(notebook, 4)
    nb.cells.append(new_code_cell(CHART_CELL))
    nbformat.write(nb, notebook)
    spec = workspace / "offline_charts.yaml"
    spec.write_text(SPEC.format(notebook=notebook))
    res = run_sweep(spec, progress=False)
    assert len(res.finished) == 2, res.failed

    with offline_context(chromium) as (context, offline):
        sweep = _open(context, Path(res.report_path))
        drawn = drawn_charts(sweep)
        in_file = Path(res.report_path).read_text().count('class="marks"')
        assert len(drawn) == in_file >= 2  # curves of `value`, final bars of `total`

        run = _open(
            context, workspace / "reports" / "runs" / res.finished[0].run_id / "report.html"
        )
        frame = run.frame_locator("iframe").locator("svg.marks").first
        frame.wait_for(timeout=30_000)  # the executed notebook, embedded
        notebook_frame = next(f for f in run.frames if f.url.endswith("notebook.html"))
        assert len(drawn_charts(run)) >= 1 and len(drawn_charts(notebook_frame)) >= 1
    assert offline.blocked == []


def _record_chats() -> None:
    """Three days of exchanges with latencies, tokens and feedback, through the store's API."""
    store = open_conversations()
    sid = store.new_session("offline charts")
    for i, days in enumerate((3, 2, 1)):
        at = datetime.now(UTC).replace(tzinfo=None) - timedelta(days=days)
        store.add_message(sid, "user", f"question {i}", created_at=at)
        answer = store.add_message(
            sid,
            "assistant",
            f"answer {i}",
            latency_s=0.5 + i,
            completion_tokens=20 + i,
            created_at=at + timedelta(seconds=1 + i),
        )
        store.add_feedback(answer, 1 if i else -1)


def test_dashboards_draw_their_charts_offline(chromium: Any, workspace: Path) -> None:
    """Voila serves each dashboard (with small parameters, as test_notebooks runs it); the widget
    state arrives over a websocket after the page, so each waits for its charts to appear."""
    _record_chats()
    record_robustness_runs()
    served = workspace / "dashboards" / "widgets"
    served.mkdir(parents=True)
    for name, _, params in DASHBOARDS:
        nb = parameterize_notebook(load_notebook_node(str(REPO / "widgets" / name)), params)
        nbformat.write(nb, served / name)
    with (
        start_dashboards(root=served.parent, port=0) as server,
        offline_context(chromium) as (context, offline),
    ):
        pages = []
        for name, _, _ in DASHBOARDS:  # all three at once: their kernels start side by side
            page = context.new_page()
            page.goto(server.url(f"voila/render/{name}"), wait_until="commit", timeout=120_000)
            pages.append(page)
        for page, (name, least, _) in zip(pages, DASHBOARDS, strict=True):
            page.wait_for_function(
                "n => document.querySelectorAll('svg.marks').length >= n",
                arg=least,
                timeout=300_000,
            )
            drawn = drawn_charts(page)
            assert len(drawn) >= least, f"{name}: {drawn}"
            print(f"widgets/{name}: {len(drawn)} charts drew offline in Voila")
        _check_robustness_heatmap(pages[[n for n, _, _ in DASHBOARDS].index("federated.ipynb")])
    assert offline.blocked == []


def _check_robustness_heatmap(page: Any) -> None:
    """The recorded matrix (two seeds, 0% and 30% malicious) as a heatmap that drew, one
    labelled cell per aggregator, attack and fraction; choosing 30% redraws it with 4 cells."""

    def cells() -> dict[str, Any]:
        return page.evaluate(_HEATMAP_JS)

    every = cells()
    assert every["charts"] == 1 and every["width"] > 0 and every["height"] > 0, every
    assert len(every["labels"]) == 8 and every["rects"] >= 8, every
    assert {"refused", "0.91", "0.51"} <= set(every["labels"])  # Bulyan at 30%; clean FedAvg
    page.locator(".vega-robustness-fraction select").select_option(label="30%")
    page.wait_for_function(
        "() => !document.querySelector('.vega-robustness-chart').innerHTML.includes('>0.91<')",
        timeout=60_000,
    )
    one = cells()
    assert one["charts"] == 1 and one["width"] > 0, one
    assert sorted(one["labels"]) == ["0.51", "0.71", "refused", "refused"], one
    assert "30% malicious" in page.inner_text(".vega-robustness-chart")


# The heatmap's SVG in the page: its size, rect marks, and the cells' texts.
_HEATMAP_JS = """() => {
    const svgs = document.querySelectorAll('.vega-robustness-chart svg.marks');
    const box = svgs.length ? svgs[0].getBoundingClientRect() : {width: 0, height: 0};
    const q = s => svgs.length ? [...svgs[0].querySelectorAll(s)] : [];
    return {charts: svgs.length, width: box.width, height: box.height,
            rects: q('g.mark-rect.role-mark > path').length,
            labels: q('g.mark-text.role-mark > text').map(t => t.textContent)};
}"""
