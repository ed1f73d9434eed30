"""`KerasModel`: a Keras 3 model (TensorFlow backend) seen as a function of one flat float32
parameter vector, so the sequential and flower engines train it federatedly with every strategy.

    import vega_lab.federated  # torch (and triton) before keras/tensorflow, see below
    from vega_lab.federated.keras_model import KerasModel

    net = keras.Sequential([keras.Input((64,)), keras.layers.Dense(32, "relu"),
                            keras.layers.Dense(10)])       # outputs logits
    result = simulate(engine="sequential", model=KerasModel(net), strategy="scaffold")
    KerasModel(net).load_params(result.params)               # the global model back in `net`

The engines stay in torch: `loss_and_grad` takes and returns torch tensors and only the forward
and backward pass run in TensorFlow (one `tf.function` per call, the flat vector assigned into
the model's variables inside the graph). Strategy corrections (SCAFFOLD, FedProx, ...) are added
in torch by `local_sgd`. The wrapped model must output logits; a model ending in a softmax works
with ``from_logits=False``. Models with BatchNormalization are refused (their moving statistics
are state outside the flat vector); frozen weights (``trainable=False``) stay as constants.

Import order matters. With ``triton`` installed (torch's CUDA wheels), loading TensorFlow's LLVM
before triton's aborts the process the first time torch loads triton, which a plain torch
optimizer step does (``LLVM ERROR: inconsistency in registered CommandLine options`` or a
segfault). Importing torch first is not enough (torch loads triton lazily), so this module
imports torch and triton before tensorflow. Import vega_lab before keras/tensorflow in your own
code too; if tensorflow came first, a warning says so. This module is the only place in
`vega_lab.federated` that imports tensorflow.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from vega_lab.interop import torch_before_tensorflow

torch_before_tensorflow()  # before keras/tensorflow: see vega_lab.interop

import torch  # noqa: E402

from vega_lab.errors import FederatedError  # noqa: E402
from vega_lab.federated.model import ParamSpec  # noqa: E402

# only a default: a user's explicit choice stands, and KerasModel() then says it needs tensorflow
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

try:
    import keras
    import tensorflow as tf
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise FederatedError(
        f"KerasModel needs tensorflow and keras 3 ({exc})",
        "pip install tensorflow (it brings keras 3), or use a torch model",
    ) from exc

_EPS = 1e-12


def _check_backend() -> None:
    backend = keras.backend.backend()
    if backend != "tensorflow":
        raise FederatedError(
            f"keras runs on the {backend!r} backend; KerasModel needs 'tensorflow'",
            "set KERAS_BACKEND=tensorflow before keras is first imported (or wrap a torch "
            "module directly with TorchModel)",
        )


def _unique_names(variables: list[Any]) -> tuple[str, ...]:
    names: list[str] = []
    seen: set[str] = set()
    for i, v in enumerate(variables):
        name = str(getattr(v, "path", None) or getattr(v, "name", None) or f"weight_{i}")
        if name in seen:
            name = f"{name}#{i}"
        seen.add(name)
        names.append(name)
    return tuple(names)


class KerasModel:
    """A built Keras 3 model on the TensorFlow backend as a `FlatModel`.

    ``from_logits`` says whether the model outputs logits (default) or probabilities (a final
    softmax); with probabilities, `logits` returns their logarithm, which has the same argmax and
    cross-entropy. The wrapped model's trainable variables are overwritten on every call; use
    `load_params` to put a result's parameters into it.
    """

    vectorizable = False  # the vectorized engine vmaps torch functions; it refuses this model

    def __init__(self, model: Any, *, from_logits: bool = True) -> None:
        _check_backend()
        if not isinstance(model, keras.layers.Layer):
            raise FederatedError(
                f"KerasModel wraps a keras.Model, got {type(model).__name__}",
                "pass a keras.Sequential / functional / subclassed keras.Model "
                "(for a torch module use TorchModel or pass the module to simulate directly)",
            )
        name = type(model).__name__
        if not model.built:
            raise FederatedError(
                f"the Keras model {model.name!r} ({name}) has no weights yet: it is not built",
                "build it first: start it with keras.Input(shape=(n_features,)), pass input_shape "
                "to the first layer, or call model.build((None, n_features))",
            )
        self._refuse_batchnorm(model)
        variables = list(model.trainable_variables)
        if not variables:
            raise FederatedError(
                f"the Keras model {model.name!r} ({name}) has no trainable weights",
                "unfreeze some layers (layer.trainable = True)",
            )
        self.model = model
        self.from_logits = from_logits
        self._vars = variables
        self.spec = ParamSpec(_unique_names(variables), tuple(tuple(v.shape) for v in variables))
        self._init = torch.from_numpy(
            np.concatenate([np.asarray(v.numpy(), np.float32).reshape(-1) for v in variables])
        )
        self._fns: dict[tuple[Any, ...], tuple[Any, Any]] = {}

    @staticmethod
    def _refuse_batchnorm(model: Any) -> None:
        flatten = getattr(model, "_flatten_layers", None)
        layers = list(flatten(include_self=True, recursive=True)) if flatten else [model]
        for layer in layers:
            if isinstance(layer, keras.layers.BatchNormalization):
                raise FederatedError(
                    f"layer {layer.name!r} is BatchNormalization: its moving statistics are "
                    "state outside the federated parameter vector",
                    "use LayerNormalization/GroupNormalization or no normalization",
                )

    # -- FlatModel ------------------------------------------------------------------------

    def initial_params(self) -> torch.Tensor:
        return self._init.clone()

    def loss_and_grad(
        self, flat: torch.Tensor, x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean cross-entropy over the unmasked rows (0 when all are masked) and its gradient
        with respect to ``flat``, both torch float32."""
        xs = _np(x)
        step, _ = self._functions(xs)
        args = (self._flat(flat), xs, _np(y, np.int64), _np(mask, np.float32))
        try:
            loss, grad = step(*args)
        except (tf.errors.InvalidArgumentError, ValueError) as exc:
            raise self._call_error(exc, xs) from None
        return torch.tensor(float(loss)), torch.from_numpy(grad.numpy())

    def logits(self, flat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        xs = _np(x)
        _, forward = self._functions(xs)
        try:
            out = forward(self._flat(flat), xs)
        except (tf.errors.InvalidArgumentError, ValueError) as exc:
            raise self._call_error(exc, xs) from None
        return torch.from_numpy(out.numpy())

    # -- helpers --------------------------------------------------------------------------

    def load_params(self, flat: torch.Tensor) -> Any:
        """Assign ``flat`` (e.g. ``result.params``) into the Keras model's weights; returns it."""
        pieces = self.spec.unflatten(self._flat_tensor(flat))
        for var, name in zip(self._vars, self.spec.names, strict=True):
            var.assign(pieces[name].numpy().astype(var.dtype))
        return self.model

    def _flat_tensor(self, flat: torch.Tensor) -> torch.Tensor:
        if flat.dim() != 1:
            raise FederatedError(
                f"KerasModel takes one flat parameter vector, got shape {list(flat.shape)}"
            )
        self.spec.check_flat(flat, "parameter vector")
        return flat.detach().to("cpu", torch.float32)

    def _flat(self, flat: torch.Tensor) -> np.ndarray:
        return self._flat_tensor(flat).numpy()

    def _call_error(self, exc: Exception, x: np.ndarray) -> FederatedError:
        first = str(getattr(exc, "message", exc)).strip().splitlines()[0]
        return FederatedError(
            f"the Keras model {self.model.name!r} failed on a batch of shape {list(x.shape)}: "
            f"{first}",
            "check that its input shape matches the features and that it outputs one logit "
            "per class (labels must lie in [0, outputs))",
        )

    def _functions(self, x: np.ndarray) -> tuple[Any, Any]:
        # one trace per feature shape: the batch dimension is left free (last batches are smaller)
        key = (tuple(x.shape[1:]), x.dtype.str)
        if key not in self._fns:
            self._fns[key] = self._build_functions(x.shape[1:], tf.as_dtype(x.dtype))
        return self._fns[key]

    def _build_functions(self, features: tuple[int, ...], dtype: Any) -> tuple[Any, Any]:
        model, variables, numels = self.model, self._vars, self.spec.numels
        from_logits = self.from_logits

        def assign(flat: tf.Tensor) -> None:
            for var, piece in zip(variables, tf.split(flat, numels), strict=True):
                var.assign(tf.cast(tf.reshape(piece, var.shape), var.dtype))

        def as_logits(out: tf.Tensor) -> tf.Tensor:
            out = tf.cast(out, tf.float32)
            if from_logits:
                return out
            return tf.math.log(tf.clip_by_value(out, _EPS, 1.0))

        flat_spec = tf.TensorSpec([self.spec.size], tf.float32)
        x_spec = tf.TensorSpec([None, *features], dtype)
        rows = tf.TensorSpec([None], tf.int64), tf.TensorSpec([None], tf.float32)

        @tf.function(input_signature=[flat_spec, x_spec, *rows])
        def step(flat: tf.Tensor, x: tf.Tensor, y: tf.Tensor, mask: tf.Tensor):
            assign(flat)
            with tf.GradientTape() as tape:
                logits = as_logits(model(x, training=True))
                per = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits)
                loss = tf.reduce_sum(per * mask) / tf.maximum(tf.reduce_sum(mask), 1.0)
            grads = tape.gradient(loss, variables)
            parts = [
                tf.zeros([n])
                if g is None
                else tf.reshape(tf.cast(tf.convert_to_tensor(g), tf.float32), [-1])
                for g, n in zip(grads, numels, strict=True)
            ]
            return loss, tf.concat(parts, axis=0)

        @tf.function(input_signature=[flat_spec, x_spec])
        def forward(flat: tf.Tensor, x: tf.Tensor):
            assign(flat)
            return as_logits(model(x, training=False))

        # TF counts traces per source function across instances: each KerasModel tracing once
        # would read as "excessive retracing" after a few models (harmless if TF drops the flag)
        for fn in (step, forward):
            fn._omit_frequent_tracing_warning = True
        return step, forward

    def __getstate__(self) -> dict[str, Any]:
        # tf.functions do not pickle, and the variables must stay those of the unpickled model
        return {k: v for k, v in self.__dict__.items() if k not in ("_fns", "_vars")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._vars = list(self.model.trainable_variables)
        self._fns = {}

    def __repr__(self) -> str:
        return f"KerasModel({self.model.name!r}, params={self.spec.size})"


def _np(t: torch.Tensor, dtype: Any = None) -> np.ndarray:
    a = t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)
    return a.astype(dtype, copy=False) if dtype is not None else a
