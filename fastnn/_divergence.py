"""The error that stops training on a non-finite loss or update."""


class DivergenceError(FloatingPointError):
    """Training produced a NaN or infinite loss, or an update that would make
    weights infinite or NaN. After a bad loss the model keeps the weights from
    before that step; after a bad update, the weights it would have broken
    keep their previous values (the rest took the step), so every weight
    stays finite. ``history`` holds the completed epochs."""

    def __init__(self, message, history=None):
        super().__init__(message)
        self.history = history


def diverged(cause, loss, epoch, step, history):
    """The DivergenceError for a non-finite ``loss`` (cause "loss") or a
    refused update (cause "update") at ``step`` (None: train_on_batch)."""
    where = "train_on_batch" if step is None else f"epoch {epoch + 1}, step {step + 1}"
    if cause == "loss":
        return DivergenceError(
            f"training diverged: the loss became {loss} at {where}; the weights "
            "from before this step are kept. Lower the learning rate, or check "
            "the inputs' scale.",
            history,
        )
    return DivergenceError(
        f"training diverged: the update at {where} would have made some "
        "weights (or their optimizer state) infinite or NaN; those were "
        "left at their values from before this step, so every weight "
        "stays finite. Lower the learning rate.",
        history,
    )
