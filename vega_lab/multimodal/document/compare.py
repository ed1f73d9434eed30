"""Compare documents: a paragraph diff with page numbers, and near-duplicate groups.

Diff: difflib over the *whole* document's paragraph sequence (whitespace normalized), each
paragraph remembering its page. Diffing page by page would report everything after one inserted
paragraph as changed once the text reflows onto the next page; over the whole sequence the
insertion is one "added" change and the pages are carried along. Inside a replaced run,
paragraphs that still read alike (difflib ratio >= 0.5) pair up as "changed", the rest are
"removed"/"added".

Near duplicates: Jaccard similarity of word 5-shingles, estimated with MinHash (128 seeded
permutations) to find candidate pairs, then confirmed exactly. Why not MiniLM cosine: a
near-duplicate is *the same text* with small edits (a re-export, a revised version); two
different papers on one topic also score a high cosine, and MiniLM reads only the first 256
tokens of a document. Shingles compare the whole text, need no model, and are deterministic.
"""

from __future__ import annotations

import difflib
import re
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vega_lab.errors import DocumentError
from vega_lab.multimodal.batch import Skipped, iter_files, process_files
from vega_lab.multimodal.document.readers import DOCUMENT_SUFFIXES, Document, read_document

__all__ = [
    "Change",
    "DocumentDiff",
    "DuplicateGroup",
    "DuplicateReport",
    "diff_documents",
    "near_duplicate_documents",
]

PAIR_RATIO = 0.5
_PRIME = 4294967311  # the first prime above 2**32: hashes are 32-bit


@dataclass(frozen=True)
class Change:
    kind: str  # "added", "removed" or "changed"
    page_a: int | None  # where it was in a (None for "added")
    page_b: int | None  # where it is in b (None for "removed")
    old: str | None
    new: str | None


@dataclass
class DocumentDiff:
    a: Path
    b: Path
    changes: list[Change]
    similarity: float  # 0..1, share of characters unchanged (2*matches / total)
    unified: str  # a unified diff of the paragraphs, one per line

    def of_kind(self, kind: str) -> list[Change]:
        return [c for c in self.changes if c.kind == kind]

    @property
    def identical(self) -> bool:
        return not self.changes

    def summary(self) -> str:
        counts = {k: len(self.of_kind(k)) for k in ("added", "removed", "changed")}
        parts = ", ".join(f"{n} {k}" for k, n in counts.items())
        return f"{self.a.name} vs {self.b.name}: {parts}; similarity {self.similarity:.1%}"


def _as_document(doc: Document | str | Path) -> Document:
    return doc if isinstance(doc, Document) else read_document(doc)


def _paragraphs(doc: Document) -> list[tuple[int, str]]:
    out = []
    for page in doc.pages:
        blocks = [b.text for b in page.blocks] or page.text.split("\n\n")
        out += [(page.number, norm) for text in blocks if (norm := " ".join(text.split()))]
    return out


def _ratio(x: str, y: str) -> float:
    m = difflib.SequenceMatcher(None, x, y, autojunk=False)
    return m.ratio() if m.real_quick_ratio() >= PAIR_RATIO and m.quick_ratio() >= PAIR_RATIO else 0


def _replace(old: list[tuple[int, str]], new: list[tuple[int, str]]) -> Iterator[tuple]:
    """Pair a replaced run in order: (Change, matched characters) for each paragraph."""
    j = 0
    for page_a, text_a in old:
        scores = [(_ratio(text_a, text_b), k) for k, (_, text_b) in enumerate(new[j:], start=j)]
        best = max(scores, default=(0.0, -1), key=lambda s: (s[0], -s[1]))
        if best[0] < PAIR_RATIO:
            yield Change("removed", page_a, None, text_a, None), 0.0
            continue
        for page_b, text_b in new[j : best[1]]:
            yield Change("added", None, page_b, None, text_b), 0.0
        page_b, text_b = new[best[1]]
        yield (
            Change("changed", page_a, page_b, text_a, text_b),
            best[0] * (len(text_a) + len(text_b)),
        )
        j = best[1] + 1
    for page_b, text_b in new[j:]:
        yield Change("added", None, page_b, None, text_b), 0.0


