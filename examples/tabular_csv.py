"""Classification of a table read from a CSV file: standardise the feature
columns, train an MLP with a validation split, report test accuracy.

Without ``--csv`` it writes scikit-learn's breast-cancer table (569 tumours, 30
measurements, benign or malignant) to a CSV file in a temporary folder first,
so the whole path from a file on disk runs. Needs pandas and scikit-learn
(``pip install pandas scikit-learn``) and, for ``--plot``, matplotlib.

Run::

    python examples/tabular_csv.py                      # the breast-cancer table
    python examples/tabular_csv.py --csv data.csv --target label
    python examples/tabular_csv.py --plot curves.png    # also draw the curves
    python examples/tabular_csv.py --quick              # 3 epochs, a smoke test
"""

import argparse
import os
import tempfile

import numpy as np
import pandas as pd

import fastnn as fnn


def write_example_csv(path):
    """scikit-learn's breast-cancer table as a CSV file with a ``target`` column."""
    from sklearn.datasets import load_breast_cancer

    load_breast_cancer(as_frame=True).frame.to_csv(path, index=False)


def read_table(path, target):
    """Features as float32 (N, F) and labels as int64 class indices (N,), plus
    the class names (the target column's distinct values, sorted)."""
    frame = pd.read_csv(path)
    if target not in frame.columns:
        raise SystemExit(f"{path}: no column {target!r}; columns: {list(frame)}")
    # one-hot columns for text features; numbers pass through
    features = pd.get_dummies(frame.drop(columns=[target]), dtype=np.float32)
    classes, labels = np.unique(frame[target].to_numpy(), return_inverse=True)
    return features.to_numpy(np.float32), labels.astype(np.int64), classes


def split(x, y, test_fraction, seed):
    order = np.random.default_rng(seed).permutation(len(x))
    n_test = int(len(x) * test_fraction)
    test, train = order[:n_test], order[n_test:]
    return (x[train], y[train]), (x[test], y[test])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", help="the CSV file (default: the breast-cancer table)")
    parser.add_argument("--target", default="target", help="the label column")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--plot", metavar="PATH", help="write the curves here")
    parser.add_argument("--quick", action="store_true", help="3 epochs only")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        path = args.csv
        if path is None:
            path = os.path.join(folder, "breast_cancer.csv")
            write_example_csv(path)
        x, y, classes = read_table(path, args.target)

    (x_train, y_train), (x_test, y_test) = split(x, y, test_fraction=0.25, seed=0)
    # statistics of the training rows only, applied to both
    mean, std = x_train.mean(axis=0), x_train.std(axis=0)
    std[std == 0] = 1.0
    x_train, x_test = (x_train - mean) / std, (x_test - mean) / std

    model = fnn.Sequential(
        [
            fnn.Dense(x.shape[1], 32, activation="relu"),
            fnn.Dropout(0.2),
            fnn.Dense(32, len(classes)),
        ],
        seed=0,
    )
    model.compile(
        optimizer=fnn.Adam(lr=1e-3), loss="cross_entropy", metrics=["accuracy"]
    )
    history = model.fit(
        x_train,
        y_train,
        epochs=3 if args.quick else args.epochs,
        batch_size=32,
        validation_split=0.2,
        seed=0,
        verbose=0,
    )
    result = model.evaluate(x_test, y_test)
    print(
        f"{len(x)} rows, {x.shape[1]} features, classes {classes.tolist()}; "
        f"{len(history.epoch)} epochs"
    )
    print(f"test accuracy: {result['accuracy']:.3f}  test loss: {result['loss']:.3f}")
    if args.plot:
        history.plot(path=args.plot)
        print(f"curves written to {args.plot}")


if __name__ == "__main__":
    main()
