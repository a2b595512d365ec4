"""An epoch's mini-batches in compiled calls (``kernels/cpu/epoch.py``) for
the common case: dense layers on the CPU, with or without Dropout between
them, cross-entropy, MSE or binary cross-entropy, SGD or Adam/AdamW, with or
without sample weights. ``fit`` hands such epochs here, in runs that return
to Python about every 0.1 s, and takes other models step by step; both paths
use the same kernels in the same order and draw the same dropout noise, so
training is bit for bit the same.
"""

import numpy as np

from fastnn import optimizers
from fastnn._model_params import dense_stage, dense_tuples
from fastnn.kernels import _scalar
from fastnn.kernels.cpu import epoch as epoch_kernels
from fastnn.kernels.cpu.optim import largest_finite
from fastnn.layers import Dropout
from fastnn.losses import MSE, BinaryCrossEntropy, CrossEntropy

#: The losses the compiled loop trains, as its ``kind`` codes.
_KINDS = {
    CrossEntropy: epoch_kernels.CROSS_ENTROPY,
    MSE: epoch_kernels.MSE,
    BinaryCrossEntropy: epoch_kernels.BINARY_CROSS_ENTROPY,
}

#: Dropout noise values drawn for one compiled call: a run of many steps
#: draws its noise in pieces of this many values (or one step's, when a
#: step needs more) rather than holding it all.
NOISE_VALUES = 2**21


