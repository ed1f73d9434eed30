"""From files to items: which modality a file is, and what items it contributes.

An image is one item (CLIP space); a document is one item per chunk and a recording one item
per transcript passage (MiniLM space). A video is both: one item per scene (its middle frame,
CLIP space) plus its soundtrack's passages, so a file may contribute to two spaces and is
prepared as one ``Pending`` per space. Preparing (decode, read, chunk, transcribe) is separated
from embedding so a folder's items can be embedded in batches, and so a file that fails to
decode is skipped before any model runs. Heavy modules are imported only for the kinds present.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vega_lab.errors import AudioError, DocumentError, MultimodalError, VegaError, VideoError
from vega_lab.multimodal.batch import Skipped
from vega_lab.registry import check_name

__all__ = [
    "MODALITIES",
    "SPACE_OF",
    "Pending",
    "embed_batch",
    "group_segments",
    "modality_of",
    "prepare",
    "recipe",
    "supported_suffixes",
]

SPACE_OF: dict[str, str] = {
    "image": "clip",
    "document": "text",
    "transcript": "text",
    "video": "clip",  # a scene; a video's speech is indexed as "transcript" items
}
MODALITIES: tuple[str, ...] = tuple(SPACE_OF)
SPACES: tuple[str, ...] = tuple(sorted(set(SPACE_OF.values())))  # clip, text
DEFAULTS: dict[str, Any] = {
    "max_chars": 800,
    "overlap": 100,
    "passage_chars": 300,
    "read_options": {},
    "max_scenes": 32,
    "scene_threshold": 0.25,
    "min_scene_s": 0.5,
    "frame_side": 448,
}
RECIPE_KEYS: dict[str, tuple[str, ...]] = {
    "document": ("max_chars", "overlap", "read_options"),
    "transcript": ("passage_chars",),
    "video": ("max_scenes", "scene_threshold", "min_scene_s", "frame_side", "passage_chars"),
}


@dataclass
class Pending:
    """A file's items in one space, waiting for their vectors (``inputs[i]`` -> item ``i``).

    ``modality`` is the file's (what its source record says); each draft carries its item's
    own, which differs for a video's transcript passages (space "text").
    """

    path: Path
    sha256: str
    size: int
    modality: str
    drafts: list[dict[str, Any]]
    inputs: list[Any] = field(default_factory=list)  # PIL images (CLIP) or texts (MiniLM)
    recipe: str = "{}"
    space: str = ""  # default: the space of ``modality``

    def __post_init__(self) -> None:
        self.space = self.space or SPACE_OF[self.modality]


def supported_suffixes() -> dict[str, str]:
    """suffix -> modality for every file type the index reads (audio is indexed as speech)."""
    from vega_lab.multimodal.kinds import suffix_kinds

    return {s: "transcript" if k == "audio" else k for s, k in suffix_kinds().items()}


def modality_of(path: Path) -> str:
    suffixes = supported_suffixes()
    kind = suffixes.get(path.suffix.lower())
    if kind is None:
        raise MultimodalError(
            f"{path.name}: unsupported file type {path.suffix or '(none)'} (not indexed)",
            f"the index reads {', '.join(sorted(suffixes))}",
        )
    return kind


def recipe(modality: str, **options: Any) -> str:
    """The options that shape a file's items, as canonical JSON: re-adding an unchanged file
    with other chunk sizes re-indexes it instead of being a no-op."""
    given = {k: v for k, v in options.items() if v is not None}
    wanted = {k: given.get(k, DEFAULTS[k]) for k in RECIPE_KEYS.get(modality, ())}
    return json.dumps(wanted, sort_keys=True, default=str)


def group_segments(segments: Sequence[Any], max_chars: int = 300) -> list[tuple[float, float, str]]:
    """Consecutive transcript segments joined into passages of at most ~``max_chars``.

    Whisper segments are often a few words; MiniLM ranks a sentence or two of context far
    better than a fragment, and a passage still points at a precise time range.
    """
    out: list[tuple[float, float, str]] = []
    start = end = 0.0
    parts: list[str] = []
    for seg in segments:
        text = seg.text.strip()
        if not text:
            continue
        if parts and sum(len(p) + 1 for p in parts) + len(text) > max_chars:
            out.append((start, end, " ".join(parts)))
            parts = []
        if not parts:
            start = float(seg.start)
        parts.append(text)
        end = float(seg.end)
    if parts:
        out.append((start, end, " ".join(parts)))
    return out


def _image(p: Pending, thumbs: Path | None, thumb_size: int) -> None:
    from vega_lab.multimodal.image.io import load_image, thumbnail

    img = load_image(p.path)
    thumb = None
    if thumbs is not None:
        thumb = thumbs / f"{p.sha256[:32]}.jpg"
        if not thumb.is_file():
            thumbnail(img, thumb_size, out=thumb)
    p.drafts.append(
        {
            "modality": "image",
            "locator": {},
            "text": p.path.name,
            "thumbnail": None if thumb is None else str(thumb),
            "metadata": {"width": img.width, "height": img.height},
        }
    )
    p.inputs.append(img)


def _document(p: Pending, max_chars: int, overlap: int, read_options: dict[str, Any]) -> None:
    from vega_lab.multimodal.document.chunking import chunk_document
    from vega_lab.multimodal.document.readers import read_document

    doc = read_document(p.path, **read_options)
    for c in chunk_document(doc, max_chars=max_chars, overlap=overlap):
        if not c.text.strip():
            continue
        p.drafts.append(
            {
                "modality": "document",
                "locator": {"page": c.page, "chunk": c.index},
                "text": c.text,
                "metadata": {"title": doc.title, "heading": c.heading, "kind": doc.kind},
            }
        )
        p.inputs.append(c.text)
    if not p.drafts:
        raise DocumentError(
            f"{p.path.name}: no text to index",
            "a scanned PDF needs OCR: add it with read_options={'ocr': True}",
        )


def _transcript(p: Pending, transcript: Any, max_chars: int) -> None:
    if transcript is None:
        from vega_lab.multimodal.audio.io import load_audio
        from vega_lab.multimodal.audio.transcribe import transcribe

        y, _ = load_audio(p.path, sr=16000)
        if not _speech_present(y):  # music, tones, silence: Whisper would invent words
            raise AudioError(
                f"{p.path.name}: no speech detected (voice activity detection)",
                "only speech is indexed; fingerprint music with audio.fingerprint instead",
            )
        transcript = transcribe(y, sr=16000)
    _passages(p, transcript, max_chars)
    if not p.drafts:
        raise AudioError(f"{p.path.name}: no speech was recognised", "nothing to index")


def _passages(p: Pending, transcript: Any, max_chars: int) -> None:
    for start, end, text in group_segments(transcript.segments, max_chars):
        p.drafts.append(
            {
                "modality": "transcript",
                "locator": {"start": round(start, 2), "end": round(end, 2)},
                "text": text,
                "metadata": {
                    "language": transcript.language,
                    "duration_s": round(float(transcript.duration_s), 2),
                },
            }
        )
        p.inputs.append(text)


def _speech_present(y: np.ndarray) -> bool:
    """Silero VAD (shipped with faster-whisper) on 16 kHz samples: is anyone speaking?

    Whisper transcribes whatever it is given: on a 3 s test tone tiny.en writes "beep beep ..."
    for 5 s of CPU, and on music it invents lyrics. A soundtrack is often no speech at all, so
    it is checked first (tens of ms per minute). Without faster-whisper, Whisper decides.
    """
    try:
        from faster_whisper.vad import VadOptions, get_speech_timestamps
    except ImportError:
        return True
    return bool(get_speech_timestamps(y, VadOptions()))


def _soundtrack(p: Pending, has_audio: bool, transcript: Any, max_chars: int) -> Pending | None:
    """The video's speech as transcript passages in the text space; None when there is none
    (no audio track, or no speech in it: the video is still indexed by its frames)."""
    if transcript is None:
        if not has_audio:
            return None
        import soundfile as sf

        from vega_lab.multimodal.video.audio import extract_audio

        with tempfile.TemporaryDirectory(prefix="vega-soundtrack-") as tmp:
            wav = extract_audio(p.path, Path(tmp) / "soundtrack.wav", sr=16000)
            try:
                y, _ = sf.read(wav, dtype="float32", always_2d=False)
            except (RuntimeError, sf.SoundFileError) as exc:  # ffmpeg wrote something odd
                raise VideoError(
                    f"{p.path.name}: its soundtrack could not be read back ({exc})",
                    "re-encode the audio: `ffmpeg -i FILE -c:v copy -c:a aac out.mp4`",
                ) from exc
        if y.size == 0 or not _speech_present(y):
            return None
        from vega_lab.multimodal.audio.transcribe import transcribe

        transcript = transcribe(y, sr=16000)
    speech = Pending(p.path, p.sha256, p.size, p.modality, [], recipe=p.recipe, space="text")
    _passages(speech, transcript, max_chars)
    return speech if speech.drafts else None


def _video(
    p: Pending,
    thumbs: Path | None,
    thumb_size: int,
    options: dict[str, Any],
    transcript: Any,
) -> Pending | None:
    """One item per scene (its middle frame: the frames at a cut are often blurred), at most
    ``max_scenes`` evenly spread ones; returns the soundtrack's passages, if any."""
    from vega_lab.multimodal.image.io import thumbnail
    from vega_lab.multimodal.video.frames import read_frames, uniform_indices
    from vega_lab.multimodal.video.probe import probe_video
    from vega_lab.multimodal.video.scenes import scene_boundaries

    if int(options["max_scenes"]) < 1 or int(options["frame_side"]) < 16:
        raise VideoError(
            f"{p.path.name}: max_scenes must be >= 1 and frame_side >= 16 pixels "
            f"(got {options['max_scenes']} and {options['frame_side']})",
            "use e.g. max_scenes=32, frame_side=448 (the defaults)",
        )
    info = probe_video(p.path)
    found = scene_boundaries(p.path, options["scene_threshold"], options["min_scene_s"])
    kept = uniform_indices(len(found), int(options["max_scenes"]))
    middle = {(found[i].start_frame + found[i].end_frame - 1) // 2: i for i in kept}
    frames = read_frames(info, sorted(middle), max_side=int(options["frame_side"]))
    speech = _soundtrack(p, info.has_audio, transcript, int(options["passage_chars"]))
    for frame in frames:
        i = middle[frame.index]
        scene, thumb = found[i], None
        if thumbs is not None:
            thumb = thumbs / f"{p.sha256[:32]}-f{frame.index}.jpg"  # the frame, not the scene
            if not thumb.is_file():
                thumbnail(frame.image, thumb_size, out=thumb)
        p.drafts.append(
            {
                "modality": "video",
                "locator": {
                    "start": round(scene.start_s, 2),
                    "end": round(scene.end_s, 2),
                    "frame": frame.index,
                },
                "text": f"{p.path.name} scene {i + 1} of {len(found)}",
                "thumbnail": None if thumb is None else str(thumb),
                "metadata": {
                    "scene": i,
                    "scenes": len(found),
                    "width": info.width,
                    "height": info.height,
                    "fps": round(info.fps, 3),
                    "duration_s": round(info.duration_s, 2),
                    "speech": speech is not None,
                },
            }
        )
        p.inputs.append(frame.image)
    return speech


def prepare(
    path: Path,
    sha256: str,
    modality: str,
    *,
    thumbs: Path | None = None,
    thumb_size: int = 256,
    max_chars: int = 800,
    overlap: int = 100,
    passage_chars: int = 300,
    read_options: dict[str, Any] | None = None,
    transcript: Any = None,
    max_scenes: int = 32,
    scene_threshold: float = 0.25,
    min_scene_s: float = 0.5,
    frame_side: int = 448,
) -> list[Pending]:
    """Read ``path`` as ``modality`` into items, one ``Pending`` per space they live in (two
    for a video with speech); bad input raises its ``MultimodalError``."""
    check_name(modality, MODALITIES, "modality")
    opts = {
        "max_chars": max_chars,
        "overlap": overlap,
        "passage_chars": passage_chars,
        "read_options": read_options or {},
        "max_scenes": max_scenes,
        "scene_threshold": scene_threshold,
        "min_scene_s": min_scene_s,
        "frame_side": frame_side,
    }
    p = Pending(path, sha256, path.stat().st_size, modality, [])
    p.recipe = recipe(modality, **opts)
    if modality == "video":
        speech = _video(p, thumbs, thumb_size, opts, transcript)
        return [p] if speech is None else [p, speech]
    if modality == "image":
        _image(p, thumbs, thumb_size)
    elif modality == "document":
        _document(p, max_chars, overlap, read_options or {})
    else:
        _transcript(p, transcript, passage_chars)
    return [p]


def embed_batch(
    pending: Sequence[Pending], encode: Callable[[str, list[Any]], np.ndarray]
) -> tuple[list[tuple[Pending, np.ndarray]], list[Skipped]]:
    """One ``encode(space, inputs)`` call per space for a batch of files; if that call fails,
    file by file, so one input the model rejects skips its file, not the batch. A file whose
    items span two spaces (a video) is skipped whole if either part fails: never half-indexed.
    """
    done: list[tuple[Pending, np.ndarray]] = []
    skipped: list[Skipped] = []
    for space in sorted({p.space for p in pending}):
        group = [p for p in pending if p.space == space]
        try:
            vecs = encode(space, [x for p in group for x in p.inputs])
        except VegaError:
            for p in group:
                try:
                    done.append((p, encode(space, p.inputs)))
                except VegaError as exc:
                    skipped.append(Skipped(p.path, str(exc)))
            continue
        bounds = np.cumsum([0] + [len(p.inputs) for p in group])
        done += [(p, vecs[a:b]) for p, a, b in zip(group, bounds[:-1], bounds[1:], strict=True)]
    skipped += [
        Skipped(p.path, f"{p.path.name}: the {p.space} embedder returned NaN/inf (not indexed)")
        for p, v in done
        if not np.isfinite(v).all()
    ]
    first = {s.path: s for s in reversed(skipped)}  # one entry per file, its first reason
    ok = [(p, v) for p, v in done if p.path not in first]
    return ok, [s for s in skipped if first[s.path] is s]
