"""fastnn.sklearn against scikit-learn's MLPClassifier in asv: one epoch of
``fit`` (``max_iter=1``, ``tol=0``), the same data and hyperparameters for
both. ``benchmarks/sklearn_compare.py`` runs the larger cases side by side."""

import warnings

import numpy as np

CASES = {
    # name: (rows, features, classes, hidden, solver, batch)
    "digits-like 1797x64 (100,) adam": (1797, 64, 10, (100,), "adam", "auto"),
    "tabular 20000x50 (100,) sgd": (20_000, 50, 2, (100,), "sgd", "auto"),
}


def _data(rows, features, classes):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((rows, features))
    y = (x[:, :classes] ** 2).argmax(axis=1) if classes > 2 else (x[:, 0] > 0)
    return x, y.astype(np.int64)


class FitEpoch:
    params = (list(CASES), ["scikit-learn", "fastnn"])
    param_names = ("case", "library")

    def setup(self, case, library):
        try:
            if library == "fastnn":
                from fastnn.sklearn import MLPClassifier
            else:
                from sklearn.neural_network import MLPClassifier
            from sklearn.exceptions import ConvergenceWarning
        except ImportError:
            raise NotImplementedError("needs scikit-learn") from None
        rows, features, classes, hidden, solver, batch = CASES[case]
        self.x, self.y = _data(rows, features, classes)
        self.estimator = MLPClassifier(
            hidden_layer_sizes=hidden,
            solver=solver,
            batch_size=batch,
            max_iter=1,
            tol=0.0,
            random_state=0,
        )
        warnings.simplefilter("ignore", ConvergenceWarning)
        self.estimator.fit(self.x, self.y)  # compile fastnn's kernels

    def time_fit_one_epoch(self, case, library):
        self.estimator.fit(self.x, self.y)
