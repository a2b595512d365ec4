"""A scikit-learn workflow trained by fastnn: scale, then an MLP, tuned by
grid search on the handwritten digits (runs in a few seconds).

The one change from a pure scikit-learn script is the import of
``MLPClassifier``. Needs scikit-learn (``pip install ".[sklearn]"`` from the
fastnn clone).

Run::

    python examples/sklearn_pipeline.py            # 4 settings x 3 folds
    python examples/sklearn_pipeline.py --quick    # 1 setting x 2 folds, 10 epochs
"""

import argparse
import time
import warnings

from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from fastnn.sklearn import MLPClassifier  # was: from sklearn.neural_network


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke test")
    quick = parser.parse_args().quick
    if quick:  # 10 epochs do not converge, as intended
        warnings.simplefilter("ignore", ConvergenceWarning)

    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=0
    )
    pipeline = Pipeline(
        [
            ("scale", StandardScaler()),
            (
                "mlp",
                MLPClassifier(
                    max_iter=10 if quick else 60, early_stopping=True, random_state=0
                ),
            ),
        ]
    )
    grid = {
        "mlp__hidden_layer_sizes": [(64,), (128, 64)],
        "mlp__alpha": [1e-4, 1e-2],
    }
    if quick:
        grid = {key: values[:1] for key, values in grid.items()}
    search = GridSearchCV(
        pipeline, grid, cv=2 if quick else 3, n_jobs=1 if quick else 2
    )
    start = time.perf_counter()
    search.fit(X_train, y_train)
    seconds = time.perf_counter() - start
    print(f"best parameters: {search.best_params_}")
    print(f"cross-validated accuracy: {search.best_score_:.3f} ({seconds:.1f} s)")
    print(f"test accuracy: {search.score(X_test, y_test):.3f}")


if __name__ == "__main__":
    main()
