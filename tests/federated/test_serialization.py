"""Safetensors exchange: exact round trips, loud corruption and tampering, never pickle."""

from __future__ import annotations

import ast
import json
import os
import pickle
from pathlib import Path

import pytest
import torch

from vega_lab.errors import ConfigError, IntegrityError, SignatureError
from vega_lab.federated import serialization as ser

KEY = b"shared-secret-0123456789"


def _tensors() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {
        "w.f32": torch.randn(3, 4, generator=g),
        "w.f64": torch.randn(5, generator=g, dtype=torch.float64),
        "w.f16": torch.randn(2, 3, generator=g).half(),
        "w.bf16": torch.randn(4, 2, generator=g).bfloat16(),
        "steps.i64": torch.tensor([1, -2, 3_000_000_000]),
        "i8": torch.tensor([-128, 0, 127], dtype=torch.int8),
        "u8": torch.tensor([0, 255], dtype=torch.uint8),
        "mask": torch.tensor([[True, False], [False, True]]),
        "scalar": torch.tensor(2.5),
        "empty": torch.empty(0, 7),
    }


def _data_offset(data: bytes) -> int:
    return 8 + int.from_bytes(data[:8], "little")


def _assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert a[name].dtype == b[name].dtype, name
        assert a[name].shape == b[name].shape, name
        assert a[name].device.type == "cpu", name
        assert torch.equal(a[name], b[name]), name


@pytest.mark.parametrize("key", [None, KEY])
def test_round_trip_is_exact_for_many_dtypes(key: bytes | None) -> None:
    tensors = _tensors()
    _assert_same(ser.loads(ser.dumps(tensors, key=key), key=key), tensors)


def test_non_contiguous_grad_and_shared_tensors_round_trip() -> None:
    base = torch.randn(4, 6, requires_grad=True)
    tensors = {"t": base.detach().t(), "p": base, "alias": base}
    _assert_same(ser.loads(ser.dumps(tensors)), {k: v.detach() for k, v in tensors.items()})
    assert base.requires_grad  # the caller's tensor is untouched


def test_bytes_are_safetensors_with_a_json_header() -> None:
    data = ser.dumps({"w": torch.ones(2)}, metadata={"round": "7"})
    assert not data.startswith(b"\x80")  # a pickle stream starts with PROTO (0x80)
    header = json.loads(data[8 : _data_offset(data)])
    assert header["w"] == {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}
    meta = header["__metadata__"]
    assert meta["format"] == "vega-lab/1" and meta["round"] == "7" and len(meta["sha256"]) == 64
    assert "hmac" not in meta


def test_loading_never_unpickles(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("pickle-based loading was used")

    for target, attr in [(torch, "load"), (pickle, "load"), (pickle, "loads")]:
        monkeypatch.setattr(target, attr, forbidden)
    ser.save(tmp_path / "m.safetensors", {"w": torch.ones(3)})
    assert torch.equal(ser.load(tmp_path / "m.safetensors")["w"], torch.ones(3))
    tree = ast.parse(Path(ser.__file__).read_text())
    modules = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    modules |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    calls = {
        f"{n.value.id}.{n.attr}"
        for n in ast.walk(tree)
        if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name)
    }
    assert not {"pickle", "dill", "cloudpickle"} & modules
    assert "torch.load" not in calls


def test_metadata_is_readable_without_decoding() -> None:
    data = ser.dumps({"w": torch.zeros(1)}, key=KEY, metadata={"client": "3", "round": "12"})
    meta = ser.read_metadata(data)
    assert meta["client"] == "3" and meta["round"] == "12" and meta["format"] == "vega-lab/1"
    assert len(meta["hmac"]) == 64 and meta["hmac"] != meta["sha256"]


def test_checksum_is_canonical_not_layout_dependent() -> None:
    a = {"x": torch.arange(3.0), "y": torch.ones(2, 2)}
    b = {"y": torch.ones(2, 2), "x": torch.arange(3.0)}
    meta_a = ser.read_metadata(ser.dumps(a, metadata={"note": "a"}))
    meta_b = ser.read_metadata(ser.dumps(b, metadata={"note": "something else"}))
    assert meta_a["sha256"] == meta_b["sha256"]
    c = {"x": torch.arange(3.0), "y": torch.ones(4)}  # same bytes, other shape
    assert ser.read_metadata(ser.dumps(c))["sha256"] != meta_a["sha256"]


@pytest.mark.parametrize("where", [0, -1])
def test_one_flipped_data_byte_is_an_integrity_error(where: int) -> None:
    data = bytearray(ser.dumps({"w": torch.randn(16), "b": torch.randn(3)}))
    pos = _data_offset(bytes(data)) if where == 0 else len(data) - 1
    data[pos] ^= 0x01
    with pytest.raises(IntegrityError, match="checksum mismatch"):
        ser.loads(bytes(data))


