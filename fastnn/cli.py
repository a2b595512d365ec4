"""The ``fastnn`` command: train, evaluate, predict, export, info."""

import argparse
import json
import math
import os
import platform
import sys
import tempfile
import time

import numpy as np


def _int_at_least(low):
    """An argparse type: an int >= ``low``."""

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < low:
            raise argparse.ArgumentTypeError(
                f"expected an integer >= {low}, got {text!r}"
            )
        return value

    return parse


def _learning_rate(text):
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text!r}")
    return value


def _momentum(text):
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 <= value < 1:  # also false for nan
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text!r}")
    return value


def _hidden(text):
    """Hidden sizes from "512,256"; "none" for no hidden layer."""
    if text.strip().lower() == "none":
        return []
    try:
        sizes = [int(part) for part in text.split(",")]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) < 1:
        # "" or "512,,512" used to drop the empty items silently; an empty
        # list then trained a model without hidden layers nobody asked for
        raise argparse.ArgumentTypeError(
            "expected positive ints separated by commas (e.g. 512,256), or none "
            f"for no hidden layer; got {text!r}"
        )
    return sizes


def build_parser():
    parser = argparse.ArgumentParser(
        prog="fastnn", description="Neural networks from scratch, fast."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train an MLP on MNIST")
    train.add_argument(
        "--hidden",
        type=_hidden,
        default=[512, 512],
        help="hidden layer sizes, comma-separated (default 512,512); none for no "
        "hidden layer (softmax regression)",
    )
    train.add_argument(
        "--activation",
        default="relu",
        choices=["relu", "leaky_relu", "sigmoid", "tanh"],
    )
    train.add_argument("--epochs", type=_int_at_least(0), default=10)
    train.add_argument("--batch-size", type=_int_at_least(1), default=128)
    train.add_argument("--optimizer", default="sgd", choices=["sgd", "adam", "adamw"])
    train.add_argument(
        "--lr",
        type=_learning_rate,
        default=None,
        help="learning rate (default 0.05 for sgd, 0.001 for adam/adamw)",
    )
    train.add_argument(
        "--momentum", type=_momentum, default=0.9, help="SGD momentum, in [0, 1)"
    )
    train.add_argument(
        "--schedule",
        default="cosine",
        choices=["constant", "cosine", "step"],
        help="learning-rate schedule over the epochs (default cosine)",
    )
    train.add_argument("--seed", type=_int_at_least(0), default=0)
    train.add_argument(
        "--data-dir", default=None, help="directory with the MNIST files"
    )
    train.add_argument(
        "--save", default=None, metavar="PATH", help="save the model here"
    )
    train.add_argument(
        "--plot",
        default=None,
        metavar="PATH",
        help="write the loss and accuracy curves per epoch to this image "
        "(.png, .svg, .pdf...; needs matplotlib)",
    )
    train.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    train.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    train.add_argument(
        "--json",
        action="store_true",
        help="print the results as one JSON object on the last line",
    )
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.add_argument(
        "--distributed",
        action="store_true",
        help="data-parallel training over MPI, one process per rank: run as "
        "mpiexec -n N fastnn train --distributed; --batch-size is the global "
        "batch; rank 0 prints and saves",
    )

    evaluate = sub.add_parser(
        "evaluate", help="evaluate a saved model on the MNIST test set"
    )
    evaluate.add_argument("model")
    evaluate.add_argument("--data-dir", default=None)
    evaluate.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    evaluate.add_argument("--json", action="store_true")

    predict = sub.add_parser(
        "predict", help="predict with a saved model on a .npy array"
    )
    predict.add_argument("model")
    predict.add_argument("input", help=".npy file of shape (N, features)")
    predict.add_argument(
        "--output", default=None, help="write outputs to this .npy file"
    )
    predict.add_argument("--device", default="cpu", choices=["cpu", "cuda"])

    export = sub.add_parser(
        "export", help="write a saved model as an ONNX graph (needs onnx)"
    )
    export.add_argument("model")
    export.add_argument("output", help="the .onnx file to write")

    sub.add_parser("info", help="versions, threads, BLAS, cache dir, CUDA")
    return parser


def _check_writable(path, option):
    """Fail now, not after minutes of work, if ``path`` cannot be written."""
    if os.path.isdir(path):
        raise ValueError(f"{option} {path}: is a directory")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ValueError(f"{option} {path}: no such folder {folder}")
    # the model is saved through a temporary file in the same folder, so
    # creating one is the check that matches (os.access is wrong for root)
    try:
        fd, probe = tempfile.mkstemp(prefix=".fastnn-", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise ValueError(
            f"{option} {path}: cannot write in {folder} ({exc.strerror})"
        ) from None
    os.close(fd)
    os.unlink(probe)


def _check_exists(path, kind):
    if os.path.isdir(path):
        raise ValueError(f"{path}: is a directory, not a {kind}")
    if not os.path.exists(path):
        raise ValueError(f"{path}: no such file")


def _load_model(path, device):
    """``fastnn.load_model``; a bad file raises ModelFileError (a ValueError)."""
    import fastnn as fnn

    _check_exists(path, "model file")
    return fnn.load_model(path, device=device)


def _load_array(path):
    """The array in the .npy file ``path``, or a ValueError that says why not."""
    _check_exists(path, ".npy array file")
    with open(path, "rb") as f:
        magic = f.read(len(np.lib.format.MAGIC_PREFIX))
    if magic != np.lib.format.MAGIC_PREFIX:
        raise ValueError(
            f"{path}: not a .npy array file (no .npy header; write one with numpy.save)"
        )
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, EOFError) as exc:
        # NumPy's own message talks about allow_pickle, which the user can't set
        reason = (
            "it holds Python objects, not numbers" if "pickle" in str(exc) else str(exc)
        )
        raise ValueError(f"{path}: not a .npy array file ({reason})") from None


def _train(args):
    import fastnn as fnn

    if args.save:
        _check_writable(args.save, "--save")
    if args.plot:
        _check_plot(args.plot, args.epochs)

    # raw uint8 pixels, scaled by the model a batch at a time: a quarter of
    # the memory of a float32 copy of the dataset
    (x_train, y_train), (x_test, y_test) = fnn.datasets.load_mnist(
        args.data_dir, dtype="uint8"
    )
    sizes = [x_train.shape[1], *args.hidden]
    layers = [
        fnn.Dense(a, b, activation=args.activation) for a, b in zip(sizes, sizes[1:])
    ]
    layers.append(fnn.Dense(sizes[-1], 10))
    model = fnn.Sequential(
        layers, dtype=args.dtype, device=args.device, input_scale=1 / 255
    )
    schedule = {
        "constant": fnn.Constant(),
        "cosine": fnn.CosineDecay(max(args.epochs, 1)),
        "step": fnn.StepDecay(max(args.epochs // 3, 1), 0.1),
    }[args.schedule]
    if args.optimizer == "sgd":
        optimizer = fnn.SGD(
            lr=0.05 if args.lr is None else args.lr,
            momentum=args.momentum,
            schedule=schedule,
        )
    else:
        cls = fnn.Adam if args.optimizer == "adam" else fnn.AdamW
        optimizer = cls(lr=0.001 if args.lr is None else args.lr, schedule=schedule)
    model.compile(optimizer=optimizer, loss="cross_entropy", metrics=["accuracy"])
    # with --distributed, DataParallel trains, evaluates and saves over the
    # ranks (the same calls); only rank 0 prints and writes
    trainer = _data_parallel(model) if args.distributed else model
    root = not args.distributed or trainer.is_root
    if not args.json and root:
        model.summary()
    start = time.perf_counter()
    history = trainer.fit(
        x_train,
        y_train,
        epochs=args.epochs,
        batch_size=args.batch_size,
        seed=args.seed,
        verbose=0 if args.quiet else 1,
    )
    train_time = time.perf_counter() - start
    result = trainer.evaluate(x_test, y_test)
    summary = {
        "test_accuracy": result["accuracy"],
        "test_loss": result["loss"],
        "train_loss": history["loss"][-1] if history.epoch else None,
        "epochs": args.epochs,
        "wall_time_s": train_time,
        "samples_per_s": len(x_train) * args.epochs / train_time
        if train_time
        else None,
        "device": args.device,
        "ranks": trainer.size if args.distributed else 1,
    }
    if args.save:
        trainer.save(args.save)
        summary["saved"] = args.save
    if not root:
        return
    if args.plot:
        from fastnn import _plotting

        _plotting.plot_history(history, path=args.plot, pyplot=False)
        summary["plot"] = args.plot
    if args.json:
        print(json.dumps(summary))
    else:
        print(
            f"test accuracy {summary['test_accuracy']:.4f}  test loss "
            f"{summary['test_loss']:.4f}  wall time {train_time:.1f}s  "
            f"{summary['samples_per_s']:,.0f} samples/s"
        )
        if args.save:
            print(f"saved to {args.save}")
        if args.plot:
            print(f"curves written to {args.plot}")


def _data_parallel(model):
    """--distributed: the model wrapped for data-parallel training over MPI."""
    try:
        from fastnn.distributed import DataParallel

        return DataParallel(model)
    except ImportError as exc:
        raise RuntimeError(f"--distributed: {exc}") from None


def _check_plot(path: str, epochs: int) -> None:
    """--plot's checks, before the data loads: matplotlib, the format, the
    folder, and at least one epoch to draw."""
    from fastnn import _plotting

    try:
        _plotting.require_matplotlib()
    except ImportError as exc:
        raise RuntimeError(f"--plot: {exc}") from None
    _plotting.check_image_path(path, "--plot")
    _check_writable(path, "--plot")
    if epochs == 0:
        raise ValueError("--plot: --epochs 0 trains no epoch to draw")


def _evaluate(args):
    import fastnn as fnn

    model = _load_model(args.model, args.device)
    if model.loss is None:
        raise ValueError(
            f"{args.model}: the model was saved without compile(); cannot evaluate"
        )
    # a model trained on raw pixels (input_scale) reads them raw again
    raw = model.input_scale is not None
    _, (x_test, y_test) = fnn.datasets.load_mnist(
        args.data_dir, dtype="uint8" if raw else "float32"
    )
    result = model.evaluate(x_test, y_test)
    print(
        json.dumps(result)
        if args.json
        else "  ".join(f"{k} {v:.4f}" for k, v in result.items())
    )


def _predict(args):
    output = args.output
    if output:
        # np.save adds the suffix itself; name the file it really writes
        output += "" if output.endswith(".npy") else ".npy"
        _check_writable(output, "--output")
    model = _load_model(args.model, args.device)
    outputs = model.predict(_load_array(args.input))
    if output:
        np.save(output, outputs)
        print(f"wrote {outputs.shape} outputs to {output}")
    else:
        for row in outputs.argmax(axis=1) if outputs.shape[1] > 1 else outputs[:, 0]:
            print(row)


def _export(args):
    from fastnn import _onnx

    try:
        _onnx.require_onnx()  # before loading: say what to install first
    except ImportError as exc:
        raise RuntimeError(str(exc)) from None
    _check_writable(args.output, "output")
    model = _load_model(args.model, "cpu")
    model.to_onnx(args.output)
    print(f"wrote {args.output} (ONNX opset {_onnx.OPSET})")


def info_lines():
    import numba
    import scipy

    import fastnn
    from fastnn import kernels

    lines = [
        f"fastnn {fastnn.__version__}",
        f"python {platform.python_version()} ({platform.machine()}, {os.cpu_count()} CPUs)",
        f"numpy {np.__version__}, scipy {scipy.__version__}, numba {numba.__version__}",
        f"numba threads: {numba.get_num_threads()} (layer: {numba.config.THREADING_LAYER}); "
        "fastnn kernels are serial, BLAS is threaded",
    ]
    try:
        import scipy.linalg.cython_blas  # noqa: F401 - the BLAS the kernels call
        from threadpoolctl import threadpool_info

        ours = "mkl" if kernels.cpu_blas() == "mkl" else "scipy.libs"
        for pool in threadpool_info():
            if pool.get("user_api") != "blas":
                continue
            user = "fastnn kernels" if ours in pool["filepath"] else "numpy/scipy"
            lines.append(
                f"BLAS ({user}): "
                f"{pool.get('internal_api')} {pool.get('version')} "
                f"({pool.get('threading_layer')}, {pool.get('num_threads')} threads, "
                f"{pool.get('architecture')}) from {pool.get('filepath')}"
            )
    except ImportError:
        lines.append("BLAS: install threadpoolctl to see which BLAS is loaded")
    lines.append(
        f"CPU matrix products: {kernels.cpu_blas()} (FASTNN_CPU_BLAS=auto|mkl|openblas)"
    )
    lines.append(f"  chosen by {kernels.cpu_blas_reason()}")
    lines.append(f"kernel cache: {kernels.cache_dir() or 'disabled'}")
    reason = kernels.cuda_unavailable_reason()
    if reason is None:
        from fastnn.kernels import _cuda_api

        dev = _cuda_api.cuda_module().get_current_device()
        name = dev.name.decode() if isinstance(dev.name, bytes) else dev.name
        lines.append(f"CUDA: available ({name}; kernels by {_cuda_api.package()})")
    else:
        lines.append(f"CUDA: unavailable ({reason})")
    return lines


def main(argv=None):
    """Run the command in ``argv``; the exit status: 0, 1 on an error, 2 on bad
    arguments (argparse exits), 130 on Ctrl-C."""
    try:
        args = build_parser().parse_args(argv)
        if args.command == "train":
            _train(args)
        elif args.command == "evaluate":
            _evaluate(args)
        elif args.command == "predict":
            _predict(args)
        elif args.command == "export":
            _export(args)
        else:
            print("\n".join(info_lines()))
    # FloatingPointError: fastnn.DivergenceError, a lost training run
    except (ValueError, RuntimeError, OSError, FloatingPointError) as exc:
        print(f"fastnn: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("fastnn: interrupted", file=sys.stderr)
        return 130  # 128 + SIGINT, as shells report it
    return 0


def console_main():
    """Entry point of the ``fastnn`` console script."""
    sys.exit(main())
