"""The training loop shared by ``fastnn.sklearn.MLPClassifier`` and
``MLPRegressor``: scikit-learn's ``BaseMultilayerPerceptron`` algorithm
(initialisation, mini-batches, stopping rules, early stopping, warm starts),
with the passes computed by ``fastnn._sklearn_network``."""

import contextlib
import itertools
import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPRegressor as _SklearnMLPRegressor
from sklearn.utils import _safe_indexing, check_random_state, gen_batches
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    validate_data,
)

from fastnn import _sklearn_solvers as solvers
from fastnn._sklearn_epoch import CompiledEpochs
from fastnn._sklearn_network import Layout, Network, dense_rows, init_parameters

STOCHASTIC_SOLVERS = ("sgd", "adam")

#: Multiply-adds of one forward pass below which the matrix products run on
#: one BLAS thread. Measured on 2 cores (MKL): such small products lose more
#: to waking a second thread than they gain, and L-BFGS alternates SciPy's
#: OpenBLAS with fastnn's BLAS, whose idle threads then compete (digits
#: 1797x64 L-BFGS: 0.38 s on 2 threads, 0.11 s on 1; an MNIST batch of 128,
#: 30M multiply-adds, is faster on 2).
SMALL_PRODUCTS = 16_000_000

_controller = None  # threadpoolctl's view of the loaded BLAS libraries


def _blas_threads_for(rows, layer_units):
    """One BLAS thread while fitting when each pass is small (see
    ``SMALL_PRODUCTS``), else the BLAS as it is."""
    global _controller
    macs = rows * sum(a * b for a, b in zip(layer_units[:-1], layer_units[1:]))
    if macs >= SMALL_PRODUCTS:
        return contextlib.nullcontext()
    if _controller is None:  # scanning the loaded libraries costs milliseconds
        from threadpoolctl import ThreadpoolController

        _controller = ThreadpoolController()
    return _controller.limit(limits=1, user_api="blas")


class _BatchGather:
    """Mini-batches of (X, y, sample_weight) rows: dense rows are gathered
    into buffers reused across batches, contiguous slices are views."""

    def __init__(self, X, y, sample_weight, batch_size, dtype):
        self.X, self.y, self.w, self.dtype = X, y, sample_weight, dtype
        self.dense = not sp.issparse(X) and X.dtype == dtype and X.flags.c_contiguous
        if self.dense:
            self.X_buf = np.empty((batch_size,) + X.shape[1:], dtype)
        self.y_buf = np.empty((batch_size,) + y.shape[1:], y.dtype)

    def take(self, idx):
        """(X_batch, y_batch, w_batch) for an index array or a slice."""
        w = None if self.w is None else self.w[idx]
        if isinstance(idx, slice):
            return dense_rows(self.X[idx], self.dtype), self.y[idx], w
        rows = len(idx)
        y = np.take(self.y, idx, axis=0, out=self.y_buf[:rows])
        if self.dense:
            X = np.take(self.X, idx, axis=0, out=self.X_buf[:rows])
        else:
            X = dense_rows(_safe_indexing(self.X, idx), self.dtype)
        return X, y, w


def _shuffled(sample_idx, random_state):
    """``sklearn.utils.shuffle(sample_idx, random_state=random_state)``
    without its input checks (0.2 ms a call, as long as a digits batch):
    the same permutation, and the generator left in the same state."""
    order = np.arange(len(sample_idx))
    random_state.shuffle(order)
    return sample_idx[order]


