"""MNIST with PyTorch CUDA eager, the recipe of ``fastnn train --device cuda``:
784-512-512-10 ReLU, SGD lr 0.05 momentum 0.9, cosine decay per epoch
(``compare.cosine_lr``, checked against fastnn's by a test), batch 128, a fixed
number of epochs, then test accuracy. Data from the ``.gz`` files with gzip and
NumPy (``compare.plain_mnist``; fastnn is not imported), copied to the GPU once;
batches gathered there by a shuffled permutation. FP32 (TF32 off).

    python benchmarks/torch_mnist_cuda.py --data-dir DIR [--epochs 5]

Prints one JSON object on its last line; ``gpu_check.py`` times the whole
process (import, data load, training, evaluation).
"""

import argparse
import json
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import compare  # noqa: E402


def train(data_dir, epochs, batch=128, lr=0.05, seed=0):
    import torch

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    (x_train, y_train), (x_test, y_test) = compare.plain_mnist(data_dir)
    model, _ = compare.make_torch(compare.BIG, lr=lr, seed=seed)
    model = model.cuda()
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    loss_fn = torch.nn.CrossEntropyLoss()
    xs, ys = torch.from_numpy(x_train).cuda(), torch.from_numpy(y_train).cuda()
    rng = np.random.default_rng(seed)
    n = len(x_train)
    seconds_per_epoch = []
    start = time.perf_counter()
    for epoch in range(epochs):
        for group in optimizer.param_groups:
            group["lr"] = compare.cosine_lr(lr, epoch, epochs)
        began = time.perf_counter()
        order = torch.from_numpy(rng.permutation(n)).cuda()
        for lo in range(0, n, batch):
            idx = order[lo : lo + batch]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(xs[idx]), ys[idx])
            loss.backward()
            optimizer.step()
        torch.cuda.synchronize()
        seconds_per_epoch.append(time.perf_counter() - began)
    fit_s = time.perf_counter() - start
    model.eval()
    with torch.inference_mode():
        predicted = model(torch.from_numpy(x_test).cuda()).argmax(1).cpu().numpy()
    return {
        "name": "pytorch",
        "device": torch.cuda.get_device_name(0),
        "torch": torch.__version__,
        "epochs": epochs,
        "fit_s": fit_s,
        "seconds_per_epoch": seconds_per_epoch,
        "train_loss": float(loss.item()) if epochs else None,
        "test_accuracy": float((predicted == y_test).mean()),
    }


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--epochs", type=int, default=5)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    print(json.dumps(train(args.data_dir, args.epochs)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
