"""The optimizer kernels' divergence guard (used by the model's training
step): elements whose update would overflow keep their old values, all
others take exactly the unguarded update."""

import numpy as np
import pytest

from fastnn.kernels import cpu


def buffers(rng, n=41, dtype=np.float32):
    param = rng.standard_normal(n).astype(dtype)
    param[::4] = np.finfo(dtype).max * 0.97  # these overflow under a huge step
    grad = -(1 + rng.random(n)).astype(dtype)  # moves every param upwards
    return param, grad


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_guarded_sgd_refuses_only_overflowing_elements(rng, dtype, momentum):
    param, grad = buffers(rng, dtype=dtype)
    lr = float(np.finfo(dtype).max) / 4
    plain_p, plain_v = param.copy(), np.zeros_like(param)
    cpu.sgd_update(plain_p, grad, plain_v, 1, lr, momentum)  # torch's result
    guarded_p, guarded_v = param.copy(), np.zeros_like(param)
    refused = cpu.sgd_update(guarded_p, grad, guarded_v, 1, lr, momentum, guard=True)
    overflowed = ~np.isfinite(plain_p)
    assert refused and overflowed.sum() == len(param[::4])
    np.testing.assert_array_equal(guarded_p[overflowed], param[overflowed])
    np.testing.assert_array_equal(guarded_p[~overflowed], plain_p[~overflowed])
    if momentum:
        np.testing.assert_array_equal(guarded_v[overflowed], 0)
        np.testing.assert_array_equal(guarded_v[~overflowed], plain_v[~overflowed])
    # the moved elements agree with a float64 reference: p - lr * g
    with np.errstate(over="ignore"):  # the refused ones overflow float64 too
        expected = param.astype(np.float64) - lr * grad.astype(np.float64)
    np.testing.assert_allclose(guarded_p[~overflowed], expected[~overflowed], rtol=1e-6)


def test_guarded_adam_refuses_only_overflowing_elements(rng):
    param, grad = buffers(rng)
    lr = 3e37  # Adam's first step moves each element by about lr
    state = [np.zeros_like(param) for _ in range(4)]
    plain = param.copy()
    cpu.adam_update(plain, grad, state[0], state[1], 1, lr)
    guarded = param.copy()
    refused = cpu.adam_update(guarded, grad, state[2], state[3], 1, lr, guard=True)
    overflowed = ~np.isfinite(plain)
    assert refused and overflowed.sum() > 0
    np.testing.assert_array_equal(guarded[overflowed], param[overflowed])
    np.testing.assert_array_equal(guarded[~overflowed], plain[~overflowed])
    np.testing.assert_array_equal(state[2][overflowed], 0)


def test_guard_is_off_by_default_and_finite_updates_are_untouched(rng):
    param = rng.standard_normal(50).astype(np.float32)
    grad = rng.standard_normal(50).astype(np.float32)
    a, b = param.copy(), param.copy()
    va, vb = np.zeros_like(a), np.zeros_like(b)
    assert not cpu.sgd_update(a, grad, va, 1, 0.1, 0.9)
    assert not cpu.sgd_update(b, grad, vb, 1, 0.1, 0.9, guard=True)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(va, vb)
