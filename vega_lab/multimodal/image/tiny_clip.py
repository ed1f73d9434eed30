"""A tiny open_clip CLIP trained here on rendered shapes, since no pretrained CLIP ships offline.

A real ``open_clip.CLIP`` saved in open_clip's ``local-dir`` format, so ``load_clip`` loads it
through the same factory as downloaded weights: a small ModifiedResNet image tower (a tiny ViT
learned shapes far slower on CPU: 0.40-0.88 train-pair accuracy after 500 steps, this tower
0.97 after 300) and a 2-layer text transformer with open_clip's own BPE tokenizer. Captions:
"a photo of a red circle", variants, colour-only and shape-only ones (grayscale images get
shape-only ones, so shape features cannot lean on colour). The loss is InfoNCE over the batch's
distinct captions with every caption an image satisfies a positive. Only the training pairs of
``shapes.split_pairs`` are seen: accuracy on held-out pairs measures composition.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vega_lab.errors import ModelWeightsError, TrainingError
from vega_lab.multimodal.image import shapes
from vega_lab.multimodal.model_cache import cached_folder

if TYPE_CHECKING:
    from vega_lab.experiments.tracking import Run
    from vega_lab.multimodal.image.clip_embedder import ClipEmbedder

__all__ = ["TinyClipConfig", "TinyClipResult", "ensure_tiny_clip", "evaluate_zero_shot"]
__all__ += ["read_info", "save_tiny_clip", "train_tiny_clip"]

INFO_FILE = "tiny_clip.json"
NAME_PREFIX = "tiny-shapes"
PAIR_TEMPLATE = "a photo of a {}"  # with "red circle": exactly shapes.caption("red", "circle")
COLOR_TEMPLATE = "a photo of a {} shape"
SHAPE_TEMPLATE = "a photo of a {}"
RENDER_SIZE = 64  # shapes.render_scene's default; the model's transform resizes to image_size
_FORMAT = 2  # bump when the training code changes what a config produces: new cache keys


@dataclass(frozen=True)
class TinyClipConfig:
    """Everything that determines the trained weights (its hash names the cache folder)."""

    steps: int = 600  # the default is the shared model load_clip() and tests use: ~30 s
    n_images: int = 2048
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 0.05
    warmup: int = 25
    holdout: int = 4
    seed: int = 0
    partial_captions: float = 0.3  # share of colour-only / shape-only captions
    gray: float = 0.2  # share of images shown in grayscale with a shape-only caption
    image_size: int = 32  # render_scene draws 64 px; the transform resizes (a multiple of 32)
    vision_width: int = 8  # ModifiedResNet stem width; features are 32x that
    vision_layers: int = 1  # blocks per ResNet stage
    text_width: int = 64
    text_layers: int = 2
    context_length: int = 16
    embed_dim: int = 64
    eval_per_pair: int = 25

    def __post_init__(self) -> None:
        sizes = ("steps", "n_images", "batch_size", "vision_width", "vision_layers", "embed_dim")
        bad = [k for k in sizes if getattr(self, k) < 1]
        bad += [
            k for k in ("image_size", "text_width") if getattr(self, k) % 32 or not getattr(self, k)
        ]
        bad += [k for k in ("partial_captions", "gray") if not 0 <= getattr(self, k) < 1]
        if bad or self.lr <= 0:
            raise TrainingError(
                f"invalid TinyClipConfig: {', '.join(bad) or 'lr'}",
                "sizes and lr > 0, image_size and text_width multiples of 32, shares in [0, 1)",
            )

    def model_cfg(self) -> dict[str, Any]:
        """The open_clip model config (``open_clip_config.json``); a list of stage depths as
        vision ``layers`` makes open_clip build a ModifiedResNet."""
        vision = {"image_size": self.image_size, "layers": [self.vision_layers] * 4}
        vision |= {"width": self.vision_width, "head_width": 32}
        text = {"context_length": self.context_length, "vocab_size": 49408}  # open_clip's BPE
        text |= {"width": self.text_width, "heads": self.text_width // 32}
        text["layers"] = self.text_layers
        return {"embed_dim": self.embed_dim, "vision_cfg": vision, "text_cfg": text}

    def key(self) -> str:
        blob = json.dumps({"format": _FORMAT, **asdict(self)}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]


@dataclass
class TinyClipResult:
    """A trained tiny CLIP: metrics (accuracies), per-pair accuracies, the loss curve, the model."""

    config: TinyClipConfig
    metrics: dict[str, float]
    per_pair: dict[str, dict[str, float]]
    losses: list[float]
    train_pairs: list[tuple[str, str]]
    heldout_pairs: list[tuple[str, str]]
    model: Any = field(default=None, repr=False)
    embedder: ClipEmbedder | None = field(default=None, repr=False)

    def info(self) -> dict[str, Any]:
        """What the cache folder's JSON keeps, so reports need no retraining."""
        keep = ("metrics", "per_pair", "train_pairs", "heldout_pairs", "losses")
        out = {"format": _FORMAT, "config": asdict(self.config)}
        return out | {k: getattr(self, k) for k in keep}


