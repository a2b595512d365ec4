"""Handwritten digits: a 784-256-10 MLP on MNIST, trained on the raw uint8
pixels (the model scales each batch as it reads it), with the test set as
validation data, then saved and loaded back.

The four MNIST files are read from ``$FASTNN_DATA_DIR`` when it is set, else
downloaded once into ``~/.cache/fastnn/mnist`` (see ``fastnn.datasets``).

Run::

    python examples/mnist.py                      # 5 epochs, about 97.5% test accuracy
    FASTNN_DATA_DIR=/path/to/mnist python examples/mnist.py --plot curves.png
    python examples/mnist.py --quick              # 2,000 images, 1 epoch
"""

import argparse
import io

import fastnn as fnn


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--plot", metavar="PATH", help="write the curves here")
    parser.add_argument(
        "--quick", action="store_true", help="2,000 training images, 1 epoch"
    )
    args = parser.parse_args()

    (x_train, y_train), (x_test, y_test) = fnn.datasets.load_mnist(dtype="uint8")
    epochs = args.epochs
    if args.quick:
        x_train, y_train, x_test, y_test = (
            x_train[:2000],
            y_train[:2000],
            x_test[:1000],
            y_test[:1000],
        )
        epochs = 1

    model = fnn.Sequential(
        [fnn.Dense(784, 256, activation="relu"), fnn.Dense(256, 10)],
        input_scale=1 / 255,  # uint8 pixels to [0, 1], a batch at a time
        seed=0,
    )
    model.compile(
        optimizer=fnn.SGD(lr=0.05, momentum=0.9, schedule=fnn.CosineDecay(epochs)),
        loss="cross_entropy",
        metrics=["accuracy"],
    )
    history = model.fit(
        x_train,
        y_train,
        epochs=epochs,
        batch_size=128,
        validation_data=(x_test, y_test),
        seed=0,
        verbose=2,  # one line per epoch
    )
    print(f"test accuracy: {history['val_accuracy'][-1]:.4f}")

    # a round trip through the model file format, in memory
    buffer = io.BytesIO()
    model.save(buffer)
    same = fnn.load_model(buffer.getvalue())
    assert (same.predict(x_test[:100]) == model.predict(x_test[:100])).all()
    print(f"saved and reloaded: {buffer.tell() / 1e6:.1f} MB, same predictions")

    if args.plot:
        history.plot(path=args.plot)
        print(f"curves written to {args.plot}")


if __name__ == "__main__":
    main()
