"""Speech-to-text on espeak-ng speech with the shipped tiny.en (faster-whisper), an openai-whisper
checkpoint built here with random weights, WER by hand-computed values, and refusals."""

from __future__ import annotations

import math
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from vega_lab.errors import AudioError, ModelWeightsError, MultimodalError, UnknownNameError
from vega_lab.multimodal.audio.transcribe import Transcript, transcribe
from vega_lab.multimodal.audio.wer import normalize_words, wer_details, word_error_rate
from vega_lab.multimodal.synth import speak

SENTENCES = (
    "the quick brown fox jumps over the lazy dog",
    "open the door and turn on the light please",
    "we measured seven results on tuesday morning",
    "please send me the report before the meeting starts",
)


@pytest.fixture(scope="module")
def spoken(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, Path, Transcript]]:
    """Each sentence spoken by espeak-ng and transcribed once (the model loads once)."""
    folder = tmp_path_factory.mktemp("speech")
    out = []
    for i, text in enumerate(SENTENCES):
        wav = speak(text, folder / f"s{i}.wav")
        out.append((text, wav, transcribe(wav, model="tiny.en", threads=2)))
    return out


def test_shipped_tiny_en_transcribes_synthetic_speech(spoken) -> None:
    # measured: WER 0.33 ("quick round-fark jump"), 0, 0, 0: mean 0.083
    wers = [word_error_rate(text, tr.text) for text, _, tr in spoken]
    assert max(wers) <= 0.5 and sum(wers) / len(wers) <= 0.2, wers
    for _text, wav, tr in spoken:
        assert tr.engine == "faster-whisper" and tr.model == "tiny.en" and tr.language == "en"
        assert math.isclose(tr.duration_s, sf.info(wav).duration, abs_tol=1e-3)
        assert tr.seconds > 0 and math.isclose(tr.rtf, tr.seconds / tr.duration_s)
        assert tr.segments and tr.text == " ".join(s.text for s in tr.segments)
        starts = [s.start for s in tr.segments]
        assert starts == sorted(starts)
        assert all(0 <= s.start < s.end <= tr.duration_s + 0.05 for s in tr.segments)


def test_long_array_spans_two_windows(spoken) -> None:
    """Over 30 s: Whisper's window is cut and resumed; segments stay ordered, inside the clip."""
    parts = [sf.read(wav, dtype="float32")[0] for _, wav, _ in spoken]
    rate = sf.info(spoken[0][1]).samplerate
    gap = np.zeros(rate, np.float32)
    y = np.concatenate([p for _ in range(2) for x in parts for p in (x, gap)])
    tr = transcribe(y, sr=rate, model="tiny.en", beam_size=1, threads=2)
    assert tr.duration_s > 30
    assert word_error_rate(" ".join(SENTENCES * 2), tr.text) <= 0.3, tr.text
    ends = [s.end for s in tr.segments]
    assert ends[-1] > 30  # the speech after the first 30 s window was transcribed
    assert len(tr.segments) >= 4 and ends == sorted(ends) and ends[-1] <= tr.duration_s + 0.05


def test_word_timestamps_and_repeatability(spoken) -> None:
    _text, wav, first = spoken[2]
    tr = transcribe(wav, model="tiny.en", word_timestamps=True, threads=2)
    words = [w for s in tr.segments for w in s.words]
    assert [w.word.strip(".,").lower() for w in words] == normalize_words(tr.text)
    starts = [w.start for w in words]
    assert starts == sorted(starts) and all(0 <= w.start <= w.end for w in words)
    assert words[-1].end <= tr.duration_s + 0.05 and all(0 <= w.probability <= 1 for w in words)
    assert transcribe(wav, model="tiny.en", threads=2).text == first.text  # beam search only


def test_bad_audio_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    fake = tmp_path / "fake.wav"
    fake.write_text("this is a text file with a .wav name")
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    for path, why in ((empty, "empty"), (fake, "cannot decode"), (text, "unsupported")):
        with pytest.raises(AudioError, match=why):
            transcribe(path)
    with pytest.raises(AudioError, match="no such"):
        transcribe(tmp_path / "missing.wav")
    for bad in (np.zeros(0, np.float32), np.zeros((2, 100), np.float32), np.array([np.nan])):
        with pytest.raises(AudioError):
            transcribe(bad)


