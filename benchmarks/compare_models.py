"""The networks every contender of ``compare.py`` trains: the same shapes, the
same He-initialised float32 weights and the same SGD with momentum, built in
fastnn, PyTorch and plain NumPy, and the FLOPs of one training step.

Only NumPy is imported here: fastnn and torch are imported by the builders
that need them, so the other contenders' MNIST processes never load fastnn.
"""

import numpy as np

BIG = (784, 512, 512, 10)
SMALL = (32, 64, 64, 10)
THREADS = 2  # PyTorch's intra-op threads, as many as the BLAS of the others use


def train_flops(sizes, batch):
    """The matrix-product FLOPs of one training step (see ``compare.py``)."""
    pairs = list(zip(sizes, sizes[1:]))
    forward = sum(2 * batch * i * o for i, o in pairs)
    d_weights = forward
    d_inputs = sum(2 * batch * i * o for i, o in pairs[1:])
    return forward + d_weights + d_inputs


def he_weights(sizes, seed=0):
    """[(W, b)] per layer, He-normal float32: the starting point of every
    contender, so all of them train the same numbers."""
    rng = np.random.default_rng(seed)
    return [
        (
            (rng.standard_normal((i, o)) * np.sqrt(2 / i)).astype(np.float32),
            np.zeros(o, np.float32),
        )
        for i, o in zip(sizes, sizes[1:])
    ]


class NumpyMLP:
    """The same MLP in plain NumPy: ReLU hidden layers, softmax cross-entropy,
    torch-style SGD with momentum."""

    def __init__(self, sizes, lr=0.01, momentum=0.9, seed=0):
        self.params = [p for pair in he_weights(sizes, seed) for p in pair]
        self.velocity = [np.zeros_like(p) for p in self.params]
        self.lr, self.momentum, self.steps = lr, momentum, 0

    def forward(self, x):
        acts = [x]
        n_layers = len(self.params) // 2
        for k in range(n_layers):
            z = acts[-1] @ self.params[2 * k] + self.params[2 * k + 1]
            acts.append(np.maximum(z, 0) if k < n_layers - 1 else z)
        return acts

    def train_step(self, x, y):
        acts = self.forward(x)
        logits = acts[-1]
        shifted = logits - logits.max(axis=1, keepdims=True)
        exp = np.exp(shifted)
        probs = exp / exp.sum(axis=1, keepdims=True)
        rows = np.arange(len(y))
        loss = -np.log(probs[rows, y]).mean()
        grad = probs
        grad[rows, y] -= 1
        grad /= len(y)
        grads = [None] * len(self.params)
        for k in range(len(self.params) // 2 - 1, -1, -1):
            grads[2 * k] = acts[k].T @ grad
            grads[2 * k + 1] = grad.sum(axis=0)
            if k > 0:
                grad = (grad @ self.params[2 * k].T) * (acts[k] > 0)
        self.steps += 1
        for p, g, v in zip(self.params, grads, self.velocity):
            if self.steps == 1:
                v[...] = g
            else:
                v *= self.momentum
                v += g
            p -= self.lr * v
        return float(loss)

    def predict(self, x):
        return self.forward(x)[-1]


def make_fastnn(sizes, lr=0.01, seed=0, schedule=None, input_scale=None, dropout=None):
    """The fastnn model with ``he_weights``; ``input_scale`` (e.g. 1/255)
    makes it read raw uint8 inputs and scale each batch as it is gathered;
    ``dropout``: a Dropout of that rate after each hidden layer."""
    import fastnn as fnn

    layers = []
    for i, o in zip(sizes[:-2], sizes[1:-1]):
        layers.append(fnn.Dense(i, o, activation="relu"))
        if dropout is not None:
            layers.append(fnn.Dropout(dropout))
    layers.append(fnn.Dense(sizes[-2], sizes[-1], init="he"))
    model = fnn.Sequential(layers, input_scale=input_scale)
    model.build(seed)
    model.set_weights(
        np.concatenate(
            [p.reshape(-1) for pair in he_weights(sizes, seed) for p in pair]
        )
    )
    model.compile(
        optimizer=fnn.SGD(lr=lr, momentum=0.9, schedule=schedule),
        loss="cross_entropy",
        metrics=["accuracy"],
    )
    return model


def make_torch(sizes, lr=0.01, seed=0, dropout=None):
    """(model, optimizer): the same network in PyTorch, THREADS threads
    (``dropout`` as in ``make_fastnn``)."""
    import torch

    torch.set_num_threads(THREADS)
    layers = []
    for k, (w, b) in enumerate(he_weights(sizes, seed)):
        linear = torch.nn.Linear(*w.shape)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(w.T.copy()))
            linear.bias.copy_(torch.from_numpy(b))
        layers.append(linear)
        if k < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
            if dropout is not None:
                layers.append(torch.nn.Dropout(dropout))
    model = torch.nn.Sequential(*layers)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    return model, optimizer


def torch_available():
    """Whether PyTorch can be imported (it is an optional contender)."""
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True
