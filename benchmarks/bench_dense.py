"""Dense layer kernels: forward (fused bias + activation) and backward."""

import numpy as np

from fastnn import kernels

from .common import DENSE_SHAPES, dense_inputs


class DenseForward:
    params = (DENSE_SHAPES, ["float32", "float64"], ["identity", "relu"])
    param_names = ("shape", "dtype", "activation")

    def setup(self, shape, dtype, activation):
        self.x, self.w, self.b = dense_inputs(*shape, dtype=np.dtype(dtype))
        self.out = np.empty((shape[0], shape[2]), dtype)
        self.activation = activation
        kernels.dense_forward(self.x, self.w, self.b, self.out, activation)  # compile

    def time_dense_forward(self, shape, dtype, activation):
        kernels.dense_forward(self.x, self.w, self.b, self.out, self.activation)


class DenseBackward:
    params = (DENSE_SHAPES, ["float32", "float64"])
    param_names = ("shape", "dtype")

    def setup(self, shape, dtype):
        self.x, self.w, self.b = dense_inputs(*shape, dtype=np.dtype(dtype))
        self.out = np.empty((shape[0], shape[2]), dtype)
        kernels.dense_forward(self.x, self.w, self.b, self.out, "relu")
        self.dout = np.ones_like(self.out)
        self.dx = np.empty_like(self.x)
        self.dw = np.empty_like(self.w)
        self.db = np.empty_like(self.b)
        self.time_dense_backward(shape, dtype)  # compile

    def time_dense_backward(self, shape, dtype):
        kernels.dense_backward(
            self.x, self.w, self.out, self.dout, self.dx, self.dw, self.db, "relu"
        )
