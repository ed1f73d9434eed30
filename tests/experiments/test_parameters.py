from pathlib import Path

import pytest

from tests.conftest import REPO, tiny_notebook
from vega_lab.errors import NotebookError, NotebookNotFoundError, NotebookParameterError
from vega_lab.experiments.parameters import (
    check_parameters,
    declared_parameters,
    parse_cli_value,
)

BASELINE = REPO / "experiments" / "centralized_baseline.ipynb"


def test_baseline_declares_its_parameters() -> None:
    d = declared_parameters(BASELINE)
    assert {"dataset", "lr", "epochs", "batch_size", "hidden", "seed"} <= set(d)
    assert d["lr"].type_name == "float" and d["epochs"].type_name == "int"
    assert d["dataset"].default == "digits"


def test_check_accepts_fitting_values() -> None:
    check_parameters(BASELINE, {"lr": 1, "epochs": 2, "dataset": "mnist"})  # int fits float


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"lrr": 0.1}, "does not declare parameter.*lrr.*declared: batch_size"),
        ({"epochs": 2.5}, "epochs=2.5 is float.*int"),
        ({"epochs": "3"}, "epochs='3' is str"),
        ({"lr": True}, "lr=True is bool"),
    ],
)
def test_check_refuses_bad_values(params: dict, match: str) -> None:
    with pytest.raises(NotebookParameterError, match=match):
        check_parameters(BASELINE, params)


def test_missing_and_broken_notebooks(tmp_path: Path) -> None:
    with pytest.raises(NotebookNotFoundError, match="does not exist"):
        declared_parameters(tmp_path / "nope.ipynb")
    broken = tmp_path / "broken.ipynb"
    broken.write_text("{not json")
    with pytest.raises(NotebookError, match="cannot read notebook"):
        declared_parameters(broken)
    nb = tiny_notebook(tmp_path / "t.ipynb")
    assert set(declared_parameters(nb)) == {"scale", "steps", "label", "seed"}


def test_cli_values_parse_like_yaml_scalars() -> None:
    assert parse_cli_value("0.1") == 0.1
    assert parse_cli_value("3") == 3
    assert parse_cli_value("true") is True
    assert parse_cli_value("digits") == "digits"
    assert parse_cli_value("[1, 2]") == [1, 2]
