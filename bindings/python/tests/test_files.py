"""Safetensors files: spinfer round trips, and the file read back independently."""

import json

import numpy as np
import pytest

import spinfer
from helpers import reference_decode, reference_encode, sparse_matrix


def test_save_load_round_trip_many(rng, tmp_path):
    path = tmp_path / "model.safetensors"
    dense = {name: sparse_matrix(rng, r, c, sparsity=0.6)
             for name, r, c in [("layer1.q", 64, 96), ("layer0.up", 130, 70), ("b", 1, 1)]}
    mats = {name: spinfer.encode(d, "bf16" if name == "b" else "f16") for name, d in dense.items()}
    spinfer.save(path, mats)
    assert spinfer.matrix_names(path) == sorted(dense)
    for name, d in dense.items():
        with spinfer.load(str(path), name) as m:
            assert m.info == mats[name].info
            np.testing.assert_array_equal(m.decode(), d)


def test_load_without_name_when_alone(rng, tmp_path):
    path = tmp_path / "one.safetensors"
    d = sparse_matrix(rng, 20, 30, sparsity=0.5)
    spinfer.save(path, [("only", spinfer.encode(d))])
    np.testing.assert_array_equal(spinfer.load(path).decode(), d)


def test_unicode_names(rng, tmp_path):
    path = tmp_path / "u.safetensors"
    spinfer.save(path, {"poids_é_层": spinfer.encode(sparse_matrix(rng, 8, 8, sparsity=0.5))})
    assert spinfer.matrix_names(path) == ["poids_é_层"]


def test_long_names_grow_the_buffer(rng, tmp_path):
    path = tmp_path / "long.safetensors"
    name = "n" * 700  # longer than the first 256-byte buffer
    spinfer.save(path, {name: spinfer.encode(sparse_matrix(rng, 8, 8, sparsity=0.5))})
    assert spinfer.matrix_names(path) == [name]


def test_file_is_readable_by_safetensors_and_matches_the_format(rng, tmp_path):
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    rows, cols = 96, 200
    dense = sparse_matrix(rng, rows, cols, sparsity=0.55).astype(np.float16)
    path = tmp_path / "w.safetensors"
    spinfer.save(path, {"w": spinfer.encode(dense, "f16")})

    tensors = safetensors_numpy.load_file(str(path))
    values = tensors["w.values"].view(np.uint16)
    bitmaps, offsets = tensors["w.bitmaps"], tensors["w.group_offsets"]
    # The layout is fully determined by docs/format.md: the same arrays as our encoder.
    ref_values, ref_bitmaps, ref_offsets = reference_encode(dense.view(np.uint16))
    np.testing.assert_array_equal(bitmaps, ref_bitmaps)
    np.testing.assert_array_equal(offsets, ref_offsets)
    np.testing.assert_array_equal(values, ref_values)
    np.testing.assert_array_equal(reference_decode(rows, cols, values, bitmaps, offsets),
                                  dense.view(np.uint16))

    with open(path, "rb") as f:
        header_len = int.from_bytes(f.read(8), "little")
        meta = json.loads(f.read(header_len))["__metadata__"]
    info = json.loads(meta["spinfer.matrix.w"])
    assert (info["rows"], info["cols"], info["dtype"]) == (rows, cols, "F16")
    assert info["nnz"] == np.count_nonzero(dense) and info["format_version"] == 1


def test_file_errors(rng, tmp_path):
    w = spinfer.encode(sparse_matrix(rng, 8, 8, sparsity=0.5))
    with pytest.raises(spinfer.FileAccessError) as e:
        spinfer.load(tmp_path / "missing.safetensors")
    assert "missing.safetensors" in e.value.message
    with pytest.raises(spinfer.FileAccessError):
        spinfer.save(tmp_path / "no" / "dir" / "x.safetensors", {"w": w})
    assert not (tmp_path / "no").exists()
    good = tmp_path / "good.safetensors"
    spinfer.save(good, {"w": w})
    with pytest.raises(spinfer.NotFoundError) as e:
        spinfer.load(good, "nope")
    assert "nope" in e.value.message
    with pytest.raises(spinfer.InvalidArgumentError, match="used twice"):
        spinfer.save(tmp_path / "dup.safetensors", [("a", w), ("a", w)])
    with pytest.raises(spinfer.InvalidArgumentError, match="empty"):
        spinfer.save(tmp_path / "empty.safetensors", {"": w})
    # Embedded NULs are refused as Python's own open() refuses them (C strings would
    # silently keep only the part before the NUL), and non-str names are TypeErrors.
    with pytest.raises(ValueError, match="null"):
        spinfer.save(tmp_path / "nul.safetensors", {"a\0b": w})
    assert not (tmp_path / "nul.safetensors").exists()
    with pytest.raises(ValueError, match="null"):
        spinfer.load(str(good) + "\0junk")
    with pytest.raises(ValueError, match="null"):
        spinfer.load(good, "w\0x")
    with pytest.raises(ValueError, match="null"):
        spinfer.matrix_names(str(good) + "\0junk")
    with pytest.raises(TypeError):
        spinfer.save(tmp_path / "t.safetensors", {3: w})
    with pytest.raises(TypeError):
        spinfer.load(good, b"w")


def test_corrupt_and_truncated_files(rng, tmp_path):
    good = tmp_path / "good.safetensors"
    spinfer.save(good, {"w": spinfer.encode(sparse_matrix(rng, 64, 64, sparsity=0.5))})
    data = good.read_bytes()
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\xff" * 64)
    with pytest.raises(spinfer.CorruptDataError):
        spinfer.load(garbage)
    with pytest.raises(spinfer.CorruptDataError):
        spinfer.matrix_names(garbage)
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(data[:-100])
    with pytest.raises((spinfer.CorruptDataError, spinfer.FileAccessError)) as e:
        spinfer.load(truncated)
    assert e.value.message
