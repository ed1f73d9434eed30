"""FederatedPanel: configure a federated simulation, run it in the background, watch it live."""

from __future__ import annotations

import importlib.util
import threading
from typing import Any

import altair as alt
import ipywidgets as w
import pandas as pd

from vega_lab.charts import metric_curves
from vega_lab.federated import (
    PARTITIONERS,
    FederatedConfig,
    FederatedResult,
    RoundRecord,
    simulate,
)
from vega_lab.federated.attacks import ATTACKS, malicious_clients
from vega_lab.federated.matrix import defence_options
from vega_lab.panels.base import RunPanel
from vega_lab.panels.federated_views import flags_html, strategy_choices

DATASETS = ("digits", "mnist")


def _engines() -> tuple[str, ...]:
    """vectorized and sequential always; flower where its engine and flwr are installed."""
    have_flower = all(
        importlib.util.find_spec(m) is not None
        for m in ("flwr", "vega_lab.federated.engines.flower")
    )
    return ("vectorized", "sequential", *(("flower",) if have_flower else ()))


def round_curves(history: list[RoundRecord], label: str = "global") -> alt.HConcatChart:
    """Global test accuracy and loss per round, side by side."""
    rows = [
        {"run": label, "step": r.round, "name": name, "value": getattr(r, name)}
        for r in history
        for name in ("accuracy", "loss")
    ]
    data = pd.DataFrame(rows, columns=["run", "step", "name", "value"])
    size = {"width": 300, "height": 200}
    return metric_curves(data, "accuracy", **size) | metric_curves(data, "loss", **size)


