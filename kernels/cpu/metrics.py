"""Counting correct predictions without allocating (CPU)."""

from .._jit import cpu_jit


@cpu_jit
def count_correct(logits, labels):
    """Rows whose arg-max (first on ties) equals the label. logits (B, C), labels (B,)."""
    rows, cols = logits.shape
    correct = 0
    for i in range(rows):
        best = 0
        for j in range(1, cols):
            if logits[i, j] > logits[i, best]:
                best = j
        correct += best == labels[i]
    return correct


@cpu_jit
def count_correct_binary(logits, target):
    """Elements where (logit > 0) equals (target > 0.5); any matching shapes."""
    flat_x = logits.reshape(logits.size)
    flat_t = target.reshape(target.size)
    correct = 0
    for i in range(flat_x.size):
        correct += (flat_x[i] > 0) == (flat_t[i] > 0.5)
    return correct
