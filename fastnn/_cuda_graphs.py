"""GPU training and inference with no host work between kernel launches,
replayed as CUDA graphs where CuPy can capture them.

Training: ``fit`` hands an epoch's full mini-batches of a model on the GPU
(layers without dropout noise, cross-entropy, SGD or Adam/AdamW, no sample
weights) to :class:`GraphSteps`. One step (batch gather, forward, loss,
backward, guarded update) is recorded once per (model, data, batch size) by
:class:`_StepProgram` and replayed each step; what changes between steps (the
step number, the optimizer's scalars, the losses, the stop flag) lives in
device memory (``kernels/cuda/graph_step.py``). The host reads back once per
run of steps instead of once per step. Without capture (the simulator, no
CuPy) the same launches run eagerly, with the same results; both train bit
for bit like the per-step path (``FASTNN_CUDA_GRAPHS=off``).

Inference: :func:`forward_graph` records a forward pass over a workspace's
rows, so ``predict`` on the GPU is one host-to-device copy, one graph launch
and one copy back per chunk.
"""

import numpy as np

from fastnn import layers, optimizers
from fastnn.kernels import _config, _scalar
from fastnn.kernels.cuda import graph_step, graphs, losses, metrics
from fastnn.kernels.cuda._launch import grid_1d, placeholder
from fastnn.losses import CrossEntropy


def enabled():
    """Whether the GPU graph paths are on (``FASTNN_CUDA_GRAPHS`` is not off)."""
    return _config.CUDA_GRAPHS != "off"


def plan(model, weights):
    """Whether ``fit`` may hand runs of full batches to :class:`GraphSteps`."""
    return (
        model._backend.name == "cuda"
        and enabled()
        and type(model.loss) is CrossEntropy
        and weights is None
        and type(model.optimizer) in (optimizers.SGD, optimizers.Adam, optimizers.AdamW)
        and not any(isinstance(layer, layers.Dropout) for layer in model.layers)
    )


def _host_array(values, dtype):
    return np.ascontiguousarray(np.asarray(values, dtype=dtype))


def sgd_table(opt, dtype, lr, first_step, steps):
    """(steps, 6) rows of ``graph_step.SGD_COLUMNS`` for optimizer steps
    first_step, first_step + 1, ...: the per-step path's scalars."""
    scalars = _scalar.sgd_scalars(
        dtype, lr, opt.momentum, opt.dampening, opt.weight_decay
    )
    table = np.empty((steps, len(graph_step.SGD_COLUMNS)), dtype)
    table[:, :5] = scalars
    table[:, 5] = [t == 1 for t in range(first_step, first_step + steps)]
    return table


def adam_table(opt, dtype, lr, first_step, steps):
    """(steps, 9) rows of ``graph_step.ADAM_COLUMNS``, each from
    ``_scalar.adam_scalars`` for that step (as the per-step path)."""
    table = np.empty((steps, len(graph_step.ADAM_COLUMNS)), dtype)
    for row, t in enumerate(range(first_step, first_step + steps)):
        scalars = _scalar.adam_scalars(
            dtype, t, lr, opt.beta1, opt.beta2, opt.eps, opt.weight_decay
        )
        table[row] = scalars[:1] + scalars[2:]  # lerp_low is an argument
    return table


