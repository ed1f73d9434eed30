"""`vega-lab bench multimodal`: every multimodal figure of the closing note in one process run.

Each part runs its competitor and vega_lab side by side (the part's own module says how):
CLIP images/s through ``ClipEmbedder`` vs raw open_clip; index query latency at 10k and 100k
vectors, exact numpy vs HNSW (with recall) vs scikit-learn brute force; Whisper real-time
factor through ``transcribe`` vs faster-whisper direct; PDF pages/s vs raw PyMuPDF;
fingerprint precision@1 on noisy crops; the tiny YOLO's mAP50 and detection speed vs
ultralytics direct; the tiny CLIP's zero-shot accuracy (held-out colour/shape pairs).
``quick`` shrinks every part (a smoke run, not figures to quote).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

__all__ = ["PARTS", "bench_multimodal", "headline"]


def _clip(quick: bool) -> dict[str, Any]:
    from vega_lab.benchmarks.multimodal_clip import bench_clip

    return bench_clip(n_images=32 if quick else 256, repeats=2 if quick else 5)


def _index(quick: bool) -> dict[str, Any]:
    from vega_lab.benchmarks.multimodal_index import bench_index

    sizes = (2_000,) if quick else (10_000, 100_000)
    return bench_index(sizes=sizes, queries=30 if quick else 200)


def _whisper(quick: bool) -> dict[str, Any]:
    from vega_lab.benchmarks.multimodal_audio import bench_whisper

    return bench_whisper(repeats=1 if quick else 3)


def _fingerprint(quick: bool) -> dict[str, Any]:
    from vega_lab.benchmarks.multimodal_audio import bench_fingerprint

    if quick:
        return bench_fingerprint(n_tracks=4, n_queries=6, snrs=(10.0,))
    return bench_fingerprint()


def _pdf(quick: bool) -> dict[str, Any]:
    from vega_lab.benchmarks.multimodal_docs import bench_pdf

    return bench_pdf(pages=20 if quick else 200, repeats=2 if quick else 5)


def _yolo(quick: bool) -> dict[str, Any]:
    from vega_lab.benchmarks.multimodal_yolo import bench_yolo

    return bench_yolo(n_images=16 if quick else 64, rounds=2 if quick else 5)


PARTS: dict[str, Callable[[bool], dict[str, Any]]] = {
    "clip": _clip,
    "index": _index,
    "whisper": _whisper,
    "fingerprint": _fingerprint,
    "pdf": _pdf,
    "yolo": _yolo,
}


def bench_multimodal(
    parts: list[str] | None = None,
    quick: bool = False,
    on_part: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run the named parts (default all) and return their figures plus a ``headline`` dict."""
    from vega_lab.registry import check_name

    names = parts or list(PARTS)
    for n in names:
        check_name(n, PARTS, "benchmark part")
    out: dict[str, Any] = {"quick": quick, "seconds": {}}
    for name in names:
        if on_part:
            on_part(name)
        t0 = time.perf_counter()
        out[name] = PARTS[name](quick)
        out["seconds"][name] = round(time.perf_counter() - t0, 1)
    out["headline"] = headline(out)
    return out


def headline(out: dict[str, Any]) -> dict[str, Any]:
    """The figures the issue asks for, flat (missing parts are left out)."""
    h: dict[str, Any] = {}
    if "clip" in out:
        for model, r in out["clip"]["results"].items():
            h[f"clip_{model}_images_per_s"] = round(r["images_per_s"]["vega_lab"], 1)
            h[f"clip_{model}_raw_images_per_s"] = round(r["images_per_s"]["raw_open_clip"], 1)
            h[f"clip_{model}_overhead_pct"] = round(r["overhead_pct"], 2)
        h["tiny_clip_accuracy"] = out["clip"]["tiny_clip_accuracy"]
    if "index" in out:
        for n, row in out["index"]["sizes"].items():
            h[f"index_{n}_exact_ms"] = row["exact"]["median_ms"]
            h[f"index_{n}_hnsw_ms"] = row["hnsw"]["median_ms"]
            h[f"index_{n}_hnsw_recall_at_10"] = row.get("hnsw_recall_at_k")
            if "sklearn_brute" in row:
                h[f"index_{n}_sklearn_brute_ms"] = row["sklearn_brute"]["median_ms"]
    if "whisper" in out:
        w = out["whisper"]
        h["whisper_rtf"] = statistics.median(w["vega_rtf"])  # over the clips
        h["whisper_direct_rtf"] = statistics.median(w["direct_rtf"])
        h["whisper_overhead_pct"] = round(w["overhead_pct"], 2)
        h["whisper_wer"] = w["wer_vega"]
    if "pdf" in out:
        p = out["pdf"]
        h["pdf_pages_per_s"] = p["ours_pages_per_s"]
        h["pdf_raw_pages_per_s"] = p["raw_pages_per_s"]
        h["pdf_tables_pages_per_s"] = p["ours_tables_pages_per_s"]
        h["pdf_raw_tables_pages_per_s"] = p["raw_tables_pages_per_s"]
    if "fingerprint" in out:
        h["fingerprint_precision_at_1"] = out["fingerprint"]["precision_at_1"]
        h["fingerprint_unknown_false_match"] = out["fingerprint"]["unknown_false_match_rate"]
    if "yolo" in out:
        y = out["yolo"]
        h["yolo_map50"] = round(y["map50"], 3)
        h["yolo_images_per_s"] = round(y["vega_images_per_s"], 1)
        h["yolo_direct_images_per_s"] = round(y["direct_images_per_s"], 1)
    return h