def _build(config: TinyClipConfig) -> tuple[Any, Any, Any]:
    """(model, eval preprocess, tokenizer), as open_clip's factory builds them for a CLIP."""
    import open_clip

    model_cfg = config.model_cfg()
    model = open_clip.CLIP(**model_cfg)
    pp = open_clip.transform.PreprocessCfg(size=config.image_size)
    open_clip.set_model_preprocess_cfg(model, asdict(pp))
    model.vega_model_cfg = model_cfg
    preprocess = open_clip.transform.image_transform_v2(pp, is_train=False)
    tokenizer = open_clip.SimpleTokenizer(context_length=config.context_length)
    return model, preprocess, tokenizer


def _caption_table(train: Sequence[tuple[str, str]]) -> tuple[list[str], np.ndarray, Any]:
    """Training captions, the (colour, shape) each names (-1: not named), and a lookup
    [colour + 1, shape + 1, variant] -> caption row for sampling."""
    colors, kinds = list(shapes.COLORS), list(shapes.SHAPES)
    texts: list[str] = []
    named: list[tuple[int, int]] = []
    lookup = np.full((len(colors) + 1, len(kinds) + 1, 3), -1)
    rows = [
        ((colors.index(c), kinds.index(s)), [shapes.caption(c, s), f"a {c} {s}", f"{c} {s}"])
        for c, s in train
    ]
    rows += [((i, -1), [COLOR_TEMPLATE.format(c)]) for i, c in enumerate(colors)]
    rows += [((-1, i), [SHAPE_TEMPLATE.format(s)]) for i, s in enumerate(kinds)]
    for (c, s), variants in rows:
        lookup[c + 1, s + 1] = [len(texts) + v % len(variants) for v in range(3)]
        texts += variants
        named += [(c, s)] * len(variants)
    return texts, np.array(named), lookup


def _render(
    config: TinyClipConfig, train: Sequence[tuple[str, str]], preprocess: Any
) -> tuple[Any, Any, Any]:
    """``n_images`` scenes of training pairs through the eval transform: tensor, colour, shape."""
    import torch

    rng = random.Random(config.seed)
    colors, kinds = list(shapes.COLORS), list(shapes.SHAPES)
    pixels = torch.empty((config.n_images, 3, config.image_size, config.image_size))
    ci, si = np.empty(config.n_images, np.int64), np.empty(config.n_images, np.int64)
    for i in range(config.n_images):
        scene = shapes.render_scene(rng, RENDER_SIZE, train)
        pixels[i] = preprocess(scene.image)
        ci[i] = colors.index(scene.objects[0].color)
        si[i] = kinds.index(scene.objects[0].shape)
    return pixels, ci, si


def _contrastive(img: Any, txt: Any, match: Any, scale: Any) -> Any:
    """Symmetric InfoNCE where every matching (image, caption) cell is a positive."""
    import torch.nn.functional as F

    logits = scale * img @ txt.T
    target = match.float()
    i2t = -(F.log_softmax(logits, 1) * target / target.sum(1, keepdim=True)).sum(1).mean()
    t2i = -(F.log_softmax(logits, 0) * target / target.sum(0, keepdim=True)).sum(0).mean()
    return (i2t + t2i) / 2


def _lr(step: int, config: TinyClipConfig) -> float:
    """Linear warm-up, then cosine decay to zero."""
    if step < config.warmup:
        return config.lr * (step + 1) / config.warmup
    frac = (step - config.warmup) / max(1, config.steps - config.warmup)
    return config.lr * 0.5 * (1 + np.cos(np.pi * frac))


def _grayscale(x: Any, mean: Any, std: Any) -> Any:
    """Normalized images to normalized grayscale: colour is gone, the shape stays."""
    rgb = x * std + mean
    luma = (0.299 * rgb[:, 0] + 0.587 * rgb[:, 1] + 0.114 * rgb[:, 2]).unsqueeze(1)
    return (luma.expand_as(rgb) - mean) / std


