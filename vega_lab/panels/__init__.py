"""ipywidgets faces: each panel only wires widgets to library calls and charts."""

from typing import Any

from vega_lab.panels.experiments import ExperimentsPanel

__all__ = ["ExperimentsPanel", "FederatedPanel"]


def __getattr__(name: str) -> Any:  # FederatedPanel pulls in torch: only when asked for
    if name == "FederatedPanel":
        from vega_lab.panels.federated import FederatedPanel

        return FederatedPanel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