class CompiledSteps:
    """One epoch's runner: ``run(k, stop, loss_sum)`` trains batches
    k..stop-1 of the epoch's ``steps`` (the shorter last batch included)
    and returns (done, loss_sum, correct, status, loss), as the kernels do;
    the optimizer's step count follows. ``noise_rng``: the epoch's dropout
    noise generator, drawn from as the step-by-step path draws."""

    def __init__(self, model, x, y, order, batch, epoch, track, weights, noise_rng):
        self.model = model
        n = len(order)
        self.batch, self.n = batch, n
        self.steps = -(-n // batch)
        self.row_weights, self.counts = _batch_weights(model, order, batch, weights)
        tuples, stages = _network(model)
        w, b, dw, db, codes, slopes = tuples
        self.kind = _KINDS[type(model.loss)]
        labels_kind = self.kind == epoch_kernels.CROSS_ENTROPY
        empty_labels = np.empty(0, np.int64)
        empty_values = np.empty((0, 1), model.dtype)
        batches = []
        for rows in (batch, n - (self.steps - 1) * batch):
            bufs = model._train_buffers(rows)
            targets = bufs.targets
            batches.append(
                (
                    (bufs.acts[0], targets, empty_values)
                    if labels_kind
                    else (bufs.acts[0], empty_labels, targets),
                    (w, b, bufs.stack_outs, bufs.stack_douts, dw, db, codes, slopes),
                )
            )
        self.batches = batches[0] + batches[1]
        y = (y, empty_values) if labels_kind else (empty_labels, y)
        self.common = (x, y, order, float(model._input_multiplier))
        self.stages, self.noise_rng = stages, noise_rng
        self.track = track
        self.lr = model.optimizer.lr_at(epoch)

    def run(self, start, stop, loss_sum):
        if self.stages is None:
            return self._run(start, stop, loss_sum, None)
        # dropout: each piece of the run gets the noise its steps draw
        per_row = self.stages[-1]  # 0: no Dropout, nothing to draw
        piece = NOISE_VALUES // (self.batch * per_row) if per_row else stop - start
        piece = max(1, piece)
        done, correct, status, loss = start, 0, 0, 0.0
        for lo in range(start, stop, piece):
            hi = min(stop, lo + piece)
            rows = min(hi * self.batch, self.n) - lo * self.batch
            noise = np.empty(rows * per_row, self.model.dtype)
            self.noise_rng.random(out=noise, dtype=noise.dtype)
            stages = self.stages[:-1] + (noise, per_row, lo)
            done, loss_sum, right, status, loss = self._run(lo, hi, loss_sum, stages)
            correct += right
            if status:
                break
        return done, loss_sum, correct, status, loss

    def _run(self, start, stop, loss_sum, stages):
        opt, model = self.model.optimizer, self.model
        x, y, order, scale = self.common
        batches, kind = self.batches, self.kind
        dtype = model.dtype
        largest = largest_finite(dtype)
        if type(opt) is optimizers.SGD:
            lr, momentum, damp_keep, wd, tiny = _scalar.sgd_scalars(
                dtype, self.lr, opt.momentum, opt.dampening, opt.weight_decay
            )
            velocity = opt.state.get("velocity") if opt.momentum else None
            done, loss_sum, correct, status, loss = epoch_kernels.sgd_steps(
                x, y, order, scale, start, stop, batches, self.track, kind,
                loss_sum, model.params, model.grads, velocity, opt.steps,
                (lr, momentum, damp_keep, wd, opt.nesterov, tiny, largest),
                self.row_weights, self.counts, stages,
            )  # fmt: skip
        else:
            steps = np.arange(opt.steps + 1, opt.steps + 1 + stop - start)
            scalars = _adam_scalars(opt, dtype, self.lr, steps)
            step_sizes, corrections, constants = scalars
            done, loss_sum, correct, status, loss = epoch_kernels.adam_steps(
                x, y, order, scale, start, stop, batches, self.track, kind,
                loss_sum, model.params, model.grads, opt.state["m"], opt.state["v"],
                opt.decoupled, constants + (largest,), step_sizes, corrections,
                self.row_weights, self.counts, stages,
            )  # fmt: skip
        # the step path counts a step before its update, refused or not
        opt.steps += done - start + (status == 2)
        return done, loss_sum, correct, status, loss


def _network(model):
    """(the dense layers' tuples, stages) for the kernels: stages None for a
    plain dense stack, else (kinds, dense layer index, dropout rates, noise
    offsets per row, noise values per row) of dense layers with Dropout
    between them; None for any other network."""
    if model._stack_params is not None:
        return model._stack_params, None
    if model._backend.name != "cpu" or model.grads is None:
        return None
    entries, kinds, index, rates, offsets = [], [], [], [], []
    per_row = 0
    for i, stage in enumerate(model._stages):
        entry = dense_stage(stage)
        if entry is not None:
            kinds.append(epoch_kernels.DENSE_STAGE)
            index.append(len(entries))
            entries.append(entry)
            rates.append(0.0)
            offsets.append(0)
        elif type(stage) is Dropout:
            kinds.append(epoch_kernels.DROPOUT_STAGE)
            index.append(-1)
            rates.append(stage.p)
            offsets.append(per_row)
            per_row += model._widths[i]
        else:
            return None
    stages = (
        np.array(kinds, np.int64),
        np.array(index, np.int64),
        np.array(rates, np.float64),
        np.array(offsets, np.int64),
        per_row,
    )
    return dense_tuples(entries), stages


def _batch_weights(model, order, batch, weights):
    """(row weights, counts) for the epoch's batches: each batch's weights
    rescaled to a weighted mean, and what its loss counts for in the epoch's
    sum, computed exactly as ``Sequential._set_batch_weights`` computes them
    one batch at a time (sum in float64, the scale rounded to the model's
    dtype before it multiplies); the shorter last batch's row weights fill
    the first entries of its row. Without weights: (None, each batch's
    row count)."""
    n = len(order)
    full, steps = n // batch, -(-n // batch)
    counts = np.full(steps, float(batch))
    counts[full:] = n - full * batch
    if weights is None:
        return None, counts
    dtype = model.dtype
    rows = weights[order[: full * batch]].reshape(full, batch)
    totals = rows.sum(axis=1, dtype=np.float64)
    scales = np.zeros(full)
    np.divide(batch, totals, out=scales, where=totals > 0)
    scaled = np.zeros((steps, batch), dtype)
    scaled[:full] = rows * scales.astype(dtype)[:, None]
    counts[:full] = totals
    if steps > full:  # the last batch, as _set_batch_weights takes it
        tail = weights[order[full * batch :]]
        total = float(np.sum(tail, dtype=np.float64))
        scale = len(tail) / total if total > 0 else 0.0
        scaled[full, : len(tail)] = (tail * scale).astype(dtype, copy=False)
        counts[full] = total
    return scaled, counts


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
    """Whether ``fit`` may hand its epochs to the compiled loop."""
    return (
        model._backend.name == "cpu"
        and type(model.loss) in _KINDS
        and type(model.optimizer) in (optimizers.SGD, optimizers.Adam, optimizers.AdamW)
        and _network(model) is not None
    )
