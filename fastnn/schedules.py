"""Learning-rate schedules: lr as a function of the (0-based) epoch."""

import math

from fastnn._hyperparams import real, whole


class Constant:
    """The base learning rate every epoch."""

    def __call__(self, base_lr, epoch):
        return base_lr

    def get_config(self):
        return {}


class StepDecay:
    """lr = base_lr * gamma ** (epoch // step_size), as torch's StepLR."""

    def __init__(self, step_size, gamma=0.1):
        self.step_size = whole("step_size", step_size, low=1)
        self.gamma = real("gamma", gamma, low=0, low_open=True)

    def __call__(self, base_lr, epoch):
        return base_lr * self.gamma ** (epoch // self.step_size)

    def get_config(self):
        return dict(step_size=self.step_size, gamma=self.gamma)


class CosineDecay:
    """lr = eta_min + (base_lr - eta_min) (1 + cos(pi e / T)) / 2 for e < T,
    then eta_min: torch's CosineAnnealingLR closed form over T epochs."""

    def __init__(self, total_epochs, eta_min=0.0):
        self.total_epochs = whole("total_epochs", total_epochs, low=1)
        self.eta_min = real("eta_min", eta_min, low=0)

    def __call__(self, base_lr, epoch):
        progress = min(epoch, self.total_epochs) / self.total_epochs
        return (
            self.eta_min
            + (base_lr - self.eta_min) * (1 + math.cos(math.pi * progress)) / 2
        )

    def get_config(self):
        return dict(total_epochs=self.total_epochs, eta_min=self.eta_min)


SCHEDULES = {cls.__name__: cls for cls in (Constant, StepDecay, CosineDecay)}


def from_config(entry):
    cls = SCHEDULES.get(entry.get("class"))
    if cls is None:
        raise ValueError(f"unknown schedule {entry.get('class')!r}")
    return cls(**entry.get("config", {}))
