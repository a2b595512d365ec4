"""Counting correct predictions on the GPU (one integer comes back)."""

import numpy as np

from .._cuda_api import cuda_module
from ._launch import accumulator, as_device, flat, grid_1d

cuda = cuda_module()


@cuda.jit
def _count_correct(logits, labels, acc):
    rows, cols = logits.shape
    start, stride = cuda.grid(1), cuda.gridsize(1)
    for i in range(start, rows, stride):
        best = 0
        for j in range(1, cols):
            if logits[i, j] > logits[i, best]:
                best = j
        if best == labels[i]:
            cuda.atomic.add(acc, 0, 1)


def count_correct(logits, labels):
    """Rows whose arg-max equals the label (no argument checks)."""
    logits, labels = as_device(logits), as_device(labels)
    acc = accumulator(np.int64, 1)
    _count_correct[grid_1d(logits.shape[0])](logits, labels, acc)
    return int(acc.copy_to_host()[0])


@cuda.jit
def _count_correct_binary(logits, target, acc):
    start, stride = cuda.grid(1), cuda.gridsize(1)
    for i in range(start, logits.size, stride):
        if (logits[i] > 0) == (target[i] > 0.5):
            cuda.atomic.add(acc, 0, 1)


def count_correct_binary(logits, target):
    """Elements where (logit > 0) equals (target > 0.5) (no argument checks)."""
    logits, target = flat(as_device(logits)), flat(as_device(target))
    acc = accumulator(np.int64, 1)
    _count_correct_binary[grid_1d(logits.size)](logits, target, acc)
    return int(acc.copy_to_host()[0])
