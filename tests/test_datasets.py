import gzip
import shutil

import numpy as np
import pytest

from fastnn import datasets


@pytest.fixture(scope="module")
def mnist(mnist_dir):
    return datasets.load_mnist(mnist_dir)


def test_load_mnist_shapes_dtypes_ranges(mnist):
    (x_train, y_train), (x_test, y_test) = mnist
    assert x_train.shape == (60000, 784) and x_test.shape == (10000, 784)
    assert x_train.dtype == np.float32 and y_train.dtype == np.int64
    assert 0.0 <= x_train.min() and x_train.max() == 1.0
    assert set(np.unique(y_test)) == set(range(10))
    assert y_train[:5].tolist() == [5, 0, 4, 1, 9]  # the well-known first labels


def test_env_var_is_used(mnist_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("FASTNN_DATA_DIR", str(mnist_dir))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    (_, y_train), _ = datasets.load_mnist()
    assert len(y_train) == 60000


def test_mnist_directory_follows_the_lookup_order(mnist_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("FASTNN_DATA_DIR", str(mnist_dir))
    assert datasets.mnist_directory() == mnist_dir
    assert datasets.mnist_directory(mnist_dir) == mnist_dir
    with pytest.raises(datasets.DatasetError, match="missing MNIST files"):
        datasets.mnist_directory(tmp_path)  # an explicit path wins, even if empty
    monkeypatch.delenv("FASTNN_DATA_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    with pytest.raises(datasets.DatasetError, match="not found"):
        datasets.mnist_directory(download=False)


def test_raw_and_recompressed_files_are_accepted(mnist_dir, tmp_path, mnist):
    for name in datasets.MNIST_FILES:
        with gzip.open(mnist_dir / f"{name}.gz") as f:
            data = f.read()
        if "labels" in name:
            (tmp_path / name).write_bytes(data)  # raw IDX
        else:
            with gzip.open(tmp_path / f"{name}.gz", "wb", compresslevel=1) as f:
                f.write(data)
    (_, y_train), (x_test, _) = datasets.load_mnist(tmp_path)
    np.testing.assert_array_equal(y_train, mnist[0][1])
    np.testing.assert_array_equal(x_test, mnist[1][0])


def test_checksum_mismatch_is_reported(mnist_dir, tmp_path):
    for name in datasets.MNIST_FILES:
        shutil.copy(mnist_dir / f"{name}.gz", tmp_path / f"{name}.gz")
    with gzip.open(mnist_dir / "t10k-labels-idx1-ubyte.gz") as f:
        data = bytearray(f.read())
    data[-1] = (data[-1] + 1) % 10
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(bytes(data))
    with pytest.raises(datasets.DatasetError, match="checksum mismatch"):
        datasets.load_mnist(tmp_path)


def test_corrupt_gzip_is_reported(mnist_dir, tmp_path):
    for name in datasets.MNIST_FILES:
        shutil.copy(mnist_dir / f"{name}.gz", tmp_path / f"{name}.gz")
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(b"\x1f\x8bnot really gzip")
    with pytest.raises(datasets.DatasetError, match="cannot be read"):
        datasets.load_mnist(tmp_path)


@pytest.mark.parametrize(
    "data, match",
    [
        (b"\x00\x00\x08", "bad magic"),
        (b"\x00\x00\x09\x01\x00\x00\x00\x02ab", "bad magic"),
        (b"\x00\x00\x08\x03\x00\x00\x00\x02", "expected 1 dimensions"),
        (b"\x00\x00\x08\x01\x00\x00", "truncated"),
        (b"\x00\x00\x08\x01\x00\x00\x00\x05abc", "holds 3 bytes"),
    ],
)
def test_malformed_idx_headers(data, match):
    with pytest.raises(datasets.DatasetError, match=match):
        datasets.parse_idx(data, 1)


def test_missing_files_in_explicit_path(tmp_path):
    with pytest.raises(datasets.DatasetError, match="missing MNIST files"):
        datasets.load_mnist(tmp_path)


def test_no_network_gives_actionable_error(monkeypatch, tmp_path):
    import pooch

    monkeypatch.delenv("FASTNN_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))

    def offline(*args, **kwargs):
        raise ConnectionError("network unreachable")

    monkeypatch.setattr(pooch, "retrieve", offline)
    with pytest.raises(datasets.DatasetError, match="FASTNN_DATA_DIR"):
        datasets.load_mnist()
    with pytest.raises(datasets.DatasetError, match="not found"):
        datasets.load_mnist(download=False)


def test_download_goes_through_pooch_into_the_cache(monkeypatch, tmp_path, mnist_dir):
    """The fetcher is asked for each file with its official MD5, then verified."""
    import pooch

    monkeypatch.delenv("FASTNN_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    calls = []

    def fake_retrieve(url, known_hash, fname, path, progressbar):
        calls.append((url, known_hash))
        shutil.copy(mnist_dir / fname, tmp_path / "fastnn" / "mnist" / fname)
        return str(tmp_path / "fastnn" / "mnist" / fname)

    monkeypatch.setattr(pooch, "retrieve", fake_retrieve)
    (_, y_train), _ = datasets.load_mnist()
    assert len(y_train) == 60000 and len(calls) == 4
    assert calls[0] == (
        datasets.MNIST_MIRRORS[0] + "train-images-idx3-ubyte.gz",
        "md5:f68b3c2dcbeaaa9fbdd348bbdeb94873",
    )
    datasets.load_mnist()  # now served from the cache
    assert len(calls) == 4
