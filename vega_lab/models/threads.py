"""Torch's CPU thread count for one block of work, restored afterwards.

Small models on a shared CPU run faster on one thread than on several (thread hand-offs cost
more than the matrices save), yet the caller's setting must survive: every trainer and
benchmark that pins threads goes through this one context manager.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["torch_threads"]


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``n`` torch threads (None or 0: leave the setting as it is)."""
    import torch

    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
