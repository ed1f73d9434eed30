"""Federated engines by name: ``vectorized`` (default, torch.func over stacked clients),
``sequential`` (any model, one client at a time; the reference) and ``flower`` (Flower's
simulation runtime on Ray, the road to a real SuperLink/SuperNode deployment)."""

from __future__ import annotations

ENGINES: tuple[str, ...] = ("vectorized", "sequential", "flower")
