"""Regression: an MLP learns a smooth function of two inputs with the mean
squared error, and is compared with the best straight-line fit.

The data are drawn here (no download): y = sin(3 x0) + x0 x1 + noise, with x
uniform in [-1, 1]^2. Needs only fastnn.

Run::

    python examples/regression.py            # 60 epochs, a few seconds
    python examples/regression.py --quick    # 3 epochs, a smoke test
"""

import argparse

import numpy as np

import fastnn as fnn


def make_data(n, seed):
    """Inputs (n, 2) and targets (n,), float32."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.0, 1.0, (n, 2)).astype(np.float32)
    y = np.sin(3 * x[:, 0]) + x[:, 0] * x[:, 1] + 0.05 * rng.standard_normal(n)
    return x, y.astype(np.float32)


def r2(y, prediction):
    """The coefficient of determination: 1 is perfect, 0 is the mean's error."""
    return 1.0 - np.sum((y - prediction) ** 2) / np.sum((y - y.mean()) ** 2)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--plot", metavar="PATH", help="write the curves here")
    parser.add_argument("--quick", action="store_true", help="3 epochs only")
    args = parser.parse_args()

    x_train, y_train = make_data(4000, seed=0)
    x_test, y_test = make_data(1000, seed=1)

    model = fnn.Sequential(
        [
            fnn.Dense(2, 64, activation="tanh"),
            fnn.Dense(64, 64, activation="tanh"),
            fnn.Dense(64, 1),  # one linear output: the prediction
        ],
        seed=0,
    )
    model.compile(optimizer=fnn.Adam(lr=3e-3), loss="mse")
    history = model.fit(
        x_train,
        y_train,
        epochs=3 if args.quick else args.epochs,
        batch_size=64,
        validation_data=(x_test, y_test),
        seed=0,
        verbose=0,
    )
    prediction = model.predict(x_test)[:, 0]  # predict returns (N, 1)

    # the baseline: least squares on [x, 1]
    design = np.column_stack([x_train, np.ones(len(x_train))])
    coef, *_ = np.linalg.lstsq(design, y_train, rcond=None)
    linear = np.column_stack([x_test, np.ones(len(x_test))]) @ coef

    print(f"{len(history.epoch)} epochs, final training loss {history['loss'][-1]:.4f}")
    print(
        f"test R^2: MLP {r2(y_test, prediction):.3f}, linear {r2(y_test, linear):.3f}"
    )
    if args.plot:
        history.plot(path=args.plot)
        print(f"curves written to {args.plot}")


if __name__ == "__main__":
    main()
