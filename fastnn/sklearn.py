"""scikit-learn estimators trained by fastnn: drop-in ``MLPClassifier`` and
``MLPRegressor``.

    from fastnn.sklearn import MLPClassifier   # was: from sklearn.neural_network

They take scikit-learn's parameters with its defaults and validation, run its
algorithm (same initialisation from ``random_state``, mini-batches, update
rules of 'sgd' and 'adam', L-BFGS-B for 'lbfgs', stopping rules, early
stopping) and expose the same fitted attributes; the forward and backward
passes run in fastnn's kernels. Computation is in the input's dtype, as in
scikit-learn: float64 data trains in float64 (``tol`` means what it means
there), float32 data in float32; ``dtype="float32"`` (fastnn's own
parameter, off by default) trains float64 data in float32. Sparse input is densified one mini-batch (or
prediction chunk) at a time; 'lbfgs' densifies the training set once.
"""

from __future__ import annotations

from typing import Any

try:
    import sklearn  # noqa: F401
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError(
        'fastnn.sklearn needs scikit-learn: install it with pip install ".[sklearn]" '
        "from the fastnn clone"
    ) from error

import numpy as np
import numpy.typing as npt
from sklearn.base import ClassifierMixin, RegressorMixin, _fit_context
from sklearn.metrics import accuracy_score, r2_score
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import (
    _check_partial_fit_first_call,
    type_of_target,
    unique_labels,
)
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from fastnn._sklearn_base import BaseMLP

__all__ = ["MLPClassifier", "MLPRegressor"]


