"""Whole-model benchmarks: a training step, a step through fit (with and
without Dropout), batch-1 latency, concurrent inference, an MNIST epoch
(float32 and raw uint8), peak memory of a training run, and JIT compile /
warm start times."""

import os
import subprocess
import sys
import tempfile

import numpy as np

from .common import MODEL_CONFIGS, classification_batch, mlp, mnist_dir


class TrainStep:
    params = list(MODEL_CONFIGS)
    param_names = ("config",)

    def setup(self, config):
        sizes, batch = MODEL_CONFIGS[config]
        self.model = mlp(sizes)
        self.x, self.y = classification_batch(batch, sizes[0], sizes[-1])
        self.model.train_on_batch(self.x, self.y)  # compile, allocate buffers

    def time_train_step(self, config):
        self.model.train_on_batch(self.x, self.y)


class FitStep:
    """Time per step of a whole ``fit`` epoch (gathers, progress, loop), the
    cost a user sees; divide by 200 steps for the per-step figure."""

    params = list(MODEL_CONFIGS)
    param_names = ("config",)

    def setup(self, config):
        sizes, batch = MODEL_CONFIGS[config]
        self.model = mlp(sizes)
        self.x, self.y = classification_batch(200 * batch, sizes[0], sizes[-1])
        self.model.fit(self.x, self.y, epochs=1, batch_size=batch, verbose=0)
        self.batch = batch

    def time_fit_200_steps(self, config):
        self.model.fit(self.x, self.y, epochs=1, batch_size=self.batch, verbose=0)


class FitStepDropout(FitStep):
    """``FitStep`` with Dropout(0.2) after each hidden layer (its noise drawn
    on the host, the steps in the compiled loop). Its own setup: changing
    FitStep's would change that benchmark's asv version and cut its history."""

    def setup(self, config):
        sizes, batch = MODEL_CONFIGS[config]
        self.model = mlp(sizes, dropout=0.2)
        self.x, self.y = classification_batch(200 * batch, sizes[0], sizes[-1])
        self.model.fit(self.x, self.y, epochs=1, batch_size=batch, verbose=0)
        self.batch = batch


class SharedInference:
    """Four threads predicting batches of 64 on one shared model."""

    def setup(self):
        import threading

        self.threading = threading
        self.model = mlp((784, 512, 512, 10))
        self.x = np.random.default_rng(4).random((64, 784), dtype=np.float32)
        self.model.predict(self.x)

    def time_four_threads_50_predicts(self):
        def work():
            for _ in range(50):
                self.model.predict(self.x)

        threads = [self.threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()


class InferenceLatency:
    def setup(self):
        self.model = mlp((784, 512, 512, 10))
        self.x = np.random.default_rng(4).random((1, 784), dtype=np.float32)
        self.model.predict(self.x)

    def time_predict_batch1(self):
        self.model.predict(self.x)


class MNISTEpoch:
    timeout = 300
    number = 1
    repeat = 3

    def setup(self):
        directory = mnist_dir()
        if directory is None:
            raise NotImplementedError("MNIST data not found: set FASTNN_DATA_DIR")
        import fastnn as fnn

        (self.x, self.y), _ = fnn.datasets.load_mnist(directory)
        self.model = mlp((784, 512, 512, 10))
        self.model.fit(self.x[:256], self.y[:256], epochs=1, batch_size=128, verbose=0)

    def time_mnist_epoch(self):
        self.model.fit(self.x, self.y, epochs=1, batch_size=128, seed=0, verbose=0)


class MNISTEpochUint8:
    """The epoch on raw uint8 pixels, scaled as each batch is read."""

    timeout = 300
    number = 1
    repeat = 3

    def setup(self):
        directory = mnist_dir()
        if directory is None:
            raise NotImplementedError("MNIST data not found: set FASTNN_DATA_DIR")
        import fastnn as fnn

        (self.x, self.y), _ = fnn.datasets.load_mnist(directory, dtype="uint8")
        self.model = mlp((784, 512, 512, 10), input_scale=1 / 255)
        self.model.fit(self.x[:256], self.y[:256], epochs=1, batch_size=128, verbose=0)

    def time_mnist_epoch_uint8(self):
        self.model.fit(self.x, self.y, epochs=1, batch_size=128, seed=0, verbose=0)


class TrainingMemory:
    def setup(self):
        self.x, self.y = classification_batch(4096, 784, 10)
        mlp((784, 512, 512, 10)).fit(self.x[:128], self.y[:128], epochs=1, verbose=0)

    def peakmem_train_run(self):
        model = mlp((784, 512, 512, 10))
        model.fit(self.x, self.y, epochs=1, batch_size=128, seed=0, verbose=0)


_STARTUP = (
    "import time; t = time.perf_counter(); import numpy as np, fastnn as fnn; "
    "m = fnn.Sequential([fnn.Dense(784, 512, activation='relu'), fnn.Dense(512, 10)], seed=0);"
    "m.compile(optimizer=fnn.SGD(lr=0.1, momentum=0.9), loss='cross_entropy', "
    "metrics=['accuracy']); x = np.zeros((128, 784), np.float32); y = np.zeros(128, int);"
    "m.fit(x, y, epochs=1, verbose=0); m.predict(x); print(time.perf_counter() - t)"
)


def _startup_seconds(cache_dir):
    env = {**os.environ, "FASTNN_CACHE_DIR": cache_dir}
    out = subprocess.check_output([sys.executable, "-c", _STARTUP], env=env, text=True)
    return float(out.strip().splitlines()[-1])


def track_cold_compile_seconds():
    """Import + first training step with an empty kernel cache (every kernel compiles)."""
    with tempfile.TemporaryDirectory() as cache:
        return _startup_seconds(cache)


track_cold_compile_seconds.unit = "seconds"
track_cold_compile_seconds.timeout = 300


def track_warm_start_seconds():
    """Import + first training step with a filled kernel cache."""
    with tempfile.TemporaryDirectory() as cache:
        _startup_seconds(cache)
        return _startup_seconds(cache)


track_warm_start_seconds.unit = "seconds"
track_warm_start_seconds.timeout = 300
