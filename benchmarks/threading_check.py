"""Serial vs prange elementwise kernels between OpenBLAS calls, in one training step.

The measurement behind the threading choice written in kernels/cpu/__init__.py:

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/threading_check.py
    NUMBA_THREADING_LAYER=workqueue python benchmarks/threading_check.py

Both steps do the same 784-512-512-10 float32 step at batch 128: the same BLAS
products, with the bias/ReLU epilogues, the ReLU-gradient/bias-gradient
prologues and the SGD update either serial (fastnn's kernels) or ``prange``.
"""

import time

import numba
import numpy as np
from numba import prange

from fastnn.kernels.cpu import dense, optim

SIZES = (784, 512, 512, 10)
BATCH = 128


def median_ms(fn, calls=50):
    for _ in range(5):
        fn()
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times)) * 1e3


@numba.njit(parallel=True)
def parallel_bias_relu(out, b):
    rows, cols = out.shape
    for i in prange(rows):
        for j in range(cols):
            z = out[i, j] + b[j]
            out[i, j] = z if z > 0 else 0.0


@numba.njit(parallel=True)
def parallel_relu_grad_bias(out, dout, db):
    rows, cols = out.shape
    for j in prange(cols):
        total = 0.0
        for i in range(rows):
            g = dout[i, j] if out[i, j] > 0 else 0.0
            dout[i, j] = g
            total += g
        db[j] = total


@numba.njit(parallel=True)
def parallel_sgd(param, grad, velocity, lr, momentum):
    for i in prange(param.size):
        velocity[i] = velocity[i] * momentum + grad[i]
        param[i] -= lr * velocity[i]


@numba.njit
def products_backward(x, w, dout, dx, dw):
    np.dot(x.T, dout, dw)
    if dx is not None:
        np.dot(dout, w.T, dx)


def main():
    rng = np.random.default_rng(0)
    pairs = list(zip(SIZES, SIZES[1:]))
    weights = [(rng.standard_normal(p) * 0.05).astype(np.float32) for p in pairs]
    biases = [np.zeros(o, np.float32) for _, o in pairs]
    acts = [rng.random((BATCH, SIZES[0]), dtype=np.float32)]
    acts += [np.empty((BATCH, o), np.float32) for _, o in pairs]
    grads = [None] + [
        rng.standard_normal((BATCH, o)).astype(np.float32) for _, o in pairs
    ]
    dweights = [np.empty_like(w) for w in weights]
    dbiases = [np.empty_like(b) for b in biases]
    params = np.zeros(sum(w.size for w in weights), np.float32)
    flat_grads, velocity = np.ones_like(params), np.zeros_like(params)
    last = len(pairs) - 1

    def serial_step():
        for k in range(len(pairs)):
            dense.dense_forward(
                acts[k],
                weights[k],
                biases[k],
                acts[k + 1],
                "relu" if k < last else "identity",
            )
        for k in range(last, -1, -1):
            dense.dense_backward(
                acts[k],
                weights[k],
                acts[k + 1],
                grads[k + 1],
                grads[k] if k else None,
                dweights[k],
                dbiases[k],
                "relu" if k < last else "identity",
            )
        optim.sgd_update(params, flat_grads, velocity, 2, 0.001, 0.9)

    def parallel_step():
        for k in range(len(pairs)):
            np.dot(acts[k], weights[k], acts[k + 1])
            parallel_bias_relu(acts[k + 1], biases[k])
        for k in range(last, -1, -1):
            parallel_relu_grad_bias(acts[k + 1], grads[k + 1], dbiases[k])
            products_backward(
                acts[k], weights[k], grads[k + 1], grads[k] if k else None, dweights[k]
            )
        parallel_sgd(params, flat_grads, velocity, np.float32(0.001), np.float32(0.9))

    print(f"numba {numba.__version__}, {numba.get_num_threads()} threads")
    print(f"serial fused step    {median_ms(serial_step):7.2f} ms")
    print(
        f"prange epilogue step {median_ms(parallel_step):7.2f} ms "
        f"(threading layer {numba.threading_layer()})"
    )


if __name__ == "__main__":
    main()
