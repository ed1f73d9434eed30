"""Perceptual hashes and near-duplicate groups.

Duplicates inflate datasets and leak test images into training sets; they are rarely byte-equal
(re-saved, resized, re-compressed, brightened). A perceptual hash maps such copies to codes a
few bits apart, so near duplicates are pairs within a small Hamming distance.

Pairs are found by an exact all-pairs comparison, vectorised with numpy (XOR + popcount on
packed 64-bit words, in blocks of bounded memory): O(n^2) work but about 2.5 s for 20,000
images on one core, so fine up to a few ten thousand. A BK-tree was measured first and
rejected: perceptual hashes of unrelated images sit near 32 of 64 bits apart, so a radius of 8
prunes little and the pure-Python tree was about 60x slower than this. Groups are the connected
components of the "within ``max_distance``" graph (union-find), i.e. single linkage: a chain
of small edits can join two images farther apart than the threshold;
``DuplicateGroup.max_distance`` reports the widest pair so such chains are visible.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import imagehash
import numpy as np
from PIL import Image

from vega_lab.errors import ImageError
from vega_lab.multimodal.batch import Skipped, iter_files, process_files
from vega_lab.multimodal.image.io import IMAGE_SUFFIXES, load_image
from vega_lab.registry import lookup

__all__ = [
    "HASHERS",
    "DuplicateGroup",
    "DuplicateGroups",
    "close_pairs",
    "get_hasher",
    "image_hash",
    "near_duplicates",
    "pack_hashes",
]

HASHERS: dict[str, Callable[..., imagehash.ImageHash]] = {
    "phash": imagehash.phash,  # DCT low frequencies: robust to resizing, compression, gamma
    "dhash": imagehash.dhash,  # horizontal gradients: fast, robust to brightness
    "ahash": imagehash.average_hash,  # above/below mean: fastest, the least discriminative
}


def get_hasher(method: str) -> Callable[..., imagehash.ImageHash]:
    """The hash function registered under ``method``."""
    return lookup(HASHERS, method, "hash method")


def image_hash(
    image: str | Path | Image.Image, method: str = "phash", *, hash_size: int = 8
) -> imagehash.ImageHash:
    """Perceptual hash of an image or file (validated and EXIF-rotated by ``load_image``).

    ``hash_size`` 8 gives 64-bit codes; subtract two hashes for their Hamming distance.
    """
    hasher = get_hasher(method)
    img = image if isinstance(image, Image.Image) else load_image(image)
    return hasher(img, hash_size=hash_size)


_BLOCK_ELEMENTS = 4_000_000  # words compared per numpy step: bounds memory to ~32 MB


def pack_hashes(hashes: Sequence[imagehash.ImageHash]) -> np.ndarray:
    """Hashes as an (n, words) uint64 array: hash bits packed 64 to a word."""
    if not hashes:
        return np.zeros((0, 1), dtype=np.uint64)
    bits = np.stack([np.asarray(h.hash, dtype=bool).ravel() for h in hashes])
    packed = np.packbits(bits, axis=1)
    pad = (-packed.shape[1]) % 8
    if pad:
        packed = np.pad(packed, ((0, 0), (0, pad)))
    return np.ascontiguousarray(packed).view(np.uint64)


def close_pairs(words: np.ndarray, max_distance: int) -> tuple[np.ndarray, np.ndarray]:
    """All index pairs (i, j), j < i, whose codes differ in at most ``max_distance`` bits."""
    n, k = words.shape
    block = max(1, _BLOCK_ELEMENTS // max(1, n * k))
    found_i, found_j = [], []
    for start in range(0, n, block):
        rows = words[start : start + block]
        upto = start + len(rows)  # compare each row with the rows before it only
        dist = np.bitwise_count(rows[:, None, :] ^ words[None, :upto, :]).sum(-1, dtype=np.int32)
        i, j = np.nonzero(dist <= max_distance)
        keep = j < i + start
        found_i.append(i[keep] + start)
        found_j.append(j[keep])
    if not found_i:
        return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.intp)
    return np.concatenate(found_i), np.concatenate(found_j)


@dataclass(frozen=True)
class DuplicateGroup:
    """Images within ``max_distance`` bits of each other (transitively); hashes in hex."""

    paths: list[Path]
    hashes: list[str]
    max_distance: int  # widest pair inside the group

    def __len__(self) -> int:
        return len(self.paths)


class DuplicateGroups(list[DuplicateGroup]):
    """The groups (largest first) plus the files that could not be hashed, with why."""

    def __init__(self, groups: Iterable[DuplicateGroup] = (), skipped: Iterable[Skipped] = ()):
        super().__init__(groups)
        self.skipped: list[Skipped] = list(skipped)


def _widest(words: np.ndarray) -> int:
    """Largest pairwise distance inside a group, in blocks (a group can hold thousands)."""
    n, k = words.shape
    block = max(1, _BLOCK_ELEMENTS // max(1, n * k))
    widest = 0
    for start in range(0, n, block):
        rows = words[start : start + block]
        dist = np.bitwise_count(rows[:, None, :] ^ words[None, :, :]).sum(-1, dtype=np.int32)
        widest = max(widest, int(dist.max()))
    return widest


def _find(parent: list[int], i: int) -> int:
    while parent[i] != i:
        parent[i] = parent[parent[i]]  # path halving
        i = parent[i]
    return i


def near_duplicates(
    paths: str | Path | Iterable[str | Path],
    method: str = "phash",
    max_distance: int = 8,
    *,
    hash_size: int = 8,
) -> DuplicateGroups:
    """Groups of near-duplicate images among ``paths`` (or every image under a folder).

    Only groups of two or more are returned, largest first. Files that fail to load are
    reported in ``.skipped`` instead of stopping the run. ``max_distance`` is in bits out of
    ``hash_size ** 2`` (8 of 64 catches resized, re-compressed and mildly edited copies).
    """
    get_hasher(method)  # fail on a bad name before reading any file
    if max_distance < 0:
        raise ImageError(f"max_distance must be >= 0, got {max_distance}", "give a bit count")
    if isinstance(paths, (str, Path)) and Path(paths).is_dir():
        paths = iter_files(paths, IMAGE_SUFFIXES)
    batch = process_files(paths, lambda p: image_hash(p, method, hash_size=hash_size))
    files = [p for p, _ in batch.items]
    hashes = [h for _, h in batch.items]
    words = pack_hashes(hashes)
    parent = list(range(len(hashes)))
    for i, j in zip(*close_pairs(words, max_distance), strict=True):
        ri, rj = _find(parent, int(i)), _find(parent, int(j))
        if ri != rj:
            parent[ri] = rj
    members: dict[int, list[int]] = {}
    for i in range(len(hashes)):
        members.setdefault(_find(parent, i), []).append(i)
    groups = []
    for idx in members.values():
        if len(idx) < 2:
            continue
        widest = _widest(words[idx])
        groups.append(
            DuplicateGroup(
                paths=[files[i] for i in idx],
                hashes=[str(hashes[i]) for i in idx],
                max_distance=int(widest),
            )
        )
    groups.sort(key=lambda g: (-len(g), str(g.paths[0])))
    return DuplicateGroups(groups, batch.skipped)
