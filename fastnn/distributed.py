"""Data-parallel training over MPI: one process per rank, the same model on
each, one Allreduce of the flat gradient buffer per step.

Run a script under ``mpiexec -n 4 python train.py`` (or ``mpiexec -n 4 fastnn
train --distributed``) with::

    from fastnn.distributed import DataParallel

    dp = DataParallel(model)            # MPI.COMM_WORLD
    history = dp.fit(x, y, epochs=10, batch_size=256, seed=0)
    dp.save("model.safetensors")        # rank 0 writes

``batch_size`` is the *global* batch: each step, each of the N ranks takes
about batch_size / N of its rows, so a run on N ranks follows the same loss
curve as one process with the same batch (up to the order of floating-point
sums), and a checkpoint from one rank count resumes on another. Each rank
reads only its rows of each batch, by index: pass the same array on every
rank, or a memory map of one file (``np.load(path, mmap_mode="r")``).

Rank 0's weights and optimizer state are broadcast when ``fit`` starts;
losses and metrics are reduced, so every rank gets the same ``History``;
only rank 0 prints. An error on one rank aborts the whole job
(``MPI_Abort``) with a message naming the rank, instead of leaving the
others waiting forever; argument errors are agreed on first and raised on
every rank alike.

Needs mpi4py: ``pip install ".[mpi]"`` in the clone (mpi4py and the mpich
wheel).
"""

import contextlib
import os

from fastnn import _mpi, _sharded_epoch, training
from fastnn._divergence import DivergenceError


