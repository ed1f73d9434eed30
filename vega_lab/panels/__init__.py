"""ipywidgets faces: each panel only wires widgets to library calls and charts."""

from vega_lab._lazy import lazy_exports
from vega_lab.panels.experiments import ExperimentsPanel

# These panels pull in torch (and the multimodal models): only when asked for.
_LAZY = {
    "AuditPanel": "vega_lab.panels.audit",
    "ChatPanel": "vega_lab.panels.chat",
    "FederatedPanel": "vega_lab.panels.federated",
    "MultimodalPanel": "vega_lab.panels.multimodal",
    "RobustnessPanel": "vega_lab.panels.robustness",
}
__all__ = ["ExperimentsPanel", *_LAZY]

__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
