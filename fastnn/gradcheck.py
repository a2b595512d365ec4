"""Check backpropagation against finite differences on a whole model."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from fastnn import losses as losses_module
from fastnn._workspace import Workspace
from fastnn.model import Sequential


def gradient_check(
    model: Sequential,
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    loss: losses_module.Loss | str | None = None,
    eps: float = 1e-5,
    max_params: int = 200,
    seed: int = 0,
) -> dict[str, Any]:
    """Compare backprop gradients of the model's loss with central differences.

    Runs on a float64 copy of ``model`` (same weights) at up to
    ``max_params`` parameters chosen at random. Dropout layers apply one
    fixed mask drawn from ``seed`` to every evaluation, so their backward is
    checked too.
    Returns ``{"max_abs_error", "max_relative_error", "checked"}``, where the
    relative error of one component is ``|a - n| / max(|a| + |n|, 1e-6)``:
    components below 1e-6 are compared absolutely, since the differences' own
    rounding noise (~1e-10 at eps=1e-5) would swamp their relative error.
    Relative errors below ~1e-5 mean backprop is right; ~1e-2 means a bug.

    Parameters
    ----------
    model : Sequential
        The model (not changed).
    x : array_like (N, F)
        Features.
    y : array_like
        Labels (N,) or targets (N, O), as the loss expects.
    loss : Loss or str, optional
        The loss to differentiate; default the model's, else cross-entropy.
    eps : float, default 1e-5
        Step of the central differences.
    max_params : int, default 200
        How many parameters (at most) to check.
    seed : int, default 0
        Seeds the choice of parameters and the dropout masks.

    Returns
    -------
    dict
        ``max_abs_error`` (float), ``max_relative_error`` (float) and
        ``checked`` (int, the number of parameters compared).
    """
    loss = losses_module.get(
        loss if loss is not None else (model.loss or "cross_entropy")
    )
    clone = Sequential.from_config({**model.get_config(), "dtype": "float64"})
    clone.set_weights(model.get_weights().astype(np.float64))
    clone.loss = loss
    clone._reset_workspaces()
    x, y = clone._check_xy(x, y)
    bufs = Workspace(clone, len(x), with_grads=True).rows(len(x))
    x = clone._readable_input(bufs, x)  # scaled, as float64
    bufs.targets[:] = y
    ops = clone._backend.ops
    rng = np.random.default_rng(seed)
    clone._draw_noise(bufs, rng)

    def loss_value():
        clone._forward(bufs, x, training=True)
        return loss(ops, bufs.acts[-1], bufs.targets, None)

    clone._forward(bufs, x, training=True)
    loss(ops, bufs.acts[-1], bufs.targets, bufs.grads[-1])
    clone._backward(bufs, x)
    analytic = np.array(clone.grads, copy=True)

    n = clone.params.size
    chosen = rng.choice(n, size=min(max_params, n), replace=False)
    numeric = np.empty(len(chosen))
    for k, i in enumerate(chosen):
        keep = clone.params[i]
        clone.params[i] = keep + eps
        up = loss_value()
        clone.params[i] = keep - eps
        down = loss_value()
        clone.params[i] = keep
        numeric[k] = (up - down) / (2 * eps)
    abs_err = np.abs(analytic[chosen] - numeric)
    rel_err = abs_err / np.maximum(np.abs(analytic[chosen]) + np.abs(numeric), 1e-6)
    return {
        "max_abs_error": float(abs_err.max()),
        "max_relative_error": float(rel_err.max()),
        "checked": int(len(chosen)),
    }
