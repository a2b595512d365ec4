"""Fused softmax cross-entropy."""

import numpy as np

from fastnn import kernels

from .common import rng


class SoftmaxCrossEntropy:
    params = ([(128, 10), (1024, 10), (256, 1000)], ["float32", "float64"])
    param_names = ("shape", "dtype")

    def setup(self, shape, dtype):
        r = rng(2)
        self.logits = r.standard_normal(shape).astype(dtype)
        self.labels = r.integers(0, shape[1], shape[0])
        self.dlogits = np.empty_like(self.logits)
        kernels.softmax_cross_entropy(self.logits, self.labels, self.dlogits)

    def time_softmax_cross_entropy(self, shape, dtype):
        kernels.softmax_cross_entropy(self.logits, self.labels, self.dlogits)