class BaseMLP(BaseEstimator):
    """Parameters, validation and fitting common to both estimators."""

    # scikit-learn's own constraints, so invalid parameters raise the same
    # errors with the same messages
    _parameter_constraints = dict(_SklearnMLPRegressor._parameter_constraints)
    # fastnn's own: the precision of training (None: the input's, as sklearn)
    _parameter_constraints["dtype"] = [None, StrOptions({"float32", "float64"})]

    # ------------------------------------------------------------ state
    def __getstate__(self):
        state = super().__getstate__()
        # coefs_/intercepts_ are views of _flat: pickle the vector once and
        # rebuild the views on load
        if "_flat" in state:
            state = dict(state)
            state.pop("coefs_", None)
            state.pop("intercepts_", None)
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        if "_flat" in state:
            self.coefs_, self.intercepts_ = self._layout.views(self._flat)

    def _network(self):
        return Network(
            self._layout,
            self.activation,
            self.out_activation_,
            self._loss_name(),
            self.alpha,
        )

    def _sync_flat(self):
        """Make ``_flat`` hold the current coefs_/intercepts_ (a user may have
        replaced them) and the lists views of it again."""
        coefs, intercepts = self.coefs_, self.intercepts_
        flat = getattr(self, "_flat", None)
        is_view = (
            flat is not None
            and len(coefs) == len(self._layout.coef_slices)
            and all(np.shares_memory(c, flat) for c in coefs)
            and all(np.shares_memory(b, flat) for b in intercepts)
        )
        if not is_view:  # predict leaves a fitted estimator's __dict__ as it is
            dtype = np.result_type(coefs[0].dtype, np.float32)
            self._flat = self._layout.pack(coefs, intercepts, dtype)
            self.coefs_, self.intercepts_ = self._layout.views(self._flat)

    # ---------------------------------------------------------- fitting
    def _loss_name(self):
        return self.loss

    def _initialize(self, y, layer_units, dtype):
        self.n_iter_ = 0
        self.t_ = 0
        self.n_outputs_ = y.shape[1]
        self.n_layers_ = len(layer_units)
        self.out_activation_ = self._output_activation()
        self._layout = Layout(layer_units)
        coefs, intercepts = init_parameters(
            layer_units, self.activation, self._random_state, dtype
        )
        self._flat = self._layout.pack(coefs, intercepts, dtype)
        self.coefs_, self.intercepts_ = self._layout.views(self._flat)
        self._best_flat = self._flat.copy()
        if self.solver in STOCHASTIC_SOLVERS:
            self.loss_curve_ = []
            self._no_improvement_count = 0
            if self.early_stopping:
                self.validation_scores_ = []
                self.best_validation_score_ = -np.inf
                self.best_loss_ = None
            else:
                self.best_loss_ = np.inf
                self.validation_scores_ = None
                self.best_validation_score_ = None

    def _fit(self, X, y, sample_weight=None, incremental=False):
        hidden = self.hidden_layer_sizes
        if not hasattr(hidden, "__iter__"):
            hidden = [hidden]
        hidden = list(hidden)
        if np.any(np.array(hidden) <= 0):
            raise ValueError(f"hidden_layer_sizes must be > 0, got {hidden}.")
        first_pass = not hasattr(self, "coefs_") or (
            not self.warm_start and not incremental
        )
        X, y = self._validate_input(X, y, incremental, reset=first_pass)
        if not sp.issparse(X):
            X = np.ascontiguousarray(X)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X)
        if y.ndim == 1:
            y = y.reshape((-1, 1))
        self.n_outputs_ = y.shape[1]
        layer_units = [X.shape[1]] + hidden + [self.n_outputs_]
        self._random_state = check_random_state(self.random_state)
        if first_pass:
            dtype = X.dtype if self.dtype is None else np.dtype(self.dtype)
            self._initialize(y, layer_units, dtype)
        else:
            self._sync_flat()
        if not sp.issparse(X):  # converted once, not per batch
            X = np.ascontiguousarray(X, dtype=self._flat.dtype)
        y = y.astype(self._flat.dtype, copy=False)
        if sample_weight is not None:
            sample_weight = sample_weight.astype(self._flat.dtype, copy=False)
        rows = X.shape[0]  # per kernel call: the whole set for L-BFGS
        if self.solver in STOCHASTIC_SOLVERS:
            rows = self._batch_rows(rows)
        with _blas_threads_for(rows, layer_units):
            if self.solver in STOCHASTIC_SOLVERS:
                self._fit_stochastic(X, y, sample_weight, incremental)
            else:
                self._fit_lbfgs(X, y, sample_weight)
        if not np.isfinite(self._flat).all():
            raise ValueError(
                "Solver produced non-finite parameter weights. The input data may"
                " contain large values and need to be preprocessed."
            )
        return self

    def _batch_rows(self, n_samples):
        """The mini-batch size scikit-learn trains ``n_samples`` rows with:
        'auto' is min(200, n), a number is clipped to [1, n]."""
        if self.batch_size == "auto":
            return min(200, n_samples)
        return int(np.clip(self.batch_size, 1, n_samples))

    def _fit_lbfgs(self, X, y, sample_weight):
        X = dense_rows(X, self._flat.dtype)  # every iteration reads all rows
        self.n_iter_, self.loss_ = solvers.lbfgs(
            self._network(),
            self._flat,
            X,
            y,
            sample_weight,
            self.max_iter,
            self.max_fun,
            self.tol,
            self.verbose,
        )

    def _new_optimizer(self):
        size, dtype = self._flat.size, self._flat.dtype
        if self.solver == "sgd":
            return solvers.SGD(
                size,
                dtype,
                self.learning_rate_init,
                self.learning_rate,
                self.momentum,
                self.nesterovs_momentum,
                self.power_t,
            )
        return solvers.Adam(
            size, dtype, self.learning_rate_init, self.beta_1, self.beta_2, self.epsilon
        )

    def _split_validation(self, X, y, sample_weight):
        """scikit-learn's early-stopping split (stratified for single-output
        classifiers), drawn from the estimator's random state."""
        stratify = y if is_classifier(self) and self.n_outputs_ == 1 else None
        arrays = (X, y) if sample_weight is None else (X, y, sample_weight)
        parts = train_test_split(
            *arrays,
            random_state=self._random_state,
            test_size=self.validation_fraction,
            stratify=stratify,
        )
        X_train, X_val, y_train, y_val = parts[:4]
        w_train, w_val = (
            (parts[4], parts[5]) if sample_weight is not None else (None, None)
        )
        if X_val.shape[0] < 2:
            raise ValueError(
                "The validation set is too small. Increase 'validation_fraction' "
                "or the size of your dataset."
            )
        if is_classifier(self):
            y_val = self._label_binarizer.inverse_transform(y_val)
        return X_train, y_train, w_train, X_val, y_val, w_val

    def _fit_stochastic(self, X, y, sample_weight, incremental):
        if not incremental or not hasattr(self, "_optimizer"):
            self._optimizer = self._new_optimizer()
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        early_stopping = self.early_stopping
        if early_stopping:
            X_train, y_train, w_train, X_val, y_val, w_val = self._split_validation(
                X, y, sample_weight
            )
        else:
            X_train, y_train, w_train = X, y, sample_weight
            X_val = y_val = w_val = None

        n_samples = X_train.shape[0]
        sample_idx = np.arange(n_samples, dtype=int)
        if self.batch_size != "auto" and self.batch_size > n_samples:
            warnings.warn(
                "Got `batch_size` less than 1 or larger than "
                "sample size. It is going to be clipped"
            )
        batch_size = self._batch_rows(n_samples)

        network, flat, optimizer = self._network(), self._flat, self._optimizer
        grad = np.empty_like(flat)
        n_coef, alpha = self._layout.n_coef, network.alpha
        batches = _BatchGather(X_train, y_train, w_train, batch_size, flat.dtype)
        compiled = None
        if CompiledEpochs.applies(network, X_train, y_train, flat.dtype):
            compiled = CompiledEpochs(
                network, flat, grad, X_train, y_train, w_train, batch_size
            )
        try:
            self.n_iter_ = 0
            for _ in range(self.max_iter):
                if self.shuffle:
                    sample_idx = _shuffled(sample_idx, self._random_state)
                accumulated_loss = 0.0
                slices = gen_batches(n_samples, batch_size)
                if compiled is not None:  # the epoch in one call, but see run
                    accumulated_loss, done = compiled.run(
                        sample_idx, optimizer, n_coef, alpha
                    )
                    slices = itertools.islice(slices, done, None)
                for batch_slice in slices:
                    idx = sample_idx[batch_slice] if self.shuffle else batch_slice
                    X_batch, y_batch, w_batch = batches.take(idx)
                    loss, w_sum = network.backprop(
                        flat, grad, X_batch, y_batch, w_batch, fused=True
                    )
                    # the penalty is summed by the update pass, before it moves
                    # the weights
                    squares = optimizer.step(flat, grad, n_coef, alpha / w_sum)
                    batch_loss = network.regularised(loss, squares, w_sum)
                    accumulated_loss += batch_loss * (
                        batch_slice.stop - batch_slice.start
                    )

                self.n_iter_ += 1
                self.loss_ = accumulated_loss / n_samples
                self.t_ += n_samples
                self.loss_curve_.append(self.loss_)
                if self.verbose:
                    print("Iteration %d, loss = %.8f" % (self.n_iter_, self.loss_))
                self._update_no_improvement_count(early_stopping, X_val, y_val, w_val)
                optimizer.iteration_ends(self.t_)

                if self._no_improvement_count > self.n_iter_no_change:
                    what = "Validation score" if early_stopping else "Training loss"
                    msg = (
                        "%s did not improve more than tol=%f for %d consecutive epochs."
                        % (
                            what,
                            self.tol,
                            self.n_iter_no_change,
                        )
                    )
                    if optimizer.trigger_stopping(msg, self.verbose):
                        break
                    self._no_improvement_count = 0
                if incremental:
                    break
                if self.n_iter_ == self.max_iter:
                    warnings.warn(
                        "Stochastic Optimizer: Maximum iterations (%d) "
                        "reached and the optimization hasn't converged yet."
                        % self.max_iter,
                        ConvergenceWarning,
                    )
        except KeyboardInterrupt:
            warnings.warn("Training interrupted by user.")
        if early_stopping:
            flat[:] = self._best_flat

    def _update_no_improvement_count(self, early_stopping, X_val, y_val, w_val):
        if early_stopping:
            score = self._score(X_val, y_val, sample_weight=w_val)
            self.validation_scores_.append(score)
            if self.verbose:
                print("Validation score: %f" % score)
            if score < self.best_validation_score_ + self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if score > self.best_validation_score_:
                self.best_validation_score_ = score
                self._best_flat = self._flat.copy()
        else:
            if self.loss_curve_[-1] > self.best_loss_ - self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if self.loss_curve_[-1] < self.best_loss_:
                self.best_loss_ = self.loss_curve_[-1]

    # ------------------------------------------------------- prediction
    def _forward_pass_fast(self, X, check_input=True):
        if check_input:
            X = validate_data(self, X, accept_sparse=["csr", "csc"], reset=False)
        self._sync_flat()
        return self._network().predict(self._flat, X)

    def _score_with_function(self, X, y, sample_weight, score_function):
        y_pred = self._predict(X, check_input=False)
        if np.issubdtype(y_pred.dtype, np.floating) and not np.isfinite(y_pred).all():
            return np.nan
        return score_function(y, y_pred, sample_weight=sample_weight)

    def _check_solver(self):
        if self.solver not in STOCHASTIC_SOLVERS:
            raise AttributeError(
                "partial_fit is only available for stochastic"
                " optimizers. %s is not stochastic." % self.solver
            )
        return True

    def _check_fitted(self):
        check_is_fitted(self)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags
