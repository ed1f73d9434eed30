"""Model cache folders: built once, atomically; a failed or killed build leaves nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from vega_lab.multimodal.model_cache import cached_folder


def test_built_once_then_reused(tmp_path: Path) -> None:
    calls: list[Path] = []

    def build(tmp: Path) -> None:
        calls.append(tmp)
        (tmp / "weights.bin").write_bytes(b"w")
        (tmp / "info.json").write_text("{}")

    first = cached_folder(tmp_path, "abc", "info.json", build)
    again = cached_folder(tmp_path, "abc", "info.json", build)
    assert first == again == tmp_path / "abc" and len(calls) == 1
    assert (first / "weights.bin").read_bytes() == b"w"
    assert not calls[0].exists()  # the temp folder was renamed into place


def test_a_failed_build_leaves_no_folder_and_a_stale_one_is_swept(tmp_path: Path) -> None:
    (tmp_path / ".abc-killed").mkdir(parents=True)  # what a killed builder leaves behind

    def boom(tmp: Path) -> None:
        (tmp / "half.bin").write_bytes(b"x")
        raise RuntimeError("training diverged")

    with pytest.raises(RuntimeError, match="diverged"):
        cached_folder(tmp_path, "abc", "info.json", boom)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".abc.lock"]

    (tmp_path / "abc").mkdir()  # a leftover without its marker is rebuilt, not trusted
    (tmp_path / "abc" / "junk").write_text("?")
    out = cached_folder(tmp_path, "abc", "info.json", lambda t: (t / "info.json").write_text("{}"))
    assert sorted(p.name for p in out.iterdir()) == ["info.json"]


def test_every_marker_must_be_there(tmp_path: Path) -> None:
    def build(tmp: Path) -> None:
        (tmp / "best.pt").write_bytes(b"w")
        (tmp / "metrics.json").write_text("{}")

    out = cached_folder(tmp_path, "k", ("best.pt", "metrics.json"), build)
    (out / "best.pt").unlink()  # metrics alone is not a model: rebuilt under the lock
    calls: list[Path] = []
    again = cached_folder(
        tmp_path, "k", ("best.pt", "metrics.json"), lambda t: (calls.append(t), build(t))
    )
    assert again == out and len(calls) == 1 and (out / "best.pt").is_file()
