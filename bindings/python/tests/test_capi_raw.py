"""The raw SWIG module spinfer.capi: the typemaps generated around spinfer.h."""

import numpy as np
import pytest

import spinfer
from spinfer import capi
from helpers import reference_encode, sparse_matrix


def test_versions_agree():
    major, minor, patch = (int(p) for p in capi.spinfer_version().split("."))
    assert capi.spinfer_version_number() == major * 10000 + minor * 100 + patch
    assert (major, minor, patch) == (capi.SPINFER_VERSION_MAJOR, capi.SPINFER_VERSION_MINOR,
                                     capi.SPINFER_VERSION_PATCH)
    assert spinfer.__version__ == capi.spinfer_version()


def test_status_strings_and_dtype_sizes():
    assert capi.spinfer_status_string(capi.SPINFER_STATUS_CORRUPT_DATA) == \
        "SPINFER_STATUS_CORRUPT_DATA"
    assert capi.spinfer_dtype_size(capi.SPINFER_DTYPE_F32) == 4
    assert capi.spinfer_dtype_size(capi.SPINFER_DTYPE_BF16) == 2
    assert capi.spinfer_dtype_size(99) == 0


def test_out_handles_come_back_after_the_status(rng):
    dense = sparse_matrix(rng, 16, 24, sparsity=0.5)
    status, handle = capi.spinfer_matrix_encode(dense, capi.SPINFER_DTYPE_F32, 16, 24, 24,
                                                capi.SPINFER_DTYPE_F16)
    assert status == capi.SPINFER_STATUS_SUCCESS and handle is not None
    status, info = capi.spinfer_matrix_get_info(handle)
    assert status == 0
    assert info.struct_size > 0 and (info.rows, info.cols) == (16, 24)
    assert info.nnz == np.count_nonzero(dense)
    # Failure: the handle is None and the message explains.
    status, bad = capi.spinfer_matrix_encode(dense, capi.SPINFER_DTYPE_F32, 16, 24, 3,
                                             capi.SPINFER_DTYPE_F16)
    assert status == capi.SPINFER_STATUS_SHAPE_MISMATCH and bad is None  # ld < cols
    assert "leading dimension" in capi.spinfer_last_error_message()
    assert capi.spinfer_matrix_destroy(handle) == 0
    assert capi.spinfer_matrix_destroy(None) == 0  # NULL is accepted


def test_data_pointers_take_buffers_and_int_addresses(rng):
    dense = sparse_matrix(rng, 8, 8, sparsity=0.5)
    _, by_buffer = capi.spinfer_matrix_encode(dense, 0, 8, 8, 8, 1)
    _, by_address = capi.spinfer_matrix_encode(dense.ctypes.data, 0, 8, 8, 8, 1)
    out1 = np.full((8, 8), np.nan, dtype=np.float32)
    out2 = np.full((8, 8), np.nan, dtype=np.float32)
    assert capi.spinfer_matrix_decode(by_buffer, out1, 0, 8) == 0
    assert capi.spinfer_matrix_decode(by_address, out2.ctypes.data, 0, 8) == 0
    np.testing.assert_array_equal(out1, dense)
    np.testing.assert_array_equal(out2, dense)
    with pytest.raises(TypeError, match="buffer"):
        capi.spinfer_matrix_decode(by_buffer, "text", 0, 8)
    with pytest.raises(BufferError):  # a read-only buffer where the C side writes
        capi.spinfer_matrix_decode(by_buffer, bytes(256), 0, 8)
    for h in (by_buffer, by_address):
        capi.spinfer_matrix_destroy(h)


def test_streams_are_ints_or_none():
    _, ctx = capi.spinfer_context_create(capi.SPINFER_BACKEND_HOST)
    with pytest.raises(TypeError, match="stream"):
        capi.spinfer_matrix_upload(ctx, None, "stream")
    status, out = capi.spinfer_matrix_upload(ctx, None, None)
    assert status != 0 and out is None
    capi.spinfer_context_destroy(ctx)


def test_backend_out_parameter():
    config = capi.spinfer_context_config_t()
    assert capi.spinfer_context_config_init(config) == 0
    assert config.backend == capi.SPINFER_BACKEND_AUTO
    config.backend = capi.SPINFER_BACKEND_HOST
    status, ctx = capi.spinfer_context_create_ex(config)
    assert status == 0
    assert capi.spinfer_context_get_backend(ctx) == [0, capi.SPINFER_BACKEND_HOST]
    capi.spinfer_context_destroy(ctx)


def test_raw_arrays_check_item_sizes(rng):
    dense = sparse_matrix(rng, 16, 16, sparsity=0.5).astype(np.float16)
    values, bitmaps, offsets = reference_encode(dense.view(np.uint16))
    status, m = capi.spinfer_matrix_from_arrays(16, 16, 1, 1, values, bitmaps, offsets)
    assert status == 0
    capi.spinfer_matrix_destroy(m)
    with pytest.raises(TypeError, match="bitmaps must hold 8-byte items"):
        capi.spinfer_matrix_from_arrays(16, 16, 1, 1, values, bitmaps.astype(np.uint32), offsets)
    status, m = capi.spinfer_matrix_from_arrays(16, 16, 1, 1, None, bitmaps, offsets)
    assert status != capi.SPINFER_STATUS_SUCCESS and m is None  # None: NULL, 0 items
    assert capi.spinfer_last_error_message()


def test_file_names_and_count_outputs(rng, tmp_path):
    path = str(tmp_path / "f.safetensors")
    _, m = capi.spinfer_matrix_encode(sparse_matrix(rng, 8, 8, sparsity=0.5), 0, 8, 8, 8, 1)
    assert capi.spinfer_save(path, [("alpha", m), ("beta", m)]) == 0
    assert capi.spinfer_file_matrix_count(path) == [0, 2]
    assert capi.spinfer_file_matrix_name(path, 1, 64) == [0, "beta", 5]
    status, text, required = capi.spinfer_file_matrix_name(path, 0, 3)  # too small
    assert status == capi.SPINFER_STATUS_INVALID_ARGUMENT and required == 6
    with pytest.raises(TypeError, match="pairs"):
        capi.spinfer_save(path, ["alpha"])
    capi.spinfer_matrix_destroy(m)
