import os
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_MNIST = ROOT.parent / "shared" / "data" / "mnist"


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture(scope="session")
def mnist_dir():
    """The MNIST files: $FASTNN_DATA_DIR, else ../shared/data/mnist, else skip."""
    for candidate in (os.environ.get("FASTNN_DATA_DIR"), SHARED_MNIST):
        if candidate and (Path(candidate) / "train-images-idx3-ubyte.gz").exists():
            return Path(candidate)
    pytest.skip("MNIST files not found: set FASTNN_DATA_DIR")


@pytest.fixture(scope="session")
def saved():
    """The bytes of a small saved model (SGD with momentum)."""
    from tests.model_files import saved_bytes

    return saved_bytes()


@pytest.fixture(scope="session")
def saved_adam():
    """The bytes of a small saved model trained with Adam."""
    import fastnn as fnn
    from tests.model_files import saved_bytes

    return saved_bytes(fnn.Adam(lr=0.01))
