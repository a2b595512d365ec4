"""The kernel-only training loop of ``examples/kernel_training_loop.py`` (shown
in the README) trains, and the row slices it uses for a short last batch
compute what buffers of the exact size compute."""

import importlib.util
from pathlib import Path

import numpy as np

from fastnn import kernels

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "kernel_training_loop.py"


def load_example():
    spec = importlib.util.spec_from_file_location("kernel_training_loop", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_readme_training_loop_learns_its_problem():
    params, losses = load_example().train(epochs=15)
    assert np.isfinite(losses).all()
    assert np.mean(losses[-16:]) < 0.25 * np.mean(losses[:16])
    rng = np.random.default_rng(0)  # the example's data, drawn again
    x = rng.standard_normal((1000, 20)).astype(np.float32)
    y = (x[:, :3].sum(axis=1) > 0).astype(np.int64) + (x[:, 3] > 1)
    h = np.empty((1000, 64), np.float32)
    logits = np.empty((1000, 3), np.float32)
    kernels.dense_forward(x, params[0], params[1], h, activation="relu")
    kernels.dense_forward(h, params[2], params[3], logits)
    assert kernels.count_correct(logits, y) / 1000 > 0.95


def test_row_slices_of_larger_buffers_work_like_exact_buffers(rng):
    n, batch = 5, 8
    x = rng.standard_normal((n, 4))
    w, b = rng.standard_normal((4, 3)), rng.standard_normal(3)
    labels = rng.integers(0, 3, n)
    results = []
    for rows in (n, batch):  # exact buffers, then the first n rows of bigger ones
        out, dout = np.empty((rows, 3)), np.empty((rows, 3))
        dx, dw, db = np.empty((rows, 4)), np.empty((4, 3)), np.empty(3)
        kernels.dense_forward(x, w, b, out[:n], activation="tanh")
        loss = kernels.softmax_cross_entropy(out[:n], labels, dout[:n])
        kernels.dense_backward(x, w, out[:n], dout[:n], dx[:n], dw, db, "tanh")
        results.append((out[:n].copy(), loss, dx[:n].copy(), dw, db))
    for exact, sliced in zip(*results):
        np.testing.assert_array_equal(exact, sliced)
