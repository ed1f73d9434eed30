"""Training loops: centralized supervised baselines (fine-tuning arrives with the chat work)."""

from vega_lab.training.centralized import EpochMetrics, train_classifier

__all__ = ["EpochMetrics", "train_classifier"]
