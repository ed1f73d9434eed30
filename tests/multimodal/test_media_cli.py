"""`vega-lab media ...` on generated files: index + search, scrub, summarize, diff, dupes, and a
bad path answered with one clear line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vega_lab.cli import app
from vega_lab.multimodal.demo import demo_pdf, make_demo_folder

pytestmark = pytest.mark.slow
runner = CliRunner()


def invoke(*args: str) -> str:
    res = runner.invoke(app, list(args))
    assert res.exit_code == 0, (res.output, res.exception)
    return res.output


def test_index_search_scrub(workspace: Path) -> None:
    media = workspace / "media"
    files = make_demo_folder(media, n_images=4, speech=False, video=False)
    out = invoke("media", "index", str(media), "--json")
    stats = json.loads(out.strip().splitlines()[-1])
    assert stats["indexed"] >= 6 and stats["skipped"] == 1  # broken.png
    out = invoke("media", "search", "coral reefs ocean", "--modality", "document")
    assert "privacy_notes.pdf p. 3" in out.splitlines()[0]
    out = invoke("media", "scrub", str(files["image"][-1]))
    assert "gps:GPSLatitude" in out and "phone_photo.scrubbed.jpg" in out


def test_summarize_diff_and_dupes(tmp_path: Path) -> None:
    a = demo_pdf(tmp_path / "a.pdf")
    b = tmp_path / "b.md"
    b.write_text(
        "# Notes\n\nDifferential privacy bounds what any single record can change.\n\n"
        "Secure aggregation hides each client's update from the server.\n"
    )
    summary = invoke("media", "summarize", str(a), "--sentences", "2")
    assert 1 <= summary.count(".") <= 4 and summary.strip()
    c = tmp_path / "c.md"
    c.write_text(b.read_text().replace("Secure aggregation", "Robust aggregation"))
    out = invoke("media", "diff", str(b), str(c))
    assert "-Secure aggregation" in out and "+Robust aggregation" in out
    shutil.copy(a, tmp_path / "a_copy.pdf")
    out = invoke("media", "dupes", str(tmp_path), "--json")
    groups = json.loads(out.strip().splitlines()[-1])
    assert [sorted(Path(p).name for p in g["paths"]) for g in groups] == [["a.pdf", "a_copy.pdf"]]


def test_a_missing_file_is_one_clear_line(tmp_path: Path) -> None:
    res = runner.invoke(app, ["media", "transcribe", str(tmp_path / "nope.wav")])
    assert res.exit_code != 0
    assert "no such audio file" in (res.output + str(res.exception))
