"""Small reference models shared by experiments (centralized, federated, private)."""

from vega_lab.models.mlp import mlp

__all__ = ["mlp"]
