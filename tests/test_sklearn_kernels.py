"""``fastnn.kernels.cpu.sklearn_mlp``'s fused update against the NumPy expressions it replaces:
the fused pass must give the same bits as scikit-learn's update code and
``np.square(w).sum()``, in float64 and float32."""

import numpy as np
import pytest

from fastnn.kernels.cpu import sklearn_mlp as fused

# sizes around NumPy's pairwise-summation leaf (128) and its 8-wide unroll
SIZES = [1, 7, 8, 9, 127, 128, 129, 1000, 4099, 70_001]


def _arrays(n, dtype, seed=0):
    rng = np.random.default_rng(seed)
    params = rng.standard_normal(n).astype(dtype)
    grad = rng.standard_normal(n).astype(dtype)
    state1 = rng.standard_normal(n).astype(dtype)
    state2 = rng.uniform(0, 1, n).astype(dtype)
    return params, grad, state1, state2


def _reference(op, params, grad, state1, state2, n_coef, l2, lr, momentum):
    """The NumPy code of the solvers (Python-float scalars, as there)."""
    squares = np.square(params[:n_coef]).sum()
    grad[:n_coef] += l2 * params[:n_coef]
    if op in (fused.SGD, fused.NESTEROV):
        state1 *= momentum
        state1 -= lr * grad
        if op == fused.NESTEROV:
            params += momentum * state1 - lr * grad
        else:
            params += state1
    elif op == fused.ADAM:
        state1 *= 0.9
        state1 += (1 - 0.9) * grad
        state2 *= 0.999
        state2 += (1 - 0.999) * grad**2
        params -= lr * state1 / (np.sqrt(state2) + 1e-8)
    return squares


def _scalars(op, dtype, lr, momentum):
    cast = np.dtype(dtype).type
    if op == fused.ADAM:
        return (lr, cast(0.9), cast(1 - 0.9), cast(0.999), cast(1 - 0.999), cast(1e-8))
    return (cast(lr), cast(momentum)) + (cast(0),) * 4


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("op", [fused.L2_ONLY, fused.SGD, fused.NESTEROV, fused.ADAM])
@pytest.mark.parametrize("n", SIZES)
def test_fused_step_matches_numpy_bit_for_bit(n, op, dtype):
    n_coef = max(0, n - 5)  # a tail of "intercepts" outside the penalty
    expected = _arrays(n, dtype)
    got = [a.copy() for a in expected]
    # Adam's rate is a NumPy float64 in scikit-learn (np.sqrt of a float)
    lr = np.float64(0.003) if op == fused.ADAM else 0.05
    want = _reference(op, *expected, n_coef, 1e-3, lr, 0.9)
    total = fused.fused_step(
        *got, n_coef, np.dtype(dtype).type(1e-3), op, _scalars(op, dtype, lr, 0.9)
    )
    assert total == want
    for a, b in zip(got, expected):
        np.testing.assert_array_equal(a, b)
        assert a.dtype == dtype


def test_fused_step_keeps_nan_and_inf():
    params, grad, state1, state2 = _arrays(300, np.float64)
    params[3], grad[200] = np.nan, np.inf
    ref = [a.copy() for a in (params, grad, state1, state2)]
    with np.errstate(all="ignore"):
        want = _reference(fused.ADAM, *ref, 290, 1e-3, np.float64(0.001), 0.0)
    scalars = _scalars(fused.ADAM, np.float64, np.float64(0.001), 0.0)
    got = fused.fused_step(params, grad, state1, state2, 290, 1e-3, fused.ADAM, scalars)
    assert np.isnan(got) and np.isnan(want)
    for a, b in zip((params, grad, state1, state2), ref):
        np.testing.assert_array_equal(a, b)
