"""Kernels for a training step that runs with no host work between steps, so
a whole step can be captured once as a CUDA graph and replayed.

A replayed graph bakes in its launch arguments, so everything that changes
from step to step lives in device memory instead:

- ``state`` (int64): ``[STEP]`` the step within the run (it selects the batch
  rows of the shuffled ``order`` and the row of the hyperparameter table),
  ``[STOP]`` why the run stopped (0: running, ``LOSS_NOT_FINITE``,
  ``UPDATE_REFUSED``, ``BAD_LABEL``), ``[REFUSED]`` elements the current
  update refused (the divergence guard);
- ``table`` (param dtype, one row per step): the optimizer's scalars for
  that step, computed on the host exactly as the per-step path computes them
  (so both paths train bit for bit alike, and a new learning rate needs no
  re-capture);
- ``losses`` (float64, one per step): each step's mean loss.

Once ``state[STOP]`` is set, every later step of the run computes but
changes nothing (no update, no step advance): the host reads ``state`` when it
next synchronises and reports the failing step, with the weights from before
it, as the per-step path does. The per-parameter arithmetic is
``optim.py``'s (``sgd_at``/``adam_at``), only the scalars' source differs.
"""

import math

from .._cuda_api import cuda_module
from ._launch import _zero, grid_1d, launch_stream
from .gather import is_bytes
from .optim import adam_at, sgd_at

cuda = cuda_module()


STEP, STOP, REFUSED = 0, 1, 2
STATE_SIZE = 3
LOSS_NOT_FINITE, UPDATE_REFUSED, BAD_LABEL = 1, 2, 3

#: Columns of an SGD table row: the scalars of ``_scalar.sgd_scalars`` and a
#: first-step flag (1 on the optimizer's first step).
SGD_COLUMNS = ("lr", "momentum", "damp_keep", "weight_decay", "tiny", "first_step")
#: Columns of an Adam table row: ``_scalar.adam_scalars`` without ``lerp_low``
#: (a flag fixed by beta1, passed as an argument).
ADAM_COLUMNS = (
    "beta1_weight",
    "beta2",
    "beta2_keep",
    "eps",
    "weight_decay",
    "decay_keep",
    "step_size",
    "bias_correction2_sqrt",
    "tiny",
)


@cuda.jit
def _gather_step(source, order, state, batch, out, scale, bytes_in):
    """out[k, :] = source[order[state[STEP] * batch + k], :] * scale, narrowed
    to out's dtype before the product (as ``gather.py``, uint8 masked too)."""
    rows, width = out.shape
    base = state[STEP] * batch
    start, stride = cuda.grid(1), cuda.gridsize(1)
    for idx in range(start, rows * width, stride):
        k, j = idx // width, idx % width
        if bytes_in:
            out[k, j] = int(source[order[base + k], j]) & 0xFF
        else:
            out[k, j] = source[order[base + k], j]
        out[k, j] = out[k, j] * scale


@cuda.jit
def _finish_loss(acc, denominator, losses, state):
    """The step's mean loss into ``losses[step]``; a non-finite loss or a
    label out of range stops the run (one thread)."""
    if cuda.grid(1) != 0 or state[STOP] != 0:
        return
    loss = acc[0] / denominator
    losses[state[STEP]] = loss
    if acc[1] != 0:
        state[STOP] = BAD_LABEL
    elif not math.isfinite(loss):
        state[STOP] = LOSS_NOT_FINITE


@cuda.jit
def _sgd_step(param, grad, velocity, use_momentum, nesterov, table, state):
    if state[STOP] != 0:  # stopped before this update: change nothing
        return
    row = state[STEP]
    first_step = table[row, 5] != 0
    start, stride = cuda.grid(1), cuda.gridsize(1)
    for i in range(start, param.size, stride):
        if sgd_at(
            i,
            param,
            grad,
            velocity,
            use_momentum,
            first_step,
            table[row, 0],
            table[row, 1],
            table[row, 2],
            table[row, 3],
            nesterov,
            table[row, 4],
            True,
        ):
            cuda.atomic.add(state, REFUSED, 1)


@cuda.jit
def _adam_step(param, grad, m, v, decoupled, lerp_low, table, state):
    if state[STOP] != 0:
        return
    row = state[STEP]
    start, stride = cuda.grid(1), cuda.gridsize(1)
    for i in range(start, param.size, stride):
        if adam_at(
            i,
            param,
            grad,
            m,
            v,
            decoupled,
            table[row, 0],
            lerp_low,
            table[row, 1],
            table[row, 2],
            table[row, 3],
            table[row, 4],
            table[row, 5],
            table[row, 6],
            table[row, 7],
            table[row, 8],
            True,
        ):
            cuda.atomic.add(state, REFUSED, 1)


@cuda.jit
def _commit(state):
    """End of a step: a refused update stops the run, else the step advances
    (one thread; the stream orders it after the update)."""
    if cuda.grid(1) != 0 or state[STOP] != 0:
        return
    if state[REFUSED] != 0:
        state[STOP] = UPDATE_REFUSED
    else:
        state[STEP] += 1


def gather_step(source, order, state, batch, out, scale):
    """This step's batch rows of ``source`` (by the shuffled ``order``) into
    ``out``, times ``scale`` (of out's dtype); labels go as one-column rows
    with scale 1, as the per-step path's ``take_rows`` gathers them."""
    _gather_step[grid_1d(out.size)](
        source, order, state, batch, out, scale, is_bytes(source)
    )


def zero(acc):
    """acc[:] = 0, as a launch (capturable, unlike a host copy)."""
    _zero[grid_1d(acc.size)](acc)


def finish_loss(acc, denominator, losses, state):
    """losses[step] = acc[0] / denominator, stopping the run if it is not
    finite or if acc[1] counted bad labels."""
    _finish_loss[1, 1, launch_stream()](acc, float(denominator), losses, state)


def sgd_step(param, grad, velocity, use_momentum, nesterov, table, state):
    """One guarded SGD update with this step's table row (skipped once the
    run has stopped); ``velocity`` is a placeholder without momentum."""
    _sgd_step[grid_1d(param.size)](
        param, grad, velocity, use_momentum, nesterov, table, state
    )


def adam_step(param, grad, m, v, decoupled, lerp_low, table, state):
    """One guarded Adam/AdamW update with this step's table row."""
    _adam_step[grid_1d(param.size)](
        param, grad, m, v, decoupled, lerp_low, table, state
    )


def commit(state):
    """Advance the step, or stop the run if the update was refused."""
    _commit[1, 1, launch_stream()](state)