def diff_documents(a: Document | str | Path, b: Document | str | Path) -> DocumentDiff:
    """What changed from ``a`` to ``b``, paragraph by paragraph, with page numbers."""
    doc_a, doc_b = _as_document(a), _as_document(b)
    pa, pb = _paragraphs(doc_a), _paragraphs(doc_b)
    ta, tb = [t for _, t in pa], [t for _, t in pb]
    matcher = difflib.SequenceMatcher(None, ta, tb, autojunk=False)
    changes: list[Change] = []
    matched = 0.0
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            matched += 2 * sum(len(t) for t in ta[i1:i2])
        elif op == "delete":
            changes += [Change("removed", p, None, t, None) for p, t in pa[i1:i2]]
        elif op == "insert":
            changes += [Change("added", None, p, None, t) for p, t in pb[j1:j2]]
        else:
            for change, chars in _replace(pa[i1:i2], pb[j1:j2]):
                changes.append(change)
                matched += chars
    total = sum(map(len, ta)) + sum(map(len, tb))
    unified = "\n".join(
        difflib.unified_diff(ta, tb, doc_a.path.name, doc_b.path.name, lineterm="", n=1)
    )
    similarity = matched / total if total else 1.0
    return DocumentDiff(doc_a.path, doc_b.path, changes, round(similarity, 6), unified)


# -- near duplicates --------------------------------------------------------------------------
@dataclass(frozen=True)
class DuplicateGroup:
    paths: list[Path]
    similarity: float  # the lowest confirmed Jaccard similarity linking the group


@dataclass
class DuplicateReport:
    groups: list[DuplicateGroup] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)

    def __iter__(self) -> Iterator[DuplicateGroup]:
        return iter(self.groups)

    def __len__(self) -> int:
        return len(self.groups)


def shingles(text: str, k: int = 5) -> set[int]:
    """32-bit hashes of the word k-grams of ``text`` (lowercased, punctuation dropped)."""
    words = re.findall(r"\w+", text.lower())
    if len(words) < k:
        return {zlib.crc32(" ".join(words).encode())} if words else set()
    return {zlib.crc32(" ".join(words[i : i + k]).encode()) for i in range(len(words) - k + 1)}


def minhash(hashes: set[int], num_perm: int = 128, seed: int = 0) -> np.ndarray:
    """MinHash signature: per permutation h(x) = (a*x + b) mod p, the minimum over the set."""
    rng = np.random.default_rng(seed)
    a = rng.integers(1, 2**32 - 1, num_perm, dtype=np.uint64)  # a*x < 2**64: no overflow
    b = rng.integers(0, 2**32 - 1, num_perm, dtype=np.uint64)
    x = np.fromiter(hashes, dtype=np.uint64, count=len(hashes))
    sig = np.full(num_perm, np.iinfo(np.uint64).max, dtype=np.uint64)
    for start in range(0, len(x), 4096):
        part = x[start : start + 4096, None]
        sig = np.minimum(sig, (((part * a) % _PRIME + b) % _PRIME).min(axis=0))
    return sig


def _text_shingles(path: Path, k: int) -> set[int]:
    found = shingles(read_document(path).text, k)
    if not found:
        raise DocumentError(f"{path.name} has no text to compare", "OCR scans before comparing")
    return found


def near_duplicate_documents(
    folder_or_paths: str | Path | Iterable[str | Path],
    threshold: float = 0.9,
    *,
    k: int = 5,
    num_perm: int = 128,
    seed: int = 0,
) -> DuplicateReport:
    """Groups of documents whose word-shingle Jaccard similarity is >= ``threshold``;
    unreadable or text-less files are skipped and listed in ``report.skipped``."""
    if not 0 < threshold <= 1:
        raise DocumentError(f"threshold={threshold} is out of range", "use a value in (0, 1]")
    if isinstance(folder_or_paths, (str, Path)):
        paths = iter_files(folder_or_paths, DOCUMENT_SUFFIXES)
    else:
        paths = [Path(p) for p in folder_or_paths]
    batch = process_files(paths, lambda p: _text_shingles(p, k))
    report = DuplicateReport(skipped=list(batch.skipped))
    names = [p for p, _ in batch.items]
    sets = [s for _, s in batch.items]
    if len(sets) < 2:
        return report
    sigs = np.stack([minhash(s, num_perm, seed) for s in sets])
    parent = list(range(len(sets)))
    weakest: dict[int, float] = {}

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    margin = 3 * np.sqrt(threshold * (1 - threshold) / num_perm) + 1 / num_perm
    for i in range(len(sets) - 1):
        estimates = (sigs[i + 1 :] == sigs[i]).mean(axis=1)
        for j in np.nonzero(estimates >= threshold - margin)[0] + i + 1:
            exact = len(sets[i] & sets[j]) / len(sets[i] | sets[j])
            if exact >= threshold:
                ri, rj = root(i), root(int(j))
                low = min(exact, weakest.get(ri, 1.0), weakest.get(rj, 1.0))
                parent[rj] = ri
                weakest[ri] = low
    members: dict[int, list[int]] = {}
    for i in range(len(sets)):
        members.setdefault(root(i), []).append(i)
    for r, idx in sorted(members.items(), key=lambda kv: str(names[kv[1][0]])):
        if len(idx) > 1:
            group = DuplicateGroup([names[i] for i in idx], round(weakest.get(r, 1.0), 6))
            report.groups.append(group)
    return report
