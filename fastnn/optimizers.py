"""Optimizers over the model's flat parameter buffer: one fused kernel call
per step. Python does the scalar work (learning-rate schedule, step count);
the kernels do the torch.optim arithmetic."""

from __future__ import annotations

from typing import Any

from fastnn import schedules
from fastnn._hyperparams import flag, real


class Optimizer:
    """Base class: holds hyperparameters, the schedule, the step count and
    per-parameter state buffers (``state_names``), all saved with the model."""

    state_names: tuple[str, ...] = ()

    def __init__(self, lr: float, schedule: schedules.Schedule | None = None) -> None:
        self.lr = real("lr", lr, low=0)
        self.schedule = schedule if schedule is not None else schedules.Constant()
        self.steps = 0
        self.state: dict[str, Any] = {}

    def lr_at(self, epoch: int) -> float:
        """The learning rate for an epoch, from the schedule.

        Parameters
        ----------
        epoch : int
            The 0-based epoch.

        Returns
        -------
        float
        """
        return self.schedule(self.lr, epoch)

    def allocate(self, backend: Any, size: int, dtype: Any) -> None:
        """Create zeroed state buffers for a flat parameter vector.

        Parameters
        ----------
        backend : Backend
            The model's backend (its ``zeros`` makes the buffers).
        size : int
            The number of parameters.
        dtype : numpy dtype
            The model's dtype.
        """
        self.state = {name: backend.zeros(size, dtype) for name in self.state_names}

    def step(
        self, ops: Any, params: Any, grads: Any, epoch: int, guard: bool = False
    ) -> bool:
        """One update of ``params`` from ``grads``, in place.

        Parameters
        ----------
        ops : module
            The kernel module of the parameters' device.
        params, grads : array (P,)
            The flat parameter and gradient vectors.
        epoch : int
            The 0-based epoch, for the schedule.
        guard : bool, default False
            Keep the old value of every element whose new value would be
            non-finite.

        Returns
        -------
        bool
            With ``guard``, whether any element was kept so; else False.
        """
        self.steps += 1
        return self._update(ops, params, grads, self.lr_at(epoch), guard)

    def _update(
        self, ops: Any, params: Any, grads: Any, lr: float, guard: bool = False
    ) -> bool:
        raise NotImplementedError

    def _hyperparameters(self) -> dict[str, Any]:
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        """The hyperparameters, ``lr`` and the schedule's config.

        Returns
        -------
        dict
            JSON-serialisable; ``from_config`` rebuilds the optimizer from it.
        """
        config = self._hyperparameters()
        config["lr"] = self.lr
        config["schedule"] = {
            "class": type(self.schedule).__name__,
            "config": self.schedule.get_config(),
        }
        return config

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._hyperparameters() | {'lr': self.lr}})"


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum, as torch.optim.SGD.

    https://pytorch.org/docs/stable/generated/torch.optim.SGD.html

    Parameters
    ----------
    lr : float, default 0.01
        The base learning rate (>= 0).
    momentum : float, default 0.0
        Momentum factor (>= 0); 0 keeps no velocity buffer.
    dampening : float, default 0.0
        Dampening of the momentum.
    nesterov : bool, default False
        Nesterov momentum (needs momentum > 0 and dampening 0).
    weight_decay : float, default 0.0
        L2 penalty added to the gradient (>= 0).
    schedule : Schedule, optional
        Learning rate per epoch; default ``Constant()``.
    """

    def __init__(
        self,
        lr: float = 0.01,
        momentum: float = 0.0,
        dampening: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
        schedule: schedules.Schedule | None = None,
    ) -> None:
        super().__init__(lr, schedule)
        self.momentum = real("momentum", momentum, low=0)
        self.dampening = real("dampening", dampening)
        self.weight_decay = real("weight_decay", weight_decay, low=0)
        self.nesterov = flag("nesterov", nesterov)
        if self.nesterov and (self.momentum <= 0 or self.dampening != 0):
            raise ValueError("nesterov: requires momentum > 0 and dampening == 0")
        self.state_names = ("velocity",) if self.momentum else ()

    def _update(
        self, ops: Any, params: Any, grads: Any, lr: float, guard: bool = False
    ) -> bool:
        return ops.sgd_update(
            params,
            grads,
            self.state.get("velocity"),
            self.steps,
            lr,
            self.momentum,
            self.dampening,
            self.weight_decay,
            self.nesterov,
            guard,
        )

    def _hyperparameters(self) -> dict[str, Any]:
        return dict(
            momentum=self.momentum,
            dampening=self.dampening,
            nesterov=self.nesterov,
            weight_decay=self.weight_decay,
        )


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015) as torch.optim.Adam; weight decay is L2 added
    to the gradient. https://pytorch.org/docs/stable/generated/torch.optim.Adam.html

    Parameters
    ----------
    lr : float, default 0.001
        The base learning rate (>= 0).
    beta1, beta2 : float, default 0.9, 0.999
        Decay rates of the first and second moment estimates, in [0, 1).
    eps : float, default 1e-8
        Added to the denominator (>= 0).
    weight_decay : float, default 0.0
        L2 penalty added to the gradient (>= 0).
    schedule : Schedule, optional
        Learning rate per epoch; default ``Constant()``.
    """

    state_names = ("m", "v")
    decoupled = False

    def __init__(
        self,
        lr: float = 0.001,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        schedule: schedules.Schedule | None = None,
    ) -> None:
        super().__init__(lr, schedule)
        self.beta1 = real("beta1", beta1, low=0, high=1, high_open=True)
        self.beta2 = real("beta2", beta2, low=0, high=1, high_open=True)
        self.eps = real("eps", eps, low=0)
        self.weight_decay = real("weight_decay", weight_decay, low=0)

    def _update(
        self, ops: Any, params: Any, grads: Any, lr: float, guard: bool = False
    ) -> bool:
        return ops.adam_update(
            params,
            grads,
            self.state["m"],
            self.state["v"],
            self.steps,
            lr,
            self.beta1,
            self.beta2,
            self.eps,
            self.weight_decay,
            self.decoupled,
            guard,
        )

    def _hyperparameters(self) -> dict[str, Any]:
        return dict(
            beta1=self.beta1,
            beta2=self.beta2,
            eps=self.eps,
            weight_decay=self.weight_decay,
        )


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter 2019), as
    torch.optim.AdamW. https://pytorch.org/docs/stable/generated/torch.optim.AdamW.html

    Parameters
    ----------
    lr : float, default 0.001
        The base learning rate (>= 0).
    beta1, beta2 : float, default 0.9, 0.999
        Decay rates of the first and second moment estimates, in [0, 1).
    eps : float, default 1e-8
        Added to the denominator (>= 0).
    weight_decay : float, default 0.01
        Decoupled decay: each step multiplies the parameters by
        1 - lr * weight_decay (>= 0).
    schedule : Schedule, optional
        Learning rate per epoch; default ``Constant()``.
    """

    decoupled = True

    def __init__(
        self,
        lr: float = 0.001,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-8,
        weight_decay: float = 0.01,
        schedule: schedules.Schedule | None = None,
    ) -> None:
        super().__init__(lr, beta1, beta2, eps, weight_decay, schedule)


OPTIMIZERS: dict[str, type[SGD] | type[Adam]] = {
    "sgd": SGD,
    "adam": Adam,
    "adamw": AdamW,
}


def get(optimizer: Optimizer | str) -> Optimizer:
    """An Optimizer from an instance or a name.

    Parameters
    ----------
    optimizer : Optimizer or str
        An Optimizer (returned as it is) or ``"sgd"``, ``"adam"``,
        ``"adamw"`` (any case), made with its default hyperparameters.

    Returns
    -------
    Optimizer

    Raises
    ------
    ValueError
        For anything else.
    """
    if isinstance(optimizer, Optimizer):
        return optimizer
    if isinstance(optimizer, str) and optimizer.lower() in OPTIMIZERS:
        return OPTIMIZERS[optimizer.lower()]()
    raise ValueError(
        f"optimizer: unknown {optimizer!r}; expected one of {tuple(OPTIMIZERS)}"
    )


def from_config(class_name: str, config: dict[str, Any]) -> Optimizer:
    """Rebuild an optimizer from its class name and ``get_config()`` dict.

    Parameters
    ----------
    class_name : str
        ``"SGD"``, ``"Adam"`` or ``"AdamW"``.
    config : dict
        What ``get_config`` returned.

    Returns
    -------
    Optimizer
        A new optimizer, without state buffers and at step 0.

    Raises
    ------
    ValueError
        For an unknown class or a bad hyperparameter.
    """
    classes = {cls.__name__: cls for cls in OPTIMIZERS.values()}
    if class_name not in classes:
        raise ValueError(f"unknown optimizer {class_name!r} in model file")
    config = dict(config)
    schedule = schedules.from_config(config.pop("schedule", {"class": "Constant"}))
    return classes[class_name](schedule=schedule, **config)
