"""Fine-tuning data as ``{"prompt", "response"}`` JSON lines, from files or from conversations.

Sources and their formats:

* ``.json``: a list of ``{"prompt": str, "response": str}`` objects, an object
  ``{"pairs": [...]}`` holding such a list, or one such object. Extra keys are ignored.
* ``.jsonl``: one such object per non-blank line (so a built dataset can be fed back in).
* ``.txt`` / ``.md``: pairs derived from the document (see ``pairs_from_text``):
  ``Q:``/``A:`` blocks when the file has any, otherwise one pair per headed section.
* anything else is skipped and counted (``skipped_files``); so are hidden entries, our own
  ``*.meta.json`` sidecars and symlinked folders (never followed: no loops, no double counting).
* the conversation store: each user message and the assistant answer that follows it.

Every candidate goes through one filter so the counts explain what was dropped and why: empty
sides (after strip), oversize sides (``> max_chars``), and duplicates (sha256 of the
whitespace-normalized pair; the first one seen wins). The JSONL keeps exactly the two keys the
trainers expect; provenance (counts, one source per line) goes to the ``<out>.meta.json`` sidecar.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vega_lab.errors import DatasetError

if TYPE_CHECKING:
    from vega_lab.chat.store import ConversationStore

__all__ = ["BuildResult", "build_dataset", "pairs_from_folder", "pairs_from_store"]
__all__ += ["pairs_from_text", "write_jsonl"]

MAX_CHARS = 8000
TEXT_SUFFIXES = (".txt", ".md")
JSON_SUFFIXES = (".json", ".jsonl")
# folder: skipped_files, no_pairs; store: failed, rated_out, unanswered; both: the first four
COUNT_KEYS = ("kept", "duplicate", "empty", "oversize", "no_pairs", "skipped_files")
COUNT_KEYS += ("failed", "rated_out", "unanswered")


@dataclass
class BuildResult:
    """Kept pairs, why the rest were dropped, and where each kept pair came from.

    ``sources[i]`` names the origin of ``pairs[i]`` (``notes/a.md#2``, ``store:<session>#<id>``).
    """

    pairs: list[dict[str, str]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNT_KEYS, 0))
    sources: list[str] = field(default_factory=list)

    def meta(self) -> dict[str, Any]:
        """The sidecar's content: deterministic (no timestamps) so rebuilds compare byte-equal."""
        return {"count": len(self.pairs), "counts": dict(self.counts), "sources": self.sources}


class _Builder:
    """The one filter every source feeds, so folder and store pairs dedupe against each other."""

    def __init__(self, max_chars: int) -> None:
        if max_chars < 1:
            raise DatasetError(f"max_chars must be >= 1, got {max_chars}")
        self.max_chars = max_chars
        self.result = BuildResult()
        self._seen: set[str] = set()

    def count(self, reason: str, n: int = 1) -> None:
        self.result.counts[reason] = self.result.counts.get(reason, 0) + n

    def add(self, prompt: str, response: str, source: str) -> None:
        prompt, response = prompt.strip(), response.strip()
        if not prompt or not response:
            return self.count("empty")
        if len(prompt) > self.max_chars or len(response) > self.max_chars:
            return self.count("oversize")
        key = hashlib.sha256(
            json.dumps([" ".join(prompt.split()), " ".join(response.split())]).encode()
        ).hexdigest()
        if key in self._seen:
            return self.count("duplicate")
        self._seen.add(key)
        self.result.pairs.append({"prompt": prompt, "response": response})
        self.result.sources.append(source)
        self.count("kept")


# ---- documents -------------------------------------------------------------------------------
_QA = re.compile(r"^\s*(Q|A|Question|Answer)\s*:\s?(.*)$", re.IGNORECASE)
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")


def pairs_from_text(text: str) -> list[tuple[str, str]]:
    """Pairs a plain document yields, by one stated rule (raw: not yet filtered).

    1. **Q/A blocks** win when a line starts with ``Q:`` and another with ``A:`` (also
       ``Question:``/``Answer:``, any case): a question runs until its ``A:`` line, the answer
       until the next ``Q:``. A question with no answer yields an empty response (counted
       ``empty``), so the loss is reported rather than silent.
    2. Otherwise **markdown sections**: every ``#``..``######`` heading whose body (the text up
       to the next heading of any level) is non-blank becomes
       ``("Explain <parent heading> > <heading>.", body)``; the heading path keeps nested
       sections distinguishable. Lines inside ``` fences are never headings; text before the
       first heading is ignored.
    3. A document matching neither yields nothing (the caller counts it ``no_pairs``).
    """
    lines = text.splitlines()
    marks = {m.group(1)[0].upper() for line in lines if (m := _QA.match(line))}
    if marks == {"Q", "A"}:
        return _qa_pairs(lines)
    return _section_pairs(lines)


def _qa_pairs(lines: list[str]) -> list[tuple[str, str]]:
    blocks: list[list[list[str]]] = []  # each [question lines] or [question lines, answer lines]
    for line in lines:
        m = _QA.match(line)
        kind = m.group(1)[0].upper() if m else None
        if m and kind == "Q":
            blocks.append([[m.group(2)]])
        elif m and kind == "A" and blocks and len(blocks[-1]) == 1:
            blocks[-1].append([m.group(2)])
        elif blocks:  # continuation; text before the first Q: is ignored
            blocks[-1][-1].append(line)
    return [("\n".join(b[0]), "\n".join(b[1]) if len(b) > 1 else "") for b in blocks]


def _section_pairs(lines: list[str]) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    path: list[tuple[int, str]] = []  # (level, title) of the enclosing headings
    body: list[str] | None = None
    in_fence = False

    def flush() -> None:
        if body is not None and "\n".join(body).strip():
            pairs.append((f"Explain {' > '.join(t for _, t in path)}.", "\n".join(body)))

    for line in lines:
        if _FENCE.match(line):
            in_fence = not in_fence
        m = None if in_fence else _HEADING.match(line)
        if m:
            flush()
            level = len(m.group(1))
            path = [p for p in path if p[0] < level] + [(level, m.group(2))]
            body = []
        elif body is not None:
            body.append(line)
    flush()
    return pairs


# ---- files -----------------------------------------------------------------------------------
def _pair_fields(obj: Any, where: str) -> tuple[str, str]:
    if not isinstance(obj, Mapping) or not {"prompt", "response"} <= obj.keys():
        raise DatasetError(
            f"{where}: expected an object with 'prompt' and 'response', got {_kind(obj)}",
            'write {"prompt": "...", "response": "..."}',
        )
    prompt, response = obj["prompt"], obj["response"]
    if not isinstance(prompt, str) or not isinstance(response, str):
        raise DatasetError(f"{where}: 'prompt' and 'response' must be strings")
    return prompt, response


def _kind(obj: Any) -> str:
    if isinstance(obj, Mapping):
        return f"an object with keys {sorted(obj)[:5]}"
    return type(obj).__name__


def _parse_json(text: str, rel: str, line_offset: int = 0) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DatasetError(
            f"{rel} is not valid JSON (line {exc.lineno + line_offset}, column {exc.colno}): "
            f"{exc.msg}",
            "fix the file or remove it from the dataset folder",
        ) from exc


def _json_pairs(text: str, rel: str, suffix: str) -> list[tuple[str, str, str]]:
    if suffix == ".jsonl":
        return [
            (*_pair_fields(_parse_json(line, rel, i), f"{rel} line {i + 1}"), f"{rel}#{i + 1}")
            for i, line in enumerate(text.splitlines())
            if line.strip()
        ]
    data = _parse_json(text, rel)
    if isinstance(data, Mapping) and "pairs" in data:
        data = data["pairs"]
        if not isinstance(data, list):
            raise DatasetError(f"{rel}: 'pairs' must be a list, got {_kind(data)}")
    elif isinstance(data, Mapping):
        data = [data]
    elif not isinstance(data, list):
        raise DatasetError(
            f"{rel}: expected a list of pairs, {{'pairs': [...]}} or one pair, got {_kind(data)}"
        )
    return [(*_pair_fields(obj, f"{rel} item {i}"), f"{rel}#{i}") for i, obj in enumerate(data)]


def _inside(path: Path, root: Path, shown: str) -> Path:
    """The resolved path, or a refusal: a file outside the folder must never be read."""
    try:
        real = path.resolve(strict=True)
    except (OSError, RuntimeError) as exc:  # broken link, loop
        raise DatasetError(f"cannot resolve {shown}: {exc}", "fix or remove the link") from exc
    if not real.is_relative_to(root):
        raise DatasetError(
            f"refused: {shown} escapes {root} (resolves to {real})",
            "copy the file into the dataset folder instead of linking or pointing outside it",
        )
    return real


def _walk(folder: Path, root: Path, builder: _Builder) -> Iterable[Path]:
    """Files under ``folder`` in sorted order; every entry checked against ``root``, links too."""
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        real = _inside(entry, root, str(entry))
        if entry.name.startswith(".") or (entry.is_symlink() and real.is_dir()):
            builder.count("skipped_files")
        elif real.is_dir():
            yield from _walk(entry, root, builder)
        else:
            yield entry


def _add_file(path: Path, rel: str, builder: _Builder) -> None:
    suffix = path.suffix.lower()
    if suffix not in TEXT_SUFFIXES + JSON_SUFFIXES or path.name.endswith(".meta.json"):
        return builder.count("skipped_files")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{rel} is not UTF-8 text: {exc}", "re-save it as UTF-8") from exc
    except OSError as exc:
        raise DatasetError(f"cannot read {rel}: {exc}") from exc
    if suffix in JSON_SUFFIXES:
        triples = _json_pairs(text, rel, suffix)
    else:
        triples = [(p, r, f"{rel}#{i}") for i, (p, r) in enumerate(pairs_from_text(text))]
    if not triples:
        return builder.count("no_pairs")
    for prompt, response, source in triples:
        builder.add(prompt, response, source)


def _feed_folder(folder: str | Path, builder: _Builder, files: Iterable[str | Path] | None) -> None:
    base = Path(folder)
    if not base.is_dir():
        what = "does not exist" if not base.exists() else "is not a directory"
        raise DatasetError(f"dataset folder {base} {what}", "pass the folder holding the files")
    root = base.resolve()
    # an absolute entry in ``files`` replaces base; either way every path is checked, all
    # before the first read, and the resolved path is what gets read
    paths = list(_walk(base, root, builder)) if files is None else [base / f for f in files]
    for p, real in [(p, _inside(p, root, str(p))) for p in paths]:
        rel = p.relative_to(base).as_posix() if p.is_relative_to(base) else str(p)
        _add_file(real, rel, builder)


def pairs_from_folder(
    folder: str | Path, *, files: Iterable[str | Path] | None = None, max_chars: int = MAX_CHARS
) -> BuildResult:
    """Pairs from every file under ``folder`` (sorted walk: same folder, same result).

    ``files`` restricts the build to these paths (relative to ``folder``); any path or symlink
    that resolves outside ``folder`` raises ``DatasetError`` ("refused: ... escapes ...") before
    anything is read, so a dataset can never pull in ``~/.ssh`` by accident or by a crafted link.
    """
    builder = _Builder(max_chars)
    _feed_folder(folder, builder, files)
    return builder.result


# ---- conversations ---------------------------------------------------------------------------
def _feed_store(
    store: ConversationStore,
    builder: _Builder,
    min_rating: int | None,
    include_failed: bool,
    sessions: Iterable[str] | None,
) -> None:
    if min_rating not in (None, -1, 0, 1):
        raise DatasetError(
            f"min_rating must be None, -1, 0 or 1, got {min_rating!r}",
            "1 keeps thumbs-up only, 0 drops thumbs-down, None keeps all",
        )
    live = [s.id for s in sorted(store.sessions(), key=lambda s: (s.created_at, s.id))]
    only = set(live if sessions is None else [sessions] if isinstance(sessions, str) else sessions)
    if unknown := sorted(only - set(live)):
        hint = "list them with store.sessions()"
        raise DatasetError(f"no live session(s) {', '.join(unknown)} in {store.path}", hint)
    for sid in (s for s in live if s in only):
        pending = None  # the user message waiting for its answer
        for msg in store.history(sid):
            if msg.role == "user":
                builder.count("unanswered", int(pending is not None))
                pending = msg
            elif msg.role == "assistant" and pending is not None:
                prompt, pending = pending, None
                if msg.error and not include_failed:
                    builder.count("failed")
                elif min_rating is not None and (msg.rating or 0) < min_rating:
                    builder.count("rated_out")
                else:
                    builder.add(prompt.content, msg.content, f"store:{sid}#{msg.id}")
        builder.count("unanswered", int(pending is not None))


def pairs_from_store(
    store: ConversationStore,
    *,
    min_rating: int | None = None,
    include_failed: bool = False,
    sessions: Iterable[str] | None = None,
    max_chars: int = MAX_CHARS,
) -> BuildResult:
    """Each user message and the next assistant answer in its session, as a pair.

    The answer's feedback decides: ``min_rating`` None keeps all, 0 drops thumbs-down, 1 keeps
    thumbs-up only (unrated counts as 0). Failed answers (``error`` set) are training poison, so
    they are dropped (``failed``) unless ``include_failed``. A user message followed by another
    user message, or by nothing, counts ``unanswered``. Sessions are read oldest first.
    """
    builder = _Builder(max_chars)
    _feed_store(store, builder, min_rating, include_failed, sessions)
    return builder.result


# ---- output ----------------------------------------------------------------------------------
def _atomic_write(path: Path, data: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_jsonl(pairs: BuildResult | Iterable[Mapping[str, str]], path: str | Path) -> int:
    """Write one ``{"prompt", "response"}`` object per line, atomically; returns the count.

    Readers never see a half-written file (temp file + rename). Given a ``BuildResult``, the
    provenance goes to ``<path>.meta.json`` beside it, keeping the training lines to two keys.
    """
    out = Path(path)
    result = pairs if isinstance(pairs, BuildResult) else None
    rows = result.pairs if result is not None else list(pairs)  # type: ignore[arg-type]
    lines = []
    for i, row in enumerate(rows):
        prompt, response = _pair_fields(row, f"pair {i}")
        lines.append(json.dumps({"prompt": prompt, "response": response}, ensure_ascii=False))
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        _atomic_write(out, "".join(f"{line}\n" for line in lines))
        if result is not None:
            meta = json.dumps(result.meta(), ensure_ascii=False, indent=2, sort_keys=True)
            _atomic_write(out.with_name(out.name + ".meta.json"), meta + "\n")
    except OSError as exc:
        raise DatasetError(f"cannot write {out}: {exc}", "check the folder and free space") from exc
    return len(lines)


def build_dataset(
    folder: str | Path | None = None,
    store: ConversationStore | None = None,
    *,
    out: str | Path,
    files: Iterable[str | Path] | None = None,
    max_chars: int = MAX_CHARS,
    min_rating: int | None = None,
    include_failed: bool = False,
    sessions: Iterable[str] | None = None,
) -> BuildResult:
    """Folder pairs then store pairs through one filter (deduplicated across both), written
    to ``out`` with its ``.meta.json`` sidecar."""
    if folder is None and store is None:
        raise DatasetError("nothing to build from", "pass folder=..., store=... or both")
    builder = _Builder(max_chars)
    if folder is not None:
        _feed_folder(folder, builder, files)
    if store is not None:
        _feed_store(store, builder, min_rating, include_failed, sessions)
    write_jsonl(builder.result, out)
    return builder.result
