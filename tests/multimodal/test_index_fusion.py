"""Merging two embedding spaces: a hit that stands out in its own space beats one that does
not, whatever the raw cosine scales of the two models."""

from __future__ import annotations

import numpy as np

from vega_lab.multimodal.index.catalog import Item
from vega_lab.multimodal.index.hits import PRIOR_N, PRIOR_SD, STATS_SAMPLE, fuse, query_stats


def _item(i: int, space: str) -> Item:
    modality = "image" if space == "clip" else "document"
    return Item(i, modality, f"/x/{i}", {}, "", None, space, "")


def test_standardized_scores_rank_the_standout_first() -> None:
    # CLIP: everything scores 0.30 +- 0.01, its best image 0.32 (z = 2).
    # Text: chunks score 0.0 +- 0.1, one page 0.6 (z = 6), the next 0.1 (z = 1).
    clip = [(_item(1, "clip"), 0.32)]
    text = [(_item(2, "text"), 0.6), (_item(3, "text"), 0.1)]
    hits = fuse([clip, text], k=3, stats=[(0.30, 0.01), (0.0, 0.1)])
    assert [h.item.id for h in hits] == [2, 1, 3]
    assert [round(h.fused, 6) for h in hits] == [6.0, 2.0, 1.0]
    assert hits[0].score == 0.6  # the cosine in its own space is kept
    # An image that stands out more than the page wins instead: no space is favoured.
    hits = fuse([[(_item(1, "clip"), 0.40)], text], k=1, stats=[(0.30, 0.01), (0.0, 0.1)])
    assert hits[0].item.id == 1


def test_single_space_lists_keep_cosine_order() -> None:
    ranked = [(_item(i, "clip"), s) for i, s in [(1, 0.9), (2, 0.5), (3, 0.1)]]
    assert [h.item.id for h in fuse([ranked], k=2)] == [1, 2]


def test_query_stats_exact_small_and_sampled_large() -> None:
    rng = np.random.default_rng(0)
    vecs = rng.normal(size=(100, 8)).astype(np.float32)
    q = rng.normal(size=8).astype(np.float32)
    mean, std = query_stats(vecs, q)
    scores = vecs @ q
    assert np.isclose(mean, scores.mean(), atol=1e-5)
    shrunk = np.sqrt((100 * scores.var() + PRIOR_N * PRIOR_SD**2) / (100 + PRIOR_N))
    assert np.isclose(std, shrunk, atol=1e-5)
    # Five near-identical small scores do not make a 0.05 cosine "stand out" by 5 deviations.
    flat = np.array([[1.0, 0.0]] * 4 + [[0.95, 0.31]], np.float32)
    m, s = query_stats(flat, np.array([0.0, 0.16], np.float32))
    assert (0.05 - m) / s < 1.0
    big = rng.normal(size=(STATS_SAMPLE * 3, 8)).astype(np.float32)
    m1, s1 = query_stats(big, q)
    assert (m1, s1) == query_stats(big, q)  # seeded sample: the same numbers every time
    assert abs(m1 - (big @ q).mean()) < 0.15 * (big @ q).std()
    assert query_stats(vecs[:1], q) == (0.0, 1.0)  # one item: nothing to standardize against
