"""Learning-rate schedules: lr as a function of the (0-based) epoch."""

from __future__ import annotations

import math
from typing import Any, Protocol

from fastnn._hyperparams import real, whole


class Schedule(Protocol):
    """What an optimizer's ``schedule`` is: a callable (base_lr, epoch) -> lr
    with a ``get_config()`` dict of its constructor arguments."""

    def __call__(self, base_lr: float, epoch: int) -> float:
        """The learning rate at the 0-based ``epoch`` for the base ``base_lr``."""
        ...

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments, JSON-serialisable."""
        ...


class Constant:
    """The base learning rate every epoch."""

    def __call__(self, base_lr: float, epoch: int) -> float:
        """The learning rate at ``epoch``.

        Parameters
        ----------
        base_lr : float
            The optimizer's ``lr``.
        epoch : int
            The 0-based epoch.

        Returns
        -------
        float
        """
        return base_lr

    def get_config(self) -> dict[str, Any]:
        """No arguments: an empty dict."""
        return {}


class StepDecay:
    """lr = base_lr * gamma ** (epoch // step_size), as torch's StepLR.

    Parameters
    ----------
    step_size : int
        Epochs between two decays (>= 1).
    gamma : float, default 0.1
        The factor of each decay (> 0).
    """

    def __init__(self, step_size: int, gamma: float = 0.1) -> None:
        self.step_size = whole("step_size", step_size, low=1)
        self.gamma = real("gamma", gamma, low=0, low_open=True)

    def __call__(self, base_lr: float, epoch: int) -> float:
        """The learning rate at ``epoch``.

        Parameters
        ----------
        base_lr : float
            The optimizer's ``lr``.
        epoch : int
            The 0-based epoch.

        Returns
        -------
        float
        """
        return base_lr * self.gamma ** (epoch // self.step_size)

    def get_config(self) -> dict[str, Any]:
        """step_size and gamma."""
        return dict(step_size=self.step_size, gamma=self.gamma)


class CosineDecay:
    """lr = eta_min + (base_lr - eta_min) (1 + cos(pi e / T)) / 2 for e < T,
    then eta_min: torch's CosineAnnealingLR closed form over T epochs.

    Parameters
    ----------
    total_epochs : int
        T, the epochs of the decay (>= 1).
    eta_min : float, default 0.0
        The learning rate reached at epoch T and kept after it (>= 0).
    """

    def __init__(self, total_epochs: int, eta_min: float = 0.0) -> None:
        self.total_epochs = whole("total_epochs", total_epochs, low=1)
        self.eta_min = real("eta_min", eta_min, low=0)

    def __call__(self, base_lr: float, epoch: int) -> float:
        """The learning rate at ``epoch``.

        Parameters
        ----------
        base_lr : float
            The optimizer's ``lr``.
        epoch : int
            The 0-based epoch.

        Returns
        -------
        float
        """
        progress = min(epoch, self.total_epochs) / self.total_epochs
        return (
            self.eta_min
            + (base_lr - self.eta_min) * (1 + math.cos(math.pi * progress)) / 2
        )

    def get_config(self) -> dict[str, Any]:
        """total_epochs and eta_min."""
        return dict(total_epochs=self.total_epochs, eta_min=self.eta_min)


SCHEDULES: dict[str, type[Schedule]] = {
    cls.__name__: cls for cls in (Constant, StepDecay, CosineDecay)
}


def from_config(entry: dict[str, Any]) -> Schedule:
    """Rebuild a schedule from ``{"class": name, "config": {...}}``.

    Parameters
    ----------
    entry : dict
        The ``"schedule"`` entry of an optimizer's ``get_config()``.

    Returns
    -------
    Schedule

    Raises
    ------
    ValueError
        For an unknown class.
    """
    cls = SCHEDULES.get(entry.get("class", ""))
    if cls is None:
        raise ValueError(f"unknown schedule {entry.get('class')!r}")
    return cls(**entry.get("config", {}))
