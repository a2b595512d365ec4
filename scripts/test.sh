#!/usr/bin/env bash
# The whole test suite: CPU tests, the CUDA kernels compiled to PTX, then the
# CUDA tests. Without a GPU the CUDA tests run on Numba's simulator:
# NUMBA_ENABLE_CUDASIM must be set before numba is first imported, so they run
# in a pytest process of their own, with a small GEMM tile so tiny shapes still
# span several tiles.
set -euo pipefail
python -m ruff check fastnn kernels benchmarks tests examples
python -m ruff format --check fastnn kernels benchmarks tests examples
python -m mypy                     # fastnn/ against its type hints ([tool.mypy])
python -m pytest tests --ignore=tests/cuda --ignore=tests/ptx -q "$@"
if [ "$(python -c 'from fastnn import kernels; print(kernels.cpu_blas())')" = mkl ]; then
    # the kernels again on the other BLAS, the one every install has
    FASTNN_CPU_BLAS=openblas python -m pytest tests/kernels -q "$@"
fi
# Every CUDA kernel through NVIDIA's compiler (NVVM, from the test extra's
# numba-cuda[cu13]) for each dtype it is launched with: the typing errors the
# simulator cannot see, without a GPU. Required: a missing compiler fails.
FASTNN_REQUIRE_PTX=1 python -m pytest tests/ptx -q "$@"
if python -c "from numba import cuda; raise SystemExit(0 if cuda.is_available() else 1)" 2>/dev/null; then
    python -m pytest tests/cuda -q "$@"            # a real GPU
else
    NUMBA_ENABLE_CUDASIM=1 FASTNN_CUDA_GEMM_TILE=4 python -m pytest tests/cuda -q "$@"
fi
