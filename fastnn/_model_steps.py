"""How batches run through the kernels, for ``Sequential``: the forward and
backward passes, the loss and its gradient, the guarded optimizer update, the
batch weights and dropout noise, the checks of input arrays, the training
workspace, and the loops of ``evaluate``/``predict`` over batches.

``Sequential`` inherits these as a mixin (``BatchSteps``) so that model.py
keeps to the public training API; ``fit`` (``fastnn.training``), the
compiled epochs and data-parallel training call the same methods, so every
path shares one implementation of a step.
"""

from __future__ import annotations

import math
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from fastnn import _inputs
from fastnn._divergence import diverged
from fastnn._workspace import Workspace
from fastnn.kernels.cpu.dense import (
    dense_stack_cross_entropy_step,
    dense_stack_forward,
)
from fastnn.losses import CrossEntropy, Loss


class BatchSteps:
    """The batch-level machinery of ``Sequential`` (see the module docstring);
    it reads the model's attributes (``_backend``, ``_stages``,
    ``_stack_params``, ``params``, ``grads``, ``loss``, ``optimizer``...)."""

    # what the checks below read of the model (set by Sequential.__init__)
    loss: Loss | None
    in_features: int
    out_features: int
    dtype: np.dtype[Any]

    # The input of a step is passed as ``x`` (the first stage only reads it);
    # ``bufs.acts[0]`` is merely where fit gathers a batch and where a device
    # copy of the input lives.
    def _forward(self, bufs, x, training):
        acts = bufs.acts
        if self._stack_params is not None:  # a plain dense stack: one kernel call
            weights, biases, _, _, codes, slopes = self._stack_params
            dense_stack_forward(x, weights, biases, bufs.stack_outs, codes, slopes)
            return
        ops = self._backend.ops
        for i, stage in enumerate(self._stages):
            stage.forward(ops, x if i == 0 else acts[i], acts[i + 1], training)

    def _backward(self, bufs, x):
        ops = self._backend.ops
        acts, grads = bufs.acts, bufs.grads
        for i in range(len(self._stages) - 1, -1, -1):
            self._stages[i].backward(
                ops, x if i == 0 else acts[i], acts[i + 1], grads[i + 1], grads[i]
            )

    def _readable_input(self, bufs, x_rows):
        """The array the kernels read for rows of checked input (any real
        dtype, C-contiguous): on the CPU the rows themselves when they are of
        the model's dtype and unscaled (no copy), else their conversion into
        the batch's input buffer."""
        if (
            self._backend.name == "cpu"
            and x_rows.dtype == self.dtype
            and self.input_scale is None
        ):
            return x_rows
        self._backend.convert_inputs(x_rows, bufs.acts[0], self._input_multiplier)
        return bufs.acts[0]

    @property
    def _input_multiplier(self):
        return 1.0 if self.input_scale is None else self.input_scale

    def _infer(self, bufs, x_rows):
        """Inference-mode forward on rows of checked input."""
        self._forward(bufs, self._readable_input(bufs, x_rows), training=False)

    def _train_step(self, bufs, x, epoch, step=None, history=None, weighted=False):
        """Forward, loss, backward and one optimizer update on the batch whose
        input is ``x`` and whose targets (and, ``weighted``, row weights from
        ``_set_batch_weights``) are in ``bufs``."""
        loss = self._loss_and_gradients(bufs, x, weighted)
        if not math.isfinite(loss):
            raise diverged("loss", loss, epoch, step, history)
        self._update(loss, epoch, step, history)
        return loss

    def _loss_and_gradients(self, bufs, x, weighted):
        """The batch's loss, with its gradient left in ``self.grads`` (not
        meaningful when the loss is not finite)."""
        ops = self._backend.ops
        row_weights = bufs.weights if weighted else None
        fused = self._stack_params is not None and isinstance(self.loss, CrossEntropy)
        if fused:  # forward, loss and backward in one kernel call
            weights, biases, dweights, dbiases, codes, slopes = self._stack_params
            loss = dense_stack_cross_entropy_step(
                x,
                bufs.targets,
                weights,
                biases,
                bufs.stack_outs,
                bufs.stack_douts,
                dweights,
                dbiases,
                codes,
                slopes,
                row_weights,
            )
        else:
            self._forward(bufs, x, training=True)
            loss = self.loss(
                ops, bufs.acts[-1], bufs.targets, bufs.grads[-1], row_weights
            )
        if not fused:
            self._backward(bufs, x)
        return loss

    def _update(self, loss, epoch, step=None, history=None):
        """One optimizer step from ``self.grads``; an update that would make a
        parameter non-finite is refused and raises DivergenceError."""
        ops = self._backend.ops
        refused = self.optimizer.step(ops, self.params, self.grads, epoch, guard=True)
        if refused:
            raise diverged("update", loss, epoch, step, history)

    def _check_xy(
        self, x: Any, y: Any, name_x: str = "x", name_y: str = "y"
    ) -> tuple[npt.NDArray[Any], npt.NDArray[Any]]:
        x = self._check_x(x, name_x)
        loss = cast(Loss, self.loss)  # callers have compiled (or set) the loss
        if loss.target_kind == "labels":
            y = _inputs.labels(y, x.shape[0], self.out_features, name_y)
        else:
            y = _inputs.targets(
                y,
                x.shape[0],
                self.out_features,
                self.dtype,
                name_y,
                loss.target_range,
            )
        return x, y

    def _check_x(self, x: Any, name: str = "x") -> npt.NDArray[Any]:
        """Checked features, kept in their own real dtype (uint8 images stay
        uint8): each batch is converted, and scaled, as it is read."""
        return _inputs.features(
            x, self.in_features, self.dtype, name, scale=self._input_multiplier
        )

    def _check_weights(self, sample_weight, class_weight, y):
        """Per-sample loss weights (model dtype) from fit's ``sample_weight``
        and ``class_weight``, or None when both are None."""
        kind = self.loss.target_kind
        return _inputs.sample_weights(
            sample_weight, class_weight, y, self.out_features, self.dtype, kind
        )

    def _set_batch_weights(self, bufs, batch_weights):
        """Put the batch's row weights, rescaled to a weighted mean
        (w * B / sum(w), scikit-learn's convention), into ``bufs.weights``;
        return sum(w). A batch of zero weights moves nothing (all zero)."""
        total = float(np.sum(batch_weights, dtype=np.float64))
        scale = len(batch_weights) / total if total > 0 else 0.0
        self._backend.copy_into(
            bufs.weights, (batch_weights * scale).astype(self.dtype, copy=False)
        )
        return total

    def _draw_noise(self, bufs, rng):
        for stage, noise in zip(self._stages, bufs.noise):
            if noise is not None:
                self._backend.fill_uniform(rng, noise)
                stage.noise = noise

    def _train_buffers(self, rows):
        """Training buffers for ``rows`` rows: views of the one training
        workspace, regrown (never kept twice) when a larger batch arrives."""
        ws = self._train_ws
        if ws is None or ws.capacity < rows or ws.layout != self._layout:
            ws = self._train_ws = None  # free the old buffers before allocating
            ws = self._train_ws = Workspace(self, rows, with_grads=True)
        return ws.rows(rows)

    def _evaluate_arrays(self, x, y, batch_size, weights=None):
        sums = self._evaluate_sums(x, y, batch_size, weights)
        return self._evaluate_result(len(x), *sums)

    def _evaluate_sums(self, x, y, batch_size, weights=None):
        """(loss_sum, denominator, correct) over checked (x, y): the sum of
        the per-row losses and n, or with ``weights`` the sums of w_i l_i and
        of w_i; ``correct`` counts right predictions when "accuracy" is a
        metric (else 0). Sums of chunks add up to the sums of their union."""
        be, ops = self._backend, self._backend.ops
        n = len(x)
        batch = _inputs.batch_size(batch_size, n)
        x_dev, y_dev = be.to_device(x), be.to_device(y)
        loss_sum, correct = 0.0, 0
        ws = self._infer_pool.acquire(self, min(batch, n))
        try:
            for lo in range(0, n, batch):
                hi = min(n, lo + batch)
                bufs = ws.rows(hi - lo)
                be.copy_into(bufs.targets, y_dev[lo:hi])
                self._infer(bufs, x_dev[lo:hi])
                outputs = bufs.acts[-1]
                if weights is None:
                    loss = self.loss(ops, outputs, bufs.targets, None)
                    loss_sum += loss * (hi - lo)
                else:  # weighted: sum(w l) over the chunk, divided below
                    w_sum = self._set_batch_weights(bufs, weights[lo:hi])
                    loss = self.loss(ops, outputs, bufs.targets, None, bufs.weights)
                    loss_sum += loss * w_sum
                if "accuracy" in self.metrics:
                    correct += self.loss.correct(ops, outputs, bufs.targets)
        finally:
            self._infer_pool.release(self, ws)
        denominator = n if weights is None else float(np.sum(weights, dtype=np.float64))
        return loss_sum, denominator, correct

    def _evaluate_result(self, n, loss_sum, denominator, correct):
        """``evaluate``'s dict from the sums of ``_evaluate_sums`` over n rows."""
        result = {"loss": loss_sum / denominator}
        if "accuracy" in self.metrics:
            result["accuracy"] = correct / (n * self._accuracy_units())
        return result

    def _predict_rows(self, ws, x_rows):
        """Outputs for checked rows on the host (a view of the workspace on
        the CPU); on the GPU through a recorded forward pass."""
        if self._backend.name == "cuda":
            from fastnn import _cuda_graphs

            if _cuda_graphs.enabled():
                return _cuda_graphs.forward_graph(self, ws, len(x_rows))(x_rows)
        bufs = ws.rows(len(x_rows))
        self._infer(bufs, x_rows)
        return self._backend.to_host(bufs.acts[-1])
