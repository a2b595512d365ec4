"""An epoch of ``fastnn.sklearn``'s stochastic solvers in one compiled call.

The per-batch loop of ``BaseMLP._fit_stochastic`` enters Python for every
mini-batch (gather, fused forward/loss/backward, fused update, the loss sum);
on small networks that Python costs as much as the arithmetic.
:class:`CompiledEpochs` hands each epoch's batches, a shorter last one
included, to ``kernels.cpu.sklearn_mlp.stochastic_epoch`` instead. The
per-batch scalars (learning rates, L2 coefficients, weight sums, rescaled
row weights) are computed here with the very Python and NumPy expressions
the per-batch loop evaluates, so both paths train bit for bit alike.
"""

import numpy as np
import scipy.sparse as sp

from fastnn.kernels.cpu.sklearn_mlp import SOFTMAX, stochastic_epoch


class CompiledEpochs:
    """The epochs of one fit: built once per fit (never kept on the
    estimator, so copies and pickles are unaffected), ``run`` per epoch."""

    @staticmethod
    def applies(network, X, Y, dtype):
        """Whether a fit on (X, Y) can use the compiled epoch: a fused output
        (see ``Network.fused_output``) and dense C-ordered rows of the
        parameters' dtype (other input is converted batch by batch)."""
        return (
            network.fused_output(Y)
            and not sp.issparse(X)
            and X.dtype == dtype
            and X.flags.c_contiguous
        )

    def __init__(self, network, flat, grad, X, Y, sample_weight, batch_size):
        dtype = flat.dtype
        self.kind = network.output_kind()
        self.X, self.w, self.batch_size = X, sample_weight, batch_size
        self.full, self.tail = divmod(X.shape[0], batch_size)
        if self.kind == SOFTMAX:  # one-hot rows (LabelBinarizer)
            self.labels, self.targets = Y.argmax(axis=1), np.empty((0, 1), dtype)
        else:
            self.labels, self.targets = np.empty(0, np.intp), np.ascontiguousarray(Y)
        self.bufs = (
            np.empty((batch_size, X.shape[1]), dtype),
            np.empty(batch_size, np.intp),
            np.empty((batch_size, Y.shape[1]), dtype),
        )
        acts, deltas = network._buffers(batch_size, dtype)
        self.stack = network.stack(flat, grad, acts, deltas)
        # the shorter last batch: the same buffers, cut to its rows
        rows = self.tail or batch_size
        self.tail_bufs = tuple(b[:rows] for b in self.bufs)
        self.tail_stack = network.stack(
            flat, grad, [a[:rows] for a in acts], [d[:rows] for d in deltas]
        )
        self.flat, self.grad = flat, grad

    def _batch_weights(self, order, steps):
        """(weight sums, rescaled row weights or None) of the epoch's
        batches, as ``Network.backprop`` computes them for one batch."""
        rows = self.batch_size
        if self.w is None:
            sums = np.full(steps, float(rows))
            if self.tail:
                sums[-1] = float(self.tail)
            return sums, None
        sums = np.empty(steps)
        row_weights = np.empty((steps, rows), self.flat.dtype)
        for k in range(steps):
            batch = self.w[order[k * rows : (k + 1) * rows]]
            # a Python float, as there: a NumPy float64 would promote the
            # float32 product to float64 before it is rounded back
            total = float(batch.sum())
            sums[k] = total
            row_weights[k, : len(batch)] = batch * (len(batch) / total)
        return sums, row_weights

    def run(self, order, optimizer, n_coef, alpha):
        """Train one epoch over ``order``: (the sum of the batches'
        (loss + L2 penalty) x rows, the batches trained). The optimizer's
        state (step count, learning rate, moments) advances as after that
        many steps. Training stops before a batch whose fused loss is not
        finite (overflowing data or weights): the estimator trains the rest
        of the epoch batch by batch, as scikit-learn would."""
        steps = self.full + (self.tail > 0)
        w_sums, row_weights = self._batch_weights(order, steps)
        dtype = self.flat.dtype
        # optimizer.step casts alpha / w_sum (a Python float) to the dtype
        l2s = np.array([alpha / s for s in w_sums.tolist()], dtype)
        op, lrs, constants, state1, state2 = optimizer.epoch_scalars(steps)
        total, done = stochastic_epoch(
            self.X, self.labels, self.targets, order, self.kind, self.full,
            self.bufs, self.stack, self.tail_bufs, self.tail_stack, self.flat,
            self.grad, state1, state2, n_coef, op, lrs, constants, l2s,
            float(alpha), w_sums, row_weights,
        )  # fmt: skip
        optimizer.advance(done)
        return total, done
