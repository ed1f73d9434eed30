"""One error hierarchy for vega_lab.

Every bad input a user can make (a missing file, an unknown name, a wrong type, a server that is
down) surfaces as a `VegaError` subclass whose message says *what* went wrong and *what to do
next*, so the CLI can print one line and a notebook shows something actionable instead of a
traceback from deep inside a dependency.
"""

from __future__ import annotations


class VegaError(Exception):
    """Base class: ``what`` happened; ``hint`` says what to do next."""

    def __init__(self, what: str, hint: str | None = None) -> None:
        self.what = what
        self.hint = hint
        super().__init__(what if hint is None else f"{what}. {hint}")


class ConfigError(VegaError):
    """A setting is missing or invalid."""


class NotebookError(VegaError):
    """A notebook cannot be found, read or parameterized."""


class NotebookNotFoundError(NotebookError, FileNotFoundError):
    """The notebook path does not exist."""


class NotebookParameterError(NotebookError, ValueError):
    """A parameter is not declared by the notebook or has the wrong type."""


class SweepSpecError(VegaError, ValueError):
    """A sweep YAML file is malformed, has unknown keys or wrong types."""


class UnknownNameError(VegaError, KeyError):
    """A registry lookup (executor, dataset, ...) got a name it does not know.

    Raised through ``vega_lab.registry``, so every registry words it alike:
    ``unknown <kind> <name>; choose one of: <names>``."""

    def __init__(self, what: str, hint: str | None = None) -> None:
        super().__init__(what, hint)
        if hint is not None:
            self.args = (f"{what}; {hint}",)

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return Exception.__str__(self)


class RunNotFoundError(VegaError, LookupError):
    """No run or sweep with that id exists in the results store."""


class RunFailedError(VegaError):
    """A notebook run executed but raised; the store holds the failing cell and traceback."""


class StoreError(VegaError):
    """The results store cannot be opened or written."""


class ExecutorError(VegaError):
    """A sweep executor (local processes, Ray) could not run."""


class ServerError(VegaError):
    """A Jupyter or Voila server did not start or stopped responding."""


class PartitionError(VegaError, ValueError):
    """A federated partition is impossible (a client would get no data) or badly parameterized."""


class FederatedError(VegaError):
    """A federated simulation is misconfigured or a client sent something unusable."""


class ShapeMismatchError(FederatedError, ValueError):
    """A client's model or update does not match the global model's tensors."""


class SecureAggregationError(FederatedError):
    """Secure aggregation is misconfigured (insecure threshold) or cannot decode (too few
    survivors, corrupt shares)."""


class IntegrityError(VegaError):
    """Saved or received tensors fail their checksum or cannot be parsed: altered or truncated."""


class SignatureError(VegaError):
    """A payload's HMAC is missing or does not match: another key, or the payload was tampered."""


class PrivacyError(VegaError, ValueError):
    """A privacy parameter is out of range (epsilon <= 0, delta outside (0, 1), ...)."""


class PrivacyModelError(PrivacyError):
    """Opacus cannot make this model private; the message names the offending layer."""


class AuditError(VegaError, ValueError):
    """A privacy audit is misconfigured, e.g. too few trials for the requested confidence."""


class ChatError(VegaError):
    """A chat backend, server or conversation is misconfigured or failed."""


class ConversationStoreError(ChatError):
    """The conversation store cannot be opened, read or written (not SQLite, locked, too new)."""


class BackendError(ChatError):
    """A chat backend failed or answered something unusable; the message names its URL.

    ``retryable`` marks failures worth another attempt (5xx, 429, a dropped connection);
    ``client_error`` marks mistakes on our side (4xx) that must not trip a circuit breaker.
    """

    retryable: bool = False
    client_error: bool = False


class BackendUnavailableError(BackendError):
    """A chat backend cannot be reached (down, refusing, timing out, or its circuit is open)."""

    retryable = True


class ModelNotFoundError(ChatError, FileNotFoundError):
    """A chat model name or GGUF path does not resolve to a file."""


class DatasetError(VegaError, ValueError):
    """A dataset source is unusable: a malformed file, a wrong shape, a path escaping its folder."""


class TrainingError(VegaError):
    """A model cannot be loaded or fine-tuned (missing weights, bad settings)."""


class MultimodalError(VegaError):
    """An image, video, audio clip or document cannot be processed; the message names the file."""


class ImageError(MultimodalError, ValueError):
    """An image is corrupt, truncated, too large (a decompression bomb) or of an unknown format."""


class VideoError(MultimodalError, ValueError):
    """A video cannot be opened, has no frames, or ffmpeg is missing or failed."""


class AudioError(MultimodalError, ValueError):
    """An audio file is empty, unreadable or in an unsupported format."""


class DocumentError(MultimodalError, ValueError):
    """A document is corrupt, password-protected, empty or of an unsupported type."""


class ModelWeightsError(MultimodalError, FileNotFoundError):
    """A vision/audio/text model name or weights path does not resolve to usable weights."""


class IndexStoreError(MultimodalError):
    """The cross-modal index cannot be opened, read or written, or mixes embedding spaces."""