def test_altered_header_shape_is_caught() -> None:
    data = ser.dumps({"w": torch.randn(2, 3)})
    header = data[8 : _data_offset(data)].replace(b'"shape":[2,3]', b'"shape":[3,2]')
    assert header != data[8 : _data_offset(data)]
    with pytest.raises(IntegrityError):
        ser.loads(data[:8] + header + data[_data_offset(data) :])


@pytest.mark.parametrize("cut", [0, 4, 8, 20, -1, -5])
def test_truncated_bytes_are_an_integrity_error(cut: int) -> None:
    data = ser.dumps({"w": torch.randn(8)}, key=KEY)
    with pytest.raises(IntegrityError):
        ser.loads(data[:cut], key=KEY)


def test_garbage_and_foreign_files_are_integrity_errors() -> None:
    with pytest.raises(IntegrityError):
        ser.loads(b"\x10\x00\x00\x00\x00\x00\x00\x00not json at all!")
    from safetensors.torch import save as plain_save

    with pytest.raises(IntegrityError, match="not a vega-lab/1 payload"):
        ser.loads(plain_save({"w": torch.ones(1)}))
    with pytest.raises(IntegrityError):
        ser.read_metadata(b"\xff" * 16)


def test_wrong_key_is_a_signature_error() -> None:
    data = ser.dumps({"w": torch.randn(4)}, key=KEY)
    with pytest.raises(SignatureError, match="does not match"):
        ser.loads(data, key=b"another key")


def test_tampered_payload_with_fresh_checksum_fails_only_the_signature() -> None:
    signed = ser.dumps({"w": torch.zeros(4)}, key=KEY)
    forged_meta = ser.read_metadata(signed) | {"sha256": ""}
    forged = ser.dumps({"w": torch.full((4,), 1e6)})  # attacker recomputes the checksum ...
    meta = ser.read_metadata(forged)
    header = json.loads(forged[8 : _data_offset(forged)])
    header["__metadata__"] = {**meta, "hmac": forged_meta["hmac"]}  # ... and copies the HMAC
    raw = json.dumps(header).encode()
    forged = len(raw).to_bytes(8, "little") + raw + forged[_data_offset(forged) :]
    assert torch.equal(ser.loads(forged)["w"], torch.full((4,), 1e6))  # checksum is fine
    with pytest.raises(SignatureError):
        ser.loads(forged, key=KEY)


def test_missing_signature_is_a_signature_error() -> None:
    data = ser.dumps({"w": torch.randn(4)})
    with pytest.raises(SignatureError, match="no signature"):
        ser.loads(data, key=KEY)
    with pytest.raises(SignatureError, match="no key"):
        ser.loads(ser.dumps({"w": torch.randn(4)}, key=KEY), require_signature=True)
    assert ser.loads(data, key=None)["w"].shape == (4,)


def test_bad_inputs_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="reserved"):
        ser.dumps({"w": torch.ones(1)}, metadata={"sha256": "0" * 64})
    with pytest.raises(ConfigError, match=r"not a torch\.Tensor"):
        ser.dumps({"w": [1.0, 2.0]})  # type: ignore[dict-item]
    with pytest.raises(ConfigError, match="not str"):
        ser.dumps({"w": torch.ones(1)}, metadata={"round": 3})  # type: ignore[dict-item]
    with pytest.raises(ConfigError, match="empty"):
        ser.dumps({"w": torch.ones(1)}, key=b"")
    with pytest.raises(ConfigError, match="bytes"):
        ser.loads(ser.dumps({"w": torch.ones(1)}), key="text key")  # type: ignore[arg-type]


def test_save_load_file_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "round" / "global.safetensors"
    tensors = _tensors()
    assert ser.save(path, tensors, key=KEY, metadata={"round": "1"}) == path
    _assert_same(ser.load(path, key=KEY, require_signature=True), tensors)
    ser.save(path, {"w": torch.ones(2)})  # overwrite in place
    assert ser.load(path).keys() == {"w"}
    assert sorted(p.name for p in path.parent.iterdir()) == ["global.safetensors"]


def test_failed_save_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "m.safetensors"
    ser.save(path, {"w": torch.zeros(2)})

    def broken_replace(src: object, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        ser.save(path, {"w": torch.ones(2)})
    monkeypatch.undo()
    assert torch.equal(ser.load(path)["w"], torch.zeros(2))
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]  # no temp file left


def test_missing_and_corrupt_files_name_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.safetensors"
    with pytest.raises(IntegrityError, match=r"nope\.safetensors does not exist"):
        ser.load(missing)
    path = tmp_path / "m.safetensors"
    ser.save(path, {"w": torch.randn(32)})
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(IntegrityError, match=r"m\.safetensors") as info:
        ser.load(path)
    assert "re-fetch or re-save" in str(info.value)
