"""Every notebook in notebooks/, experiments/ and widgets/ executes headless with small
parameters, through the same Papermill runner users get (so each is also recorded)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import REPO
from vega_lab.experiments import open_store, run_notebook

pytestmark = pytest.mark.slow

NOTEBOOKS = sorted(
    p
    for d in ("notebooks", "experiments", "widgets")
    for p in (REPO / d).rglob("*.ipynb")
    if ".ipynb_checkpoints" not in p.parts
)
# Small parameters per notebook, by file name or, where names repeat across folders, by path
# from the repo root; a notebook missing here runs with its defaults.
SMALL = {
    "centralized_baseline.ipynb": {"epochs": 2},
    "dp_training.ipynb": {"epochs": 2, "epsilon": 8.0},
    "lora_finetune.ipynb": {"steps": 30, "pretrain_steps": 60},
    "00_tour.ipynb": {"epochs": 1},
    "notebooks/federated.ipynb": {"rounds": 2, "num_clients": 4, "local_epochs": 1},
    "experiments/federated.ipynb": {"rounds": 3, "num_clients": 4, "local_epochs": 1},
    "widgets/federated.ipynb": {"rounds": 2, "num_clients": 4, "autorun": True},
    "dp_audit.ipynb": {"trials": 200, "epsilon": 4.0},
    "notebooks/privacy.ipynb": {"epochs": 1, "audit_trials": 200},
    "widgets/privacy.ipynb": {"trials": 200, "noise_scale": 0.1, "autorun": True},
    "notebooks/chat.ipynb": {"max_tokens": 24},
    "widgets/chat_analytics.ipynb": {"demo_questions": 3, "max_tokens": 24},
    "notebooks/multimodal.ipynb": {"n_images": 6, "max_tokens": 24},
    "tiny_clip.ipynb": {"steps": 30, "n_images": 256, "eval_per_pair": 4},
    "tiny_yolo.ipynb": {"epochs": 1, "n_train": 16, "n_val": 8, "imgsz": 64, "batch": 8},
}


def _small(path: Path) -> dict:
    return SMALL.get(path.relative_to(REPO).as_posix(), SMALL.get(path.name, {}))


def test_there_are_notebooks_in_each_folder() -> None:
    assert {p.relative_to(REPO).parts[0] for p in NOTEBOOKS} == {
        "notebooks",
        "experiments",
        "widgets",
    }


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(REPO)))
def test_notebook_executes(path: Path, workspace: Path) -> None:
    res = run_notebook(path, _small(path))
    assert res.status == "finished", open_store().get_run(res.run_id).error_traceback
    assert Path(res.output_path).is_file()
