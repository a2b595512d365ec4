"""The epoch loop behind ``Sequential.fit``: argument checks, shuffling,
mini-batch gathering, dropout noise, progress display, validation and
callbacks. The step itself (forward, loss, backward, update) is the model's
``_train_step``; this module only drives it."""

import math
import sys
import time

import numpy as np
from tqdm.auto import tqdm

from fastnn import _compiled_epoch, _inputs
from fastnn._divergence import diverged
from fastnn.callbacks import History, as_hooks


def fit(
    model,
    x,
    y,
    epochs,
    batch_size,
    validation_data,
    validation_split,
    shuffle,
    seed,
    verbose,
    callbacks,
    sample_weight=None,
    class_weight=None,
):
    """``Sequential.fit``: check the arguments, then train under the model's
    training lock."""
    run = checked_arguments(
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
    if seed is None:
        seed = fresh_seed()
    with model._training:
        return _fit_epochs(
            model,
            run.x,
            run.y,
            epochs,
            run.batch,
            run.validation_data,
            shuffle,
            seed,
            run.verbose,
            run.callbacks,
            run.weights,
        )


class CheckedRun:
    """fit's arguments checked and converted (see ``checked_arguments``)."""

    def __init__(self, x, y, weights, validation_data, batch, verbose, callbacks):
        self.x, self.y, self.weights = x, y, weights
        self.validation_data = validation_data
        self.batch, self.verbose, self.callbacks = batch, verbose, callbacks


def fresh_seed():
    """A seed for a run that was given none (saved in ``History.seed``)."""
    return int(np.random.SeedSequence().entropy % (2**63))


def checked_arguments(
    model,
    x,
    y,
    epochs,
    batch_size,
    validation_data,
    validation_split,
    verbose,
    callbacks,
    sample_weight=None,
    class_weight=None,
):
    """fit's arguments checked (ValueError/TypeError naming the problem) and
    converted: the training rows after any validation split, their weights,
    the validation pair, the batch size, verbosity and callback hooks."""
    model._require_compiled()
    if (
        isinstance(epochs, bool)
        or not isinstance(epochs, (int, np.integer))
        or epochs < 0
    ):
        raise ValueError(f"epochs: expected an int >= 0, got {epochs!r}")
    x, y = model._check_xy(x, y)
    # sample weights are checked against all rows, class weights (and the
    # "all zero" test) against the rows that train, after any split
    weights = model._check_weights(sample_weight, None, y)
    if not 0 <= validation_split < 1:
        raise ValueError(
            f"validation_split: must be in [0, 1), got {validation_split!r}"
        )
    if validation_data is not None and validation_split:
        raise ValueError("pass either validation_data or validation_split, not both")
    if validation_split:
        n_val = int(round(len(x) * validation_split))
        if n_val < 1 or n_val >= len(x):
            raise ValueError(
                f"validation_split={validation_split} leaves no samples on one side "
                f"of {len(x)} samples"
            )
        x, x_val = x[:-n_val], x[-n_val:]
        y, y_val = y[:-n_val], y[-n_val:]
        validation_data = (x_val, y_val)
        if weights is not None:  # validation is unweighted, as in Keras
            weights = weights[:-n_val]
    elif validation_data is not None:
        if len(validation_data) != 2:
            raise ValueError("validation_data: expected a pair (x_val, y_val)")
        validation_data = model._check_xy(
            *validation_data, "validation x", "validation y"
        )
    if weights is not None or class_weight is not None:
        weights = model._check_weights(weights, class_weight, y)
    return CheckedRun(
        x,
        y,
        weights,
        validation_data,
        _inputs.batch_size(batch_size, len(x)),
        _check_verbose(verbose),
        as_hooks(callbacks),
    )


def _fit_epochs(
    model,
    x,
    y,
    epochs,
    batch,
    validation_data,
    shuffle,
    seed,
    verbose,
    callbacks,
    weights,
):
    model._ensure_built(seed)
    be = model._backend
    x_dev, y_dev = be.to_device(x), be.to_device(y)

    def train_epoch(epoch, last_epoch, history, show_bar):
        return _train_epoch(
            model,
            x_dev,
            y_dev,
            len(x),
            batch,
            epoch,
            seed,
            shuffle,
            show_bar,
            last_epoch,
            history,
            weights,
        )

    validate = None
    if validation_data is not None:

        def validate():
            return model._evaluate_arrays(*validation_data, batch_size=max(batch, 1024))

    return run_epochs(model, epochs, seed, verbose, callbacks, train_epoch, validate)


def run_epochs(model, epochs, seed, verbose, callbacks, train_epoch, validate=None):
    """The epoch loop of ``fit`` and ``DataParallel.fit``: callbacks, the
    epoch count, validation, the per-epoch line, the ``History``.

    ``train_epoch(epoch, last_epoch, history, show_bar)`` trains one epoch
    and returns its logs; ``validate()``, when given, returns the validation
    metrics, logged with a ``val_`` prefix."""
    history = History()
    history.seed = seed
    # a progress bar redrawn in a log file is one endless line: off a
    # terminal, verbose=1 prints one line per epoch instead
    show_bar = verbose == 1 and _is_terminal(sys.stderr)
    for cb in callbacks:
        cb.on_train_begin(model)
    first = model.epochs_trained
    for epoch in range(first, first + epochs):
        logs = train_epoch(epoch, first + epochs, history, show_bar)
        if validate is not None:
            logs.update({f"val_{k}": v for k, v in validate().items()})
        model.epochs_trained = epoch + 1
        history.append(epoch, logs)
        if verbose:
            _print_epoch(epoch, first + epochs, logs)
        if any([cb.on_epoch_end(model, epoch, logs) for cb in callbacks]):
            break
    for cb in callbacks:
        cb.on_train_end(model)
    return history


def epoch_streams(seed, epoch, n, shuffle):
    """An epoch's row order and its dropout-noise generator, both derived
    from (seed, epoch): the same on every run, rank and device."""
    rng = np.random.default_rng([seed, epoch])
    noise_rng = np.random.default_rng([seed, epoch, 1])
    order = rng.permutation(n) if shuffle else np.arange(n)
    return order, noise_rng


def progress_bar(steps, epoch, last_epoch, show):
    """An epoch's progress bar over ``steps`` steps (inert unless ``show``)."""
    return tqdm(
        total=steps,
        desc=f"Epoch {epoch + 1}/{last_epoch}",
        unit="step",
        disable=not show,
        leave=False,
        mininterval=0.5,
    )


def _train_epoch(
    model,
    x_dev,
    y_dev,
    n,
    batch,
    epoch,
    seed,
    shuffle,
    show_bar,
    last_epoch,
    history,
    weights,
):
    be = model._backend
    order, noise_rng = epoch_streams(seed, epoch, n, shuffle)
    order_dev = be.to_device(order)
    steps = math.ceil(n / batch)
    # the epoch loss is the mean over samples, or with weights the weighted
    # mean: each batch's loss is its weighted mean, counted by its weight
    loss_sum, total, correct = 0.0, 0.0, 0
    track_accuracy = "accuracy" in model.metrics
    bar = progress_bar(steps, epoch, last_epoch, show_bar)
    start = time.perf_counter()
    compiled = None
    if _compiled_epoch.plan(model, weights):
        compiled = _compiled_epoch.CompiledSteps(
            model, x_dev, y_dev, order, batch, epoch, track_accuracy, weights,
            noise_rng,
        )  # fmt: skip
    elif be.name == "cuda":
        from fastnn import _cuda_graphs  # imports the CUDA kernels

        if _cuda_graphs.plan(model, weights):
            compiled = _cuda_graphs.GraphSteps(
                model, x_dev, y_dev, order, batch, epoch, track_accuracy
            )
    # compiled runs return to Python about every 0.1 s: for the progress bar,
    # and so that Ctrl-C (handled only in Python) stops training promptly
    chunk, k = 8, 0
    with bar:
        while k < steps:
            if compiled is not None and k < compiled.steps:
                began = time.perf_counter()
                stop = min(compiled.steps, k + chunk)
                done, loss_sum, right, status, loss = compiled.run(k, stop, loss_sum)
                correct += right
                if weights is None:
                    total += min(done * batch, n) - k * batch
                else:  # as the step path adds them, one batch at a time
                    for j in range(k, done):
                        total += compiled.counts[j]
                bar.update(done - k)
                if status:
                    cause = "loss" if status == 1 else "update"
                    raise diverged(cause, loss, epoch, done, history)
                k = done
                if show_bar and total:
                    bar.set_postfix(loss=f"{loss_sum / total:.4f}", refresh=False)
                spent = max(time.perf_counter() - began, 1e-6)
                chunk = max(1, min(4 * chunk, int(chunk * 0.1 / spent)))
                continue
            lo, hi = k * batch, min(n, (k + 1) * batch)
            bufs = model._train_buffers(hi - lo)
            be.gather_inputs(
                x_dev, order_dev[lo:hi], bufs.acts[0], model._input_multiplier
            )
            be.take_rows(y_dev, order_dev[lo:hi], bufs.targets)
            model._draw_noise(bufs, noise_rng)
            count = hi - lo
            if weights is not None:
                count = model._set_batch_weights(bufs, weights[order[lo:hi]])
            loss = model._train_step(
                bufs, bufs.acts[0], epoch, k, history, weighted=weights is not None
            )
            if track_accuracy:
                correct += model.loss.correct(be.ops, bufs.acts[-1], bufs.targets)
            loss_sum += loss * count
            total += count
            bar.update(1)
            if show_bar and k % 50 == 49 and total:
                bar.set_postfix(loss=f"{loss_sum / total:.4f}", refresh=False)
            k += 1
    be.synchronize()
    logs = {"loss": loss_sum / total if total else 0.0}
    if track_accuracy:
        logs["accuracy"] = correct / (n * model._accuracy_units())
    logs["time_s"] = time.perf_counter() - start
    return logs


def _print_epoch(epoch, last_epoch, logs):
    parts = [f"Epoch {epoch + 1}/{last_epoch}"]
    for key, value in logs.items():
        parts.append(f"{key}={value:.2f}s" if key == "time_s" else f"{key}={value:.4f}")
    tqdm.write(" - ".join(parts))


def _check_verbose(verbose):
    if isinstance(verbose, bool):
        return int(verbose)
    if verbose not in (0, 1, 2):
        raise ValueError(f"verbose: expected 0, 1 or 2, got {verbose!r}")
    return verbose


def _is_terminal(stream):
    try:
        return stream is not None and stream.isatty()
    except (AttributeError, ValueError):  # closed or replaced streams
        return False
