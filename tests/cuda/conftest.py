"""CUDA tests: run on a GPU, or without one on Numba's CUDA simulator
(NUMBA_ENABLE_CUDASIM=1, set before numba is imported: scripts/test.sh does).
On the simulator, blocks are made tiny so small inputs still span several
blocks and ragged tails."""

import numpy as np
import pytest
from numba import config as numba_config

from fastnn.kernels import _config
from fastnn.kernels._cuda_api import cuda_module

cuda = cuda_module()

SIMULATOR = bool(numba_config.ENABLE_CUDASIM)


def pytest_collection_modifyitems(items):
    for item in items:
        item.add_marker(pytest.mark.cuda)
        if not cuda.is_available():
            item.add_marker(
                pytest.mark.skip(
                    reason="no GPU and not on the simulator (set NUMBA_ENABLE_CUDASIM=1)"
                )
            )


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch):
    if SIMULATOR:
        monkeypatch.setattr(_config, "CUDA_THREADS_PER_BLOCK", 4)


@pytest.fixture
def rng():
    return np.random.default_rng(99)


def to_dev(*arrays):
    return [None if a is None else cuda.to_device(a) for a in arrays]


def host(a):
    return a.copy_to_host()
