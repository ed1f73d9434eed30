"""RunPanel: the machinery shared by panels that run one job at a time in a background thread."""

from __future__ import annotations

import html
import threading
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from vega_lab.charts import mimebundle
from vega_lab.errors import VegaError

if TYPE_CHECKING:
    import altair as alt

# Status label (and verdict) colors by style.
COLORS = {"info": "#555", "success": "#1b7f3b", "warning": "#a65e00", "danger": "#b00020"}


def status_html(text: str, style: str = "info") -> str:
    """A panel's status line: ``text`` (escaped) in the colour of ``style`` (see COLORS)."""
    return f'<span style="color:{COLORS[style]}">{html.escape(text)}</span>'


class RunPanel(w.VBox):
    """A panel whose Run validates `config()` and hands it to `_work` in a daemon thread (the
    kernel stays responsive); errors, bad values included, land in the status label.

    Subclasses create `run_button`, `progress`, `progress_label`, `status` (HTML), `chart`
    (Output) and `controls` before calling ``super().__init__``, which tags the panel and these
    widgets with CSS classes named from ``prefix`` (``vega-audit-panel``, ``vega-audit-run`` …;
    `status` gets ``vega-status``). They define `config()`, `_reset(config)` (clear their
    results, reset the progress, say what starts) and `_work(config)`, run in the thread.
    """

    busy = "a run is in progress"  # the warning when Run is pressed during a run
    thread_name = "vega-panel"

    run_button: w.Button
    progress: w.IntProgress
    progress_label: w.Label
    status: w.HTML
    chart: w.Output
    controls: dict[str, w.ValueWidget]

    def __init__(self, children: list[w.Widget], prefix: str, values: dict[str, Any]) -> None:
        super().__init__(children)
        self.add_class(f"{prefix}-panel")
        for widget, name in ((self.run_button, "run"), (self.progress, "progress")):
            widget.add_class(f"{prefix}-{name}")
        self.chart.add_class(f"{prefix}-chart")
        self.status.add_class("vega-status")
        # Keyword values set the controls; the others are passed through to the config as fixed.
        self.fixed = {k: v for k, v in values.items() if k not in self.controls}
        for k, v in values.items():
            if k in self.controls:
                self.controls[k].value = v
        self.error: BaseException | None = None
        self._spec: dict[str, Any] | None = None
        self._thread: threading.Thread | None = None
        self.run_button.on_click(lambda _: self.run())

    # ---- actions ------------------------------------------------------------------------
    def config(self) -> Any:
        """The controls as a validated config (raises a `VegaError` naming the bad value)."""
        raise NotImplementedError

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def run(self, block: bool = False) -> None:
        """Validate the controls and work in a background thread; ``block`` waits for it.
        Bad values end up in the status label, never as an exception."""
        if self.running:
            self._say(self.busy, "warning")
            return
        try:
            config = self.config()
        except VegaError as exc:
            self._fail(exc)
            return
        self.error, self._spec = None, None
        self.chart.outputs = ()
        self._reset(config)
        self._start(config, self.thread_name)
        if block:
            self.wait()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the run to end; True when it has."""
        if self._thread is not None:
            self._thread.join(timeout)
        return not self.running

    def chart_spec(self) -> dict[str, Any] | None:
        """The Vega-Lite spec of the chart last drawn (None before any)."""
        return self._spec

    # ---- for subclasses -----------------------------------------------------------------
    def _reset(self, config: Any) -> None:
        raise NotImplementedError

    def _work(self, config: Any) -> None:
        raise NotImplementedError

    def _start(self, config: Any, name: str) -> None:
        """Run `_work(config)` in a daemon thread called ``name``."""
        self._thread = threading.Thread(target=self._work, args=(config,), name=name, daemon=True)
        self._thread.start()

    def _draw(self, chart: alt.TopLevelMixin, text: str) -> None:
        """Render ``chart`` as inline SVG into `chart` (``text`` its plain-text stand-in) and
        keep its Vega-Lite spec for `chart_spec`."""
        self._spec = chart.to_dict()
        self.chart.outputs = (
            {
                "output_type": "display_data",
                "data": {**mimebundle(self._spec), "text/plain": text},
                "metadata": {},
            },
        )

    def _fail(self, exc: BaseException) -> None:
        """Show the error in the status label (a `VegaError` by its message alone)."""
        self.error = exc
        self.progress.bar_style = "danger"
        text = str(exc) if isinstance(exc, VegaError) else f"{type(exc).__name__}: {exc}"
        self._say(text, "danger")

    def _say(self, text: str, style: str = "info") -> None:
        self.status.value = status_html(text, style)
