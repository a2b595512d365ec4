"""Training history and early stopping."""

import math


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


class EarlyStopping:
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
