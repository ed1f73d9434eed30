"""Real Chromium for browser tests, with the network cut: every request to a host other than
127.0.0.1/localhost (and any http(s) request from a file:// page) is aborted and recorded, so a
test can assert that a page drew everything from what it had and that nothing left the machine.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LOCAL_HOSTS = {"127.0.0.1", "localhost", "[::1]", "::1"}

# Vega's SVG: the root <svg class="marks">, data marks in <g class="... role-mark ..."> groups
# (axes, legends and titles have other roles). A chart "drew" when it has a data mark with an
# element inside and takes up room on the page.
_DRAWN_CHARTS_JS = """() => [...document.querySelectorAll('svg.marks')].map(svg => {
    const box = svg.getBoundingClientRect();
    const marks = svg.querySelectorAll(
        'g.role-mark > path, g.role-mark > rect, g.role-mark > line, g.role-mark > circle,'
        + ' g.role-mark > text, g.role-mark > image, g.role-mark > g').length;
    return {marks, width: box.width, height: box.height};
})"""


def chromium_path() -> str:
    chromium = shutil.which("chromium")
    assert chromium, "Debian chromium is missing: `make test` installs it (.ci/ensure-system-deps)"
    return chromium


@contextmanager
def launch_chromium() -> Iterator[Any]:
    """Headless Debian Chromium driven by Playwright (its own browser download fails here)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Offline:
    """What a page tried to fetch from outside the machine (every such request is aborted)."""

    blocked: list[str] = field(default_factory=list)

    def allows(self, url: str) -> bool:
        parts = urlsplit(url)
        if parts.scheme in ("data", "blob", "file", "about", "chrome", "devtools"):
            return True
        return parts.hostname in LOCAL_HOSTS

    def route(self, route: Any) -> None:
        url = route.request.url
        if self.allows(url):
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort("internetdisconnected")

    def route_ws(self, ws: Any) -> None:
        if self.allows(ws.url):
            ws.connect_to_server()
        else:
            self.blocked.append(ws.url)
            ws.close()


@contextmanager
def offline_context(browser: Any, **options: Any) -> Iterator[tuple[Any, Offline]]:
    """A browser context whose every request outside 127.0.0.1 is aborted and recorded."""
    offline = Offline()
    context = browser.new_context(viewport={"width": 1280, "height": 1000}, **options)
    context.route("**/*", offline.route)
    context.route_web_socket("**/*", offline.route_ws)
    try:
        yield context, offline
    finally:
        context.close()


def drawn_charts(page_or_frame: Any) -> list[int]:
    """The number of data-mark elements of each vega chart in a page or frame that drew (has
    marks and a size); charts that did not draw are left out."""
    charts = page_or_frame.evaluate(_DRAWN_CHARTS_JS)
    return [c["marks"] for c in charts if c["marks"] > 0 and c["width"] > 0 and c["height"] > 0]


def chart_outputs(nb: Any) -> int:
    """How many outputs of an executed notebook are charts, whatever renderer made them:
    a Vega-Lite/Vega mime bundle, vega-embed HTML, or vega's SVG."""
    count = 0
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            html = str(data.get("text/html", ""))
            if (
                any(k.startswith("application/vnd.vega") for k in data)
                or "vega-embed" in html
                or 'class="marks"' in html + str(data.get("image/svg+xml", ""))
            ):
                count += 1
    return count


def exported_notebook_charts(browser: Any, nb: Any, page_file: Path) -> tuple[int, list[int]]:
    """Export an executed notebook as the workbench does (`notebook_html`), open the file with
    the network cut, and return (chart outputs in the notebook, marks of each chart that drew).
    Fails when the page asked for anything outside the machine."""
    from vega_lab.charts import notebook_html

    page_file.write_text(notebook_html(nb), encoding="utf-8")
    with offline_context(browser) as (context, offline):
        page = context.new_page()
        page.goto(page_file.as_uri())
        drawn = drawn_charts(page)
    assert offline.blocked == [], f"{page_file.name} asked the network for {offline.blocked}"
    return chart_outputs(nb), drawn