class DataParallel:
    """Synchronous data-parallel training of ``model`` over ``comm``.

    Parameters
    ----------
    model : Sequential
        A compiled model, the same architecture and settings on every rank.
    comm : mpi4py.MPI.Comm, optional
        The ranks taking part; ``MPI.COMM_WORLD`` by default.
    check_every : int, optional
        Every this many steps, check that all ranks' parameters are still
        bit-for-bit equal (one CRC-32 per rank; a debug aid). 0: never.
    cuda_aware : bool, optional
        For models on a GPU: hand device buffers straight to a CUDA-aware
        MPI. The default stages each step's gradient through host memory,
        which works with any MPI.
    blas_threads : int or "auto", optional
        BLAS threads per rank while training. "auto": the machine's cores
        divided among the ranks on it (two thread pools per core make a
        step many times slower), through threadpoolctl when installed.
    """

    def __init__(
        self, model, comm=None, check_every=0, cuda_aware=False, blas_threads="auto"
    ):
        self._mpi = _mpi.mpi()
        self.comm = self._mpi.COMM_WORLD if comm is None else comm
        if isinstance(check_every, bool) or int(check_every) < 0:
            raise ValueError(f"check_every: expected an int >= 0, got {check_every!r}")
        self.model = model
        self.check_every = int(check_every)
        self.cuda_aware = bool(cuda_aware)
        self.blas_threads = self._threads_per_rank(blas_threads)
        self._reducer = None
        self._steps_done = 0

    @property
    def rank(self):
        """This process's rank, 0 to ``size - 1``."""
        return self.comm.rank

    @property
    def size(self):
        """The number of ranks."""
        return self.comm.size

    @property
    def is_root(self):
        """True on rank 0, the rank that prints and writes files."""
        return self.comm.rank == 0

    # ------------------------------------------------------------- training
    def fit(
        self,
        x,
        y,
        epochs=1,
        batch_size=32,
        validation_data=None,
        validation_split=0.0,
        shuffle=True,
        seed=None,
        verbose=1,
        callbacks=None,
        sample_weight=None,
        class_weight=None,
    ):
        """``Sequential.fit`` over all ranks; returns the same ``History`` on
        every rank.

        Every rank passes the same arguments and the same data (an array or
        a memory map); ``batch_size`` is the global batch. Callbacks run on
        every rank with the same reduced logs, so their decisions (early
        stopping) agree; a callback that writes files should test
        ``dp.is_root``. Validation is split over the ranks and reduced.
        ``history["allreduce_s"]`` is each epoch's time in the reductions.
        """
        model, comm = self.model, self.comm
        run = _mpi.agree_on(
            comm,
            training.checked_arguments,
            model,
            x,
            y,
            epochs,
            batch_size,
            validation_data,
            validation_split,
            verbose,
            callbacks,
            sample_weight,
            class_weight,
        )
        if seed is None:  # one fresh seed for all: rank 0's
            seed = comm.bcast(training.fresh_seed() if self.is_root else None)
        _mpi.agree_on(comm, model._ensure_built, seed)
        _mpi.require_same(comm, self._settings(run, epochs, seed, shuffle))
        with model._training, self._blas_limit():
            try:
                return self._fit(run, epochs, seed, shuffle)
            except DivergenceError:
                raise  # decided from reduced values: raised on every rank alike
            except BaseException as exc:
                if self.size == 1:
                    raise
                _mpi.abort(comm, exc)
                raise  # not reached: MPI_Abort ends the process

    def _threads_per_rank(self, blas_threads):
        """BLAS threads per rank, or None to leave the BLAS as it is."""
        if blas_threads != "auto":
            if isinstance(blas_threads, bool) or int(blas_threads) < 1:
                raise ValueError(
                    f"blas_threads: expected 'auto' or an int >= 1, got {blas_threads!r}"
                )
            return int(blas_threads)
        local = self.comm.Split_type(self._mpi.COMM_TYPE_SHARED)
        ranks_here = local.size
        local.Free()
        if ranks_here == 1:
            return None
        return max(1, (os.cpu_count() or 1) // ranks_here)

    def _blas_limit(self):
        if self.blas_threads is None:
            return contextlib.nullcontext()
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:
            return contextlib.nullcontext()
        return threadpool_limits(limits=self.blas_threads)

    def _settings(self, run, epochs, seed, shuffle):
        """What every rank must agree on before training."""
        model = self.model
        return {
            "model": repr(model.get_config()),
            "optimizer": repr(model.optimizer.get_config()),
            "loss": type(model.loss).__name__,
            "device": model._backend.name,
            "x shape": run.x.shape,
            "y shape": run.y.shape,
            "sample weights": run.weights is not None,
            "batch_size": run.batch,
            "epochs": epochs,
            "seed": seed,
            "shuffle": bool(shuffle),
            "epochs_trained": model.epochs_trained,
            "validation rows": None
            if run.validation_data is None
            else len(run.validation_data[0]),
        }

    def _fit(self, run, epochs, seed, shuffle):
        model, be = self.model, self.model._backend
        self.broadcast_state()
        self._reducer = _sharded_epoch.GradientReducer(
            self.comm, be, model.grads, self.cuda_aware
        )
        x_dev, y_dev = be.to_device(run.x), be.to_device(run.y)

        def train_epoch(epoch, last_epoch, history, show_bar):
            return _sharded_epoch.train_epoch(
                self,
                x_dev,
                y_dev,
                run.batch,
                epoch,
                last_epoch,
                seed,
                shuffle,
                history,
                run.weights,
                show_bar,
            )

        validate = None
        if run.validation_data is not None:

            def validate():
                return _sharded_epoch.evaluate_shard(
                    self, *run.validation_data, max(run.batch, 1024), None
                )

        verbose = run.verbose if self.is_root else 0  # only rank 0 prints
        return training.run_epochs(
            model, epochs, seed, verbose, run.callbacks, train_epoch, validate
        )

    # ---------------------------------------------------- state and checks
    def broadcast_state(self, root=0):
        """Collective: copy rank ``root``'s parameters, optimizer state, step
        count and epoch count to every rank (``fit`` does this first)."""
        model, comm = self.model, self.comm
        _mpi.agree_on(comm, model._ensure_built)
        be, optimizer = model._backend, model.optimizer
        _mpi.broadcast_array(comm, be, model.params, root)
        if optimizer is not None:
            names = comm.bcast(sorted(optimizer.state), root=root)
            if names != sorted(optimizer.state):
                raise ValueError(
                    f"rank {comm.rank}'s optimizer state {sorted(optimizer.state)} "
                    f"differs from rank {root}'s {names}"
                )
            for name in names:
                _mpi.broadcast_array(comm, be, optimizer.state[name], root)
            optimizer.steps = comm.bcast(optimizer.steps, root=root)
        model.epochs_trained = comm.bcast(model.epochs_trained, root=root)

    def check_replicas(self):
        """Collective: RuntimeError on every rank unless all ranks' parameters
        are bit-for-bit equal (what synchronous data parallelism keeps)."""
        if not _sharded_epoch.replicas_agree(self):
            raise RuntimeError(
                "data-parallel replicas diverged: the ranks' parameters differ "
                f"after {self._steps_done} steps"
            )

    # ------------------------------------------------------ evaluate, save
    def evaluate(self, x, y, batch_size=1024, sample_weight=None):
        """``Sequential.evaluate`` with each rank taking a share of the rows;
        the same dict on every rank."""
        model = self.model

        def checked():
            model._require_compiled()
            xc, yc = model._check_xy(x, y)
            return xc, yc, model._check_weights(sample_weight, None, yc)

        xc, yc, weights = _mpi.agree_on(self.comm, checked)
        _mpi.agree_on(self.comm, model._ensure_built)
        return _sharded_epoch.evaluate_shard(self, xc, yc, batch_size, weights)

    def save(self, path):
        """Collective: rank 0 saves the model to ``path``; an error there is
        raised on every rank."""
        error = None
        if self.is_root:
            try:
                self.model.save(path)
            except Exception as exc:  # noqa: BLE001 - shared by agree
                error = exc
        _mpi.agree(self.comm, error)
