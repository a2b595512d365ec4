"""Runs of full mini-batches in one compiled call (``kernels/cpu/epoch.py``)
for the common case: a plain dense stack on the CPU, cross-entropy, MSE or
binary cross-entropy, SGD or Adam/AdamW, with or without sample weights.
``fit`` hands such runs here and takes the other steps (a shorter last
batch, other models) one by one; both paths use the same kernels in the same
order, so training is bit for bit the same.
"""

import numpy as np

from fastnn import optimizers
from fastnn.kernels import _scalar
from fastnn.kernels.cpu import epoch as epoch_kernels
from fastnn.kernels.cpu.optim import largest_finite
from fastnn.losses import MSE, BinaryCrossEntropy, CrossEntropy

#: The losses the compiled loop trains, as its ``kind`` codes.
_KINDS = {
    CrossEntropy: epoch_kernels.CROSS_ENTROPY,
    MSE: epoch_kernels.MSE,
    BinaryCrossEntropy: epoch_kernels.BINARY_CROSS_ENTROPY,
}


class CompiledSteps:
    """One epoch's runner: ``run(k, stop, loss_sum)`` trains full batches
    k..stop-1 and returns (done, loss_sum, correct, status, loss), as the
    kernels do; the optimizer's step count follows."""

    def __init__(self, model, x, y, order, batch, epoch, track, weights=None):
        self.model = model
        self.row_weights, self.counts = _batch_weights(model, order, batch, weights)
        ws_bufs = model._train_buffers(batch)
        w, b, dw, db, codes, slopes = model._stack_params
        self.stack = (
            w,
            b,
            ws_bufs.stack_outs,
            ws_bufs.stack_douts,
            dw,
            db,
            codes,
            slopes,
        )
        self.kind = _KINDS[type(model.loss)]
        targets = ws_bufs.targets
        if self.kind == epoch_kernels.CROSS_ENTROPY:  # the unused pair: empty
            y = (y, np.empty((0, 1), model.dtype))
            bufs = (targets, np.empty((0, 1), model.dtype))
        else:
            y = (np.empty(0, np.int64), y)
            bufs = (np.empty(0, np.int64), targets)
        self.common = (x, y, order, float(model._input_multiplier))
        self.bufs = (ws_bufs.acts[0],) + bufs
        self.track = track
        self.lr = model.optimizer.lr_at(epoch)

    def run(self, start, stop, loss_sum):
        opt, model = self.model.optimizer, self.model
        x, y, order, scale = self.common
        bufs, kind = self.bufs, self.kind
        dtype = model.dtype
        largest = largest_finite(dtype)
        if type(opt) is optimizers.SGD:
            lr, momentum, damp_keep, wd, tiny = _scalar.sgd_scalars(
                dtype, self.lr, opt.momentum, opt.dampening, opt.weight_decay
            )
            velocity = opt.state.get("velocity") if opt.momentum else None
            done, loss_sum, correct, status, loss = epoch_kernels.sgd_steps(
                x, y, order, scale, start, stop, bufs, self.stack, self.track, kind,
                loss_sum, model.params, model.grads, velocity, opt.steps,
                (lr, momentum, damp_keep, wd, opt.nesterov, tiny, largest),
                self.row_weights, self.counts,
            )  # fmt: skip
        else:
            steps = np.arange(opt.steps + 1, opt.steps + 1 + stop - start)
            scalars = _adam_scalars(opt, dtype, self.lr, steps)
            step_sizes, corrections, constants = scalars
            done, loss_sum, correct, status, loss = epoch_kernels.adam_steps(
                x, y, order, scale, start, stop, bufs, self.stack, self.track, kind,
                loss_sum, model.params, model.grads, opt.state["m"], opt.state["v"],
                opt.decoupled, constants + (largest,), step_sizes, corrections,
                self.row_weights, self.counts,
            )  # fmt: skip
        # the step path counts a step before its update, refused or not
        opt.steps += done - start + (status == 2)
        return done, loss_sum, correct, status, loss


def _batch_weights(model, order, batch, weights):
    """(row weights, counts) for the epoch's full batches: each batch's
    weights rescaled to a weighted mean, and what its loss counts for in the
    epoch's sum, computed exactly as ``Sequential._set_batch_weights``
    computes them one batch at a time (sum in float64, the scale rounded to
    the model's dtype before it multiplies). Without weights: (None, rows)."""
    full = len(order) // batch
    if weights is None:
        return None, np.full(full, float(batch))
    rows = weights[order[: full * batch]].reshape(full, batch)
    totals = rows.sum(axis=1, dtype=np.float64)
    scales = np.zeros(full)
    np.divide(batch, totals, out=scales, where=totals > 0)
    dtype = model.dtype
    return rows * scales.astype(dtype)[:, None], totals


def _adam_scalars(opt, dtype, lr, steps):
    """Per-step bias corrections (arrays) and the constant scalars, each as
    ``_scalar.adam_scalars`` computes it for that step (in Python floats: a
    vectorised NumPy power can differ in the last bit, which float64 keeps)."""
    first = _scalar.adam_scalars(
        dtype, int(steps[0]), lr, opt.beta1, opt.beta2, opt.eps, opt.weight_decay
    )
    per_step = [
        _scalar.adam_bias_corrections(t, lr, opt.beta1, opt.beta2)
        for t in steps.tolist()
    ]
    pairs = np.array(per_step)  # (steps, 2), float64
    b1w, lerp_low, b2, b2_keep, eps, wd, decay_keep, _, _, tiny = first
    return (
        pairs[:, 0].astype(dtype),
        pairs[:, 1].astype(dtype),
        (b1w, lerp_low, b2, b2_keep, eps, wd, decay_keep, tiny),
    )


def plan(model, weights):
    """Whether ``fit`` may hand runs of full batches to the compiled loop."""
    return (
        model._backend.name == "cpu"
        and model._stack_params is not None
        and type(model.loss) in _KINDS
        and type(model.optimizer) in (optimizers.SGD, optimizers.Adam, optimizers.AdamW)
    )
