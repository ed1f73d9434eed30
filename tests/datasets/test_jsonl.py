"""Folder and conversation-store pairs -> {"prompt", "response"} JSONL: formats, filters,
refusals and determinism."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vega_lab.chat.store import ConversationStore
from vega_lab.datasets.jsonl import (
    BuildResult,
    build_dataset,
    pairs_from_folder,
    pairs_from_store,
    pairs_from_text,
    write_jsonl,
)
from vega_lab.errors import DatasetError, VegaError

MD = """# Vega
intro ignored? no: this is the Vega section body.

## Orbit
Vega orbits nothing; it is a star.

```
# not a heading
```

## Empty

# Tools
The workbench.
"""

QA = """preamble ignored
Q: What is DP-SGD?
A: Clipped, noised SGD.
It bounds each example's influence.
Q: Unanswered question?
"""


def _folder(root: Path) -> Path:
    d = root / "data"
    (d / "sub").mkdir(parents=True)
    pair = {"prompt": "What is FedAvg?", "response": "Weighted averaging of client models."}
    (d / "a.json").write_text(json.dumps([pair, {"prompt": "  ", "response": "x"}]))
    (d / "b.json").write_text(json.dumps({"pairs": [{**pair, "prompt": "What is  FedAvg? "}]}))
    (d / "c.json").write_text(json.dumps({"prompt": "Big?", "response": "y" * 9000}))
    (d / "notes.md").write_text(MD)
    (d / "sub" / "faq.txt").write_text(QA)
    (d / "sub" / "plain.txt").write_text("just prose, no structure\n")
    (d / "image.png").write_bytes(b"\x89PNG")
    return d


def test_text_rule_sections_and_qa() -> None:
    assert pairs_from_text(MD) == [
        ("Explain Vega.", "intro ignored? no: this is the Vega section body.\n"),
        (
            "Explain Vega > Orbit.",
            "Vega orbits nothing; it is a star.\n\n```\n# not a heading\n```\n",
        ),
        ("Explain Tools.", "The workbench."),
    ]
    assert pairs_from_text(QA) == [
        ("What is DP-SGD?", "Clipped, noised SGD.\nIt bounds each example's influence."),
        ("Unanswered question?", ""),
    ]
    assert pairs_from_text("no structure") == []


def test_folder_pairs_counts_and_sources(tmp_path: Path) -> None:
    res = pairs_from_folder(_folder(tmp_path))
    prompts = [p["prompt"] for p in res.pairs]
    assert prompts == [
        "What is FedAvg?",
        "Explain Vega.",
        "Explain Vega > Orbit.",
        "Explain Tools.",
        "What is DP-SGD?",
    ]
    assert res.sources == ["a.json#0", "notes.md#0", "notes.md#1", "notes.md#2", "sub/faq.txt#0"]
    assert res.counts == {
        "kept": 5,
        "duplicate": 1,  # b.json: same pair up to whitespace
        "empty": 2,  # a.json blank prompt, faq.txt unanswered question
        "oversize": 1,  # c.json response > max_chars
        "no_pairs": 1,  # plain.txt
        "skipped_files": 1,  # image.png
        "failed": 0,
        "rated_out": 0,
        "unanswered": 0,
    }


def test_bad_json_names_file_line_and_column(tmp_path: Path) -> None:
    d = _folder(tmp_path)
    (d / "sub" / "broken.json").write_text('[\n  {"prompt": "a",\n  oops}\n]')
    with pytest.raises(
        DatasetError, match=r"sub/broken\.json is not valid JSON \(line 3, column 3"
    ):
        pairs_from_folder(d)


@pytest.mark.parametrize(
    "payload",
    ['"just a string"', '[{"prompt": "a"}]', '[{"prompt": 1, "response": "b"}]', '{"pairs": 3}'],
)
def test_wrong_json_shape_names_file(tmp_path: Path, payload: str) -> None:
    d = tmp_path / "d"
    d.mkdir()
    (d / "shape.json").write_text(payload)
    with pytest.raises(DatasetError, match=r"shape\.json"):
        pairs_from_folder(d)


def test_jsonl_input_round_trips_a_built_dataset(tmp_path: Path) -> None:
    out = tmp_path / "d" / "built.jsonl"
    res = build_dataset(_folder(tmp_path), out=out)
    again = pairs_from_folder(out.parent)
    assert again.pairs == res.pairs and again.sources[0] == "built.jsonl#1"
    (out.parent / "bad.jsonl").write_text('{"prompt": "a", "response": "b"}\n{nope\n')
    with pytest.raises(DatasetError, match=r"bad\.jsonl is not valid JSON \(line 2"):
        pairs_from_folder(out.parent)


def test_symlink_escaping_the_folder_is_refused(tmp_path: Path) -> None:
    d = _folder(tmp_path)
    secret = tmp_path / "secret.txt"
    secret.write_text("Q: key?\nA: hunter2\n")
    (d / "sub" / "link.txt").symlink_to(secret)
    with pytest.raises(DatasetError, match=r"refused: .*link\.txt escapes") as exc:
        pairs_from_folder(d)
    assert isinstance(exc.value, VegaError) and exc.value.hint
    (d / "sub" / "link.txt").unlink()
    (d / "outdir").symlink_to(tmp_path, target_is_directory=True)
    with pytest.raises(DatasetError, match=r"refused: .*outdir escapes"):
        pairs_from_folder(d)


def test_inside_links_are_fine_and_dir_links_not_followed(tmp_path: Path) -> None:
    d = _folder(tmp_path)
    base = pairs_from_folder(d)
    (d / "alias.md").symlink_to(d / "notes.md")
    (d / "loop").symlink_to(d, target_is_directory=True)
    res = pairs_from_folder(d)
    assert res.pairs == base.pairs
    assert res.counts["duplicate"] == base.counts["duplicate"] + 3
    assert res.counts["skipped_files"] == base.counts["skipped_files"] + 1


def test_explicit_paths_outside_are_refused(tmp_path: Path) -> None:
    d = _folder(tmp_path)
    (tmp_path / "x").write_text("Q: a\nA: b\n")
    for bad in ("../x", tmp_path / "x", "sub/../../x"):
        with pytest.raises(DatasetError, match=r"refused: .* escapes"):
            pairs_from_folder(d, files=[bad])
    res = pairs_from_folder(d, files=["sub/faq.txt", "sub/../notes.md"])
    assert res.sources[0] == "sub/faq.txt#0" and res.counts["kept"] == 4


def test_folder_must_exist_and_be_a_directory(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="does not exist"):
        pairs_from_folder(tmp_path / "nope")
    (tmp_path / "f.txt").write_text("x")
    with pytest.raises(DatasetError, match="is not a directory"):
        pairs_from_folder(tmp_path / "f.txt")
    (tmp_path / "bin.txt").write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(DatasetError, match=r"bin\.txt is not UTF-8"):
        pairs_from_folder(tmp_path)


@pytest.fixture
def convo(tmp_path: Path) -> tuple[ConversationStore, list[str]]:
    store = ConversationStore(tmp_path / "c.sqlite", mask_pii=False)
    s1, s2 = store.new_session("one"), store.new_session("two")
    store.add_message(s1, "system", "be brief")
    store.add_message(s1, "user", "up?")
    store.add_feedback(store.add_message(s1, "assistant", "rated up"), 1)
    store.add_message(s1, "user", "down?")
    store.add_feedback(store.add_message(s1, "assistant", "rated down"), -1)
    store.add_message(s1, "user", "unrated?")
    store.add_message(s1, "assistant", "no rating")
    store.add_message(s2, "user", "fails?")
    store.add_message(s2, "assistant", "partial", error="timeout")
    store.add_message(s2, "user", "retry ignored")
    store.add_message(s2, "user", "up?")
    store.add_message(s2, "assistant", "rated up")  # duplicate of s1's first pair
    store.add_message(s2, "user", "left hanging")
    return store, [s1, s2]


def test_store_pairs_filter_by_feedback_and_failure(convo) -> None:
    store, (s1, s2) = convo
    res = pairs_from_store(store)
    assert [p["response"] for p in res.pairs] == ["rated up", "rated down", "no rating"]
    c = res.counts
    assert (c["kept"], c["failed"], c["duplicate"], c["unanswered"]) == (3, 1, 1, 2)
    assert res.sources[0].startswith(f"store:{s1}#")
    assert [p["response"] for p in pairs_from_store(store, min_rating=1).pairs] == ["rated up"]
    zero = pairs_from_store(store, min_rating=0)
    assert [p["response"] for p in zero.pairs] == ["rated up", "no rating"]
    assert zero.counts["rated_out"] == 1
    failed = pairs_from_store(store, include_failed=True, sessions=iter([s2]))
    assert [p["response"] for p in failed.pairs] == ["partial", "rated up"]
    assert pairs_from_store(store, sessions=s2).pairs == [{"prompt": "up?", "response": "rated up"}]
    with pytest.raises(DatasetError, match="no live session"):
        pairs_from_store(store, sessions=["c-missing"])
    with pytest.raises(DatasetError, match="min_rating"):
        pairs_from_store(store, min_rating=5)


def test_build_writes_two_key_jsonl_sidecar_and_is_deterministic(tmp_path: Path, convo) -> None:
    store, _ = convo
    d = _folder(tmp_path)
    out1, out2 = tmp_path / "o1" / "train.jsonl", tmp_path / "o2" / "train.jsonl"
    res = build_dataset(d, store, out=out1, min_rating=0)
    build_dataset(d, store, out=out2, min_rating=0)
    assert out1.read_bytes() == out2.read_bytes()
    meta1 = out1.with_name("train.jsonl.meta.json")
    assert meta1.read_bytes() == out2.with_name("train.jsonl.meta.json").read_bytes()
    rows = [json.loads(line) for line in out1.read_text(encoding="utf-8").splitlines()]
    assert rows == res.pairs and all(list(r) == ["prompt", "response"] for r in rows)
    meta = json.loads(meta1.read_text())
    assert meta["counts"] == res.counts and meta["sources"] == res.sources
    assert meta["count"] == len(rows) == 7
    assert sorted(p.name for p in out1.parent.iterdir()) == ["train.jsonl", "train.jsonl.meta.json"]
    with pytest.raises(DatasetError, match="nothing to build"):
        build_dataset(out=out1)


def test_write_jsonl_plain_pairs_unicode_and_validation(tmp_path: Path) -> None:
    out = tmp_path / "p.jsonl"
    pairs = [{"prompt": "Grüße?", "response": "日本", "extra": "dropped"}]
    assert write_jsonl(pairs, out) == 1
    assert out.read_text(encoding="utf-8") == '{"prompt": "Grüße?", "response": "日本"}\n'
    assert not out.with_name("p.jsonl.meta.json").exists()
    assert write_jsonl(BuildResult(), out) == 0 and out.read_text() == ""
    with pytest.raises(DatasetError, match="pair 0"):
        write_jsonl([{"prompt": "only"}], out)
    assert out.read_text() == ""  # the failed write left the previous file intact
