"""One epoch of data-parallel training: every rank takes its share of each
global mini-batch, computes that share's gradient, and one Allreduce of the
flat gradient buffer gives every rank the gradient of the whole batch, so
every rank applies the same update.

Why it equals one process with the same global batch: a batch of m rows with
weights w (1 without sample weights) minimises sum(w_i l_i) / W, W = sum(w).
A rank holding rows R_r sets its row weights to w_i * |R_r| / W; the kernels
take the mean over their |R_r| rows, so each rank's loss and gradient are its
part of sum(w_i l_i) / W, and their sum (the Allreduce) is the batch's.
Shuffling, dropout noise and the last short batch follow the one-process
stream exactly (every rank draws the whole batch's noise and keeps its rows),
so results differ only by the order of floating-point sums.
"""

import math
import time

import numpy as np

from fastnn import training
from fastnn._divergence import diverged
from fastnn._mpi import fingerprint, mpi


class GradientReducer:
    """Sums the flat gradient buffer over the ranks, in place.

    Host arrays go to MPI as they are. Device arrays are staged through one
    host buffer (copy down, Allreduce, copy up), or, with ``cuda_aware``,
    handed to a CUDA-aware MPI directly (``__cuda_array_interface__``).
    """

    def __init__(self, comm, backend, grads, cuda_aware=False):
        self.comm = comm
        self._in_place = mpi().IN_PLACE
        self.seconds = 0.0  # spent in the reduction, for the logs
        self._host = None
        if backend.name != "cpu" and not cuda_aware:
            self._host = _staging_buffer(grads.shape[0], np.dtype(grads.dtype))

    def __call__(self, grads, stats):
        """Sum ``grads`` (in place) and the float64 ``stats`` over the ranks."""
        in_place = self._in_place
        began = time.perf_counter()
        if self._host is None:
            self.comm.Allreduce(in_place, grads)
        else:
            grads.copy_to_host(self._host)
            self.comm.Allreduce(in_place, self._host)
            grads.copy_to_device(self._host)
        self.comm.Allreduce(in_place, stats)
        self.seconds += time.perf_counter() - began


def _staging_buffer(size, dtype):
    """Page-locked host memory for the GPU staging copies when available."""
    from fastnn.kernels._cuda_api import cuda_module

    cuda = cuda_module()
    try:
        return cuda.pinned_array(size, dtype)
    except Exception:  # noqa: BLE001 - the simulator has no pinned memory
        return np.empty(size, dtype)


def shard(lo, hi, rank, size):
    """Rank ``rank``'s rows [a, b) of the global batch [lo, hi): contiguous
    pieces whose lengths differ by at most one (a piece may be empty)."""
    m = hi - lo
    return lo + m * rank // size, lo + m * (rank + 1) // size


def train_epoch(
    dp, x_dev, y_dev, batch, epoch, last_epoch, seed, shuffle, history, weights,
    show_bar,
):  # fmt: skip
    """One epoch on this rank's shares; returns the epoch's logs, reduced
    over all ranks (the same dict on every rank). The arguments as
    ``training._train_epoch`` takes them."""
    model, be, comm = dp.model, dp.model._backend, dp.comm
    n = len(x_dev)
    order, noise_rng = training.epoch_streams(seed, epoch, n, shuffle)
    order_dev = be.to_device(order)
    track_accuracy = "accuracy" in model.metrics
    reduce = dp._reducer
    reduce.seconds = 0.0
    stats = np.zeros(2)  # this batch's loss share and correct predictions
    loss_sum, total, correct = 0.0, 0.0, 0.0
    start = time.perf_counter()
    steps = math.ceil(n / batch)
    with training.progress_bar(steps, epoch, last_epoch, show_bar) as bar:
        for k in range(steps):
            lo, hi = k * batch, min(n, (k + 1) * batch)
            a, b = shard(lo, hi, comm.rank, comm.size)
            batch_weight = (
                float(hi - lo)
                if weights is None
                else float(np.sum(weights[order[lo:hi]], dtype=np.float64))
            )
            stats[:] = 0.0
            if b > a:
                bufs = model._train_buffers(b - a)
                be.gather_inputs(
                    x_dev, order_dev[a:b], bufs.acts[0], model._input_multiplier
                )
                be.take_rows(y_dev, order_dev[a:b], bufs.targets)
                _draw_noise_rows(model, bufs, noise_rng, hi - lo, a - lo, b - lo)
                row_weights = (
                    np.ones(b - a) if weights is None else weights[order[a:b]]
                ).astype(np.float64)
                scale = (b - a) / batch_weight if batch_weight > 0 else 0.0
                be.copy_into(bufs.weights, (row_weights * scale).astype(model.dtype))
                stats[0] = model._loss_and_gradients(bufs, bufs.acts[0], weighted=True)
                if track_accuracy:
                    stats[1] = model.loss.correct(be.ops, bufs.acts[-1], bufs.targets)
            else:  # fewer rows than ranks in the last batch: nothing to add
                _draw_noise_rows(model, None, noise_rng, hi - lo, 0, 0)
                be.copy_into(model.grads, np.zeros(model.grads.shape[0], model.dtype))
            reduce(model.grads, stats)
            loss = float(stats[0])
            if not math.isfinite(loss):  # the same sum on every rank
                raise diverged("loss", loss, epoch, k, history)
            model._update(loss, epoch, k, history)
            loss_sum += loss * batch_weight
            total += batch_weight
            correct += float(stats[1])
            dp._steps_done += 1
            bar.update(1)
            if dp.check_every and dp._steps_done % dp.check_every == 0:
                dp.check_replicas()
    be.synchronize()
    logs = {"loss": loss_sum / total if total else 0.0}
    if track_accuracy:
        logs["accuracy"] = correct / (n * model._accuracy_units())
    logs["time_s"] = time.perf_counter() - start
    logs["allreduce_s"] = reduce.seconds
    return logs


def _draw_noise_rows(model, bufs, rng, m, a, b):
    """Dropout noise for rows [a, b) of an m-row batch: the whole batch's
    noise is drawn, as one process draws it, and this rank's rows kept, so
    the generator's stream (and every mask) matches a single process."""
    be = model._backend
    for i, stage in enumerate(model._stages):
        if not stage.needs_noise:
            continue
        width = model._widths[i]
        noise = np.empty((m, width), model.dtype)
        rng.random(out=noise, dtype=noise.dtype)
        if bufs is not None:
            be.copy_into(bufs.noise[i], noise[a:b])
            stage.noise = bufs.noise[i]


def evaluate_shard(dp, x, y, batch_size, weights):
    """``model.evaluate`` over (x, y) with each rank taking a contiguous
    share of the rows: each rank's ``_evaluate_sums``, summed over the
    ranks, give the same dict on every rank."""
    model, comm = dp.model, dp.comm
    a, b = shard(0, len(x), comm.rank, comm.size)
    sums = np.zeros(3)  # loss sum, its denominator, correct predictions
    if b > a:
        w = None if weights is None else weights[a:b]
        sums[:] = model._evaluate_sums(x[a:b], y[a:b], batch_size, w)
    comm.Allreduce(dp._mpi.IN_PLACE, sums)
    return model._evaluate_result(len(x), *sums)


def replicas_agree(dp):
    """Collective: whether every rank's parameters are bit-for-bit equal."""
    crc = fingerprint(dp.model._backend, dp.model.params)
    return len(set(dp.comm.allgather(crc))) == 1