def test_engine_and_model_refusals(tmp_path: Path) -> None:
    y = np.zeros(16000, np.float32)
    with pytest.raises(UnknownNameError, match="unknown speech-to-text engine 'vosk'"):
        transcribe(y, engine="vosk")
    with pytest.raises(ModelWeightsError, match=r"would\s+download"):
        transcribe(y, model="base", engine="openai-whisper")
    with pytest.raises(ModelWeightsError, match=r"local \.pt"):
        transcribe(y, model=tmp_path / "missing.pt")  # picked by suffix, then refused
    with pytest.raises(ModelWeightsError, match=r"no model\.bin"):
        transcribe(y, model="base.en")  # a hub name: faster-whisper would download it
    with pytest.raises(ModelWeightsError, match="English-only"):
        transcribe(y, model="tiny.en", language="de")
    with pytest.raises(UnknownNameError, match="language code 'english'"):
        transcribe(y, language="english")
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a torch file")
    with pytest.raises(ModelWeightsError, match="cannot load the openai-whisper checkpoint"):
        transcribe(y, model=broken)


def test_settings_choose_the_model(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from vega_lab.config import get_settings

    monkeypatch.setenv("VEGA_WHISPER_MODEL", str(workspace / "nowhere"))
    get_settings.cache_clear()
    with pytest.raises(ModelWeightsError, match="nowhere"):
        transcribe(np.zeros(16000, np.float32))


@pytest.mark.slow
def test_openai_whisper_checkpoint_runs(tmp_path: Path, spoken) -> None:
    """A Whisper with random weights in openai-whisper's checkpoint format: the real loading and
    decoding code runs (the words are garbage, so only the structure is checked)."""
    import torch
    import whisper
    from whisper.model import ModelDimensions, Whisper

    torch.set_num_threads(2)
    torch.manual_seed(0)
    # tiny.en's mel, audio context and vocabulary (what the loader and tokenizer check);
    # narrower and shallower than tiny so that the random model decodes fast
    dims = ModelDimensions(
        n_mels=80, n_audio_ctx=1500, n_audio_state=64, n_audio_head=2, n_audio_layer=1,
        n_vocab=51864, n_text_ctx=64, n_text_state=64, n_text_head=2, n_text_layer=1,
    )  # fmt: skip
    ckpt = tmp_path / "random-tiny.pt"
    torch.save({"dims": asdict(dims), "model_state_dict": Whisper(dims).state_dict()}, ckpt)
    assert whisper.load_model(str(ckpt), device="cpu").dims == dims

    _, wav, _ = spoken[1]
    tr = transcribe(wav, model=ckpt, beam_size=1)  # engine picked by the .pt suffix
    assert isinstance(tr, Transcript) and tr.engine == "openai-whisper" and tr.model == str(ckpt)
    assert math.isclose(tr.duration_s, sf.info(wav).duration, abs_tol=1e-3)
    assert isinstance(tr.text, str) and tr.seconds > 0 and tr.language == "en"
    assert all(isinstance(s.start, float) and s.start <= s.end for s in tr.segments)
    with pytest.raises(ModelWeightsError, match="English-only"):
        transcribe(wav, model=ckpt, language="fr")


# -- word error rate, against values computed by hand -------------------------------------------


def test_wer_hand_computed_values() -> None:
    d = wer_details("the cat sat on the mat", "the cat sit on mat")
    # sat->sit (S), "the" dropped (D): 2 / 6
    assert (d.substitutions, d.deletions, d.insertions, d.hits) == (1, 1, 0, 4)
    assert d.wer == pytest.approx(2 / 6)
    d = wer_details("a b c", "x a b c d")  # two insertions: 2 / 3
    assert (d.substitutions, d.deletions, d.insertions) == (0, 0, 2)
    assert d.wer == pytest.approx(2 / 3)
    d = wer_details("one two three four", "four three two one")
    # keeping any one word costs a deletion and an insertion around it: 4 substitutions win
    assert (d.substitutions, d.deletions, d.insertions, d.hits) == (4, 0, 0, 0)
    assert d.wer == 1.0
    d = wer_details("turn the light on", "turn light on now")  # D "the", I "now": 2 / 4
    assert (d.substitutions, d.deletions, d.insertions, d.hits) == (0, 1, 1, 3)
    assert word_error_rate("hello world", "") == 1.0  # everything deleted
    assert word_error_rate("hi", "hi there my friend") == 3.0  # WER can exceed 1
    assert word_error_rate("", "") == 0.0
    with pytest.raises(MultimodalError, match="empty reference"):
        word_error_rate("", "words")


def test_wer_normalization() -> None:
    assert normalize_words("Hello, World! Don't stop—now.") == [
        "hello",
        "world",
        "dont",
        "stop",
        "now",
    ]
    assert normalize_words("It costs $3.50, i.e. 1,000 cents/2") == [
        "it", "costs", "3.50", "ie", "1,000", "cents", "2",
    ]  # fmt: skip
    assert word_error_rate("The quick brown-fox.", "the QUICK brown fox") == 0.0
    assert word_error_rate("we measured seven results", "We measured 7 results.") == 0.25