def _pick_captions(rng: Any, ci: Any, si: Any, gray: Any, lookup: Any, partial: float) -> Any:
    """One caption row per image that it satisfies: mostly its pair's, else its colour's or
    its shape's alone; a grayscale image only its shape's."""
    u = rng.random(len(ci))
    name_c = np.where(gray | ((u >= partial / 2) & (u < partial)), -1, ci)
    name_s = np.where(gray | (u >= partial / 2), si, -1)
    return lookup[name_c + 1, name_s + 1, rng.integers(0, 3, len(ci))]


def _optimizers(model: Any, config: TinyClipConfig) -> list[Any]:
    """AdamW, plus SparseAdam for the 49k-row token table: a batch touches ~20 of its rows,
    and a dense update of all 3M weights was half of every step's time."""
    import torch

    emb = model.token_embedding
    emb.sparse = True
    params = [p for p in model.parameters() if p is not emb.weight]
    decay = [p for p in params if p.ndim >= 2]
    rest = [p for p in params if p.ndim < 2]
    groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": rest}]
    return [
        torch.optim.AdamW(groups, lr=config.lr, weight_decay=0.0),
        torch.optim.SparseAdam([emb.weight], lr=config.lr),
    ]


def _train_loop(
    model: Any, preprocess: Any, tokenizer: Any, config: TinyClipConfig, train: list, run: Any
) -> list[float]:
    import torch

    pixels, img_c, img_s = _render(config, train, preprocess)
    mean = torch.tensor(model.visual.preprocess_cfg["mean"]).view(1, 3, 1, 1)
    std = torch.tensor(model.visual.preprocess_cfg["std"]).view(1, 3, 1, 1)
    texts, named, lookup = _caption_table(train)
    txt_c, txt_s = named[:, 0], named[:, 1]
    tokens = tokenizer(texts)
    rng = np.random.default_rng(config.seed)
    optims = _optimizers(model, config)
    model.train()
    losses: list[float] = []
    for step in range(config.steps):
        idx = rng.choice(config.n_images, min(config.batch_size, config.n_images), replace=False)
        x = pixels[idx]
        flip = torch.from_numpy(rng.random(len(idx)) < 0.5)
        x[flip] = x[flip].flip(-1)
        gray = rng.random(len(idx)) < config.gray
        x[torch.from_numpy(gray)] = _grayscale(x[torch.from_numpy(gray)], mean, std)
        si = img_s[idx]
        uniq = np.unique(_pick_captions(rng, img_c[idx], si, gray, lookup, config.partial_captions))
        ci = np.where(gray, -2, img_c[idx])  # a grayscale image satisfies no colour caption
        match = torch.from_numpy(
            ((txt_c[uniq][None] < 0) | (txt_c[uniq][None] == ci[:, None]))
            & ((txt_s[uniq][None] < 0) | (txt_s[uniq][None] == si[:, None]))
        )
        for group in (g for o in optims for g in o.param_groups):
            group["lr"] = _lr(step, config)
        img = model.encode_image(x, normalize=True)
        txt = model.encode_text(tokens[torch.from_numpy(uniq)], normalize=True)
        loss = _contrastive(img, txt, match, model.logit_scale.exp())
        model.zero_grad(set_to_none=True)
        loss.backward()
        for o in optims:
            o.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, float(np.log(100)))
        losses.append(float(loss.detach()))
        if run is not None:
            run.log(step=step, loss=losses[-1])
    model.token_embedding.sparse = False
    model.eval()
    return losses


