"""Workspaces: the activation, gradient, target and noise buffers of a model's
steps, allocated once and reused so a step allocates nothing.

A workspace holds buffers for up to ``capacity`` rows; a step on fewer rows
uses views of their first rows (C-contiguous, as the kernels require), so one
workspace serves every batch size up to its capacity and memory stays bounded
whatever row counts a user sends.

Inference workspaces come from a ``WorkspacePool``, one per call: concurrent
``predict``/``evaluate`` calls in several threads never share a buffer (the
kernels release the GIL, so shared buffers would mix their results), and no
lock serialises them. Training has one workspace of its own, used under the
model's training lock.
"""

import threading

import numpy as np

#: Row counts whose views a workspace keeps ready (a fit uses two: the batch
#: size and the last, shorter batch); past this the views are rebuilt.
VIEW_CACHE_SIZE = 8
#: Idle inference workspaces a pool keeps for later calls.
POOL_KEEP = 4
#: An idle workspace larger than this is freed rather than kept (a one-off
#: predict with a huge batch_size should not pin its memory).
POOL_KEEP_BYTES = 64 * 2**20


class StepBuffers:
    """Views of a workspace for one row count: ``acts[i]`` the input of stage
    i (``acts[-1]`` the output), ``grads[i]`` dL/d``acts[i]`` (None where not
    needed), ``noise[i]`` the dropout noise of stage i, ``targets``, and
    ``weights``: the rows' loss weights when training with sample weights."""

    def __init__(self, acts, grads, noise, targets, weights):
        self.acts = acts
        self.grads = grads
        self.noise = noise
        self.targets = targets
        self.weights = weights
        self.has_noise = any(n is not None for n in noise)
        self.stack_outs = tuple(acts[1:])
        self.stack_douts = tuple(grads[1:])


def _rows(array, n):
    return None if array is None else array[:n]


class Workspace:
    """Buffers for up to ``capacity`` rows of one model's layout."""

    def __init__(self, model, capacity, with_grads):
        be, dtype, widths = model._backend, model.dtype, model._widths
        self.capacity = int(capacity)
        self.layout = model._layout
        # acts[0] receives gathered or converted input rows (CPU inference
        # reads rows already of the model's dtype in place instead)
        self._acts = [be.empty((capacity, w), dtype) for w in widths]
        # grads[0] (dL/dx of the input) is never needed; inference needs none
        self._grads = [None] + [
            be.empty((capacity, w), dtype) if with_grads else None for w in widths[1:]
        ]
        self._noise = [
            be.empty((capacity, widths[i]), dtype)
            if with_grads and stage.needs_noise
            else None
            for i, stage in enumerate(model._stages)
        ]
        if model.loss is not None and model.loss.target_kind == "labels":
            self._targets = be.empty((capacity,), np.int64)
        else:
            self._targets = be.empty((capacity, widths[-1]), dtype)
        self._weights = be.empty((capacity,), dtype)
        arrays = self._acts + self._grads + self._noise + [self._targets]
        self.nbytes = sum(a.nbytes for a in arrays if a is not None)
        self._views = {}

    def rows(self, n):
        """StepBuffers for ``n`` <= capacity rows (views, cached per n)."""
        bufs = self._views.get(n)
        if bufs is None:
            if len(self._views) >= VIEW_CACHE_SIZE:
                self._views.clear()
            bufs = self._views[n] = StepBuffers(
                [_rows(a, n) for a in self._acts],
                [_rows(g, n) for g in self._grads],
                [_rows(u, n) for u in self._noise],
                self._targets[:n],
                self._weights[:n],
            )
        return bufs


class WorkspacePool:
    """Inference workspaces handed out one per call and taken back after.

    ``list.pop``/``list.append`` are atomic, so acquiring and releasing need
    no lock; a burst of concurrent calls allocates one workspace each, and at
    most ``POOL_KEEP`` of them are kept afterwards.
    """

    def __init__(self):
        self._free = []

    def acquire(self, model, rows):
        """A workspace of ``model``'s current layout for at least ``rows`` rows."""
        try:
            ws = self._free.pop()
        except IndexError:
            ws = None
        if ws is None or ws.capacity < rows or ws.layout != model._layout:
            ws = Workspace(model, rows, with_grads=False)
        return ws

    def release(self, model, ws):
        if (
            len(self._free) < POOL_KEEP
            and ws.nbytes <= POOL_KEEP_BYTES
            and ws.layout == model._layout
        ):
            self._free.append(ws)

    def clear(self):
        self._free = []

    def __len__(self):
        return len(self._free)


class TrainingGuard:
    """The lock one model's training holds: a second concurrent ``fit`` or
    ``train_on_batch`` on the same model is refused instead of corrupting the
    shared gradient buffers and optimizer state, and so are changes to the
    model (compile, set_weights, copies...) from other threads meanwhile.
    The training thread itself (its callbacks) may still change the model."""

    def __init__(self):
        self._lock = threading.Lock()
        self._thread = None  # ident of the thread training now

    def __enter__(self):
        if not self._lock.acquire(blocking=False):
            where = (
                "in a callback of its own fit"
                if self._thread == threading.get_ident()
                else "in another thread"
            )
            raise RuntimeError(
                f"this model is already training (fit or train_on_batch running "
                f"{where}); one model trains in one thread at a time (train "
                "copies made with copy.deepcopy in parallel instead)"
            )
        self._thread = threading.get_ident()
        return self

    def __exit__(self, *exc):
        self._thread = None
        self._lock.release()
        return False

    def refuse_if_training_elsewhere(self, what):
        """RuntimeError when another thread is training this model now."""
        thread = self._thread
        if thread is not None and thread != threading.get_ident():
            raise RuntimeError(
                f"{what}: this model is training in another thread; wait for its "
                "fit/train_on_batch to return"
            )