class MLPClassifier(ClassifierMixin, BaseMLP):
    """Multi-layer perceptron classifier (log-loss), trained by fastnn.

    Multiclass targets get a softmax output; binary and multilabel (indicator
    matrix) targets get logistic outputs.

    Parameters
    ----------
    hidden_layer_sizes, activation, solver, alpha, batch_size, learning_rate, \
learning_rate_init, power_t, max_iter, shuffle, random_state, tol, verbose, \
warm_start, momentum, nesterovs_momentum, early_stopping, validation_fraction, \
beta_1, beta_2, epsilon, n_iter_no_change, max_fun
        Those of scikit-learn's ``sklearn.neural_network.MLPClassifier``, with its
        defaults and validation (see its documentation).
    dtype : {None, "float32", "float64"}, default None
        fastnn's own option: the precision of training and prediction. None
        follows the input, as scikit-learn does (float64 data trains in
        float64, float32 data in float32); "float32" trains float64 data in
        float32, about twice as fast in the matrix products, with losses
        (and so ``tol``'s comparisons) resolved to about 1e-7 relative
        instead of 1e-16, and ``predict_proba``/``predict`` outputs in float32.

    Attributes
    ----------
    coefs_, intercepts_, loss_, best_loss_, loss_curve_, validation_scores_, \
best_validation_score_, t_, n_iter_, n_layers_, n_outputs_, out_activation_, \
n_features_in_, feature_names_in_
        The fitted attributes of scikit-learn's estimator of the same name.
    classes_ : numpy.ndarray
        The class labels.
    """

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        dtype=None,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.dtype = dtype

    def _loss_name(self):
        # one logistic output per label for multilabel targets
        if self.out_activation_ == "logistic" and self.n_outputs_ > 1:
            return "binary_log_loss"
        return "log_loss"

    def _output_activation(self):
        return (
            "softmax" if self._label_binarizer.y_type_ == "multiclass" else "logistic"
        )

    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_data(
            self,
            X,
            y,
            accept_sparse=["csr", "csc"],
            multi_output=True,
            dtype=(np.float64, np.float32),
            reset=reset,
        )
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        # classes_ are (re)defined by a fresh fit; warm starts and partial_fit
        # must stay within the known classes
        if not hasattr(self, "classes_") or (not self.warm_start and not incremental):
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = unique_labels(y)
            if self.warm_start:
                if set(classes) != set(self.classes_):
                    raise ValueError(
                        "warm_start can only be used where `y` has the same "
                        "classes as in the previous call to fit. Previously "
                        f"got {self.classes_}, `y` has {classes}"
                    )
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError(
                    "`y` has classes not in `self.classes_`. "
                    f"`self.classes_` has {self.classes_}. 'y' has {classes}."
                )
        # bool, so float32 data is not upcast by the targets
        y = self._label_binarizer.transform(y).astype(bool)
        return X, y

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(
        self, X: Any, y: npt.ArrayLike, sample_weight: npt.ArrayLike | None = None
    ) -> MLPClassifier:
        """Fit to data X (dense or sparse) and labels y.

        Parameters
        ----------
        X : array-like or sparse matrix (n_samples, n_features)
            The input samples (CSR/CSC matrices are densified a batch at a
            time).
        y : array-like (n_samples,) or (n_samples, n_outputs)
            Class labels, or a label indicator matrix (multilabel).
        sample_weight : array-like (n_samples,), optional
            Weight of each sample's loss.

        Returns
        -------
        MLPClassifier
            The fitted estimator itself.
        """
        return self._fit(X, y, sample_weight=sample_weight, incremental=False)

    @available_if(lambda est: est._check_solver())
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(
        self,
        X: Any,
        y: npt.ArrayLike,
        sample_weight: npt.ArrayLike | None = None,
        classes: npt.ArrayLike | None = None,
    ) -> MLPClassifier:
        """One pass over (X, y) ('sgd' and 'adam' only). ``classes`` is
        required on the first call.

        Parameters
        ----------
        X : array-like or sparse matrix (n_samples, n_features)
            The input samples (CSR/CSC matrices are densified a batch at a
            time).
        y : array-like (n_samples,) or (n_samples, n_outputs)
            Class labels, or a label indicator matrix (multilabel).
        sample_weight : array-like (n_samples,), optional
            Weight of each sample's loss.
        classes : array-like (n_classes,), optional
            All the classes that ``y`` may hold over the calls; required on
            the first call, ignored after.

        Returns
        -------
        MLPClassifier
            The estimator itself.
        """
        if _check_partial_fit_first_call(self, classes):
            self._label_binarizer = LabelBinarizer()
            if type_of_target(y).startswith("multilabel"):
                self._label_binarizer.fit(y)
            else:
                self._label_binarizer.fit(classes)
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def predict(self, X: Any) -> npt.NDArray[Any]:
        """Predicted class labels.

        Parameters
        ----------
        X : array-like or sparse matrix (n_samples, n_features)
            The input samples (CSR/CSC matrices are densified a batch at a
            time).

        Returns
        -------
        numpy.ndarray (n_samples,) or (n_samples, n_classes)
            Labels from ``classes_``, or an indicator matrix (multilabel).
        """
        check_is_fitted(self)
        return self._predict(X)

    def _predict(self, X, check_input=True):
        y_pred = self._forward_pass_fast(X, check_input=check_input)
        if self.n_outputs_ == 1:
            y_pred = y_pred.ravel()
        return self._label_binarizer.inverse_transform(y_pred)

    def _score(self, X, y, sample_weight=None):
        return self._score_with_function(X, y, sample_weight, accuracy_score)

    def predict_proba(self, X: Any) -> npt.NDArray[Any]:
        """Class probabilities, columns ordered as ``classes_``.

        Parameters
        ----------
        X : array-like or sparse matrix (n_samples, n_features)
            The input samples (CSR/CSC matrices are densified a batch at a
            time).

        Returns
        -------
        numpy.ndarray (n_samples, n_classes)
            Probabilities (softmax for multiclass; for binary targets the
            two columns 1 - p and p; per label for multilabel).
        """
        check_is_fitted(self)
        y_pred = self._forward_pass_fast(X)
        if self.n_outputs_ == 1:
            y_pred = y_pred.ravel()
        if y_pred.ndim == 1:
            return np.vstack([1 - y_pred, y_pred]).T
        return y_pred

    def predict_log_proba(self, X: Any) -> npt.NDArray[Any]:
        """log(predict_proba(X)).

        Parameters
        ----------
        X : array-like or sparse matrix (n_samples, n_features)
            The input samples (CSR/CSC matrices are densified a batch at a
            time).

        Returns
        -------
        numpy.ndarray (n_samples, n_classes)
            Log-probabilities, columns ordered as ``classes_``.
        """
        y_prob = self.predict_proba(X)
        return np.log(y_prob, out=y_prob)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class MLPRegressor(RegressorMixin, BaseMLP):
    """Multi-layer perceptron regressor, trained by fastnn.

    Parameters
    ----------
    loss : {"squared_error", "poisson"}, default "squared_error"
        Half squared error with an identity output, or half Poisson deviance
        with an exp output (targets >= 0).
    hidden_layer_sizes, activation, solver, alpha, batch_size, learning_rate, \
learning_rate_init, power_t, max_iter, shuffle, random_state, tol, verbose, \
warm_start, momentum, nesterovs_momentum, early_stopping, validation_fraction, \
beta_1, beta_2, epsilon, n_iter_no_change, max_fun
        Those of scikit-learn's ``sklearn.neural_network.MLPRegressor``, with its
        defaults and validation (see its documentation).
    dtype : {None, "float32", "float64"}, default None
        fastnn's own option: the precision of training and prediction. None
        follows the input, as scikit-learn does (float64 data trains in
        float64, float32 data in float32); "float32" trains float64 data in
        float32, about twice as fast in the matrix products, with losses
        (and so ``tol``'s comparisons) resolved to about 1e-7 relative
        instead of 1e-16, and ``predict_proba``/``predict`` outputs in float32.

    Attributes
    ----------
    coefs_, intercepts_, loss_, best_loss_, loss_curve_, validation_scores_, \
best_validation_score_, t_, n_iter_, n_layers_, n_outputs_, out_activation_, \
n_features_in_, feature_names_in_
        The fitted attributes of scikit-learn's estimator of the same name.
    """

    def __init__(
        self,
        loss="squared_error",
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        dtype=None,
    ):
        self.loss = loss
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.dtype = dtype

    def _output_activation(self):
        return "exp" if self.loss == "poisson" else "identity"

    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_data(
            self,
            X,
            y,
            accept_sparse=["csr", "csc"],
            multi_output=True,
            y_numeric=True,
            dtype=(np.float64, np.float32),
            reset=reset,
        )
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        return X, y

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(
        self, X: Any, y: npt.ArrayLike, sample_weight: npt.ArrayLike | None = None
    ) -> MLPRegressor:
        """Fit to data X (dense or sparse) and targets y.

        Parameters
        ----------
        X : array-like or sparse matrix (n_samples, n_features)
            The input samples (CSR/CSC matrices are densified a batch at a
            time).
        y : array-like (n_samples,) or (n_samples, n_outputs)
            Real targets (>= 0 for ``loss="poisson"``).
        sample_weight : array-like (n_samples,), optional
            Weight of each sample's loss.

        Returns
        -------
        MLPRegressor
            The fitted estimator itself.
        """
        return self._fit(X, y, sample_weight=sample_weight, incremental=False)

    @available_if(lambda est: est._check_solver())
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(
        self, X: Any, y: npt.ArrayLike, sample_weight: npt.ArrayLike | None = None
    ) -> MLPRegressor:
        """One pass over (X, y) ('sgd' and 'adam' only).

        Parameters
        ----------
        X : array-like or sparse matrix (n_samples, n_features)
            The input samples (CSR/CSC matrices are densified a batch at a
            time).
        y : array-like (n_samples,) or (n_samples, n_outputs)
            Real targets.
        sample_weight : array-like (n_samples,), optional
            Weight of each sample's loss.

        Returns
        -------
        MLPRegressor
            The estimator itself.
        """
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def predict(self, X: Any) -> npt.NDArray[Any]:
        """Predicted targets.

        Parameters
        ----------
        X : array-like or sparse matrix (n_samples, n_features)
            The input samples (CSR/CSC matrices are densified a batch at a
            time).

        Returns
        -------
        numpy.ndarray (n_samples,) or (n_samples, n_outputs)
            One column is returned flat, as in scikit-learn.
        """
        check_is_fitted(self)
        return self._predict(X)

    def _predict(self, X, check_input=True):
        y_pred = self._forward_pass_fast(X, check_input=check_input)
        if y_pred.shape[1] == 1:
            return y_pred.ravel()
        return y_pred

    def _score(self, X, y, sample_weight=None):
        return self._score_with_function(X, y, sample_weight, r2_score)
