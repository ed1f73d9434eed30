"""ipywidgets faces: each panel only wires widgets to library calls and charts."""

from typing import Any

from vega_lab.panels.experiments import ExperimentsPanel

__all__ = ["AuditPanel", "ChatPanel", "ExperimentsPanel", "FederatedPanel", "MultimodalPanel"]


def __getattr__(name: str) -> Any:  # these panels pull in torch: only when asked for
    if name == "FederatedPanel":
        from vega_lab.panels.federated import FederatedPanel

        return FederatedPanel
    if name == "AuditPanel":
        from vega_lab.panels.audit import AuditPanel

        return AuditPanel
    if name == "ChatPanel":
        from vega_lab.panels.chat import ChatPanel

        return ChatPanel
    if name == "MultimodalPanel":
        from vega_lab.panels.multimodal import MultimodalPanel

        return MultimodalPanel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
