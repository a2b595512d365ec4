"""NVIDIA's compiler for the PTX tests: whether it runs here, and compiling a
kernel with it.

``compile_ptx`` needs no GPU, but it needs NVVM and NVRTC (the ``cu13``
extra of numba-cuda installs both). Where they are missing the tests skip,
unless ``FASTNN_REQUIRE_PTX=1`` makes that a failure (CI sets it, so a
broken install cannot pass as "skipped").
"""

import contextlib
import os
import sys
import types as pytypes
from functools import lru_cache

import pytest
from numba import types

#: Compute capability the kernels are compiled for (H100).
TARGET_CC = (9, 0)


def _flag(name):
    return os.environ.get(name, "0") not in ("", "0")


def required():
    """Whether a reason to skip must fail the test instead (``FASTNN_REQUIRE_PTX``)."""
    return _flag("FASTNN_REQUIRE_PTX")


def skip_or_fail(reason):
    """Skip with ``reason``, or fail with it when the PTX tests are required."""
    if required():
        pytest.fail(f"FASTNN_REQUIRE_PTX=1, but {reason}", pytrace=False)
    pytest.skip(reason)


def _probe(out):
    out[0] = 1.0


@lru_cache(maxsize=1)
def cuda_package_reason():
    """Why the kernels cannot even be imported for compiling, or None."""
    if _flag("NUMBA_ENABLE_CUDASIM"):
        return "NUMBA_ENABLE_CUDASIM is set: the CUDA simulator has no compiler"
    try:
        from fastnn.kernels._cuda_api import cuda_module

        cuda_module()
    except ImportError as exc:
        return f"no Numba CUDA package is importable ({exc})"
    return None


@lru_cache(maxsize=1)
def compiler_reason():
    """Why the CUDA package cannot compile here, or None: found out by
    compiling a one-line kernel, which fails as the real ones would."""
    reason = cuda_package_reason()
    if reason is not None:
        return reason
    from fastnn.kernels._cuda_api import cuda_module, package

    try:
        cuda_module().compile_ptx(
            _probe, signature_text((types.float32[::1],)), cc=TARGET_CC
        )
    except Exception as exc:  # a missing library surfaces as several types
        lines = str(exc).strip().splitlines()
        hint = (
            "pip install -e '.[test]' brings NVIDIA's compiler (numba-cuda[cu13])"
            if package() == "numba-cuda"
            # it asks the driver for the GPU's compute capability
            else "FASTNN_CUDA_PACKAGE=numba-cuda compiles without a GPU"
        )
        return (
            f"{package()} cannot compile here ({type(exc).__name__}: "
            f"{lines[0] if lines else ''}); {hint}"
        )
    return None


def _gpu_present(cuda):
    try:
        return bool(cuda.is_available())
    except Exception:  # no driver: several error types
        return False


@contextlib.contextmanager
def _device_query_answered(dispatcher_type):
    """Let device functions compile without a GPU.

    A kernel that calls a ``cuda.jit(device=True)`` function compiles that
    function for the *current device's* compute capability, which asks the
    CUDA driver; without one that raises. Where no GPU is present, the
    question is answered with ``TARGET_CC`` while compiling. With a GPU,
    nothing is changed.
    """
    from fastnn.kernels._cuda_api import cuda_module

    module = sys.modules[dispatcher_type.__module__]
    original = getattr(module, "get_current_device", None)
    if original is None or _gpu_present(cuda_module()):
        yield
        return
    module.get_current_device = lambda: pytypes.SimpleNamespace(
        compute_capability=TARGET_CC
    )
    try:
        yield
    finally:
        module.get_current_device = original


def signature_text(argtypes):
    """``void(...)`` for Numba argument types (scalars and C-contiguous
    arrays), as text: each CUDA package parses it into its own types, where
    ``numba.types`` objects are accepted by numba-cuda only."""

    def text(t):
        if isinstance(t, types.Array):
            assert t.layout == "C", t
            return f"{t.dtype}[{', '.join([':'] * (t.ndim - 1) + ['::1'])}]"
        return "boolean" if t == types.boolean else str(t)

    return f"void({', '.join(text(t) for t in argtypes)})"


def compile_kernel(dispatcher, argtypes):
    """(PTX text, return type) of ``dispatcher``'s kernel for ``argtypes``."""
    from fastnn.kernels._cuda_api import cuda_module

    with _device_query_answered(type(dispatcher)):
        return cuda_module().compile_ptx(
            dispatcher.py_func, signature_text(argtypes), cc=TARGET_CC
        )
