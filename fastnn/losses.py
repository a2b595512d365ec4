"""Model losses: each wraps one fused kernel and knows its targets' form."""

from __future__ import annotations

from typing import Any, Callable


class Loss:
    """Base class. ``__call__(ops, outputs, targets, grad, weights=None)``
    returns the batch mean loss and writes dL/doutputs into ``grad`` (when
    not None); ``weights`` (B,) scale each row's term (see the kernels)."""

    name = ""
    #: dtype kind of targets: "labels" (int class ids) or "values" (floats).
    target_kind = "values"
    #: (low, high) bounds of "values" targets, or None for any real number.
    target_range: tuple[float, float] | None = None
    #: ``correct(ops, outputs, targets)`` counting right predictions, or None
    #: where accuracy is undefined.
    correct: Callable[..., int] | None

    def __call__(
        self, ops: Any, outputs: Any, targets: Any, grad: Any, weights: Any = None
    ) -> float:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class CrossEntropy(Loss):
    """Softmax cross-entropy on logits (B, C) against integer labels (B,)."""

    name = "cross_entropy"
    target_kind = "labels"

    def __call__(
        self, ops: Any, outputs: Any, targets: Any, grad: Any, weights: Any = None
    ) -> float:
        """The batch mean loss, and its gradient written into ``grad``.

        Parameters
        ----------
        ops : module
            The kernel module of the model's device.
        outputs : array (B, O)
            The network's outputs, logits.
        targets : array
            Integer class labels (B,).
        grad : array (B, O) or None
            Where dL/doutputs is written (already divided by B); None skips it.
        weights : array (B,), optional
            Per-row weights multiplying each row's term (the sum is still
            divided by B).

        Returns
        -------
        float
            The batch mean loss.
        """
        return ops.softmax_cross_entropy(outputs, targets, grad, weights)

    def correct(self, ops: Any, outputs: Any, targets: Any) -> int:
        """How many predictions are right.

        Parameters
        ----------
        ops : module
            The kernel module of the model's device.
        outputs : array (B, O)
            The network's outputs, logits.
        targets : array
            Integer class labels (B,).

        Returns
        -------
        int
            Rows whose largest logit is at their label.
        """
        return ops.count_correct(outputs, targets)


class MSE(Loss):
    """Mean squared error over all output elements."""

    name = "mse"

    def __call__(
        self, ops: Any, outputs: Any, targets: Any, grad: Any, weights: Any = None
    ) -> float:
        """The batch mean loss, and its gradient written into ``grad``.

        Parameters
        ----------
        ops : module
            The kernel module of the model's device.
        outputs : array (B, O)
            The network's outputs.
        targets : array
            Real targets (B, O).
        grad : array (B, O) or None
            Where dL/doutputs is written (already divided by B); None skips it.
        weights : array (B,), optional
            Per-row weights multiplying each row's term (the sum is still
            divided by B).

        Returns
        -------
        float
            The batch mean loss.
        """
        return ops.mse(outputs, targets, grad, weights)

    correct = None


class BinaryCrossEntropy(Loss):
    """Binary cross-entropy on logits against targets in [0, 1] (stable form)."""

    name = "binary_cross_entropy"
    target_range = (0.0, 1.0)

    def __call__(
        self, ops: Any, outputs: Any, targets: Any, grad: Any, weights: Any = None
    ) -> float:
        """The batch mean loss, and its gradient written into ``grad``.

        Parameters
        ----------
        ops : module
            The kernel module of the model's device.
        outputs : array (B, O)
            The network's outputs, logits.
        targets : array
            Targets in [0, 1] (B, O).
        grad : array (B, O) or None
            Where dL/doutputs is written (already divided by B); None skips it.
        weights : array (B,), optional
            Per-row weights multiplying each row's term (the sum is still
            divided by B).

        Returns
        -------
        float
            The batch mean loss.
        """
        return ops.binary_cross_entropy_with_logits(outputs, targets, grad, weights)

    def correct(self, ops: Any, outputs: Any, targets: Any) -> int:
        """How many predictions are right.

        Parameters
        ----------
        ops : module
            The kernel module of the model's device.
        outputs : array (B, O)
            The network's outputs, logits.
        targets : array
            Targets in [0, 1] (B, O).

        Returns
        -------
        int
            Output elements whose sign (logit > 0) matches target > 0.5;
            each row counts O times.
        """
        return ops.count_correct_binary(outputs, targets)


LOSSES: dict[str, type[Loss]] = {
    cls.name: cls for cls in (CrossEntropy, MSE, BinaryCrossEntropy)
}


def get(loss: Loss | str) -> Loss:
    """A Loss from an instance or one of the names in ``LOSSES``.

    Parameters
    ----------
    loss : Loss or str
        A Loss (returned as it is) or ``"cross_entropy"``, ``"mse"``,
        ``"binary_cross_entropy"``.

    Returns
    -------
    Loss

    Raises
    ------
    ValueError
        For anything else.
    """
    if isinstance(loss, Loss):
        return loss
    if not isinstance(loss, str) or loss not in LOSSES:
        raise ValueError(f"loss: unknown {loss!r}; expected one of {tuple(LOSSES)}")
    return LOSSES[loss]()
