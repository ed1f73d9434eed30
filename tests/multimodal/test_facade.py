"""`vega_lab.multimodal` is one cheap import whose names all resolve to the real functions."""

from __future__ import annotations

import subprocess
import sys

import pytest

import vega_lab.multimodal as mm


def test_every_facade_name_resolves_and_dir_lists_it() -> None:
    for name in mm.__all__:
        obj = getattr(mm, name)
        assert callable(obj), name
        assert obj.__module__.startswith("vega_lab.multimodal"), (name, obj.__module__)
    assert set(mm.__all__) <= set(dir(mm))
    with pytest.raises(AttributeError, match="no_such_name"):
        mm.no_such_name  # noqa: B018


def test_importing_the_package_loads_no_heavy_library() -> None:
    code = (
        "import sys, vega_lab.multimodal, vega_lab.multimodal.index\n"
        "heavy = {'torch', 'open_clip', 'ultralytics', 'cv2', 'librosa', 'fitz', 'pymupdf',"
        " 'faster_whisper', 'whisper', 'sentence_transformers'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
