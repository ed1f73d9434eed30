"""Every notebook in notebooks/, experiments/ and widgets/ executes headless with small
parameters, through the same Papermill runner users get (so each is also recorded); its saved
output, exported to HTML, then draws every chart in Chromium with the network cut."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest

from tests.browser import exported_notebook_charts, launch_chromium
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
    "dp_fedavg.ipynb": {
        "dataset": "digits",
        "num_clients": 6,
        "rounds": 2,
        "local_epochs": 1,
        "epsilons": [8.0],
        "accountant": "rdp",
    },
    "robustness_matrix.ipynb": {
        "aggregators": ["fedavg", "median"],
        "attacks": ["sign_flip", "backdoor"],
        "fractions": [0.0, 0.2],
        "num_clients": 10,
        "rounds": 2,
        "local_epochs": 2,
    },
}


# Charts each notebook's saved output must hold at least (by path from the repo root); the
# browser check then finds every chart output drawn. Notebooks not listed may draw none.
MIN_CHARTS = {
    "notebooks/federated.ipynb": 2,
    "notebooks/multimodal.ipynb": 2,
    "notebooks/privacy.ipynb": 4,
    "experiments/centralized_baseline.ipynb": 1,
    "experiments/dp_audit.ipynb": 2,
    "experiments/dp_training.ipynb": 1,
    "experiments/federated.ipynb": 1,
    "experiments/lora_finetune.ipynb": 1,
    "experiments/tiny_clip.ipynb": 1,
    "experiments/tiny_yolo.ipynb": 1,
    "widgets/chat_analytics.ipynb": 1,
}


def _small(path: Path) -> dict:
    return SMALL.get(path.relative_to(REPO).as_posix(), SMALL.get(path.name, {}))


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    with launch_chromium() as browser:
        yield browser


def test_there_are_notebooks_in_each_folder() -> None:
    assert {p.relative_to(REPO).parts[0] for p in NOTEBOOKS} == {
        "notebooks",
        "experiments",
        "widgets",
    }


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(REPO)))
def test_notebook_executes(path: Path, workspace: Path, chromium: Any) -> None:
    res = run_notebook(path, _small(path))
    assert res.status == "finished", open_store().get_run(res.run_id).error_traceback
    assert Path(res.output_path).is_file()

    # Offline charts: the saved notebook, exported to HTML, opened with the network cut.
    rel = path.relative_to(REPO).as_posix()
    nb = nbformat.read(res.output_path, 4)
    expected, drawn = exported_notebook_charts(chromium, nb, workspace / "notebook.html")
    assert expected >= MIN_CHARTS.get(rel, 0), f"{rel}: {expected} chart outputs"
    assert len(drawn) >= expected, f"{rel}: {len(drawn)} of {expected} charts drew offline"
    print(f"{rel}: {len(drawn)} charts drew offline ({expected} chart outputs)")
