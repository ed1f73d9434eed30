"""ipywidgets faces: each panel only wires widgets to library calls and charts."""

from vega_lab.panels.experiments import ExperimentsPanel

__all__ = ["ExperimentsPanel"]
