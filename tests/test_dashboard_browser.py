"""The experiments dashboard in real Chromium: Voila serves widgets/experiments.ipynb over a
real results store; choosing another metric redraws the chart. A screenshot lands in reports/.
The network is cut (tests/browser.py): the dashboards draw everything from 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser import drawn_charts, launch_chromium, offline_context
from tests.conftest import REPO
from vega_lab.experiments import open_store
from vega_lab.experiments.store import RunRow
from vega_lab.servers import start_dashboards

pytestmark = pytest.mark.slow


def _record_sweep() -> None:
    """Two runs of a small sweep with two step metrics, written through the store's API."""
    store = open_store()
    store.upsert_sweep(
        "demo_sweep", "experiments/centralized_baseline.ipynb", {"grid": {"lr": [0.1, 0.5]}}
    )
    rows = [
        RunRow(
            id=f"r-demo-{i}",
            sweep_id="demo_sweep",
            key=f"k{i}",
            notebook="experiments/centralized_baseline.ipynb",
            parameters={"lr": lr},
            seed=0,
            status="finished",
        )
        for i, lr in enumerate([0.1, 0.5])
    ]
    store.add_runs(rows)
    for i, row in enumerate(rows):
        for step in range(1, 6):
            store.log_metrics(
                row.id,
                {"test_accuracy": 0.5 + 0.08 * step - 0.05 * i, "train_loss": 2.0 / step + 0.1 * i},
                step=step,
                kind="step",
            )


def test_dashboard_renders_and_metric_choice_redraws(workspace: Path) -> None:
    _record_sweep()
    shots = REPO / "reports" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    with (
        start_dashboards(port=0, open_path="experiments.ipynb") as server,
        launch_chromium() as browser,
        offline_context(browser) as (context, offline),
    ):
        page = context.new_page()
        page.goto(server.browse_url, timeout=120_000)
        # Voila sends HTML first and widget state later: wait for the widget DOM itself.
        page.wait_for_selector(".vega-metric-chart svg", timeout=180_000)
        assert "demo_sweep" in page.inner_text(".vega-sweep-select")
        assert "r-demo-0" in page.inner_text(".vega-runs-table")
        select = page.locator(".vega-metric-select select")
        assert select.input_value() == "test_accuracy"
        before = page.inner_html(".vega-metric-chart")
        assert "test_accuracy" in before and "lr=0.5" in before
        assert len(drawn_charts(page)) == 1

        select.select_option("train_loss")
        page.wait_for_function(
            "() => document.querySelector('.vega-metric-chart').innerHTML.includes('train_loss')",
            timeout=60_000,
        )
        after = page.inner_html(".vega-metric-chart")
        assert after != before and "test_accuracy" not in after
        assert len(drawn_charts(page)) == 1
        page.screenshot(path=str(shots / "experiments_dashboard.png"), full_page=True)
    assert offline.blocked == []
    assert (shots / "experiments_dashboard.png").stat().st_size > 10_000


def test_multimodal_search_dashboard_shows_a_gallery_and_searches_again(workspace: Path) -> None:
    """Voila runs widgets/multimodal_search.ipynb over generated media: the first search's
    thumbnails render; typing a document query and clicking search lists the PDF's page."""
    shots = REPO / "reports" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    with (
        start_dashboards(port=0, open_path="multimodal_search.ipynb") as server,
        launch_chromium() as browser,
        offline_context(browser) as (context, offline),
    ):
        page = context.new_page()
        page.goto(server.browse_url, timeout=300_000)
        page.wait_for_selector(".vega-gallery img", timeout=300_000)
        assert page.locator(".vega-gallery img").count() >= 3
        assert "results for" in page.inner_text(".vega-status")

        page.locator(".vega-multimodal-panel input[placeholder^='search']").fill(
            "differential privacy noise"
        )
        page.locator(".vega-multimodal-panel button", has_text="search").first.click()
        page.wait_for_function(
            "() => document.querySelector('.vega-status').innerText"
            ".includes('differential privacy noise')",
            timeout=120_000,
        )
        first = page.inner_text(".vega-hits li")  # the best hit of the new search
        assert "privacy_notes.pdf p. 2" in first, first
        page.screenshot(path=str(shots / "multimodal_search.png"), full_page=True)
    assert offline.blocked == []
    assert (shots / "multimodal_search.png").stat().st_size > 10_000
