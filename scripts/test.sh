#!/usr/bin/env bash
# The whole test suite: CPU tests, then the CUDA kernels on Numba's simulator
# (NUMBA_ENABLE_CUDASIM must be set before numba is first imported, so that
# half runs in its own pytest process).
set -euo pipefail
python -m pytest tests -m "not cuda" -q "$@"
if [ -d tests/cuda ]; then
    NUMBA_ENABLE_CUDASIM=1 python -m pytest tests/cuda -m cuda -q "$@"
fi