def evaluate_zero_shot(
    embedder: ClipEmbedder, pairs: Sequence[tuple[str, str]], n: int = 25, seed: int = 0
) -> dict[str, Any]:
    """Zero-shot accuracy on ``n`` fresh images of each pair.

    ``accuracy``: over all 24 colour-shape captions as classes (chance 1/24);
    ``color_accuracy`` / ``shape_accuracy``: over colour-only (6) / shape-only (4) prompts;
    ``per_pair``: the 24-way accuracy of each pair.
    """
    if n < 1 or not pairs:
        raise TrainingError("evaluate_zero_shot needs n >= 1 and at least one pair")
    rng = random.Random(seed)
    colors, kinds = list(shapes.COLORS), list(shapes.SHAPES)
    truth = [p for p in pairs for _ in range(n)]
    images = [shapes.render_scene(rng, RENDER_SIZE, [p]).image for p in truth]
    emb = embedder.encode_images(images)
    classes = [(c, s) for c in colors for s in kinds]
    pred = embedder.zero_shot(emb, [f"{c} {s}" for c, s in classes], PAIR_TEMPLATE).argmax(1)
    hit = np.array([classes.index(t) for t in truth]) == pred
    true_c = np.array([colors.index(c) for c, _ in truth])
    true_s = np.array([kinds.index(s) for _, s in truth])
    pred_c = embedder.zero_shot(emb, colors, COLOR_TEMPLATE).argmax(1)
    pred_s = embedder.zero_shot(emb, kinds, SHAPE_TEMPLATE).argmax(1)
    return {
        "accuracy": float(hit.mean()),
        "color_accuracy": float((pred_c == true_c).mean()),
        "shape_accuracy": float((pred_s == true_s).mean()),
        "per_pair": {
            f"{c} {s}": float(hit[i * n : (i + 1) * n].mean()) for i, (c, s) in enumerate(pairs)
        },
        "n_images": len(truth),
    }


def train_tiny_clip(config: TinyClipConfig | None = None, run: Run | None = None) -> TinyClipResult:
    """Train from ``config.seed`` (deterministic, one thread), then measure zero-shot accuracy.

    Each step's loss goes to ``run.log``; the accuracies to ``run.log_final``.
    """
    import torch

    from vega_lab.models.threads import torch_threads
    from vega_lab.multimodal.image.clip_embedder import ClipEmbedder, state_digest

    config = config or TinyClipConfig()
    try:
        train, held = shapes.split_pairs(config.holdout, config.seed)
    except ValueError as exc:
        raise TrainingError(str(exc), "hold out fewer pairs (default 4 of 24)") from exc
    with torch_threads(1):  # a model this small only loses time to thread handoffs
        torch.manual_seed(config.seed)
        model, preprocess, tokenizer = _build(config)
        t0 = time.perf_counter()
        losses = _train_loop(model, preprocess, tokenizer, config, train, run)
        seconds = time.perf_counter() - t0
        name = f"clip:{NAME_PREFIX}-{state_digest(model)[:12]}"  # what load_clip will call it
        embedder = ClipEmbedder(model, preprocess, tokenizer, name)
        fresh = config.seed + 10_000  # an image stream the training never drew from
        ev = {
            "train": evaluate_zero_shot(embedder, train, config.eval_per_pair, fresh),
            "heldout": evaluate_zero_shot(embedder, held, config.eval_per_pair, fresh + 1),
        }
    metrics = {
        f"{split}_{k}": ev[split][k]
        for split in ("train", "heldout")
        for k in ("accuracy", "color_accuracy", "shape_accuracy")
    }
    metrics |= {"chance": 1 / len(shapes.COLORS) / len(shapes.SHAPES), "train_seconds": seconds}
    metrics["final_loss"] = float(np.mean(losses[-20:]))
    if run is not None:
        run.log_final(**metrics)
    per_pair = {split: ev[split]["per_pair"] for split in ev}
    return TinyClipResult(config, metrics, per_pair, losses, train, held, model, embedder)


def save_tiny_clip(model: Any, folder: str | Path, info: dict[str, Any] | None = None) -> Path:
    """open_clip's local-dir format (``write_clip_folder``) plus our JSON (``read_info``)."""
    from vega_lab.multimodal.image.clip_embedder import write_clip_folder

    out = write_clip_folder(model, folder)
    (out / INFO_FILE).write_text(json.dumps(info or {"format": _FORMAT}, indent=1), "utf-8")
    return out


def read_info(folder: str | Path) -> dict[str, Any]:
    """The JSON ``ensure_tiny_clip`` stored next to the weights: config, metrics, losses."""
    path = Path(folder) / INFO_FILE
    try:
        return json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelWeightsError(f"cannot read {path}: {exc}", "rebuild it") from exc


def ensure_tiny_clip(config: TinyClipConfig | None = None) -> Path:
    """The cached model folder for ``config`` (default: the small shared one), trained if missing.

    Trains into a temp folder renamed into place, so a killed run leaves no half cache.
    """
    from vega_lab.config import get_settings

    config = config or TinyClipConfig()

    def build(tmp: Path) -> None:
        result = train_tiny_clip(config)
        save_tiny_clip(result.model, tmp, result.info())

    return cached_folder(get_settings().models_path / "tiny_clip", config.key(), INFO_FILE, build)
