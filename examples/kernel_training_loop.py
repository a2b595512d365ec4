"""A two-layer network trained with fastnn.kernels alone (no model API).

Everything a model does is spelled out: buffers allocated once, forward,
loss, backward and the SGD update per mini-batch, on 1,000 random points of
three classes. The README's "kernel API" section explains what the loop
relies on; ``tests/test_kernel_example.py`` checks that it learns.

Run::

    python examples/kernel_training_loop.py            # 20 epochs
    python examples/kernel_training_loop.py --quick    # 2 epochs, a smoke test
"""

import argparse

import numpy as np

from fastnn import initializers, kernels


def train(epochs=20, batch=64, lr=0.1, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((1000, 20)).astype(np.float32)
    y = (x[:, :3].sum(axis=1) > 0).astype(np.int64) + (x[:, 3] > 1)  # 3 classes
    w1 = initializers.he_normal(rng, 20, 64, (20, 64), np.float32)
    w2 = initializers.xavier_uniform(rng, 64, 3, (64, 3), np.float32)
    params = [w1, np.zeros(64, np.float32), w2, np.zeros(3, np.float32)]
    grads = [np.empty_like(p) for p in params]
    velocity = [np.zeros_like(p) for p in params]
    # buffers for a full batch; a shorter last batch uses their first rows
    h, logits = np.empty((batch, 64), np.float32), np.empty((batch, 3), np.float32)
    dlogits, dh = np.empty_like(logits), np.empty_like(h)
    step, losses = 0, []
    for _ in range(epochs):
        order = rng.permutation(len(x))
        for lo in range(0, len(x), batch):
            idx = order[lo : lo + batch]
            xb, n = np.ascontiguousarray(x[idx]), len(idx)
            kernels.dense_forward(xb, w1, params[1], h[:n], activation="relu")
            kernels.dense_forward(h[:n], w2, params[3], logits[:n])
            # dlogits is already divided by the batch size: no scaling below
            loss = kernels.softmax_cross_entropy(logits[:n], y[idx], dlogits[:n])
            kernels.dense_backward(
                h[:n], w2, logits[:n], dlogits[:n], dh[:n], grads[2], grads[3]
            )
            # dx=None: the first layer needs no input gradient
            kernels.dense_backward(
                xb, w1, h[:n], dh[:n], None, grads[0], grads[1], activation="relu"
            )
            step += 1  # optimizer steps count from 1
            for p, g, v in zip(params, grads, velocity):
                kernels.sgd_update(p, g, v, step, lr, momentum=0.9)
            losses.append(loss)
    return params, losses


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 epochs only")
    _, losses = train(epochs=2 if parser.parse_args().quick else 20)
    print(f"first batch loss {losses[0]:.3f}, last {losses[-1]:.3f}")
