"""Training history, the callback base class and early stopping."""

import math

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
    """Per-epoch metrics of a ``fit`` call: ``history.history["loss"]`` etc."""

    def __init__(self):
        self.history = {}
        self.epoch = []
        self.seed = None

    def append(self, epoch, logs):
        self.epoch.append(epoch)
        for key, value in logs.items():
            self.history.setdefault(key, []).append(value)

    def __getitem__(self, key):
        return self.history[key]

    def __repr__(self):
        return f"History(epochs={len(self.epoch)}, keys={sorted(self.history)})"


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
