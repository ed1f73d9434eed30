"""Model and update exchange as safetensors bytes, checksummed and optionally HMAC-signed.

Federated clients and servers swap tensors with parties they do not fully trust, so the wire
format must never execute code on load (no pickle, no ``torch.load``) and must make corruption
and tampering loud. Every payload is a plain safetensors file whose ``__metadata__`` carries:

- ``format``: ``"vega-lab/1"``;
- ``sha256``: hex SHA-256 of the *canonical encoding* below (catches accidental damage);
- ``hmac``: hex HMAC-SHA256 of the same encoding, when a shared key is given (catches tampering:
  anyone can recompute a checksum, only key holders can recompute the HMAC).

The canonical encoding does not depend on safetensors' layout (header order, padding), so any
implementation can reproduce it. For each tensor name in sorted order, with ``u64`` a
little-endian unsigned 64-bit integer and strings UTF-8::

    u64 len(name) | name | u64 len(dtype) | dtype | u64 ndim | u64 dim... | u64 nbytes | data

where ``dtype`` is torch's name without the ``torch.`` prefix (``"float32"``, ``"bfloat16"``)
and ``data`` is the contiguous, native little-endian bytes of the CPU tensor. User metadata is
not part of the encoding: treat it as an unauthenticated label.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import struct
import uuid
from collections.abc import Mapping
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load as _st_load
from safetensors.torch import save as _st_save

from vega_lab.errors import ConfigError, IntegrityError, SignatureError

__all__ = ["FORMAT", "RESERVED_KEYS", "dumps", "load", "loads", "read_metadata", "save"]

FORMAT = "vega-lab/1"
RESERVED_KEYS = frozenset({"format", "sha256", "hmac"})

_REFETCH = "The bytes were altered or truncated in transit or on disk; re-fetch or re-save them"
_PARSE_ERRORS = (SafetensorError, ValueError, KeyError, TypeError, RuntimeError, OverflowError)


def _u64(value: int) -> bytes:
    return struct.pack("<Q", value)


def _prepare(tensors: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Detached, dense, contiguous CPU copies safetensors accepts (shared storage is split)."""
    if not isinstance(tensors, Mapping):
        raise ConfigError(
            f"tensors must be a mapping of name -> torch.Tensor, got {type(tensors).__name__}",
            "pass a dict such as model.state_dict()",
        )
    bad = [name for name in tensors if not isinstance(name, str)]
    if bad:
        raise ConfigError(f"tensor names {bad!r} are not str", "use string keys")
    out: dict[str, torch.Tensor] = {}
    seen: set[int] = set()
    for name in sorted(tensors):
        t = tensors[name]
        if not isinstance(t, torch.Tensor):
            raise ConfigError(
                f"value for {name!r} is a {type(t).__name__}, not a torch.Tensor",
                "convert it with torch.as_tensor before saving",
            )
        if t.layout != torch.strided:
            raise ConfigError(
                f"tensor {name!r} is sparse ({t.layout})", "call .to_dense() before saving"
            )
        t = t.detach().to("cpu").contiguous()
        ptr = t.untyped_storage().data_ptr()
        if t.numel() and ptr in seen:  # safetensors refuses tensors that share memory
            t = t.clone()
            ptr = t.untyped_storage().data_ptr()
        seen.add(ptr)
        out[name] = t
    return out


def _digests(tensors: Mapping[str, torch.Tensor], key: bytes | None) -> tuple[str, str | None]:
    """SHA-256 and (with a key) HMAC-SHA256 hex digests of the canonical encoding, in one pass."""
    sha = hashlib.sha256()
    mac = hmac.new(key, digestmod=hashlib.sha256) if key is not None else None
    for name in sorted(tensors):
        t = tensors[name].detach().to("cpu").contiguous()
        dtype = str(t.dtype).removeprefix("torch.").encode()
        raw = t.reshape(-1).view(torch.uint8).numpy()
        header = b"".join(
            [
                _u64(len(name.encode())),
                name.encode(),
                _u64(len(dtype)),
                dtype,
                _u64(t.dim()),
                *(_u64(d) for d in t.shape),
                _u64(raw.nbytes),
            ]
        )
        for h in (sha, mac):
            if h is not None:
                h.update(header)
                h.update(raw)
    return sha.hexdigest(), mac.hexdigest() if mac is not None else None


def _check_key(key: bytes | None) -> None:
    if key is None:
        return
    if not isinstance(key, bytes | bytearray):
        raise ConfigError(
            f"key must be bytes, got {type(key).__name__}",
            "encode a passphrase with .encode() or load the key file in binary mode",
        )
    if not key:
        raise ConfigError("key is empty", "use a random shared secret, e.g. os.urandom(32)")


def _as_bytes(data: bytes | bytearray | memoryview) -> bytes:
    if isinstance(data, bytes):
        return data
    if isinstance(data, bytearray | memoryview):
        return bytes(data)
    raise ConfigError(
        f"expected bytes, got {type(data).__name__}", "pass the raw payload returned by dumps()"
    )


