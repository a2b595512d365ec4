"""End to end: a small MLP learns MNIST."""

import fastnn as fnn


def test_small_mlp_reaches_97_percent_on_mnist(mnist_dir):
    (x_train, y_train), (x_test, y_test) = fnn.datasets.load_mnist(mnist_dir)
    model = fnn.Sequential([fnn.Dense(784, 256, activation="relu"), fnn.Dense(256, 10)])
    model.compile(
        optimizer=fnn.SGD(lr=0.05, momentum=0.9, schedule=fnn.CosineDecay(4)),
        loss="cross_entropy",
        metrics=["accuracy"],
    )
    model.fit(x_train, y_train, epochs=4, batch_size=128, seed=0, verbose=0)
    assert model.evaluate(x_test, y_test)["accuracy"] >= 0.97
