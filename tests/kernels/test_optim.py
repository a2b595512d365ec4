"""Optimizer updates against torch.optim's documented algorithms, written here.

References (float64), from https://pytorch.org/docs/stable/generated/torch.optim.SGD.html
and .../torch.optim.Adam.html / AdamW.html.
"""

import itertools

import numpy as np
import pytest

from fastnn import kernels
from tests import reference as ref

STEPS = 6


def torch_sgd_reference(params, grads, lr, momentum, dampening, weight_decay, nesterov):
    p = params.astype(np.float64).copy()
    buf = None
    trajectory = []
    for t, g in enumerate(grads, start=1):
        g = g.astype(np.float64)
        if weight_decay != 0:
            g = g + weight_decay * p
        if momentum != 0:
            if t == 1:
                buf = g.copy()
            else:
                buf = momentum * buf + (1 - dampening) * g
            g = g + momentum * buf if nesterov else buf
        p = p - lr * g
        trajectory.append(p.copy())
    return trajectory


def torch_adam_reference(params, grads, lr, beta1, beta2, eps, weight_decay, decoupled):
    p = params.astype(np.float64).copy()
    m = np.zeros_like(p)
    v = np.zeros_like(p)
    trajectory = []
    for t, g in enumerate(grads, start=1):
        g = g.astype(np.float64)
        if decoupled:
            p = p * (1 - lr * weight_decay)
        elif weight_decay != 0:
            g = g + weight_decay * p
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        m_hat = m / (1 - beta1**t)
        v_hat = v / (1 - beta2**t)
        p = p - lr * m_hat / (np.sqrt(v_hat) + eps)
        trajectory.append(p.copy())
    return trajectory


def problem(rng, dtype, size=37):
    params = rng.standard_normal(size).astype(dtype)
    grads = [rng.standard_normal(size).astype(dtype) for _ in range(STEPS)]
    return params, grads


SGD_GRID = [
    dict(momentum=m, dampening=d, weight_decay=wd, nesterov=n)
    for m, d, wd, n in itertools.product(
        [0.0, 0.9], [0.0, 0.3], [0.0, 0.01], [False, True]
    )
    if not (n and (m == 0 or d != 0))  # torch rejects these nesterov settings
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("options", SGD_GRID, ids=str)
def test_sgd_trajectory_matches_torch_algorithm(rng, dtype, options):
    params, grads = problem(rng, dtype)
    expected = torch_sgd_reference(params, grads, lr=0.1, **options)
    p = params.copy()
    velocity = np.zeros_like(p) if options["momentum"] else None
    for step, (g, exp) in enumerate(zip(grads, expected), start=1):
        kernels.sgd_update(p, g, velocity, step, 0.1, **options)
        ref.assert_close(p, exp, dtype, {np.float32: 1e-6, np.float64: 1e-14})


ADAM_GRID = [
    dict(weight_decay=wd, decoupled=dec, beta1=b1)
    for wd, dec, b1 in itertools.product([0.0, 0.05], [False, True], [0.9, 0.3])
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("options", ADAM_GRID, ids=str)
def test_adam_trajectory_matches_torch_algorithm(rng, dtype, options):
    params, grads = problem(rng, dtype)
    expected = torch_adam_reference(
        params, grads, lr=0.01, beta2=0.999, eps=1e-8, **options
    )
    p = params.copy()
    m, v = np.zeros_like(p), np.zeros_like(p)
    for step, (g, exp) in enumerate(zip(grads, expected), start=1):
        kernels.adam_update(p, g, m, v, step, 0.01, beta2=0.999, eps=1e-8, **options)
        ref.assert_close(p, exp, dtype, {np.float32: 1e-6, np.float64: 1e-13})


def test_sgd_updates_any_shape_in_place(rng):
    p = rng.standard_normal((3, 4))
    g = rng.standard_normal((3, 4))
    expected = p - 0.5 * g
    kernels.sgd_update(p, g, None, 1, 0.5)
    np.testing.assert_allclose(p, expected, rtol=1e-15)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(lr=-1.0), "lr"),
        (dict(lr=float("nan")), "lr"),
        (dict(momentum=0.9), "velocity"),
        (dict(nesterov=True), "nesterov"),
        (dict(step=0), "step"),
        (dict(weight_decay=-0.1), "weight_decay"),
    ],
)
def test_sgd_rejects_bad_hyperparameters(kwargs, match):
    p = np.zeros(3)
    args = dict(step=1, lr=0.1)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        kernels.sgd_update(p, np.zeros(3), None, **args)


@pytest.mark.parametrize(
    "kwargs, match",
    [(dict(beta1=1.0), "beta1"), (dict(beta2=-0.1), "beta2"), (dict(eps=-1.0), "eps")],
)
def test_adam_rejects_bad_hyperparameters(kwargs, match):
    z = np.zeros(3)
    with pytest.raises(ValueError, match=match):
        kernels.adam_update(z.copy(), z, z.copy(), z.copy(), 1, 0.1, **kwargs)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_subnormal_state_is_flushed_to_zero(dtype):
    """A buffer decaying under zero gradients reaches 0 instead of lingering in
    slow subnormal numbers; normal values are untouched."""
    tiny = np.finfo(dtype).tiny
    p = np.ones(3, dtype)
    velocity = np.array([tiny * 1.05, tiny * 2, 1.0], dtype)
    kernels.sgd_update(p, np.zeros(3, dtype), velocity, 2, 0.1, momentum=0.9)
    assert velocity[0] == 0  # 0.945 tiny would be subnormal
    assert velocity[1] == dtype(tiny * 2) * dtype(0.9)  # 1.8 tiny stays
    assert velocity[2] == dtype(0.9)
    m = np.array([tiny * 0.5, 0.5], dtype)
    v = np.array([tiny * 0.5, 0.25], dtype)
    kernels.adam_update(np.ones(2, dtype), np.zeros(2, dtype), m, v, 2, 0.1)
    assert m[0] == 0 and v[0] == 0 and m[1] == dtype(0.45)