def dumps(
    tensors: Mapping[str, torch.Tensor],
    *,
    key: bytes | None = None,
    metadata: Mapping[str, str] | None = None,
) -> bytes:
    """Encode ``tensors`` as checksummed (and, with ``key``, HMAC-signed) safetensors bytes."""
    _check_key(key)
    user = dict(metadata or {})
    clash = sorted(RESERVED_KEYS & user.keys())
    if clash:
        raise ConfigError(
            f"metadata keys {clash} are reserved by the vega-lab format",
            "rename them; format, sha256 and hmac are written automatically",
        )
    bad = [k for k, v in user.items() if not (isinstance(k, str) and isinstance(v, str))]
    if bad:
        raise ConfigError(
            f"metadata entries {bad} are not str -> str", "convert keys and values with str()"
        )
    prepared = _prepare(tensors)
    sha, mac = _digests(prepared, bytes(key) if key is not None else None)
    header = {**user, "format": FORMAT, "sha256": sha}
    if mac is not None:
        header["hmac"] = mac
    try:
        return _st_save(prepared, metadata=header)
    except (ValueError, KeyError, TypeError, RuntimeError, SafetensorError) as exc:
        raise ConfigError(
            f"safetensors cannot encode these tensors: {exc}",
            "use a dtype safetensors supports (float, int, uint, bool, float8, complex64)",
        ) from exc


def _read_metadata(data: bytes, source: str) -> dict[str, str]:
    if len(data) < 8:
        raise IntegrityError(f"{source} is {len(data)} bytes, too short for a header", _REFETCH)
    size = int.from_bytes(data[:8], "little")
    if size > len(data) - 8:
        raise IntegrityError(
            f"{source} declares a {size}-byte header but holds only {len(data) - 8} bytes",
            _REFETCH,
        )
    try:
        header = json.loads(data[8 : 8 + size])
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IntegrityError(f"{source} has an unreadable header ({exc})", _REFETCH) from exc
    meta = header.get("__metadata__", {}) if isinstance(header, dict) else None
    if not isinstance(meta, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in meta.items()
    ):
        raise IntegrityError(f"{source} has a malformed safetensors header", _REFETCH)
    return meta


def read_metadata(data: bytes) -> dict[str, str]:
    """The ``__metadata__`` of a payload, read from its header alone (no tensors decoded)."""
    return _read_metadata(_as_bytes(data), "payload")


def _loads(
    data: bytes, key: bytes | None, require_signature: bool, source: str
) -> dict[str, torch.Tensor]:
    _check_key(key)
    if require_signature and key is None:
        raise SignatureError(
            f"{source} must be signature-checked but no key was given",
            "pass key=<the shared secret> or set require_signature=False",
        )
    meta = _read_metadata(data, source)
    if meta.get("format") != FORMAT or "sha256" not in meta:
        raise IntegrityError(
            f"{source} is not a {FORMAT} payload (format={meta.get('format')!r})",
            "only load files written by vega_lab.federated.serialization; re-save it with save()",
        )
    try:
        tensors = _st_load(data)
    except _PARSE_ERRORS as exc:
        raise IntegrityError(f"{source} is not valid safetensors data ({exc})", _REFETCH) from exc
    sha, mac = _digests(tensors, bytes(key) if key is not None else None)
    if not hmac.compare_digest(sha.encode(), meta["sha256"].encode()):
        raise IntegrityError(
            f"{source} checksum mismatch: header says sha256 {meta['sha256'][:12]}..., "
            f"contents hash to {sha[:12]}...",
            _REFETCH,
        )
    if mac is not None:
        if "hmac" not in meta:
            raise SignatureError(
                f"{source} carries no signature but a key was given",
                "ask the sender to save it with key=<the shared secret>; do not trust it as is",
            )
        if not hmac.compare_digest(mac.encode(), meta["hmac"].encode()):
            raise SignatureError(
                f"{source} signature does not match",
                "the sender used a different key or the payload was tampered with; do not use it",
            )
    return tensors


def loads(
    data: bytes, *, key: bytes | None = None, require_signature: bool = False
) -> dict[str, torch.Tensor]:
    """Decode and verify a payload from :func:`dumps`; tensors come back on CPU."""
    return _loads(_as_bytes(data), key, require_signature, "payload")


def save(
    path: str | os.PathLike[str],
    tensors: Mapping[str, torch.Tensor],
    *,
    key: bytes | None = None,
    metadata: Mapping[str, str] | None = None,
) -> Path:
    """Write :func:`dumps` output to ``path`` atomically: readers see the old or new file only."""
    path = Path(path)
    data = dumps(tensors, key=key, metadata=metadata)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "xb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def load(
    path: str | os.PathLike[str], *, key: bytes | None = None, require_signature: bool = False
) -> dict[str, torch.Tensor]:
    """Read and verify a file written by :func:`save`."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise IntegrityError(
            f"{path} does not exist", "check the path, or re-fetch / re-save the file"
        ) from exc
    except OSError as exc:
        raise IntegrityError(f"{path} cannot be read ({exc.strerror})", _REFETCH) from exc
    return _loads(data, key, require_signature, f"file {path}")
