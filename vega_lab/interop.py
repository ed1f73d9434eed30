"""Load order for torch and TensorFlow in one process.

With ``triton`` installed (torch's CUDA wheels), loading TensorFlow's LLVM before triton's aborts
the process the first time torch loads triton, which a plain torch optimizer step does
(``LLVM ERROR: inconsistency in registered CommandLine options`` or a segfault). Importing torch
first is not enough: torch loads triton lazily. Call `torch_before_tensorflow()` before anything
that may import tensorflow (Keras, and flwr, which imports tensorflow whenever it is installed).
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys
import warnings


def torch_before_tensorflow() -> None:
    """Import torch and triton now; warn if tensorflow is already loaded without triton."""
    import torch  # noqa: F401

    if importlib.util.find_spec("triton") is None:
        return
    if "tensorflow" in sys.modules and "triton" not in sys.modules:
        warnings.warn(
            "tensorflow was imported before torch/triton: a later torch optimizer step or "
            "torch.compile may abort the process (LLVM ERROR: inconsistency in registered "
            "CommandLine options). Import vega_lab (or torch and triton) before tensorflow/keras.",
            RuntimeWarning,
            stacklevel=3,
        )
        return
    with contextlib.suppress(ImportError):  # a broken triton is torch's business, not ours
        import triton  # noqa: F401
