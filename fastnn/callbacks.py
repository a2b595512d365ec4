"""Training history, the callback base class and early stopping."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

#: The hooks ``fit`` calls, in order of a run.
HOOKS = ("on_train_begin", "on_epoch_end", "on_train_end")


class Callback:
    """Base class for ``fit(callbacks=[...])``: override the hooks you need.

    ``on_train_begin(model)``; ``on_epoch_end(model, epoch, logs)`` returns
    True to stop training (``logs``: the epoch's metrics); ``on_train_end(model)``.
    Any object with some of these methods works too; missing hooks are skipped.
    """

    def on_train_begin(self, model):
        pass

    def on_epoch_end(self, model, epoch, logs):
        return False

    def on_train_end(self, model):
        pass


class _Hooks:
    """A user's callback with no-op stand-ins for the hooks it lacks."""

    def __init__(self, callback):
        base = Callback()
        for name in HOOKS:
            hook = getattr(callback, name, None)
            if hook is not None and not callable(hook):
                raise TypeError(
                    f"callbacks: {type(callback).__name__}.{name} is not callable"
                )
            setattr(self, name, hook if hook is not None else getattr(base, name))


def as_hooks(callbacks):
    """fit's ``callbacks`` checked and completed: a list of objects with all
    three hooks. Refuses a non-list and objects without any hook."""
    if callbacks is None:
        return []
    if isinstance(callbacks, Callback) or not hasattr(callbacks, "__iter__"):
        raise TypeError("callbacks: expected a list of callbacks")
    hooks = []
    for i, cb in enumerate(callbacks):
        if not any(hasattr(cb, name) for name in HOOKS):
            raise TypeError(
                f"callbacks[{i}]: {type(cb).__name__} has none of the hooks "
                f"{HOOKS}; subclass fastnn.Callback"
            )
        hooks.append(_Hooks(cb))
    return hooks


class History:
    """Per-epoch metrics of a ``fit`` call, as ``fit`` returns them.

    Attributes
    ----------
    history : dict of str to list of float
        One list per logged name, one value per epoch: ``"loss"``, each
        compiled metric (``"accuracy"``), ``"time_s"`` (the epoch's seconds)
        and, with validation data, ``"val_loss"``, ``"val_accuracy"``...
        ``history["loss"]`` is ``history.history["loss"]``.
    epoch : list of int
        The epochs trained, counted from 0 and continuing across ``fit`` calls
        on one model (a second ``fit(epochs=2)`` logs epochs 2 and 3).
    seed : int or None
        The ``seed`` passed to ``fit``.
    """

    def __init__(self) -> None:
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []
        self.seed: int | None = None

    def append(self, epoch: int, logs: Mapping[str, float]) -> None:
        self.epoch.append(epoch)
        for key, value in logs.items():
            self.history.setdefault(key, []).append(value)

    def __getitem__(self, key: str) -> list[float]:
        return self.history[key]

    def __repr__(self) -> str:
        return f"History(epochs={len(self.epoch)}, keys={sorted(self.history)})"

    def plot(
        self,
        keys: Sequence[str] | None = None,
        *,
        ax: Axes | Sequence[Axes] | None = None,
        path: str | os.PathLike[str] | None = None,
    ) -> Figure:
        """Draw the loss and metric curves per epoch with matplotlib.

        One subplot per quantity (loss, accuracy...), side by side; each shows
        the training curve and, when ``fit`` had validation data, the
        validation curve (the ``val_*`` values) on the same axes, against the
        epoch counted from 1 as ``fit`` prints it.

        Parameters
        ----------
        keys : sequence of str, optional
            The quantities to draw, e.g. ``["loss"]`` (or ``"loss"``), named
            without the ``val_`` prefix. Default: every logged quantity
            except ``time_s``, the loss first.
        ax : matplotlib Axes or sequence of Axes, optional
            Draw into these (one per quantity, in order; the array
            ``plt.subplots`` returns works) instead of a new figure.
        path : str or os.PathLike, optional
            Also save the figure here; the suffix picks the format (``.png``,
            ``.pdf``, ``.svg``...), as in ``Figure.savefig``.

        Returns
        -------
        matplotlib.figure.Figure
            The figure drawn on: a new pyplot figure (``plt.show()`` shows
            it), or the figure of ``ax``.

        Raises
        ------
        ImportError
            If matplotlib is not installed: ``pip install ".[plot]"`` from the
            fastnn clone installs it.
        ValueError
            If the history is empty (no epoch trained), ``keys`` names a
            quantity that was not logged, or ``ax`` holds a different number
            of Axes than there are quantities.

        Examples
        --------
        >>> history = model.fit(x, y, epochs=10, validation_split=0.1)  # doctest: +SKIP
        >>> fig = history.plot(path="curves.png")  # doctest: +SKIP
        """
        from fastnn._plotting import plot_history

        return plot_history(self, keys, ax=ax, path=path)


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience``
    epochs; with ``restore_best_weights`` the model ends with the best epoch's
    weights. ``mode``: "min", "max", or "auto" (max for accuracy, else min)."""

    def __init__(
        self,
        monitor="val_loss",
        patience=3,
        min_delta=0.0,
        mode="auto",
        restore_best_weights=True,
    ):
        if int(patience) < 0:
            raise ValueError(f"patience: must be >= 0, got {patience!r}")
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"mode: expected 'auto', 'min' or 'max', got {mode!r}")
        self.monitor = monitor
        self.patience = int(patience)
        self.min_delta = abs(float(min_delta))
        self.mode = ("max" if "acc" in monitor else "min") if mode == "auto" else mode
        self.restore_best_weights = restore_best_weights
        self.stopped_epoch = None

    def on_train_begin(self, model):
        self.best = -math.inf if self.mode == "max" else math.inf
        self.wait = 0
        self.best_weights = None
        self.stopped_epoch = None

    def on_epoch_end(self, model, epoch, logs):
        """Return True to stop training."""
        if self.monitor not in logs:
            raise ValueError(
                f"EarlyStopping: monitor {self.monitor!r} is not among the logged "
                f"metrics {sorted(logs)} (val_* needs validation data)"
            )
        value = logs[self.monitor]
        better = (
            value > self.best + self.min_delta
            if self.mode == "max"
            else value < self.best - self.min_delta
        )
        if better:
            self.best, self.wait = value, 0
            if self.restore_best_weights:
                self.best_weights = model.get_weights()
            return False
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            return True
        return False

    def on_train_end(self, model):
        if self.restore_best_weights and self.best_weights is not None:
            model.set_weights(self.best_weights)
