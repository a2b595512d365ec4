"""Model losses: each wraps one fused kernel and knows its targets' form."""


class Loss:
    """Base class. ``__call__(ops, outputs, targets, grad, weights=None)``
    returns the batch mean loss and writes dL/doutputs into ``grad`` (when
    not None); ``weights`` (B,) scale each row's term (see the kernels)."""

    name = ""
    #: dtype kind of targets: "labels" (int class ids) or "values" (floats).
    target_kind = "values"
    #: (low, high) bounds of "values" targets, or None for any real number.
    target_range = None

    def __repr__(self):
        return f"{type(self).__name__}()"


class CrossEntropy(Loss):
    """Softmax cross-entropy on logits (B, C) against integer labels (B,)."""

    name = "cross_entropy"
    target_kind = "labels"

    def __call__(self, ops, outputs, targets, grad, weights=None):
        return ops.softmax_cross_entropy(outputs, targets, grad, weights)

    def correct(self, ops, outputs, targets):
        return ops.count_correct(outputs, targets)


class MSE(Loss):
    """Mean squared error over all output elements."""

    name = "mse"

    def __call__(self, ops, outputs, targets, grad, weights=None):
        return ops.mse(outputs, targets, grad, weights)

    correct = None


class BinaryCrossEntropy(Loss):
    """Binary cross-entropy on logits against targets in [0, 1] (stable form)."""

    name = "binary_cross_entropy"
    target_range = (0.0, 1.0)

    def __call__(self, ops, outputs, targets, grad, weights=None):
        return ops.binary_cross_entropy_with_logits(outputs, targets, grad, weights)

    def correct(self, ops, outputs, targets):
        return ops.count_correct_binary(outputs, targets)


LOSSES = {cls.name: cls for cls in (CrossEntropy, MSE, BinaryCrossEntropy)}


def get(loss):
    """A Loss from an instance or one of the names in ``LOSSES``."""
    if isinstance(loss, Loss):
        return loss
    if not isinstance(loss, str) or loss not in LOSSES:
        raise ValueError(f"loss: unknown {loss!r}; expected one of {tuple(LOSSES)}")
    return LOSSES[loss]()
