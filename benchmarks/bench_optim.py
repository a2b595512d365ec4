"""Optimizer updates over a flat parameter vector."""

import numpy as np

from fastnn import kernels

from .common import rng


class Updates:
    params = ([7_498, 669_706], ["sgd", "sgd_nesterov", "adam", "adamw"])
    param_names = ("n_params", "rule")

    def setup(self, n_params, rule):
        r = rng(3)
        self.param = r.standard_normal(n_params).astype(np.float32)
        self.grad = r.standard_normal(n_params).astype(np.float32)
        self.a = np.zeros_like(self.param)
        self.b = np.zeros_like(self.param)
        self.rule = rule
        self.step = 1
        self.time_update(n_params, rule)  # compile

    def time_update(self, n_params, rule):
        self.step += 1
        if self.rule.startswith("sgd"):
            kernels.sgd_update(
                self.param,
                self.grad,
                self.a,
                self.step,
                0.01,
                momentum=0.9,
                nesterov=self.rule == "sgd_nesterov",
            )
        else:
            kernels.adam_update(
                self.param,
                self.grad,
                self.a,
                self.b,
                self.step,
                0.001,
                decoupled=self.rule == "adamw",
                weight_decay=0.01,
            )
