"""spinfer.convert_model and spinfer.prune_magnitude: thin layers over spinfer.h §8."""
import json

import numpy as np
import pytest

import spinfer


def test_prune_magnitude_keeps_ties_and_counts_half_to_even():
    w = np.array([[1, -1, 1, 1, -1, 1, 2, 3, -4, 5]], dtype=np.float32)
    assert np.array_equal(spinfer.prune_magnitude(w, 0.5), w)  # the 5th/6th smallest tie: none pruned
    d = np.arange(1, 11, dtype=np.float32).reshape(2, 5)
    assert (spinfer.prune_magnitude(d, 0.25) == 0).sum() == 2  # round(2.5) = 2
    assert (spinfer.prune_magnitude(d, 0.4, per_row=True) == 0).sum(axis=1).tolist() == [2, 2]
    with pytest.raises(spinfer.InvalidArgumentError, match="sparsity"):
        spinfer.prune_magnitude(d, 1.0)


def test_convert_model_and_its_errors(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    (src / "config.json").write_text(json.dumps({"quantization_config": {"quant_method": "awq"}}))
    with pytest.raises(spinfer.SpinferError, match="awq"):
        spinfer.convert_model(src, dst)
    with pytest.raises(spinfer.SpinferError, match="float16 or bfloat16"):
        spinfer.convert_model(src, dst, dtype="float32")
    with pytest.raises(spinfer.SpinferError, match="sparsity"):
        spinfer.convert_model(src, dst, sparsity=1.5)
