"""The one place the CUDA kernels get their ``cuda`` module from.

Two packages compile Python kernels for NVIDIA GPUs with the same API:
``numba-cuda`` (``numba.cuda``; in maintenance mode, but the only one with a
simulator) and its successor ``numba-cuda-mlir`` (``numba_cuda_mlir.cuda``).
``FASTNN_CUDA_PACKAGE`` (``kernels/_config.py``) picks one; ``auto`` takes
the successor when it is installed and the simulator is off.

numba-cuda 0.30 registers a typing overload for ``np.row_stack``, which
NumPy 2.5 removed, so its first kernel compilation fails there with
``AttributeError``; it will not be fixed upstream (numba-cuda issue #907).
:func:`restore_row_stack` puts the alias back (``np.vstack``, what
``row_stack`` always was) only when that package is used and NumPy lacks it.
"""

import os

from . import _config

PACKAGES = ("numba-cuda", "numba-cuda-mlir")

_selected = None


def restore_row_stack(numpy_module=None):
    """Give NumPy back ``row_stack`` (= ``vstack``) when it lacks it; returns
    whether it did. Harmless when the alias exists (NumPy < 2.5)."""
    if numpy_module is None:
        import numpy as numpy_module
    if hasattr(numpy_module, "row_stack"):
        return False
    numpy_module.row_stack = numpy_module.vstack
    return True


def _simulator_on():
    return os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0")


def _choose(requested, simulator, mlir_installed):
    """The package to use for a ``FASTNN_CUDA_PACKAGE`` value (pure, tested)."""
    if requested == "auto":
        return "numba-cuda-mlir" if mlir_installed and not simulator else "numba-cuda"
    if requested not in PACKAGES:
        raise ValueError(
            f"FASTNN_CUDA_PACKAGE: expected auto or one of {PACKAGES}, got "
            f"{requested!r}"
        )
    if requested == "numba-cuda-mlir" and simulator:
        raise ValueError(
            "FASTNN_CUDA_PACKAGE=numba-cuda-mlir has no simulator; unset "
            "NUMBA_ENABLE_CUDASIM or use numba-cuda"
        )
    return requested


def _mlir_installed():
    from importlib.util import find_spec

    return find_spec("numba_cuda_mlir") is not None


def select():
    """(package name, its ``cuda`` module), chosen and imported once."""
    global _selected
    if _selected is None:
        name = _choose(_config.CUDA_PACKAGE, _simulator_on(), _mlir_installed())
        if name == "numba-cuda-mlir":
            from numba_cuda_mlir import cuda as module
        else:
            restore_row_stack()
            from numba import cuda as module
        _selected = (name, module)
    return _selected


def package():
    """The name of the package compiling the CUDA kernels."""
    return select()[0]


def cuda_module():
    """The ``cuda`` module of that package."""
    return select()[1]
