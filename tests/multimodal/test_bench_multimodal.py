"""`bench multimodal` assembles its parts' figures into one headline (a smoke run of two cheap
parts; the figures themselves are the benchmark's job, not the test's)."""

from __future__ import annotations

import pytest

from vega_lab.benchmarks.multimodal import PARTS, bench_multimodal
from vega_lab.errors import UnknownNameError


def test_quick_parts_report_their_headline_figures() -> None:
    seen: list[str] = []
    out = bench_multimodal(["fingerprint", "pdf"], quick=True, on_part=seen.append)
    assert seen == ["fingerprint", "pdf"] and set(out["seconds"]) == set(seen)
    h = out["headline"]
    assert h["fingerprint_precision_at_1"]["10dB"] >= 0.8
    assert h["fingerprint_unknown_false_match"]["10dB"] == 0.0
    assert h["pdf_pages_per_s"] > 0 and h["pdf_raw_pages_per_s"] > 0
    assert out["pdf"]["tables_found"] > 0


def test_unknown_part_is_named() -> None:
    with pytest.raises(UnknownNameError, match="'gpu'"):
        bench_multimodal(["gpu"])
    assert set(PARTS) == {"clip", "index", "whisper", "fingerprint", "pdf", "yolo"}
