"""The matrix product of the CPU kernels: ``matmul(a, b, out)``, out = a @ b.

``a`` and ``b`` may be C- or F-contiguous (``x.T`` of a C array is an F view:
it reaches BLAS as a transpose flag, never as a copy); ``out`` is C-contiguous.
With Intel MKL (see ``kernels/_cpu_blas.py``) this calls ``cblas_?gemm``
directly; otherwise Numba's ``np.dot``, which calls SciPy's OpenBLAS. Any
other layout also goes to ``np.dot``.
"""

import numpy as np
from numba import types

from .._cpu_blas import DGEMM_SYMBOL, SGEMM_SYMBOL, cpu_blas
from .._jit import cpu_jit

BLAS = cpu_blas()

if BLAS == "mkl":
    _ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112  # CBLAS enum values
    _i32 = types.int32

    def _cblas_gemm(symbol, real):
        return types.ExternalFunction(
            symbol,
            types.void(
                _i32,  # layout
                _i32,  # transa
                _i32,  # transb
                _i32,  # m
                _i32,  # n
                _i32,  # k
                real,  # alpha
                types.voidptr,  # a
                _i32,  # lda
                types.voidptr,  # b
                _i32,  # ldb
                real,  # beta
                types.voidptr,  # c
                _i32,  # ldc
            ),
        )

    _sgemm = _cblas_gemm(SGEMM_SYMBOL, types.float32)
    _dgemm = _cblas_gemm(DGEMM_SYMBOL, types.float64)

    @cpu_jit
    def matmul(a, b, out):
        """out = a @ b (2-D, same float dtype) through MKL."""
        m, k = a.shape
        n = b.shape[1]
        a_c, a_f = a.flags.c_contiguous, a.flags.f_contiguous
        b_c, b_f = b.flags.c_contiguous, b.flags.f_contiguous
        if not ((a_c or a_f) and (b_c or b_f) and out.flags.c_contiguous):
            np.dot(a, b, out)
            return
        # row-major CBLAS: a C array is (rows, leading dim = cols); an F array
        # is the transpose of a C array with leading dim = its row count
        trans_a, lda = (_NO_TRANS, max(k, 1)) if a_c else (_TRANS, max(m, 1))
        trans_b, ldb = (_NO_TRANS, max(n, 1)) if b_c else (_TRANS, max(k, 1))
        if out.itemsize == 4:  # float32 (the public API admits float32/64 only)
            _sgemm(_ROW_MAJOR, trans_a, trans_b, m, n, k, np.float32(1),
                   a.ctypes, lda, b.ctypes, ldb, np.float32(0), out.ctypes, max(n, 1))  # fmt: skip
        else:
            _dgemm(_ROW_MAJOR, trans_a, trans_b, m, n, k, 1.0,
                   a.ctypes, lda, b.ctypes, ldb, 0.0, out.ctypes, max(n, 1))  # fmt: skip

else:

    @cpu_jit
    def matmul(a, b, out):
        """out = a @ b (2-D, same float dtype) through SciPy's OpenBLAS."""
        np.dot(a, b, out)
