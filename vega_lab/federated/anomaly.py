"""Per-round anomaly detection over the stacked client updates: a client is flagged when its
update norm, or its cosine similarity to the coordinate-wise median update, is an outlier by the
robust z-score (Iglewicz and Hoaglin 1993: z = 0.6745 (x - median) / MAD, outlier beyond 3.5).
Median and MAD stay put while fewer than half of the clients misbehave, unlike mean and standard
deviation, which a few huge updates inflate until nothing looks unusual.

Norms flag both ways (a boosted model-replacement update, an idle client sending zeros); cosines
flag only low values (an update pointing away from the crowd, e.g. sign flipping). Detection
only: flags are recorded, the aggregator decides what to use.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from vega_lab.federated.strategies.robust_base import coordinate_median

THRESHOLD = 3.5
_MAD_TO_SIGMA = 0.6745  # Phi^-1(3/4): MAD / 0.6745 estimates sigma for normal data
_MEANAD_TO_SIGMA = 1.2533  # sqrt(pi / 2): the fallback when more than half the values tie


def robust_z(values: torch.Tensor) -> torch.Tensor:
    """Robust z-scores of a 1-D tensor; zeros when all values are equal. When more than half
    tie (MAD = 0) the mean absolute deviation stands in, as Iglewicz and Hoaglin suggest."""
    med = coordinate_median(values[:, None])[0]
    dev = values - med
    mad = coordinate_median(dev.abs()[:, None])[0]
    if mad > 0:
        return _MAD_TO_SIGMA * dev / mad
    mean_ad = dev.abs().mean()
    if mean_ad > 0:
        return dev / (_MEANAD_TO_SIGMA * mean_ad)
    return torch.zeros_like(values)


@dataclass(frozen=True)
class Anomalies:
    """Per-client ``[C]`` tensors for one round."""

    norms: torch.Tensor
    cosines: torch.Tensor
    norm_z: torch.Tensor
    cosine_z: torch.Tensor
    flagged: torch.Tensor  # bool


def detect(deltas: torch.Tensor, threshold: float = THRESHOLD) -> Anomalies:
    """Flag the rows of ``deltas`` ``[C, n]`` whose norm or cosine to the median is an outlier."""
    d = deltas.double()  # norms and dot products in float64; the median itself is exact
    norms = d.norm(dim=1)
    reference = coordinate_median(deltas).double()
    cosines = (d @ reference) / (norms * reference.norm()).clamp(min=1e-30)
    norm_z, cosine_z = robust_z(norms), robust_z(cosines)
    flagged = (norm_z.abs() > threshold) | (cosine_z < -threshold)
    return Anomalies(norms, cosines, norm_z, cosine_z, flagged)