class FederatedPanel(RunPanel):
    """Pick data, partition, strategy and engine; Run simulates in a background thread (the
    kernel stays responsive), Stop ends it after the current round.

    Robustness: an attack run by a malicious fraction of the clients; a robust aggregator is
    told how many they are (its ``f``, as in `federated.matrix`), and one whose guarantee is
    void for that many says so in the status line. Anomaly flags appear per round.

    Keyword arguments set the controls (``FederatedPanel(rounds=5, strategy="scaffold")``);
    other `FederatedConfig` fields given here (``batch_size=16``) are passed through as fixed.
    """

    busy = "a run is in progress: Stop it first"
    thread_name = "vega-federated"

    def __init__(self, **values: Any) -> None:
        d = FederatedConfig()
        wide = {"style": {"description_width": "110px"}, "layout": w.Layout(width="260px")}
        self.dataset = w.Dropdown(options=DATASETS, value=d.dataset, description="Dataset", **wide)
        self.partition = w.Dropdown(
            options=list(PARTITIONERS), value=d.partition, description="Partition", **wide
        )
        self.alpha = w.FloatText(value=d.alpha, description="Dirichlet α", **wide)
        self.labels_per_client = w.IntText(
            value=d.labels_per_client, description="Labels/client", **wide
        )
        self.strategy = w.Dropdown(
            options=strategy_choices(), value=d.strategy, description="Strategy", **wide
        )
        self.engine = w.Dropdown(options=_engines(), value=d.engine, description="Engine", **wide)
        self.num_clients = w.IntText(value=d.num_clients, description="Clients", **wide)
        self.fraction = w.FloatText(value=d.fraction, description="Fraction/round", **wide)
        self.rounds = w.IntText(value=d.rounds, description="Rounds", **wide)
        self.local_epochs = w.IntText(value=d.local_epochs, description="Local epochs", **wide)
        self.lr = w.FloatText(value=d.lr, description="Learning rate", **wide)
        self.seed = w.IntText(value=d.seed, description="Seed", **wide)
        self.attack = w.Dropdown(
            options=list(ATTACKS), value=d.attack, description="Attack", **wide
        )
        self.malicious_fraction = w.FloatSlider(
            value=d.malicious_fraction,
            min=0.0,
            max=0.4,
            step=0.05,
            readout_format=".0%",
            description="Malicious",
            style=wide["style"],
            layout=w.Layout(width="340px"),
        )
        names = (
            "dataset",
            "partition",
            "alpha",
            "labels_per_client",
            "strategy",
            "engine",
            "num_clients",
            "fraction",
            "rounds",
            "local_epochs",
            "lr",
            "seed",
            "attack",
            "malicious_fraction",
        )
        self.controls: dict[str, w.ValueWidget] = {k: getattr(self, k) for k in names}

        self.run_button = w.Button(description="Run", icon="play", button_style="primary")
        self.stop_button = w.Button(description="Stop", icon="stop", disabled=True)
        self.progress = w.IntProgress(value=0, min=0, max=1, description="Round")
        self.progress_label = w.Label()
        self.status = w.HTML()
        self.chart = w.Output()
        self.flags = w.HTML()
        self.stop_button.add_class("vega-federated-stop")
        self.flags.add_class("vega-federated-flags")
        self.attack.add_class("vega-federated-attack")
        c = self.controls
        super().__init__(
            [
                w.HBox(
                    [
                        w.VBox([c["dataset"], c["partition"], c["alpha"], c["labels_per_client"]]),
                        w.VBox([c["strategy"], c["engine"], c["num_clients"], c["fraction"]]),
                        w.VBox([c["rounds"], c["local_epochs"], c["lr"], c["seed"]]),
                    ]
                ),
                w.HBox([c["attack"], c["malicious_fraction"]]),
                w.HBox([self.run_button, self.stop_button, self.progress, self.progress_label]),
                self.status,
                self.chart,
                self.flags,
            ],
            "vega-federated",
            values,
        )
        self.result: FederatedResult | None = None
        self.history: list[RoundRecord] = []
        self._series = ""
        self._stop = threading.Event()
        self.stop_button.on_click(lambda _: self.stop())

    # ---- actions ------------------------------------------------------------------------
    def config(self) -> FederatedConfig:
        """The controls as a validated config (raises `FederatedError` naming bad fields). A
        robust aggregator gets ``f`` = the number of malicious clients (the defender knows f,
        as in the robustness matrix); ``strategy_options`` given to the panel win."""
        values = {k: c.value for k, c in self.controls.items()} | self.fixed
        config = FederatedConfig.make(**values)
        bad = malicious_clients(config.num_clients, config.malicious_fraction, config.seed)
        options = defence_options(config.strategy, len(bad)) | config.strategy_options
        if options == config.strategy_options:
            return config
        return FederatedConfig.make(**(values | {"strategy_options": options}))

    def _reset(self, config: FederatedConfig) -> None:
        self.result, self.history = None, []
        self.flags.value = ""
        self._series = f"{config.strategy} · {config.partition}"
        self._stop.clear()
        self.progress.max, self.progress.value, self.progress.bar_style = config.rounds, 0, ""
        self.progress_label.value = f"0/{config.rounds}"
        self.run_button.disabled, self.stop_button.disabled = True, False
        self._say(
            f"running {config.strategy} on {config.dataset}, {config.partition} partition, "
            f"{config.num_clients} clients, engine {config.engine}"
            + (
                f", attack {config.attack} by {config.malicious_fraction:.0%} of clients"
                if config.attack != "none"
                else ""
            )
            + " …"
        )

    def stop(self) -> None:
        """Ask the run to end after its current round."""
        self._stop.set()
        if self.running:
            self._say("stopping after the current round …")

    # ---- the background thread ----------------------------------------------------------
    def _work(self, config: FederatedConfig) -> None:
        try:
            result = simulate(config, on_round=self._on_round, should_stop=self._stop.is_set)
        except Exception as exc:  # shown in the status label; the kernel keeps running
            self._fail(exc)
        else:
            self.result = result
            self.flags.value = flags_html(result.history, result.audit)
            n, last = len(result.history), result.history[-1] if result.history else None
            acc = f", accuracy {last.accuracy:.4f}" if last else ""
            style = "success" if result.stop_reason == "completed" else "warning"
            self.progress.bar_style = style
            self._say(f"{result.stop_reason} after {n} round(s){acc}", style)
        finally:
            self.run_button.disabled, self.stop_button.disabled = False, True

    def _on_round(self, record: RoundRecord) -> None:
        self.history.append(record)
        n = len(self.history)
        self.progress.value = n
        self.progress_label.value = (
            f"{n}/{self.progress.max} · acc {record.accuracy:.3f} · loss {record.loss:.3f}"
        )
        self._draw(round_curves(self.history, self._series), f"<chart: {n} rounds>")
        self.flags.value = flags_html(self.history)
