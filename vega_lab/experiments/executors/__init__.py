"""Sweep executors by name: ``local`` (process pool) and ``ray``."""

from vega_lab.experiments.executors import local, ray  # noqa: F401  (registers them)
from vega_lab.experiments.executors.base import EXECUTORS, Executor, get_executor, register

__all__ = ["EXECUTORS", "Executor", "get_executor", "register"]
