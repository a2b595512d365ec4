"""Compiling under NumPy 2.5, which removed ``numpy.row_stack``.

numba-cuda 0.30 registers a typing overload for ``np.row_stack``, so its
first compilation fails without it; ``fastnn.kernels._cuda_api`` puts the
alias back. Each check runs in a fresh Python (numba-cuda reads the attribute
once, on its first compilation) with ``row_stack`` deleted before anything
imports Numba, as NumPy 2.5 ships it; under NumPy 2.5 itself there is nothing
to delete and the checks run as they are.
"""

import os
import subprocess
import sys
import types as pytypes
from pathlib import Path

import numpy as np
import pytest

from fastnn.kernels._cuda_api import restore_row_stack
from tests.ptx import toolchain

pytestmark = pytest.mark.ptx

ROOT = Path(__file__).resolve().parents[2]

WITHOUT_ROW_STACK = """
import numpy
if "row_stack" in vars(numpy):
    del numpy.row_stack
assert not hasattr(numpy, "row_stack")
"""

THROUGH_FASTNN = (
    WITHOUT_ROW_STACK
    + """
from fastnn.kernels import _cuda_api
_cuda_api.cuda_module()
assert numpy.row_stack is numpy.vstack, "cuda_module() did not restore row_stack"
from fastnn.kernels.cuda import activations
from tests.ptx import toolchain
from tests.ptx.signatures import SIGNATURES
argtypes = SIGNATURES["activations._softmax_rows"]["float32"]
ptx, _ = toolchain.compile_kernel(activations._softmax_rows, argtypes)
assert ".entry " in ptx
"""
)

# the same compilation with numba-cuda imported directly: no restore
DIRECT = (
    WITHOUT_ROW_STACK
    + """
from numba import cuda, types
def kernel(out):
    out[0] = 1.0
cuda.compile_ptx(kernel, (types.float32[::1],), cc=(9, 0))
"""
)


@pytest.fixture(scope="module")
def compiler():
    reason = toolchain.compiler_reason()
    if reason is not None:
        toolchain.skip_or_fail(reason)


def _run(code):
    # the restore concerns numba-cuda only
    env = dict(os.environ, FASTNN_CUDA_PACKAGE="numba-cuda")
    env.pop("NUMBA_ENABLE_CUDASIM", None)
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_compiles_without_row_stack(compiler):
    proc = _run(THROUGH_FASTNN)
    assert proc.returncode == 0, proc.stderr


def test_numba_cuda_alone_fails_without_row_stack(compiler):
    """The control: without fastnn's restore the same compilation fails, so
    the test above exercises the restore."""
    proc = _run(DIRECT)
    if proc.returncode == 0:
        pytest.skip(
            "numba-cuda now compiles without numpy.row_stack: the restore in "
            "kernels/_cuda_api.py is no longer needed"
        )
    assert "AttributeError" in proc.stderr, proc.stderr
    assert "row_stack" in proc.stderr.splitlines()[-1], proc.stderr


def test_restore_row_stack_adds_the_alias_only_when_missing():
    numpy_without = pytypes.SimpleNamespace(vstack=np.vstack)
    assert restore_row_stack(numpy_without) is True
    assert numpy_without.row_stack is np.vstack
    assert restore_row_stack(numpy_without) is False  # present now: unchanged
