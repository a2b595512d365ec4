"""Optimizers over the model's flat parameter buffer: one fused kernel call
per step. Python does the scalar work (learning-rate schedule, step count);
the kernels do the torch.optim arithmetic."""

from fastnn import schedules
from fastnn._hyperparams import flag, real


class Optimizer:
    """Base class: holds hyperparameters, the schedule, the step count and
    per-parameter state buffers (``state_names``), all saved with the model."""

    state_names = ()

    def __init__(self, lr, schedule=None):
        self.lr = real("lr", lr, low=0)
        self.schedule = schedule if schedule is not None else schedules.Constant()
        self.steps = 0
        self.state = {}

    def lr_at(self, epoch):
        """Learning rate for a (0-based) epoch."""
        return self.schedule(self.lr, epoch)

    def allocate(self, backend, size, dtype):
        """Create zeroed state buffers for a flat parameter vector."""
        self.state = {name: backend.zeros(size, dtype) for name in self.state_names}

    def step(self, ops, params, grads, epoch, guard=False):
        """One update; with ``guard``, elements whose new value would be
        non-finite keep their old value, and whether any did is returned."""
        self.steps += 1
        return self._update(ops, params, grads, self.lr_at(epoch), guard)

    def get_config(self):
        config = self._hyperparameters()
        config["lr"] = self.lr
        config["schedule"] = {
            "class": type(self.schedule).__name__,
            "config": self.schedule.get_config(),
        }
        return config

    def __repr__(self):
        return f"{type(self).__name__}({self._hyperparameters() | {'lr': self.lr}})"


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum, as torch.optim.SGD.

    https://pytorch.org/docs/stable/generated/torch.optim.SGD.html
    """

    def __init__(
        self,
        lr=0.01,
        momentum=0.0,
        dampening=0.0,
        nesterov=False,
        weight_decay=0.0,
        schedule=None,
    ):
        super().__init__(lr, schedule)
        self.momentum = real("momentum", momentum, low=0)
        self.dampening = real("dampening", dampening)
        self.weight_decay = real("weight_decay", weight_decay, low=0)
        self.nesterov = flag("nesterov", nesterov)
        if self.nesterov and (self.momentum <= 0 or self.dampening != 0):
            raise ValueError("nesterov: requires momentum > 0 and dampening == 0")
        self.state_names = ("velocity",) if self.momentum else ()

    def _update(self, ops, params, grads, lr, guard=False):
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

    def _hyperparameters(self):
        return dict(
            momentum=self.momentum,
            dampening=self.dampening,
            nesterov=self.nesterov,
            weight_decay=self.weight_decay,
        )


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015) as torch.optim.Adam; weight decay is L2 added
    to the gradient. https://pytorch.org/docs/stable/generated/torch.optim.Adam.html
    """

    state_names = ("m", "v")
    decoupled = False

    def __init__(
        self,
        lr=0.001,
        beta1=0.9,
        beta2=0.999,
        eps=1e-8,
        weight_decay=0.0,
        schedule=None,
    ):
        super().__init__(lr, schedule)
        self.beta1 = real("beta1", beta1, low=0, high=1, high_open=True)
        self.beta2 = real("beta2", beta2, low=0, high=1, high_open=True)
        self.eps = real("eps", eps, low=0)
        self.weight_decay = real("weight_decay", weight_decay, low=0)

    def _update(self, ops, params, grads, lr, guard=False):
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

    def _hyperparameters(self):
        return dict(
            beta1=self.beta1,
            beta2=self.beta2,
            eps=self.eps,
            weight_decay=self.weight_decay,
        )


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter 2019), as
    torch.optim.AdamW. https://pytorch.org/docs/stable/generated/torch.optim.AdamW.html
    """

    decoupled = True

    def __init__(
        self,
        lr=0.001,
        beta1=0.9,
        beta2=0.999,
        eps=1e-8,
        weight_decay=0.01,
        schedule=None,
    ):
        super().__init__(lr, beta1, beta2, eps, weight_decay, schedule)


OPTIMIZERS = {"sgd": SGD, "adam": Adam, "adamw": AdamW}


def get(optimizer):
    """An Optimizer from an instance or a name ("sgd", "adam", "adamw")."""
    if isinstance(optimizer, Optimizer):
        return optimizer
    if isinstance(optimizer, str) and optimizer.lower() in OPTIMIZERS:
        return OPTIMIZERS[optimizer.lower()]()
    raise ValueError(
        f"optimizer: unknown {optimizer!r}; expected one of {tuple(OPTIMIZERS)}"
    )


def from_config(class_name, config):
    classes = {cls.__name__: cls for cls in OPTIMIZERS.values()}
    if class_name not in classes:
        raise ValueError(f"unknown optimizer {class_name!r} in model file")
    config = dict(config)
    schedule = schedules.from_config(config.pop("schedule", {"class": "Constant"}))
    return classes[class_name](schedule=schedule, **config)
