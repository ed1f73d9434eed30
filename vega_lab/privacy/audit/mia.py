"""Membership inference: does a trained model give away which examples it trained on?

Two families of attack, both black-box (they only read the model's outputs):

- threshold attacks (Yeom et al. 2018, "Privacy risk in machine learning"): a member tends to
  have a lower loss (higher confidence) than a non-member, so ``score = -loss`` (or ``p_y``)
  and "member if score >= t"; the ROC sweeps t;
- LiRA (Carlini et al. 2022, see ``lira.py``): per-example calibration with shadow models,
  which is what makes an attack confident at a low false-positive rate.

``membership_inference`` is the façade: it trains the target and N shadow models together in
one batched computation (``batched.train_copies``; the target is just one more copy, so it is
trained exactly like the shadows), scores every example of the pool with every attack and
summarizes each attack by AUC and TPR at FPR 0.1% / 1%.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from vega_lab.errors import AuditError
from vega_lab.privacy.audit.batched import (
    DPSGD,
    MLPShape,
    forward,
    init_params,
    member_masks,
    train_copies,
)
from vega_lab.privacy.audit.lira import lira_offline, lira_online
from vega_lab.privacy.audit.roc import RocSummary, roc_frame, summarize
from vega_lab.registry import check_name

ATTACKS = ("loss", "confidence", "lira-offline", "lira-online")
LIRA = ("lira-offline", "lira-online")


def _logits(shape: MLPShape, theta: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    theta = theta.unsqueeze(0) if theta.dim() == 1 else theta
    with torch.no_grad():
        return forward(shape, theta.float(), x.float())[0]


def _true_logit(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return logits.gather(2, y.view(1, -1, 1).expand(logits.shape[0], -1, 1)).squeeze(2)


def loss_scores(
    shape: MLPShape, theta: torch.Tensor, x: torch.Tensor, y: torch.Tensor
) -> torch.Tensor:
    """``-cross-entropy`` of every example under every copy, ``[M, n]`` (higher: more member)."""
    logits = _logits(shape, theta, x)
    return _true_logit(logits, y) - logits.logsumexp(-1)


def confidence_scores(
    shape: MLPShape, theta: torch.Tensor, x: torch.Tensor, y: torch.Tensor
) -> torch.Tensor:
    """The probability of the true class ``p_y``, ``[M, n]``."""
    return loss_scores(shape, theta, x, y).exp()


def logit_scores(
    shape: MLPShape, theta: torch.Tensor, x: torch.Tensor, y: torch.Tensor
) -> torch.Tensor:
    """LiRA's logit-scaled confidence ``phi = log p_y - log(1 - p_y)``, ``[M, n]``.

    Computed as ``z_y - logsumexp_{j != y} z_j`` (both logs share the normalizer), so it stays
    exact where ``p_y`` rounds to 1 in float32 and ``log(1 - p_y)`` would be ``-inf``. Carlini et
    al. use it because it is close to Gaussian over shadow models, unlike ``p_y`` itself."""
    logits = _logits(shape, theta, x)
    idx = y.view(1, -1, 1).expand(logits.shape[0], -1, 1)
    others = logits.scatter(2, idx, float("-inf")).logsumexp(-1)
    return _true_logit(logits, y) - others


def _target_row(scores: torch.Tensor) -> np.ndarray:
    out = scores.double().numpy()
    return out[0] if out.shape[0] == 1 else out


def loss_attack(
    shape: MLPShape, theta: torch.Tensor, x: torch.Tensor, y: torch.Tensor
) -> np.ndarray:
    """Yeom et al.'s threshold attack: per-example ``-loss`` of the target (``theta`` ``[P]`` or
    ``[1, P]`` gives ``[n]``; ``[T, P]`` gives ``[T, n]``). Thresholding it at minus the mean
    training loss is their attack; the ROC sweeps every threshold."""
    return _target_row(loss_scores(shape, theta, x, y))


def confidence_attack(
    shape: MLPShape, theta: torch.Tensor, x: torch.Tensor, y: torch.Tensor
) -> np.ndarray:
    """The same threshold attack on the confidence ``p_y`` (Salem et al. 2019)."""
    return _target_row(confidence_scores(shape, theta, x, y))


def check_attacks(attacks: Sequence[str], shadows: int) -> tuple[str, ...]:
    """Known attack names, and enough shadow models for LiRA."""
    names = tuple(attacks)
    if not names:
        raise AuditError("no attack requested", f"choose from: {', '.join(ATTACKS)}")
    for a in names:
        check_name(a, ATTACKS, "attack")
    if any(a in LIRA for a in names) and shadows < 2:
        raise AuditError(
            f"LiRA needs at least 2 shadow models, got shadows={shadows}",
            "pass shadows >= 2 (16 or more is typical; the paper uses 64 to 256)",
        )
    return names


@dataclass
class MIAResult:
    """Scores of every attack on every pool example, the truth, and the summaries."""

    scores: dict[str, np.ndarray]  # attack -> [n_pool], higher: more likely a member
    members: np.ndarray  # [n_pool] bool: did the target train on the example
    summaries: dict[str, RocSummary]
    shadow_members: np.ndarray  # [shadows, n_pool] bool
    target_train_acc: float
    target_test_acc: float
    seconds: float  # training (target and shadows together) and scoring
    config: dict[str, Any] = field(default_factory=dict)

    def table(self):
        """One row per attack: AUC, TPR at each FPR, balanced accuracy."""
        import pandas as pd

        return pd.DataFrame(
            [{"attack": a, **s.as_dict()} for a, s in self.summaries.items()]
        ).set_index("attack")

    def roc_frames(self, points: int = 400):
        """(fpr, tpr, attack) rows for every attack, thinned evenly in log(FPR)."""
        import pandas as pd

        m = self.members
        return pd.concat(
            [roc_frame(s[m], s[~m], a, points=points) for a, s in self.scores.items()],
            ignore_index=True,
        )

    def chart(self, width: int = 360, height: int = 360):
        """Log-log ROC (Carlini et al.'s figure: the low-FPR corner is what matters), one line
        per attack, with the chance diagonal."""
        import altair as alt
        import pandas as pd

        frame = self.roc_frames()
        floor = 1.0 / max(int((~self.members).sum()), 1)
        frame["tpr"] = frame["tpr"].clip(lower=floor)
        scale = alt.Scale(type="log", domain=[floor, 1.0], clamp=True)
        diag = pd.DataFrame({"fpr": [floor, 1.0], "tpr": [floor, 1.0]})
        lines = (
            alt.Chart(frame)
            .mark_line()
            .encode(
                x=alt.X("fpr:Q", scale=scale, title="false positive rate"),
                y=alt.Y("tpr:Q", scale=scale, title="true positive rate"),
                color=alt.Color("attack:N"),
                tooltip=["attack:N", alt.Tooltip("fpr:Q", format=".4f"), "tpr:Q"],
            )
        )
        chance = alt.Chart(diag).mark_line(color="gray", strokeDash=[4, 4]).encode(x="fpr", y="tpr")
        return (chance + lines).properties(
            width=width, height=height, title="membership inference ROC (log-log)"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.config,
            "target_train_acc": self.target_train_acc,
            "target_test_acc": self.target_test_acc,
            "seconds": self.seconds,
            "attacks": {a: s.as_dict() for a, s in self.summaries.items()},
        }


def _pool(dataset: str, n_pool: int, seed: int):
    from vega_lab.datasets.shipped import load_dataset

    ds = load_dataset(dataset)
    if not 4 <= n_pool <= len(ds.y):
        raise AuditError(
            f"n_pool must lie in [4, {len(ds.y)}] for {dataset!r}, got {n_pool}",
            "the pool is the examples the target and shadows draw their training halves from",
        )
    perm = torch.randperm(len(ds.y), generator=torch.Generator().manual_seed(seed))
    x, y = torch.from_numpy(ds.x.copy()), torch.from_numpy(ds.y.copy())
    pool, rest = perm[:n_pool], perm[n_pool:]
    return ds, x[pool], y[pool], x[rest], y[rest]


def membership_inference(
    dataset: str = "digits",
    *,
    n_pool: int = 1000,
    shadows: int = 32,
    hidden: Sequence[int] = (128,),
    steps: int = 1000,
    lr: float = 0.5,
    sample_rate: float = 0.064,
    dp: DPSGD | None = None,
    attacks: Sequence[str] = ("loss", "lira-offline", "lira-online"),
    fixed_variance: bool = True,
    target_seed: int = 1,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> MIAResult:
    """Attack a target MLP trained on a random half of a pool of ``n_pool`` examples.

    The target and ``shadows`` shadow models (each on its own random half of the pool, drawn
    without knowledge of the target's half) are trained in one ``train_copies`` call with the
    same recipe: ``steps`` SGD steps at ``lr`` on Poisson batches at ``sample_rate``, DP-SGD if
    ``dp``, each model from its own random initialization. ``target_seed`` picks the target's
    half; ``seed`` everything else (the pool, the shadows' halves, inits, batches, noise)."""
    if shadows < 0:
        raise AuditError(f"shadows must be >= 0, got {shadows}")
    names = check_attacks(attacks, shadows)
    t0 = time.perf_counter()
    ds, x, y, x_test, y_test = _pool(dataset, n_pool, seed)
    shape = MLPShape((ds.n_features, *(int(h) for h in hidden), ds.n_classes))
    # distinct parities: the target's half never reuses the shadows' generator
    target_in = member_masks(1, n_pool, seed=2 * target_seed)
    shadow_in = member_masks(shadows, n_pool, seed=2 * seed + 1)
    members = torch.cat([target_in, shadow_in])
    theta0 = init_params(shape, shadows + 1, seed=seed, same_init=False)
    run = train_copies(
        x, y, members, shape=shape, steps=steps, lr=lr, sample_rate=sample_rate, dp=dp,
        theta0=theta0, seed=seed, progress=progress,
    )  # fmt: skip
    target, truth = run.theta[:1], target_in[0].numpy()
    scores: dict[str, np.ndarray] = {}
    if "loss" in names:
        scores["loss"] = loss_attack(shape, target, x, y)
    if "confidence" in names:
        scores["confidence"] = confidence_attack(shape, target, x, y)
    if any(a in LIRA for a in names):
        phi = logit_scores(shape, run.theta, x, y).double().numpy()
        shadow_phi, s_in = phi[1:], shadow_in.numpy()
        for name, fn in (("lira-offline", lira_offline), ("lira-online", lira_online)):
            if name in names:
                scores[name] = fn(phi[0], shadow_phi, s_in, fixed_variance=fixed_variance)
    summaries = {a: summarize(s[truth], s[~truth]) for a, s in scores.items()}

    def accuracy(xs: torch.Tensor, ys: torch.Tensor) -> float:
        return float((_logits(shape, target, xs)[0].argmax(-1) == ys).float().mean())

    config = {
        "dataset": dataset, "n_pool": n_pool, "shadows": shadows,
        "hidden": list(shape.sizes[1:-1]), "steps": steps, "lr": lr,
        "sample_rate": sample_rate, "fixed_variance": fixed_variance,
        "dp": None if dp is None else {"noise_multiplier": dp.noise_multiplier,
                                       "max_grad_norm": dp.max_grad_norm},
        "target_seed": target_seed, "seed": seed,
    }  # fmt: skip
    return MIAResult(
        scores=scores,
        members=truth,
        summaries=summaries,
        shadow_members=shadow_in.numpy(),
        target_train_acc=accuracy(x[target_in[0]], y[target_in[0]]),
        target_test_acc=accuracy(x_test, y_test) if len(y_test) else float("nan"),
        seconds=time.perf_counter() - t0,
        config=config,
    )