class _StepProgram:
    """One recorded training step over fixed buffers, replayed per step."""

    def __init__(self, model, x_dev, y_dev, n, batch, track):
        be = model._backend
        self.model, self.batch, self.track = model, batch, track
        self.steps = n // batch
        self.bufs = model._train_buffers(batch)
        self.x_dev, self.y_dev = x_dev, y_dev
        self.order = be.zeros((n,), np.int64)  # valid rows for the warm-up
        self.state = be.zeros((graph_step.STATE_SIZE,), np.int64)
        self.acc = be.zeros((2,), np.float64)
        self.losses = be.zeros((self.steps,), np.float64)
        self.correct = be.zeros((1,), np.int64)
        opt = model.optimizer
        width = len(
            graph_step.SGD_COLUMNS
            if type(opt) is optimizers.SGD
            else graph_step.ADAM_COLUMNS
        )
        self.table = be.zeros((self.steps, width), model.dtype)
        self.key = _program_key(model, x_dev, y_dev, batch, track)
        self.stream = graphs.LaunchStream()
        # the warm-up launch (compiles, creates placeholders) must change
        # nothing: with the stop flag set, no update, loss or step advance
        self._upload(self.state, np.array([0, 1, 0], np.int64))
        self.sequence = graphs.LaunchSequence(self._launches, self.stream)
        self.stream.synchronize()

    def _upload(self, device, host):
        device.copy_to_device(host, stream=self.stream.numba)

    def _launches(self):
        model, bufs, state = self.model, self.bufs, self.state
        x = bufs.acts[0]
        scale = np.dtype(model.dtype).type(model._input_multiplier)
        graph_step.gather_step(self.x_dev, self.order, state, self.batch, x, scale)
        graph_step.gather_step(
            self.y_dev.reshape((self.y_dev.shape[0], 1)),
            self.order,
            state,
            self.batch,
            bufs.targets.reshape((self.batch, 1)),
            np.int64(1),
        )
        graph_step.zero(self.acc)
        model._forward(bufs, x, training=True)
        logits = bufs.acts[-1]
        losses._softmax_cross_entropy[grid_1d(logits.shape[0])](
            logits,
            bufs.targets,
            bufs.grads[-1],
            True,
            placeholder(logits.dtype),
            False,
            self.acc,
        )
        graph_step.finish_loss(self.acc, logits.shape[0], self.losses, state)
        model._backward(bufs, x)
        opt, params, grads = model.optimizer, model.params, model.grads
        if type(opt) is optimizers.SGD:
            use_momentum = opt.momentum != 0
            velocity = (
                opt.state["velocity"] if use_momentum else placeholder(params.dtype)
            )
            graph_step.sgd_step(
                params, grads, velocity, use_momentum, opt.nesterov, self.table, state
            )
        else:
            lerp_low = abs(1 - opt.beta1) < 0.5
            graph_step.adam_step(
                params, grads, opt.state["m"], opt.state["v"],
                opt.decoupled, lerp_low, self.table, state,
            )  # fmt: skip
        if self.track:
            metrics._count_correct[grid_1d(logits.shape[0])](
                logits, bufs.targets, self.correct
            )
        graph_step.commit(state)

    def begin_epoch(self, order, table):
        """New shuffled order and optimizer rows; step and stop flag reset."""
        self._upload(self.order, _host_array(order, np.int64))
        self._upload(self.table, table)
        self._upload(self.state, np.zeros(graph_step.STATE_SIZE, np.int64))
        self._upload(self.correct, np.zeros(1, np.int64))

    def read(self, lo, hi):
        """(state, losses[lo:hi], correct) after synchronising."""
        self.stream.synchronize()
        return (
            self.state.copy_to_host(),
            self.losses[lo:hi].copy_to_host() if hi > lo else np.empty(0),
            int(self.correct.copy_to_host()[0]),
        )


def _program_key(model, x_dev, y_dev, batch, track):
    """What a recorded step depends on: every buffer it reads or writes and
    every flag baked into its launches (held, so ids are not reused)."""
    opt = model.optimizer
    buffers = (x_dev, y_dev, model.params, model.grads, model._train_ws)
    buffers += tuple(opt.state.get(name) for name in opt.state_names)
    flags = (
        batch,
        track,
        type(opt),
        getattr(opt, "momentum", 0) != 0,
        getattr(opt, "nesterov", False),
        abs(1 - getattr(opt, "beta1", 0.0)) < 0.5,
        model._input_multiplier,
        model._layout,
        _config.CUDA_GRAPHS,
    )
    return tuple(id(b) for b in buffers) + flags, buffers


def _program(model, x_dev, y_dev, n, batch, track):
    """The model's recorded step for these buffers, recorded on first use."""
    program = model._graph_program
    key = _program_key(model, x_dev, y_dev, batch, track)[0]
    if program is None or program.key[0] != key or program.steps != n // batch:
        model._graph_program = None  # drop the old buffers first
        program = model._graph_program = _StepProgram(
            model, x_dev, y_dev, n, batch, track
        )
    return program


