"""Which Numba CUDA package compiles the kernels (``FASTNN_CUDA_PACKAGE``)."""

import types

import numpy as np
import pytest

from fastnn.kernels import _cuda_api


@pytest.mark.parametrize(
    "requested, simulator, mlir_installed, chosen",
    [
        ("auto", False, True, "numba-cuda-mlir"),  # the successor when present
        ("auto", False, False, "numba-cuda"),
        ("auto", True, True, "numba-cuda"),  # only numba-cuda has a simulator
        ("numba-cuda", False, True, "numba-cuda"),
        ("numba-cuda-mlir", False, True, "numba-cuda-mlir"),
    ],
)
def test_auto_prefers_the_successor_except_on_the_simulator(
    requested, simulator, mlir_installed, chosen
):
    assert _cuda_api._choose(requested, simulator, mlir_installed) == chosen


def test_bad_choices_are_refused_with_the_reason():
    with pytest.raises(ValueError, match="expected auto or one of"):
        _cuda_api._choose("numba", False, False)
    with pytest.raises(ValueError, match="has no simulator"):
        _cuda_api._choose("numba-cuda-mlir", True, True)


def test_row_stack_is_restored_only_where_numpy_lacks_it():
    old = types.SimpleNamespace(vstack=np.vstack, row_stack=np.concatenate)
    assert not _cuda_api.restore_row_stack(old)
    assert old.row_stack is np.concatenate  # an existing alias is left alone
    new = types.SimpleNamespace(vstack=np.vstack)  # NumPy >= 2.5
    assert _cuda_api.restore_row_stack(new)
    assert new.row_stack is np.vstack
