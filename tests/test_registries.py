"""Every registry through one contract: a known name works, an unknown one is refused alike.

Everything chosen by name goes through ``vega_lab.registry``; the table below lists each lookup
with the module that does it, and two guards keep it complete: no module raises
``UnknownNameError`` itself, and every module that imports ``vega_lab.registry`` has a row.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from vega_lab.errors import UnknownNameError
from vega_lab.registry import check_name, lookup

PKG = Path(__file__).resolve().parents[1] / "vega_lab"
LABELS = np.repeat(np.arange(4), 5)
TEXT = "The cat sat on the mat today. Dogs run fast in the park. Birds sing in the tall trees."


def _index(tmp: Path) -> Any:
    from vega_lab.multimodal.index import CrossModalIndex

    return CrossModalIndex(tmp / "index")


def _doc(tmp: Path) -> Path:
    path = tmp / "doc.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path


def _has_haar() -> bool:
    import cv2

    return hasattr(cv2, "CascadeClassifier")


@dataclass(frozen=True)
class Registry:
    """One lookup: ``call(name, tmp_path)`` looks ``name`` up the way users reach it."""

    module: str  # the vega_lab module doing the lookup (the completeness guard checks these)
    kind: str
    names: Callable[[], Collection[str]]
    call: Callable[[str, Path], object]
    known: str | None  # None: using a known name is too costly here (its own tests do)
    slow: bool = False  # the known name loads a model (MiniLM: seconds)


def _strategies() -> Collection[str]:
    from vega_lab.federated.strategies import STRATEGIES

    return STRATEGIES


def _partitioners() -> Collection[str]:
    from vega_lab.federated.partitioning import PARTITIONERS

    return PARTITIONERS


def _compressors() -> Collection[str]:
    from vega_lab.federated.compression import COMPRESSORS

    return COMPRESSORS


def _engines() -> Collection[str]:
    from vega_lab.federated.engines import ENGINES

    return ENGINES


def _datasets() -> Collection[str]:
    from vega_lab.datasets.shipped import DATASETS

    return DATASETS


def _fed(field: str) -> Callable[[str, Path], object]:
    def call(name: str, _tmp: Path) -> object:
        from vega_lab.federated.config import FederatedConfig

        return FederatedConfig(**{field: name})

    return call


def _dp(attr: str) -> Callable[[], Collection[str]]:
    return _import("vega_lab.federated.strategies.dp_fedavg", attr)


def _dp_fedavg(option: str) -> Callable[[str, Path], object]:
    def call(name: str, _tmp: Path) -> object:
        from vega_lab.federated.strategies import get_strategy

        return get_strategy("dp_fedavg", noise_multiplier=1.0, **{option: name})

    return call


def _import(module: str, attr: str) -> Callable[[], Collection[str]]:
    def names() -> Collection[str]:
        import importlib

        return getattr(importlib.import_module(module), attr)

    return names


def _call(module: str, attr: str, *args: Any, **kwargs: Any) -> Callable[[str, Path], object]:
    """``module.attr(name, *args, **kwargs)``."""

    def call(name: str, _tmp: Path) -> object:
        import importlib

        return getattr(importlib.import_module(module), attr)(name, *args, **kwargs)

    return call


def _engine_for(name: str, _tmp: Path) -> object:
    from vega_lab.multimodal.audio.transcribe import engine_for

    return engine_for("base", name)


def _language_codes() -> Collection[str]:
    from faster_whisper.tokenizer import _LANGUAGE_CODES

    return _LANGUAGE_CODES


def _faces(name: str, _tmp: Path) -> object:
    from vega_lab.multimodal.image.faces import detect_faces

    return detect_faces(Image.new("RGB", (32, 32), "gray"), engine=name)


def _blur(name: str, _tmp: Path) -> object:
    from vega_lab.multimodal.image.faces import blur_faces

    return blur_faces(Image.new("RGB", (8, 8)), [], method=name)


def _bench_dp(name: str, _tmp: Path) -> object:
    from vega_lab.benchmarks.dp_overhead import bench_dp_overhead

    return bench_dp_overhead(datasets=(), modes=[name])  # no dataset: only the check runs


def _bench_mm(name: str, _tmp: Path) -> object:
    from vega_lab.benchmarks.multimodal import bench_multimodal

    return bench_multimodal([name], quick=True)


def _summarize(name: str, _tmp: Path) -> object:
    from vega_lab.multimodal.document.summarize import summarize

    return summarize(TEXT, method=name, sentences=1)


def _audit(name: str, _tmp: Path) -> object:
    from vega_lab.privacy.audit.config import AuditConfig

    return AuditConfig(dataset=name)


def _attack(name: str, _tmp: Path) -> object:
    from vega_lab.privacy.audit.mia import check_attacks

    return check_attacks([name], shadows=0)


def _modality_search(name: str, tmp: Path) -> object:
    return _index(tmp).search_vector(np.zeros(8, np.float32), "text", modality=name)


def _space_search(name: str, tmp: Path) -> object:
    return _index(tmp).search_vector(np.zeros(8, np.float32), name)


def _space_embedder(name: str, tmp: Path) -> object:
    return _index(tmp).embedder(name)


def _prepare(name: str, tmp: Path) -> object:
    from vega_lab.multimodal.index.ingest import prepare

    return prepare(_doc(tmp), "0" * 64, name)


def _backends_auto() -> Collection[str]:
    from vega_lab.multimodal.index.backends import BACKENDS

    return ["auto", *BACKENDS]


MM = "vega_lab.multimodal"
REGISTRIES: list[Registry] = [
    Registry(
        "federated.strategies",
        "strategy",
        _strategies,
        _call("vega_lab.federated.strategies", "get_strategy"),
        "fedavg",
    ),
    Registry(
        "federated.partitioning",
        "partition",
        _partitioners,
        _call("vega_lab.federated.partitioning", "partition", LABELS, 2, seed=0),
        "iid",
    ),
    Registry(
        "federated.compression",
        "compressor",
        _compressors,
        _call("vega_lab.federated.compression", "get_compressor"),
        "q8",
    ),
    Registry(
        "federated.strategies.dp_fedavg", "dp mode", _dp("MODES"), _dp_fedavg("dp_mode"), "local"
    ),
    Registry(
        "federated.strategies.dp_fedavg",
        "clipping",
        _dp("CLIPPINGS"),
        _dp_fedavg("clipping"),
        "adaptive",
    ),
    Registry(
        "federated.strategies.dp_fedavg",
        "accountant",
        _import("vega_lab.privacy.accounting", "ACCOUNTANTS"),
        _dp_fedavg("accountant"),
        "rdp",
    ),
    Registry("federated.config", "dataset", _datasets, _fed("dataset"), "digits"),
    Registry("federated.config", "partition", _partitioners, _fed("partition"), "dirichlet"),
    Registry("federated.config", "strategy", _strategies, _fed("strategy"), "scaffold"),
    Registry("federated.config", "engine", _engines, _fed("engine"), "sequential"),
    Registry("federated.config", "compression", _compressors, _fed("compression"), "q8"),
    Registry(
        "federated.attacks",
        "attack",
        _import("vega_lab.federated.attacks", "ATTACKS"),
        _call("vega_lab.federated.attacks", "get_attack"),
        "alie",
    ),
    Registry(
        "federated.config",
        "attack",
        _import("vega_lab.federated.attacks", "ATTACKS"),
        _fed("attack"),
        "sign_flip",
    ),
    Registry(
        "chat.backends",
        "chat backend",
        _import("vega_lab.chat.backends", "BACKENDS"),
        _call("vega_lab.chat.backends", "get_backend", base_url="http://127.0.0.1:1"),
        "ollama",
    ),
    Registry(
        "chat.models",
        "chat model",
        _import("vega_lab.chat.models", "MODELS"),
        _call("vega_lab.chat.models", "resolve_model"),
        "smollm2-135m",
    ),
    Registry(
        "datasets.shipped",
        "dataset",
        _datasets,
        _call("vega_lab.datasets.shipped", "load_dataset"),
        "digits",
    ),
    Registry(
        "experiments.executors.base",
        "executor",
        _import("vega_lab.experiments.executors", "EXECUTORS"),
        _call("vega_lab.experiments.executors", "get_executor"),
        "local",
    ),
    Registry(
        "privacy.accounting",
        "accountant",
        _import("vega_lab.privacy.accounting", "ACCOUNTANTS"),
        _call("vega_lab.privacy.accounting", "get_accountant"),
        "rdp",
    ),
    Registry("privacy.audit.config", "dataset", _datasets, _audit, "digits"),
    Registry(
        "privacy.audit.mia",
        "attack",
        _import("vega_lab.privacy.audit.mia", "ATTACKS"),
        _attack,
        "loss",
    ),
    Registry(
        "benchmarks.dp_overhead",
        "grad-sample mode",
        _import("vega_lab.privacy.config", "GRAD_SAMPLE_MODES"),
        _bench_dp,
        "hooks",
    ),
    Registry(
        "benchmarks.multimodal",
        "benchmark part",
        _import("vega_lab.benchmarks.multimodal", "PARTS"),
        _bench_mm,
        None,
    ),
    Registry(
        "multimodal.document.summarize",
        "summary method",
        _import(f"{MM}.document.summarize", "SUMMARIZERS"),
        _summarize,
        "extractive",
        True,
    ),
    Registry(
        "multimodal.document.embed",
        "text model",
        _import(f"{MM}.document.embed", "TEXT_MODELS"),
        _call(f"{MM}.document.embed", "load_text_embedder"),
        "minilm",
        True,
    ),
    Registry(
        "multimodal.audio.transcribe",
        "speech-to-text engine",
        _import(f"{MM}.audio.transcribe", "ENGINES"),
        _engine_for,
        "openai-whisper",
    ),
    Registry(
        "multimodal.audio.transcribe",
        "language code",
        _language_codes,
        _call(f"{MM}.audio.transcribe", "check_language"),
        "de",
    ),
    Registry(
        "multimodal.image.faces",
        "face engine",
        _import(f"{MM}.image.faces", "ENGINES"),
        _faces,
        "haar" if _has_haar() else None,
    ),
    Registry(
        "multimodal.image.faces",
        "anonymisation method",
        _import(f"{MM}.image.faces", "BLUR_METHODS"),
        _blur,
        "pixelate",
    ),
    Registry(
        "multimodal.image.hashing",
        "hash method",
        _import(f"{MM}.image.hashing", "HASHERS"),
        _call(f"{MM}.image.hashing", "get_hasher"),
        "dhash",
    ),
    Registry(
        "multimodal.index.backends",
        "search backend",
        _import(f"{MM}.index.backends", "BACKENDS"),
        _call(f"{MM}.index.backends", "make_backend"),
        "exact",
    ),
    Registry(
        "multimodal.index.backends",
        "search backend",
        _backends_auto,
        _call(f"{MM}.index.backends", "resolve_backend", 0),
        "auto",
    ),
    Registry(
        "multimodal.index.searching",
        "modality",
        _import(f"{MM}.index.ingest", "MODALITIES"),
        _modality_search,
        "image",
    ),
    Registry(
        "multimodal.index.searching",
        "embedding space",
        _import(f"{MM}.index.ingest", "SPACES"),
        _space_search,
        "clip",
    ),
    Registry(
        "multimodal.index.collection",
        "embedding space",
        _import(f"{MM}.index.ingest", "SPACES"),
        _space_embedder,
        "text",
        True,
    ),
    Registry(
        "multimodal.index.ingest",
        "modality",
        _import(f"{MM}.index.ingest", "MODALITIES"),
        _prepare,
        "document",
    ),
]


def _id(r: Registry) -> str:
    return f"{r.module}:{r.kind}"


def _params(known: bool) -> list[Any]:
    out = []
    for r in REGISTRIES:
        if known and r.known is None:
            continue
        marks = [pytest.mark.slow] if known and r.slow else []
        out.append(pytest.param(r, id=_id(r), marks=marks))
    return out


@pytest.mark.parametrize("registry", _params(known=False))
def test_an_unknown_name_is_refused_alike(registry: Registry, tmp_path: Path) -> None:
    with pytest.raises(UnknownNameError) as caught:
        registry.call("nope", tmp_path)
    names = ", ".join(sorted(registry.names()))
    expected = f"unknown {registry.kind} 'nope'; choose one of: {names}"
    message = str(caught.value)
    assert message == expected or message.startswith(f"{expected}; "), message
    assert isinstance(caught.value, KeyError)  # dict-style callers may still catch KeyError


@pytest.mark.parametrize("registry", _params(known=True))
def test_a_known_name_is_found(registry: Registry, tmp_path: Path, workspace: Path) -> None:
    assert registry.known in registry.names()
    registry.call(registry.known, tmp_path)  # raises nothing


def test_the_message_suggests_a_close_name_and_lists_others_sorted() -> None:
    registry = {"fedavg": 1, "fedprox": 2, "ditto": 3}
    assert lookup(registry, "fedprox", "strategy") == 2
    with pytest.raises(UnknownNameError) as caught:
        lookup(registry, "fedavgx", "strategy")
    assert str(caught.value) == (
        "unknown strategy 'fedavgx'; choose one of: ditto, fedavg, fedprox; did you mean 'fedavg'?"
    )
    with pytest.raises(UnknownNameError, match=r"unknown mode \['a'\]; choose one of: x, y$"):
        check_name(["a"], {"x", "y"}, "mode")  # type: ignore[arg-type]  # unhashable: no crash
    with pytest.raises(UnknownNameError, match=r"unknown mode None; choose one of: x$"):
        lookup({"x": 1}, None, "mode")  # type: ignore[arg-type]


def _modules() -> dict[str, ast.Module]:
    return {
        ".".join(p.relative_to(PKG).with_suffix("").parts): ast.parse(p.read_text())
        for p in PKG.rglob("*.py")
    }


def test_no_module_raises_unknown_name_error_itself() -> None:
    """A registry that words its own error would drift from the shared message."""
    offenders = [
        f"{name}.py:{node.lineno}"
        for name, tree in _modules().items()
        if name not in ("registry", "errors")
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and getattr(node.func, "id", getattr(node.func, "attr", None)) == "UnknownNameError"
    ]
    assert offenders == [], "use vega_lab.registry.lookup/check_name/unknown_name"


def test_every_module_using_the_registry_helper_has_a_row() -> None:
    users = {
        name.removesuffix(".__init__")
        for name, tree in _modules().items()
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "vega_lab.registry"
    }
    missing = users - {r.module for r in REGISTRIES}
    assert missing == set(), f"add these registries to REGISTRIES: {sorted(missing)}"