class GraphSteps:
    """One epoch's runner with ``_compiled_epoch.CompiledSteps``'s interface:
    ``run(k, stop, loss_sum)`` trains full batches k..stop-1 (``steps``
    of them) and returns (done, loss_sum, correct, status, loss); the
    optimizer's step count follows, as on the per-step path (a refused
    update counts its step)."""

    def __init__(self, model, x_dev, y_dev, order, batch, epoch, track):
        self.model, self.batch = model, batch
        self.steps = len(order) // batch  # the shorter last batch: step by step
        self.program = _program(model, x_dev, y_dev, len(order), batch, track)
        opt = model.optimizer
        make_table = sgd_table if type(opt) is optimizers.SGD else adam_table
        table = make_table(
            opt, model.dtype, opt.lr_at(epoch), opt.steps + 1, self.program.steps
        )
        self.program.begin_epoch(order, table)
        self.correct_so_far = 0
        seq = self.program.sequence
        model._graph_report["fit"] = "captured" if seq.captured else seq.reason

    def run(self, start, stop, loss_sum):
        program = self.program
        program.stream.wait_default()  # after any per-step work on the device
        for _ in range(stop - start):
            program.sequence.launch()
        state, losses_host, correct = program.read(start, stop)
        done, status = int(state[graph_step.STEP]), int(state[graph_step.STOP])
        for loss in losses_host[: done - start].tolist():
            loss_sum += loss * self.batch
        right, self.correct_so_far = correct - self.correct_so_far, correct
        loss = float(losses_host[done - start]) if status else None
        if status == graph_step.BAD_LABEL:  # labels are checked before fit
            raise ValueError("labels: a value is outside [0, n_classes)")
        self.model.optimizer.steps += (
            done - start + (status == graph_step.UPDATE_REFUSED)
        )
        return done, loss_sum, right, status, loss


class ForwardGraph:
    """A recorded inference forward pass over one workspace's rows. With
    CuPy, the input and output copies (through page-locked host buffers of
    its own) are recorded too: a call is one graph launch and one wait."""

    def __init__(self, model, bufs):
        self.model, self.bufs = model, bufs
        self.params = model.params
        self.stream = graphs.LaunchStream()
        self.host_in = self.host_out = None
        if self.stream.cupy is not None:
            self.host_in = graphs.pinned_array(bufs.acts[0].shape, model.dtype)
            self.host_out = graphs.pinned_array(bufs.acts[-1].shape, model.dtype)
        self.sequence = graphs.LaunchSequence(self._launches, self.stream)
        self.stream.synchronize()

    def _launches(self):
        bufs = self.bufs
        if self.host_in is not None:
            graphs.copy_async(bufs.acts[0], self.host_in, self.stream)
        self.model._forward(bufs, bufs.acts[0], training=False)
        if self.host_out is not None:
            graphs.copy_async(self.host_out, bufs.acts[-1], self.stream)

    def __call__(self, x_rows):
        """Outputs for host rows ``x_rows`` (checked, any real dtype) as a
        new array, converted to the model's dtype as ``convert_inputs`` does."""
        model, bufs, stream = self.model, self.bufs, self.stream
        stream.wait_default()
        if self.host_in is None:  # no CuPy: the default stream, eagerly
            model._backend.convert_inputs(x_rows, bufs.acts[0], model._input_multiplier)
            self.sequence.launch()
            return bufs.acts[-1].copy_to_host()
        dtype = np.dtype(model.dtype)  # the product convert_inputs computes
        np.multiply(
            x_rows, dtype.type(model._input_multiplier), out=self.host_in, dtype=dtype
        )
        self.sequence.launch()
        stream.synchronize()
        return self.host_out.copy()


def forward_graph(model, ws, rows):
    """The workspace's recorded forward pass for ``rows`` rows (recorded on
    first use; re-recorded if the model's parameters were reallocated)."""
    graphs_by_rows = ws.__dict__.setdefault("forward_graphs", {})
    graph = graphs_by_rows.get(rows)
    if graph is None or graph.params is not model.params:
        if len(graphs_by_rows) >= 8:  # bounded: a graph per batch size seen
            graphs_by_rows.clear()
        graph = graphs_by_rows[rows] = ForwardGraph(model, ws.rows(rows))
    model._graph_report["predict"] = (
        "captured" if graph.sequence.captured else graph.sequence.reason
    )
    return graph
