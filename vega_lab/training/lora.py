"""LoRA fine-tuning of a causal LM on ``{"prompt", "response"}`` JSONL, fully offline.

``load_causal_lm`` is the real loading code for any Hugging Face causal LM already on disk.
No small one ships with our packages, so ``tiny_causal_lm`` builds a stand-in the same way a
downloaded model looks: a 2-layer GPT-2 with a byte-level BPE tokenizer learned from the data,
briefly pre-trained on that data's text, saved with ``save_pretrained`` so it loads through
``load_causal_lm`` exactly like a real one. ``lora_finetune`` then trains PEFT adapters with a
plain torch loop (no ``Trainer``: lighter, and every step is ours to record), with the loss only
on response tokens, and measures the held-out response loss before and after.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from vega_lab.errors import DatasetError, TrainingError
from vega_lab.models.threads import torch_threads

if TYPE_CHECKING:
    from vega_lab.experiments.tracking import Run

__all__ = ["LoRAResult", "format_prompt", "generate", "load_causal_lm", "lora_finetune"]
__all__ += ["read_pairs", "synthetic_pairs", "tiny_causal_lm"]

EOS = "<|endoftext|>"
PROMPT_TEMPLATE = "Q: {prompt}\nA: "
IGNORE = -100  # label value the loss skips: prompt and padding tokens

Pair = dict[str, str]

# A small fact table: the pre-training text states the facts, fine-tuning teaches the Q/A format,
# so held-out questions are answerable only by combining the two.
_CAPITALS = {
    "France": "Paris", "Spain": "Madrid", "Italy": "Rome", "Germany": "Berlin",
    "Poland": "Warsaw", "Austria": "Vienna", "Greece": "Athens", "Norway": "Oslo",
    "Sweden": "Stockholm", "Finland": "Helsinki", "Ireland": "Dublin", "Portugal": "Lisbon",
    "Hungary": "Budapest", "Egypt": "Cairo", "Japan": "Tokyo", "China": "Beijing",
    "Peru": "Lima", "Chile": "Santiago", "Kenya": "Nairobi", "Canada": "Ottawa",
    "Cuba": "Havana", "Russia": "Moscow", "Turkey": "Ankara", "India": "Delhi",
}  # fmt: skip


def synthetic_pairs(n: int | None = None, seed: int = 0) -> list[Pair]:
    """Deterministic templated pairs a tiny model can learn: capitals, then their reverse."""
    pairs = [
        {"prompt": f"Capital of {c}?", "response": f"The capital of {c} is {city}."}
        for c, city in _CAPITALS.items()
    ] + [
        {"prompt": f"{city} is the capital of?", "response": f"{city} is the capital of {c}."}
        for c, city in _CAPITALS.items()
    ]
    random.Random(seed).shuffle(pairs)
    return pairs if n is None else pairs[:n]


def read_pairs(path: str | Path) -> list[Pair]:
    """Read a ``{"prompt", "response"}`` JSONL; a bad line raises naming the file and line."""
    p = Path(path)
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise DatasetError(f"cannot read {p}: {exc}", "build one with vega_lab.datasets") from exc
    pairs = []
    for no, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{p}:{no}: not JSON ({exc.msg})", "one object per line") from exc
        if not isinstance(obj, dict) or not all(
            isinstance(obj.get(k), str) for k in ("prompt", "response")
        ):
            raise DatasetError(
                f"{p}:{no}: expected string 'prompt' and 'response' keys",
                'write {"prompt": "...", "response": "..."}',
            )
        pairs.append({"prompt": obj["prompt"], "response": obj["response"]})
    if not pairs:
        raise DatasetError(f"{p}: no pairs", "the file is empty")
    return pairs


def format_prompt(prompt: str) -> str:
    """The one fixed template: training, evaluation and generation must agree on it."""
    return PROMPT_TEMPLATE.format(prompt=prompt)


def load_causal_lm(name_or_path: str | Path) -> tuple[Any, Any]:
    """Load ``(model, tokenizer)`` from a folder or the local HF cache; never downloads."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    name = str(name_or_path)
    hint = (
        f"download it once, e.g. `huggingface-cli download {name} --local-dir data/models/x`, "
        "and pass that folder; or build the project's tiny model with tiny_causal_lm()"
    )
    if not name:
        raise TrainingError("no model given", hint)
    try:
        tokenizer = AutoTokenizer.from_pretrained(name, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(name, local_files_only=True)
    except (OSError, ValueError, KeyError) as exc:
        raise TrainingError(f"cannot load causal LM {name!r} offline: {exc}", hint) from exc
    if tokenizer.pad_token is None:  # GPT-2 style models ship without one
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def _bpe_tokenizer(texts: Iterable[str], vocab_size: int) -> Any:
    """A byte-level BPE learned from ``texts``: any string encodes, nothing is downloaded."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(list(texts), trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token=EOS, bos_token=EOS, unk_token=EOS, pad_token=EOS
    )


def _lm_batch(tokenizer: Any, texts: Sequence[str], max_len: int) -> dict[str, torch.Tensor]:
    ids = [[*tokenizer.encode(t)[: max_len - 1], tokenizer.eos_token_id] for t in texts]
    return _pad(ids, [list(x) for x in ids], tokenizer.pad_token_id)


def tiny_causal_lm(
    out_dir: str | Path,
    pairs: Sequence[Pair] | str | Path | None = None,
    *,
    seed: int = 0,
    steps: int = 150,
    lr: float = 3e-3,
    batch_size: int = 16,
    vocab_size: int = 320,
    max_len: int = 64,
) -> Path:
    """Build, pre-train and save the project's tiny GPT-2; returns the folder to load.

    Pre-training sees prompts and responses as separate plain documents (never the Q/A
    template), so the facts are known but the instruction format is left for LoRA to learn.
    """
    from transformers import GPT2Config, GPT2LMHeadModel

    if pairs is None:
        pairs = synthetic_pairs(seed=seed)
    elif isinstance(pairs, (str, Path)):
        pairs = read_pairs(pairs)
    texts = [p[k] for p in pairs for k in ("prompt", "response")]
    torch.manual_seed(seed)
    tokenizer = _bpe_tokenizer(texts, vocab_size)
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_layer=2,
        n_head=2,
        n_embd=64,
        n_positions=256,
        bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = GPT2LMHeadModel(config)
    optim = torch.optim.AdamW(model.parameters(), lr=lr)
    order = _batches(len(texts), batch_size, steps, seed)
    model.train()
    with torch_threads(1):  # the model is tiny by construction: threads only add overhead
        for idx in order:
            loss = model(**_lm_batch(tokenizer, [texts[i] for i in idx], max_len)).loss
            optim.zero_grad()
            loss.backward()
            optim.step()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


@dataclass
class LoRAResult:
    """What a fine-tune measured, and where its adapter went."""

    losses: list[float]
    eval_loss_before: float
    eval_loss_after: float
    trainable_params: int
    total_params: int
    adapter_path: Path | None
    model: Any = field(default=None, repr=False)  # the PEFT model, for generate()
    tokenizer: Any = field(default=None, repr=False)


def _pad(ids: list[list[int]], labels: list[list[int]], pad_id: int) -> dict[str, torch.Tensor]:
    width = max(len(x) for x in ids)
    return {
        "input_ids": torch.tensor([x + [pad_id] * (width - len(x)) for x in ids]),
        "attention_mask": torch.tensor([[1] * len(x) + [0] * (width - len(x)) for x in ids]),
        "labels": torch.tensor([y + [IGNORE] * (width - len(y)) for y in labels]),
    }


def _encode(tokenizer: Any, pair: Pair, max_len: int) -> tuple[list[int], list[int]]:
    """Prompt and response encoded apart, so the label mask falls exactly on the boundary."""
    prompt = tokenizer.encode(format_prompt(pair["prompt"]), add_special_tokens=False)
    answer = tokenizer.encode(pair["response"], add_special_tokens=False)
    answer = [*answer, tokenizer.eos_token_id]
    prompt = prompt[-max(1, max_len - len(answer)) :]  # keep the answer; cut the prompt's start
    ids = (prompt + answer)[-max_len:]
    labels = ([IGNORE] * len(prompt) + answer)[-max_len:]
    return ids, labels


def _sft_batch(tokenizer: Any, pairs: Sequence[Pair], max_len: int) -> dict[str, torch.Tensor]:
    enc = [_encode(tokenizer, p, max_len) for p in pairs]
    return _pad([e[0] for e in enc], [e[1] for e in enc], tokenizer.pad_token_id)


@torch.no_grad()
def response_loss(model: Any, tokenizer: Any, pairs: Sequence[Pair], max_len: int = 128) -> float:
    """Mean loss per response token over ``pairs`` (token-weighted, not per-pair)."""
    model.eval()
    total, count = 0.0, 0
    for i in range(0, len(pairs), 16):
        batch = _sft_batch(tokenizer, pairs[i : i + 16], max_len)
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        labels = batch["labels"][:, 1:]
        loss = torch.nn.functional.cross_entropy(
            logits[:, :-1].flatten(0, 1).float(), labels.flatten(), reduction="sum"
        )
        total += loss.item()
        count += int((labels != IGNORE).sum())
    return total / max(count, 1)


def _batches(n: int, batch_size: int, steps: int, seed: int) -> list[list[int]]:
    """``steps`` batches of indices, reshuffled each pass, from a seeded generator."""
    g = torch.Generator().manual_seed(seed)
    out: list[list[int]] = []
    while len(out) < steps:
        perm = torch.randperm(n, generator=g).tolist()
        out += [perm[i : i + batch_size] for i in range(0, n, batch_size)]
    return out[:steps]


def _split(pairs: list[Pair], fraction: float, seed: int) -> tuple[list[Pair], list[Pair]]:
    if not 0 < fraction < 1:
        raise TrainingError(f"eval fraction must be in (0, 1), got {fraction}")
    order = list(range(len(pairs)))
    random.Random(seed).shuffle(order)
    k = max(1, round(len(pairs) * fraction))
    if k >= len(pairs):
        raise TrainingError(f"{len(pairs)} pairs are too few to hold {k} out")
    return [pairs[i] for i in order[k:]], [pairs[i] for i in order[:k]]


def _load_pairs(src: str | Path | Sequence[Pair]) -> list[Pair]:
    return read_pairs(src) if isinstance(src, (str, Path)) else [dict(p) for p in src]


def _conv1d_targets(model: Any, targets: Sequence[str]) -> bool:
    """GPT-2 keeps its projections in Conv1D (weights transposed): PEFT must be told."""
    from transformers.pytorch_utils import Conv1D

    return any(
        isinstance(m, Conv1D) and name.split(".")[-1] in targets
        for name, m in model.named_modules()
    )


def lora_finetune(
    model_path: str | Path,
    train_jsonl: str | Path | Sequence[Pair],
    *,
    eval_jsonl: str | Path | Sequence[Pair] | None = None,
    eval_fraction: float = 0.2,
    r: int = 8,
    alpha: int = 16,
    dropout: float = 0.05,
    target_modules: Sequence[str] = ("c_attn",),
    lr: float = 3e-3,
    steps: int | None = None,
    epochs: int = 1,
    batch_size: int = 8,
    max_len: int = 128,
    seed: int = 0,
    adapter_dir: str | Path | None = None,
    on_step: Callable[[int, float], None] | None = None,
    run: Run | None = None,
    num_threads: int | None = None,
) -> LoRAResult:
    """Train LoRA adapters on the pairs; held-out response loss is measured before and after.

    Without ``eval_jsonl`` a seeded ``eval_fraction`` of the training pairs is held out.
    ``steps`` (when given) overrides ``epochs``. Each step's loss goes to ``on_step`` and
    ``run.log``; the adapter (only the LoRA weights) is saved to ``adapter_dir`` when given.
    ``num_threads`` (e.g. 1 for tiny models on a shared CPU) applies for this call only.
    """
    from peft import LoraConfig, get_peft_model

    pairs = _load_pairs(train_jsonl)
    if eval_jsonl is None:
        train, held = _split(pairs, eval_fraction, seed)
    else:
        train, held = pairs, _load_pairs(eval_jsonl)
    if batch_size < 1 or r < 1:
        raise TrainingError(f"batch_size and r must be >= 1, got {batch_size} and {r}")
    n_steps = steps if steps is not None else epochs * -(-len(train) // batch_size)

    with torch_threads(num_threads):
        torch.manual_seed(seed)
        base, tokenizer = load_causal_lm(model_path)
        eval_before = response_loss(base, tokenizer, held, max_len)
        config = LoraConfig(
            r=r,
            lora_alpha=alpha,
            lora_dropout=dropout,
            target_modules=list(target_modules),
            fan_in_fan_out=_conv1d_targets(base, target_modules),
            task_type="CAUSAL_LM",
        )
        try:
            model = get_peft_model(base, config)
        except ValueError as exc:
            raise TrainingError(
                f"LoRA target modules {list(target_modules)} not found: {exc}",
                "pass the names of the model's attention projections (GPT-2: c_attn)",
            ) from exc
        trainable, total = model.get_nb_trainable_parameters()
        params = [p for p in model.parameters() if p.requires_grad]
        optim = torch.optim.AdamW(params, lr=lr)

        losses: list[float] = []
        for step, idx in enumerate(_batches(len(train), batch_size, n_steps, seed)):
            model.train()
            loss = model(**_sft_batch(tokenizer, [train[i] for i in idx], max_len)).loss
            optim.zero_grad()
            loss.backward()
            optim.step()
            losses.append(loss.item())
            if on_step is not None:
                on_step(step, losses[-1])
            if run is not None:
                run.log(step=step, loss=losses[-1])

        eval_after = response_loss(model, tokenizer, held, max_len)
        if run is not None:
            run.log_final(eval_loss_before=eval_before, eval_loss_after=eval_after)
        path = None
        if adapter_dir is not None:
            path = Path(adapter_dir)
            model.save_pretrained(path)
            tokenizer.save_pretrained(path)
        return LoRAResult(losses, eval_before, eval_after, trainable, total, path, model, tokenizer)


@torch.no_grad()
def generate(model: Any, tokenizer: Any, prompt: str, max_new_tokens: int = 24) -> str:
    """Greedy answer to ``prompt`` in the training template (for eyeballing, not metrics)."""
    model.eval()
    ids = torch.tensor([tokenizer.encode(format_prompt(prompt), add_special_tokens=False)])
    out = model.generate(
        input_ids=ids,
        attention_mask=torch.ones_like(ids),
        max_new_tokens=max_new_tokens,
        do_sample=False,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    return tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True).strip()
