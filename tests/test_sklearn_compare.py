"""benchmarks/sklearn_compare.py's products floor (the speed-up bound)."""

import importlib
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
pytest.importorskip("sklearn")
pytest.importorskip("threadpoolctl")


def module():
    if str(ROOT / "benchmarks") not in sys.path:
        sys.path.insert(0, str(ROOT / "benchmarks"))
    return importlib.import_module("sklearn_compare")


def test_network_sizes_follow_scikit_learn():
    compare = module()
    x = np.zeros((6, 5))
    params = {"hidden_layer_sizes": (7, 3)}
    assert compare.network_sizes(x, np.array([0, 1] * 3), params) == (5, 7, 3, 1)
    assert compare.network_sizes(x, np.arange(6) % 3, params) == (5, 7, 3, 3)
    assert compare.network_sizes(x, np.arange(6) % 3, {}) == (5, 100, 3)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_products_floor_is_a_time_per_epoch(dtype):
    compare = module()
    one = compare.products_floor((20, 16, 4), 8, 64, np.dtype(dtype), repeats=3)
    assert np.isfinite(one) and one > 0


def test_the_floor_runs_the_training_products():
    """The timed kernel computes the step's forward, dW and dX products."""
    compare = module()
    rng = np.random.default_rng(0)
    ws = (rng.normal(size=(5, 4)), rng.normal(size=(4, 3)))
    x = rng.normal(size=(6, 5))
    outs = (np.zeros((6, 4)), np.zeros((6, 3)))
    dws = tuple(np.zeros_like(w) for w in ws)
    dxs = (np.zeros((6, 5)), np.zeros((6, 4)))
    compare._products_kernel()((x, outs[0]), ws, outs, dws, dxs)
    # the backward reuses outs as its incoming gradients
    np.testing.assert_allclose(outs[0], x @ ws[0], rtol=1e-12)
    np.testing.assert_allclose(outs[1], (x @ ws[0]) @ ws[1], rtol=1e-12)
    np.testing.assert_allclose(dws[1], outs[0].T @ outs[1], rtol=1e-12)
    np.testing.assert_allclose(dxs[1], outs[1] @ ws[1].T, rtol=1e-12)
    np.testing.assert_allclose(dws[0], x.T @ outs[0], rtol=1e-12)
    assert not dxs[0].any()  # the first layer's dX is not needed
