"""Before DP-SGD: make a model Opacus-compatible, say what was changed, and refuse what cannot be.

Opacus's `ModuleValidator` knows which layers break per-example gradients (BatchNorm mixes the
examples of a batch, nn.LSTM hides its weights in fused kernels, ...) and how to swap them. Its
errors do not name the layer, and some blockers only surface deep inside the first backward pass,
so this module checks layer by layer and names each offender with the fix.
"""

from __future__ import annotations

import warnings

from torch import nn

from vega_lab.errors import PrivacyModelError

# Layers whose functional op has a rule in torch's Expanded Weights (grad_sample_mode="ew").
_EW_LAYERS = (
    nn.Linear,
    nn.Conv1d,
    nn.Conv2d,
    nn.Conv3d,
    nn.Embedding,
    nn.GroupNorm,
    nn.LayerNorm,
    nn.InstanceNorm1d,
    nn.InstanceNorm2d,
    nn.InstanceNorm3d,
)


def _label(name: str, module: nn.Module) -> str:
    return f"{type(module).__name__} at {name or '<root>'!r}"


def _validator_problems(model: nn.Module) -> list[tuple[str, nn.Module, str]]:
    """(name, layer, Opacus's reason) for each trainable layer a registered validator rejects."""
    from opacus.utils.module_utils import trainable_modules
    from opacus.validators import ModuleValidator

    out = []
    for name, layer in trainable_modules(model):
        check = ModuleValidator.VALIDATORS.get(type(layer))
        for err in check(layer) if check else []:
            out.append((name, layer, str(err).split(". ")[0]))
    return out


def _describe(name: str, old: nn.Module, new: nn.Module) -> str:
    if type(new) is type(old):
        return f"{_label(name, old)} reconfigured for DP ({new!r})"
    return f"{_label(name, old)} replaced by {new!r}"


def _ungroup_1d(model: nn.Module, name: str, old: nn.Module) -> None:
    """Opacus turns BatchNorm1d(C) into GroupNorm(gcd(32, C), C). On (N, C) features with C <= 32
    every group holds one value, which normalizes to 0 and erases the signal; one group
    (LayerNorm-like, per example) keeps it."""
    new = model.get_submodule(name)
    if (
        isinstance(old, nn.BatchNorm1d)
        and isinstance(new, nn.GroupNorm)
        and new.num_groups == new.num_channels
    ):
        parent, _, leaf = name.rpartition(".")
        replacement = nn.GroupNorm(1, new.num_channels, affine=new.affine)
        setattr(model.get_submodule(parent) if parent else model, leaf, replacement)


def fix_model(model: nn.Module) -> tuple[nn.Module, tuple[str, ...]]:
    """Apply Opacus's fixes; the (possibly copied) model and one sentence per change."""
    from opacus.validators import ModuleValidator

    model.train()
    problems = _validator_problems(model)
    if not problems:
        return model, ()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fixed = ModuleValidator.fix(model)
    fixes = []
    for name, old, _ in problems:
        if name:
            _ungroup_1d(fixed, name, old)
        new = fixed.get_submodule(name) if name else fixed
        fixes.append(_describe(name, old, new))
    left = _validator_problems(fixed)
    if left:
        raise PrivacyModelError(
            "Opacus cannot make this model private: "
            + "; ".join(f"{_label(n, m)}: {why}" for n, m, why in left),
            "replace those layers with DP-compatible ones (see opacus.validators)",
        )
    return fixed, tuple(dict.fromkeys(fixes))


def mode_blockers(model: nn.Module, grad_sample_mode: str) -> list[str]:
    """Layers that break per-example gradients in this grad-sample mode, each with the reason."""
    from opacus.utils.module_utils import trainable_modules

    out = [
        f"{_label(name, m)} normalizes with batch statistics, mixing the examples of a batch"
        for name, m in model.named_modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm)
    ]
    for name, m in trainable_modules(model):
        if grad_sample_mode == "ew" and not isinstance(m, _EW_LAYERS):
            out.append(f"{_label(name, m)} has no Expanded Weights rule (mode 'ew')")
        buffers = [b for b, _ in m.named_buffers(recurse=False)]
        if grad_sample_mode != "ew" and buffers:
            out.append(
                f"{_label(name, m)} is trainable and keeps buffers ({', '.join(buffers)}), "
                "state DP-SGD cannot privatize"
            )
    return out


def check_private_model(model: nn.Module, grad_sample_mode: str) -> None:
    """Raise PrivacyModelError naming every blocking layer, before any training starts."""
    blockers = mode_blockers(model, grad_sample_mode)
    if blockers:
        hint = (
            "use grad_sample_mode='hooks' (it falls back to functorch for custom layers)"
            if grad_sample_mode == "ew"
            else "use GroupNorm/LayerNorm instead of running statistics, or freeze that layer "
            "with requires_grad_(False)"
        )
        raise PrivacyModelError(
            "Opacus cannot make this model private: " + "; ".join(blockers), hint
        )
