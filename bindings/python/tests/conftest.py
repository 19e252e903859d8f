"""Fixtures: a fresh random generator per test and a host context."""

import numpy as np
import pytest

import spinfer


@pytest.fixture
def rng():
    # Fresh inputs every run; the seed is printed (pytest shows it on failure).
    seed = np.random.SeedSequence().entropy % (2**32)
    print(f"seed = {seed}")
    return np.random.default_rng(seed)


@pytest.fixture
def host_ctx():
    with spinfer.Context("host") as ctx:
        yield ctx
