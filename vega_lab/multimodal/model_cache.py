"""Trained-model cache folders: built once per config, atomically, one builder at a time.

The tiny CLIP and tiny YOLO are trained on first use and shared by tests, notebooks and the
panel (possibly several processes at once). A folder is built in a hidden temp folder beside
its final place and renamed into place only when complete, under a per-key file lock, so a
killed run leaves no half cache and two processes never train the same model twice.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

__all__ = ["cached_folder"]


def cached_folder(
    root: Path, key: str, markers: str | tuple[str, ...], build: Callable[[Path], object]
) -> Path:
    """``root/key``, built by ``build(tmp_folder)`` unless it already holds every marker file.

    ``markers`` are the files ``build`` must leave: all present means the folder is whole; a
    folder missing one (damaged by hand) is rebuilt, under the lock.
    """
    final = root / key
    names = (markers,) if isinstance(markers, str) else markers

    def whole() -> bool:
        return all((final / name).is_file() for name in names)

    if whole():
        return final
    root.mkdir(parents=True, exist_ok=True)
    with (root / f".{key}.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the handle closes
        if whole():  # another process finished it while we waited
            return final
        for stale in root.glob(f".{key}-*"):  # a killed builder's; we hold the lock
            shutil.rmtree(stale, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=root))
        tmp.chmod(0o755)  # mkdtemp's 0700 would hide the cache from other users
        try:
            build(tmp)
            if final.exists():  # an unreadable leftover: it is a cache, rebuild it
                shutil.rmtree(final)
            os.rename(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return final
