"""Video: probing, exact frame sampling, shot cuts, contact sheets, soundtrack, bad input.

Every clip is rendered by ``synth.render_video`` with known cuts, frames that draw their own
index ("counter") and a known tone, so each assertion checks against ground truth.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from vega_lab.errors import MultimodalError, VideoError
from vega_lab.multimodal import synth, video

FPS = 10
SPEC = [
    ("red", 1.0),
    ("noise", 1.2),
    ("moving_square", 1.5),
    ("gradient", 1.0),
    ("gray", 0.8),
    ("blue", 1.0),
]
N_FRAMES = 65


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("video")
    silent_spec = [("black", 1.0), ("noise", 1.0), ("black", 1.0)]
    clips = {
        "clip": synth.render_video(root / "clip.mp4", SPEC, fps=FPS, audio_hz=440),
        "counter": synth.render_video(root / "counter.mp4", [("counter", 30.0)], fps=FPS),
        "silent": synth.render_video(root / "silent.mp4", silent_spec, fps=FPS, audio_hz=None),
    }
    audio_only = root / "audio_only.mp4"
    clips["tone"] = synth.tone(root / "tone.wav", 1.0, 440)
    _ffmpeg("-i", clips["tone"], "-c:a", "aac", audio_only)
    clips["audio_only"] = audio_only
    return clips


def _ffmpeg(*args: object) -> None:
    import subprocess

    subprocess.run(["ffmpeg", "-y", "-v", "error", *map(str, args)], check=True)


def test_probe_reports_the_stream_facts(media: dict[str, Path]) -> None:
    info = video.probe_video(media["clip"])
    assert (info.fps, info.n_frames, info.width, info.height) == (FPS, N_FRAMES, 160, 120)
    assert info.duration_s == pytest.approx(N_FRAMES / FPS, abs=0.05)
    assert info.codec == "h264" and info.n_frames_exact
    assert (info.has_audio, info.audio_codec, info.audio_sr) == (True, "aac", 44100)
    silent = video.probe_video(media["silent"])
    assert (silent.has_audio, silent.audio_codec, silent.audio_sr) == (False, None, None)


def test_probe_estimates_frames_when_the_container_has_no_count(tmp_path: Path) -> None:
    mkv = synth.render_video(tmp_path / "clip.mkv", [("red", 1.0), ("blue", 1.0)], audio_hz=None)
    info = video.probe_video(mkv)
    assert not info.n_frames_exact
    assert abs(info.n_frames - 20) <= 1
    assert len(video.sample_uniform(mkv, 4)) == 4


def test_scene_boundaries_match_the_true_cuts(media: dict[str, Path]) -> None:
    scenes = video.scene_boundaries(media["clip"])
    true_cuts = synth.cut_times(SPEC, FPS)
    assert len(scenes) == len(SPEC)
    for scene, cut in zip(scenes[1:], true_cuts, strict=True):
        assert abs(scene.start_s - cut) <= 1 / FPS + 1e-6
        assert abs(scene.start_frame - round(cut * FPS)) <= 1
    assert scenes[0].start_frame == 0 and scenes[-1].end_frame == N_FRAMES
    for a, b in itertools.pairwise(scenes):
        assert a.end_frame == b.start_frame and a.end_s == b.start_s
    assert sum(s.n_frames for s in scenes) == N_FRAMES


@pytest.mark.parametrize("kind", ["gray", "noise", "moving_square", "gradient"])
def test_no_false_cut_inside_one_scene(tmp_path: Path, kind: str) -> None:
    clip = synth.render_video(tmp_path / f"{kind}.mp4", [(kind, 2.0)], fps=FPS, audio_hz=None)
    scenes = video.scene_boundaries(clip, min_gap_s=0.0)
    assert [(s.start_frame, s.end_frame) for s in scenes] == [(0, 20)]


def test_scene_scores_peak_at_the_cuts(media: dict[str, Path]) -> None:
    scores = video.scene_scores(media["clip"])
    assert len(scores) == N_FRAMES
    cut_frames = {round(t * FPS) for t in synth.cut_times(SPEC, FPS)}
    at_cuts = scores[scores["frame"].isin(cut_frames)]["score"]
    inside = scores[~scores["frame"].isin(cut_frames)]["score"]
    assert at_cuts.min() > 2 * inside.max()


def test_min_gap_merges_cuts_closer_than_it(media: dict[str, Path]) -> None:
    # cuts at 1.0, 2.2, 3.7, 4.7, 5.5 s: only the last comes within 0.9 s of the one before
    scenes = video.scene_boundaries(media["clip"], min_gap_s=0.9)
    starts = [round(s.start_s, 1) for s in scenes]
    assert starts == [0.0, 1.0, 2.2, 3.7, 4.7]


def test_sample_scenes_gives_one_matching_frame_per_scene(media: dict[str, Path]) -> None:
    frames = video.sample_scenes(media["clip"])
    assert len(frames) == len(SPEC)
    for frame, (kind, _) in zip(frames, SPEC, strict=True):
        if kind in ("red", "blue", "gray"):
            mean = np.asarray(frame.image, np.float32).reshape(-1, 3).mean(axis=0)
            assert np.abs(mean - synth.COLORS[kind]).max() < 12


@pytest.mark.parametrize("n", [4, 16])  # 75-frame gaps seek, 19-frame gaps decode forward
def test_sample_uniform_returns_the_exact_frames(media: dict[str, Path], n: int) -> None:
    frames = video.sample_uniform(media["counter"], n)
    assert len(frames) == n
    indices = [f.index for f in frames]
    assert indices == sorted(set(indices))
    assert [synth.read_counter(f.image) for f in frames] == indices
    for f in frames:
        assert f.time_s == pytest.approx(f.index / FPS, abs=1e-3)
        assert f.image.size == (160, 120) and f.image.mode == "RGB"


def test_read_frames_in_any_order_and_fewer_than_asked(media: dict[str, Path]) -> None:
    frames = video.read_frames(media["counter"], [250, 5, 120, 5, 9999])
    assert [(f.index, synth.read_counter(f.image)) for f in frames] == [
        (5, 5),
        (120, 120),
        (250, 250),
    ]
    assert len(video.sample_uniform(media["clip"], 100)) == N_FRAMES
    small = video.sample_uniform(media["clip"], 2, max_side=80)
    assert max(small[0].image.size) == 80


def test_iter_frames_streams_downscaled_frames(media: dict[str, Path]) -> None:
    frames = list(video.iter_frames(media["clip"], step=5, width=40))
    assert [i for i, _, _ in frames] == list(range(0, N_FRAMES, 5))
    assert all(bgr.shape == (30, 40, 3) for _, _, bgr in frames)


def test_variable_frame_rate_gives_real_timestamps(media: dict[str, Path], tmp_path: Path) -> None:
    # counter frames 0..9 every 0.1 s, then every 0.2 s: index / fps would be wrong after 1 s
    vfr = tmp_path / "vfr.mp4"
    setpts = "setpts='if(lt(N,10),N,10+2*(N-10))/(10*TB)'"
    source = synth.render_video(tmp_path / "c.mp4", [("counter", 2.0)], fps=FPS, audio_hz=None)
    _ffmpeg("-i", source, "-vf", setpts, "-vsync", "vfr", "-c:v", "libx264", vfr)
    expected = {i: i / 10 if i < 10 else (10 + 2 * (i - 10)) / 10 for i in range(20)}
    streamed = {i: t for i, t, _ in video.iter_frames(vfr)}
    assert streamed == pytest.approx(expected, abs=1e-3)
    for f in video.read_frames(vfr, [3, 12, 15, 19]):
        assert synth.read_counter(f.image) == f.index
        assert f.time_s == pytest.approx(expected[f.index], abs=1e-3)


def test_contact_sheet_and_strip_lay_out_the_frames(media: dict[str, Path]) -> None:
    frames = video.sample_scenes(media["clip"])
    sheet = video.contact_sheet(frames, cols=4, tile_width=80, gap=4)
    assert sheet.size == (4 * 80 + 5 * 4, 2 * 60 + 3 * 4)
    # the red scene fills the first tile (sampled below the timestamp label)
    assert np.abs(np.subtract(sheet.getpixel((4 + 40, 4 + 45)), synth.COLORS["red"])).max() < 15
    strip = video.thumbnail_strip(frames, height=45, gap=2)
    assert strip.size == (len(frames) * 60 + (len(frames) - 1) * 2, 45)
    assert video.contact_sheet([Image.new("RGB", (40, 20))], cols=3).size == (168, 88)
    with pytest.raises(VideoError, match="no frames"):
        video.contact_sheet([])


def test_thumbnail_skips_black_frames_and_fits(media: dict[str, Path]) -> None:
    thumb = video.video_thumbnail(media["silent"], size=(64, 64))
    assert thumb.width <= 64 and thumb.height <= 64 and max(thumb.size) == 64
    grey = np.asarray(thumb.convert("L"), np.float32)
    assert grey.mean() > 60 and grey.std() > 5  # the noise scene, not the black ones


def test_extract_audio_keeps_duration_and_pitch(media: dict[str, Path], tmp_path: Path) -> None:
    out = video.extract_audio(media["clip"], tmp_path / "sub" / "sound.wav", sr=16000)
    y, sr = sf.read(out)
    assert sr == 16000 and y.ndim == 1
    assert len(y) / sr == pytest.approx(N_FRAMES / FPS, abs=0.1)
    spectrum = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    peak_hz = np.fft.rfftfreq(len(y), 1 / sr)[spectrum.argmax()]
    assert peak_hz == pytest.approx(440, abs=3)
    assert [p.name for p in out.parent.iterdir()] == ["sound.wav"]  # no temp file left behind


def test_extract_audio_refuses_a_silent_video(media: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(VideoError, match="no audio track"):
        video.extract_audio(media["silent"], tmp_path / "x.wav")
    assert not (tmp_path / "x.wav").exists()
    with pytest.raises(VideoError, match="overwrite the input"):
        video.extract_audio(media["tone"], media["tone"])
    with pytest.raises(VideoError, match=r"must be a \.wav"):
        video.extract_audio(media["clip"], tmp_path / "x.mp3")


def _bad_files(root: Path, media: dict[str, Path]) -> dict[str, Path]:
    rng = np.random.default_rng(0)
    (root / "corrupt.mp4").write_bytes(rng.integers(0, 256, 5000, np.uint8).tobytes())
    (root / "truncated.mp4").write_bytes(media["clip"].read_bytes()[:3000])
    (root / "empty.mp4").write_bytes(b"")
    Image.new("RGB", (32, 32), "red").save(root / "still.mp4", format="PNG")
    return {
        "missing": root / "missing.mp4",
        "empty": root / "empty.mp4",
        "corrupt": root / "corrupt.mp4",
        "truncated": root / "truncated.mp4",
        "still": root / "still.mp4",
        "audio_only": media["audio_only"],
    }


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("missing", "no such video file"),
        ("empty", "empty"),
        ("corrupt", "ffprobe failed"),
        ("truncated", "ffprobe failed"),
        ("still", "still image"),
        ("audio_only", "no video stream"),
    ],
)
def test_bad_input_is_a_clear_video_error(
    media: dict[str, Path], tmp_path: Path, name: str, message: str
) -> None:
    path = _bad_files(tmp_path, media)[name]
    # iter_frames: checked when called, not at the first next()
    for call in (video.probe_video, video.scene_boundaries, video.iter_frames):
        with pytest.raises(VideoError, match=message) as err:
            call(path)
        assert path.name in str(err.value)


def test_audio_only_file_still_gives_its_audio(media: dict[str, Path], tmp_path: Path) -> None:
    out = video.extract_audio(media["audio_only"], tmp_path / "a.wav")
    assert sf.info(out).duration == pytest.approx(1.0, abs=0.1)


def test_bad_arguments(media: dict[str, Path]) -> None:
    with pytest.raises(VideoError, match="threshold"):
        video.scene_boundaries(media["clip"], threshold=0)
    with pytest.raises(VideoError, match="cannot sample 0"):
        video.sample_uniform(media["clip"], 0)
    with pytest.raises(VideoError, match="step"):
        video.iter_frames(media["clip"], step=0)


def test_missing_ffmpeg_is_a_video_error(
    media: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # a folder without ffmpeg/ffprobe/espeak-ng
    for call in (video.probe_video, video.sample_uniform):
        with pytest.raises(VideoError, match="apt-get install ffmpeg"):
            call(media["clip"])
    with pytest.raises(VideoError, match="ffprobe is not installed"):
        video.extract_audio(media["clip"], tmp_path / "a.wav")
    with pytest.raises(MultimodalError, match="apt-get install ffmpeg"):
        synth.render_video(tmp_path / "x.mp4")


def test_probe_folder_skips_bad_files(media: dict[str, Path], tmp_path: Path) -> None:
    bad = _bad_files(tmp_path, media)
    good = synth.render_video(tmp_path / "good.mkv", [("red", 0.5)], audio_hz=None)
    (tmp_path / "notes.txt").write_text("not a video")
    (tmp_path / "audio_only.mp4").write_bytes(bad["audio_only"].read_bytes())
    result = video.probe_folder(tmp_path)
    assert [p.name for p, _ in result.items] == [good.name]
    skipped = {s.path.name: s.error for s in result.skipped}
    assert set(skipped) == {
        "audio_only.mp4",
        "corrupt.mp4",
        "empty.mp4",
        "still.mp4",
        "truncated.mp4",
    }
    assert "no video stream" in skipped["audio_only.mp4"]
    assert "5 skipped" in result.summary()


def test_render_video_rejects_bad_scenes_without_leaving_files(tmp_path: Path) -> None:
    with pytest.raises(MultimodalError, match="unknown scene 'plaid'"):
        synth.render_video(tmp_path / "x.mp4", [("red", 1.0), ("plaid", 1.0)])
    with pytest.raises(MultimodalError, match="bad RGB"):
        synth.render_video(tmp_path / "x.mp4", [((300, 0, 0), 1.0)])
    with pytest.raises(MultimodalError, match="even sizes"):
        synth.render_video(tmp_path / "x.mp4", size=(161, 120))
    with pytest.raises(MultimodalError, match="could not encode"):
        synth.render_video(tmp_path / "x.notavideo", [("red", 0.2)])
    assert list(tmp_path.iterdir()) == []
    assert synth.cut_times([("red", 1.0), ("blue", 0.55), ("noise", 1)], fps=10) == [1.0, 1.6]
