"""LoRA fine-tuning on the project's tiny GPT-2: only adapters train, held-out loss drops."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from vega_lab.errors import DatasetError, TrainingError
from vega_lab.training.lora import (
    generate,
    load_causal_lm,
    lora_finetune,
    read_pairs,
    synthetic_pairs,
    tiny_causal_lm,
)

FAST = dict(num_threads=1, batch_size=8)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_causal_lm(tmp_path_factory.mktemp("tiny") / "model", seed=0, steps=120)


def test_tiny_model_saves_and_loads_like_a_downloaded_one(tiny: Path) -> None:
    assert (tiny / "config.json").is_file() and (tiny / "tokenizer.json").is_file()
    model, tok = load_causal_lm(tiny)
    assert model.config.model_type == "gpt2" and model.config.n_layer == 2
    text = "Capital of Peru?"
    assert tok.decode(tok.encode(text)) == text
    assert tok.pad_token_id == tok.eos_token_id


def test_lora_trains_only_adapters_and_lowers_held_out_loss(tiny: Path, tmp_path: Path) -> None:
    seen: list[tuple[int, float]] = []
    logged: list[dict] = []

    class FakeRun:
        def log(self, step: int, **values: float) -> None:
            logged.append({"step": step, **values})

        def log_final(self, **values: float) -> None:
            logged.append(values)

    res = lora_finetune(
        tiny,
        synthetic_pairs(seed=0),
        steps=40,
        seed=0,
        adapter_dir=tmp_path / "adapter",
        on_step=lambda i, loss: seen.append((i, loss)),
        run=FakeRun(),  # type: ignore[arg-type]
        **FAST,
    )
    assert 0 < res.trainable_params < res.total_params / 20
    assert res.eval_loss_after < res.eval_loss_before - 0.2, res
    assert [i for i, _ in seen] == list(range(40)) and [x for _, x in seen] == res.losses
    assert [row["step"] for row in logged[:-1]] == list(range(40))
    assert logged[-1] == {
        "eval_loss_before": res.eval_loss_before,
        "eval_loss_after": res.eval_loss_after,
    }
    assert (res.adapter_path / "adapter_config.json").is_file()
    assert isinstance(generate(res.model, res.tokenizer, "Capital of Peru?", 4), str)
    # the base weights are untouched: unload the adapters and compare with a fresh load
    fresh, _ = load_causal_lm(tiny)
    after = res.model.unload().state_dict()
    for name, w in fresh.state_dict().items():
        assert torch.equal(after[name], w), name


def test_same_seed_same_losses(tiny: Path, tmp_path: Path) -> None:
    path = tmp_path / "pairs.jsonl"
    path.write_text("".join(json.dumps(p) + "\n" for p in synthetic_pairs(seed=1)))
    a = lora_finetune(tiny, path, steps=6, seed=3, **FAST)
    b = lora_finetune(tiny, path, steps=6, seed=3, **FAST)
    c = lora_finetune(tiny, path, steps=6, seed=4, **FAST)
    assert a.losses == b.losses and a.eval_loss_after == b.eval_loss_after
    assert a.losses != c.losses


def test_bad_jsonl_names_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "a", "response": "b"}\nnot json\n')
    with pytest.raises(DatasetError, match=r"bad\.jsonl:2"):
        read_pairs(bad)
    bad.write_text('{"prompt": "a", "response": "b"}\n\n{"prompt": "a"}\n')
    with pytest.raises(DatasetError, match=r"bad\.jsonl:3.*response"):
        lora_finetune("unused", bad)


def test_missing_model_says_how_to_get_it(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model"
    with pytest.raises(TrainingError, match="no-such-model") as exc:
        load_causal_lm(missing)
    assert "huggingface-cli download" in str(exc.value)


def test_unknown_target_modules_are_named(tiny: Path) -> None:
    with pytest.raises(TrainingError, match="q_proj"):
        lora_finetune(tiny, synthetic_pairs(), steps=1, target_modules=("q_proj",), **FAST)
