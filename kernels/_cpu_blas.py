"""Which BLAS the CPU kernels' matrix products call.

OpenBLAS, the BLAS that NumPy and SciPy ship, is always there: Numba's
``np.dot`` calls SciPy's. Intel MKL, when its runtime is installed
(``pip install ".[mkl]"`` from the clone, the ``mkl`` wheel), is faster on the
mid-sized products of MLP training. Measured on a 2-core Xeon with AVX-512,
the eight products of one 784-512-512-10 training step took 1.53 ms with MKL
and 2.07 ms with OpenBLAS at batch 128, 11.2 ms and 13.4 ms at batch 1024
(``benchmarks/compare.py`` times them in every run).

``FASTNN_CPU_BLAS`` picks: ``auto`` (default: MKL if found, else OpenBLAS),
``mkl`` (an error if MKL is missing) or ``openblas``.

MKL's ``cblas_sgemm``/``cblas_dgemm`` are registered with LLVM under fixed
symbol names, so compiled kernels refer to them by name and stay cacheable on
disk (a ctypes function pointer would be baked into the machine code as an
address that is different in the next process).
"""

import ctypes
import ctypes.util
import glob
import os
import site
import sys
from functools import lru_cache

from . import _config

CHOICES = ("auto", "mkl", "openblas")
SGEMM_SYMBOL = "fastnn_mkl_cblas_sgemm"
DGEMM_SYMBOL = "fastnn_mkl_cblas_dgemm"
_MKL_INTERFACE_LP64 = 0  # 32-bit integers, what the kernels pass


def mkl_library_candidates(prefixes=None):
    """Paths or names under which MKL's single dynamic library may be found."""
    if prefixes is None:  # the wheel puts it in <prefix>/lib (also for --user)
        prefixes = [sys.prefix, site.getuserbase(), os.environ.get("CONDA_PREFIX", "")]
    found = []
    for prefix in filter(None, prefixes):
        found += sorted(glob.glob(os.path.join(prefix, "lib", "libmkl_rt.so*")))
    by_loader = ctypes.util.find_library("mkl_rt")
    if by_loader:
        found.append(by_loader)
    return found


def _load_mkl(candidates):
    """Open MKL, ask for its 32-bit-integer interface and register the two
    GEMMs with LLVM; the error text when that is impossible."""
    if not candidates:
        return "no libmkl_rt found"
    errors = []
    for path in candidates:
        try:
            lib = ctypes.CDLL(path)
            set_layer = lib.MKL_Set_Interface_Layer
            sgemm, dgemm = lib.cblas_sgemm, lib.cblas_dgemm
        except (OSError, AttributeError) as exc:
            errors.append(f"{path}: {exc}")
            continue
        set_layer.restype = ctypes.c_int
        set_layer.argtypes = [ctypes.c_int]
        layer = set_layer(_MKL_INTERFACE_LP64)
        if layer != _MKL_INTERFACE_LP64:  # MKL already in use with 64-bit ints
            errors.append(f"{path}: MKL runs with interface layer {layer}, not LP64")
            continue
        import llvmlite.binding as llvm

        for symbol, fn in ((SGEMM_SYMBOL, sgemm), (DGEMM_SYMBOL, dgemm)):
            llvm.add_symbol(symbol, ctypes.cast(fn, ctypes.c_void_p).value)
        return None
    return "; ".join(errors)


@lru_cache(maxsize=None)
def cpu_blas():
    """The BLAS the CPU kernels call: ``"mkl"`` or ``"openblas"``."""
    choice = _config.CPU_BLAS.strip().lower()
    if choice not in CHOICES:
        raise ValueError(
            f"FASTNN_CPU_BLAS: expected one of {', '.join(CHOICES)}, got "
            f"{_config.CPU_BLAS!r}"
        )
    if choice == "openblas":
        return "openblas"
    error = _load_mkl(mkl_library_candidates())
    if error is None:
        return "mkl"
    if choice == "mkl":
        raise ImportError(
            f"FASTNN_CPU_BLAS=mkl but Intel MKL could not be used ({error}); "
            'install it with pip install ".[mkl]" from the fastnn clone, or unset FASTNN_CPU_BLAS'
        )
    return "openblas"
