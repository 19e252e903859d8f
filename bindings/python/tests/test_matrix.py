"""Encode / decode / info / validate / from_arrays through the pythonic layer."""

import numpy as np
import pytest

import spinfer
from helpers import bf16, reference_decode, reference_encode, sparse_matrix

SHAPES = [(1, 1), (7, 13), (64, 64), (65, 130), (96, 200), (130, 63)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("storage", ["f16", "bf16"])
def test_encode_decode_round_trip_is_exact(rng, shape, storage):
    dense = sparse_matrix(rng, *shape, sparsity=0.6)
    with spinfer.encode(dense, storage) as w:
        assert w.shape == shape
        assert w.dtype is spinfer.DType[storage.upper()]
        assert w.nnz == np.count_nonzero(dense)
        back = w.decode("f32")
        assert back.dtype == np.float32 and back.shape == shape
        np.testing.assert_array_equal(back, dense)
        np.testing.assert_array_equal(w.decode("f16"), dense.astype(np.float16))


def test_decode_to_bf16_numpy(rng):
    dt = bf16()
    dense = sparse_matrix(rng, 33, 70, sparsity=0.5)
    w = spinfer.encode(dense.astype(dt), "bf16")
    back = w.decode("bf16")
    assert back.dtype == dt
    np.testing.assert_array_equal(back.astype(np.float32), dense)


@pytest.mark.parametrize("dense_dtype", [np.float32, np.float16])
def test_encode_accepts_each_host_dtype(rng, dense_dtype):
    dense = sparse_matrix(rng, 40, 50, sparsity=0.7)
    w = spinfer.encode(dense.astype(dense_dtype), "f16")
    np.testing.assert_array_equal(w.decode(), dense)


def test_info_agrees_with_the_format(rng):
    rows, cols = 96, 200
    dense = sparse_matrix(rng, rows, cols, sparsity=0.5)
    values, bitmaps, offsets = reference_encode(dense.astype(np.float16).view(np.uint16))
    info = spinfer.encode(dense, "f16").info
    nnz = int(np.count_nonzero(dense))
    assert (info.rows, info.cols, info.nnz) == (rows, cols, nnz)
    assert info.location is spinfer.Location.HOST and info.device == -1
    assert info.format_version == spinfer.FORMAT_VERSION == 1
    assert info.sparsity == pytest.approx(1 - nnz / (rows * cols))
    assert info.bytes == 2 * len(values) + 8 * len(bitmaps) + 8 * len(offsets)
    assert info.dense_bytes == rows * cols * 2
    assert info.compression_ratio == pytest.approx(info.dense_bytes / info.bytes)


def test_zero_signs_are_dropped_and_nan_inf_kept():
    dense = np.zeros((8, 16), dtype=np.float32)
    dense[0, 0] = -0.0
    dense[1, 1] = np.nan
    dense[2, 2] = np.inf
    dense[3, 3] = 1e-10  # rounds to 0 in fp16: dropped
    dense[4, 4] = 2.5
    w = spinfer.encode(dense, "f16")
    assert w.nnz == 3
    back = w.decode()
    assert np.isnan(back[1, 1]) and back[2, 2] == np.inf and back[4, 4] == 2.5
    assert back[3, 3] == 0 and not np.signbit(back[0, 0])


def test_strided_and_fortran_inputs_are_read_correctly(rng):
    big = sparse_matrix(rng, 50, 90, sparsity=0.5)
    view = big[5:45, 10:80]  # rows with a leading dimension of 90
    np.testing.assert_array_equal(spinfer.encode(view).decode(), view)
    fortran = np.asfortranarray(view)
    np.testing.assert_array_equal(spinfer.encode(fortran).decode(), view)
    every_other = big[:, ::2]
    np.testing.assert_array_equal(spinfer.encode(every_other).decode(), every_other)


def test_from_arrays_of_an_independent_encoder(rng):
    rows, cols = 70, 150
    dense = sparse_matrix(rng, rows, cols, sparsity=0.65).astype(np.float16)
    values, bitmaps, offsets = reference_encode(dense.view(np.uint16))
    w = spinfer.from_arrays(rows, cols, "f16", values, bitmaps, offsets)
    w.validate()
    assert w.nnz == np.count_nonzero(dense)
    np.testing.assert_array_equal(w.decode("f16"), dense)
    # The reference decoder agrees with its own encoder too.
    np.testing.assert_array_equal(reference_decode(rows, cols, values, bitmaps, offsets),
                                  dense.view(np.uint16))


def test_from_arrays_takes_float16_values_and_lists(rng):
    dense = sparse_matrix(rng, 20, 20, sparsity=0.5).astype(np.float16)
    values, bitmaps, offsets = reference_encode(dense.view(np.uint16))
    w = spinfer.from_arrays(20, 20, "f16", values.view(np.float16), bitmaps.tolist(),
                            offsets.tolist())
    np.testing.assert_array_equal(w.decode("f16"), dense)


@pytest.mark.parametrize("rows,cols", [(1, 1), (70, 150), (128, 64)])
def test_to_arrays_gives_the_format_arrays_back(rng, rows, cols):
    dense = sparse_matrix(rng, rows, cols, sparsity=0.6).astype(np.float16)
    w = spinfer.encode(dense, "f16")
    arrays = w.to_arrays()
    expected = reference_encode(dense.view(np.uint16))
    for got, want, dtype in zip(arrays, expected, (np.uint16, np.uint64, np.uint64)):
        assert got.dtype == dtype and got.flags.c_contiguous and got.flags.owndata
        np.testing.assert_array_equal(got, want)
    back = spinfer.from_arrays(rows, cols, w.dtype, *arrays,
                               format_version=w.info.format_version)
    np.testing.assert_array_equal(back.decode("f16"), dense)
    w.close()
    with pytest.raises(spinfer.InvalidArgumentError):
        w.to_arrays()


def test_to_arrays_of_an_empty_matrix_and_info_counts():
    w = spinfer.encode(np.zeros((3, 70), np.float32), "bf16")
    assert (w.info.values_count, w.info.bitmaps_count, w.info.offsets_count) == (0, 128, 3)
    values, bitmaps, offsets = w.to_arrays()
    assert values.size == 0 and not bitmaps.any() and not offsets.any()


def test_copy_arrays_raw_checks_each_buffer(rng):
    from spinfer import capi
    dense = sparse_matrix(rng, 40, 90, sparsity=0.5)
    w = spinfer.encode(dense, "f16")
    i = w.info
    values = np.empty(i.values_count, np.uint16)
    # One array alone, the others None (NULL, count 0).
    offsets = np.full(i.offsets_count, 7, np.uint64)
    assert capi.spinfer_matrix_copy_arrays(w.handle, None, None, offsets) == 0
    assert offsets[0] == 0 and offsets[-1] == i.values_count
    short = np.full(i.bitmaps_count - 1, 7, np.uint64)
    status = capi.spinfer_matrix_copy_arrays(w.handle, values, short, None)
    assert status == capi.SPINFER_STATUS_SHAPE_MISMATCH
    assert "bitmaps" in capi.spinfer_last_error_message()
    assert (short == 7).all()
    with pytest.raises(TypeError):  # bitmaps need 8-byte items
        capi.spinfer_matrix_copy_arrays(w.handle, None, np.empty(i.bitmaps_count, np.uint32), None)
    frozen = np.empty(i.values_count, np.uint16)
    frozen.flags.writeable = False
    with pytest.raises((TypeError, ValueError, BufferError)):
        capi.spinfer_matrix_copy_arrays(w.handle, frozen, None, None)


def test_from_arrays_rejects_corrupt_arrays(rng):
    dense = sparse_matrix(rng, 64, 64, sparsity=0.5).astype(np.float16)
    values, bitmaps, offsets = reference_encode(dense.view(np.uint16))
    bad = bitmaps.copy()
    bad[0] ^= np.uint64(1) << np.uint64(5)  # popcount no longer matches the offsets
    with pytest.raises(spinfer.CorruptDataError) as e:
        spinfer.from_arrays(64, 64, "f16", values, bad, offsets)
    assert e.value.status == spinfer.capi.SPINFER_STATUS_CORRUPT_DATA
    assert e.value.message
    with pytest.raises(spinfer.UnsupportedVersionError):
        spinfer.from_arrays(64, 64, "f16", values, bitmaps, offsets, format_version=99)
    with pytest.raises(spinfer.SpinferError):
        spinfer.from_arrays(64, 64, "f16", values, bitmaps[:-1], offsets)
    # Arrays of the wrong kind are TypeErrors, not bits reinterpreted or values truncated.
    with pytest.raises(TypeError, match="bitmaps"):
        spinfer.from_arrays(64, 64, "f16", values, bitmaps.astype(np.float64), offsets)
    with pytest.raises(TypeError, match="group_offsets"):
        spinfer.from_arrays(64, 64, "f16", values, bitmaps, offsets.astype(np.float64).tolist())
    with pytest.raises(TypeError, match="values"):
        spinfer.from_arrays(64, 64, "f16", values.astype(np.float32), bitmaps, offsets)
    with pytest.raises(TypeError):
        spinfer.from_arrays(64.5, 64, "f16", values, bitmaps, offsets)


def test_close_and_context_manager(rng):
    w = spinfer.encode(sparse_matrix(rng, 8, 8, sparsity=0.5))
    assert not w.closed
    with w:
        pass
    assert w.closed
    w.close()  # idempotent
    assert "closed" in repr(w)
    for use in (lambda: w.decode(), lambda: w.info, lambda: w.validate(), lambda: w.nnz):
        with pytest.raises(spinfer.InvalidArgumentError, match="closed"):
            use()
    with pytest.raises(spinfer.InvalidArgumentError, match="closed"):
        with w:
            pass


def test_matrix_cannot_be_made_directly():
    with pytest.raises(TypeError, match="spinfer.encode"):
        spinfer.Matrix()


def test_repr_names_the_facts(rng):
    w = spinfer.encode(sparse_matrix(rng, 12, 34, sparsity=0.5), "bf16")
    text = repr(w)
    assert "12x34" in text and "BF16" in text and "host" in text
