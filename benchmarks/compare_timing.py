"""How ``compare.py`` times its contenders: interleaved medians, the first
call after an idle pause, and the float32 matrix-product peak of the machine.
"""

import time

import numpy as np


def matmul_peak_gflops(n=4096, repeats=5):
    """GFLOP/s of numpy's float32 ``a @ b`` at n x n: the peak the cases are
    measured against."""
    a = np.random.default_rng(0).random((n, n), dtype=np.float32)
    b = a.copy()
    a @ b
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - start)
    return 2 * n**3 / np.median(times) / 1e9


def interleaved(contenders, rounds, calls, settle=0.3, rewarm=2):
    """Median seconds per call of each contender, A B C A B C ... by round.

    Before each timed block the process sleeps ``settle`` seconds: the thread
    pools of the previous contender (OpenBLAS pthreads, PyTorch's OpenMP) spin
    after their last parallel region, and would otherwise steal the cores from
    the next contender's first calls. Then ``rewarm`` untimed calls wake the
    contender's own pool: the first call after an idle pause is slow (see
    ``first_call_after_idle``), and a training loop never pauses.
    """
    for fn in contenders.values():  # warm up: JIT, allocator, caches
        for _ in range(max(3, calls // 4)):
            fn()
    samples = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, fn in contenders.items():
            time.sleep(settle)
            for _ in range(rewarm):
                fn()
            start = time.perf_counter()
            for _ in range(calls):
                fn()
            samples[name].append((time.perf_counter() - start) / calls)
    return {name: float(np.median(s)) for name, s in samples.items()}


def first_call_after_idle(contenders, rounds, idle=0.3):
    """Median seconds of one call made after ``idle`` seconds without work
    (BLAS thread pools have gone to sleep by then), per contender."""
    samples = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, fn in contenders.items():
            fn()
            time.sleep(idle)
            start = time.perf_counter()
            fn()
            samples[name].append(time.perf_counter() - start)
    return {name: float(np.median(s)) for name, s in samples.items()}
