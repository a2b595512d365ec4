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


def _idx_bytes(shape, payload=b""):
    dims = b"".join(n.to_bytes(4, "big") for n in shape)
    return bytes([0, 0, 0x08, len(shape)]) + dims + payload


def _first_of_four(directory, gz_blob):
    """``directory`` with ``gz_blob`` as the first file load_mnist reads.

    The other three are empty placeholders: the loader must fail on the first.
    """
    target = directory / "train-images-idx3-ubyte.gz"
    target.write_bytes(gz_blob)
    for name in list(datasets.MNIST_FILES)[1:]:
        (directory / name).write_bytes(b"")
    return target


def test_flipped_bytes_and_truncations_are_dataset_errors(tmp_path):
    """Any damage to a .gz gives DatasetError naming the file, never zlib.error."""
    rng = np.random.default_rng(0)
    pixels = np.where(rng.random(3 * 28 * 28) < 0.7, 0, rng.integers(1, 256, 2352))
    good = gzip.compress(_idx_bytes((3, 28, 28), pixels.astype(np.uint8).tobytes()))
    target = _first_of_four(tmp_path, good)
    damaged = [good[:n] for n in range(0, len(good), 3)]
    for i in range(len(good)):
        blob = bytearray(good)
        blob[i] ^= 0xFF if i % 2 else 0x01  # a whole byte, or a single bit
        damaged.append(bytes(blob))
    for blob in damaged:
        target.write_bytes(blob)
        with pytest.raises(datasets.DatasetError) as info:
            datasets.load_mnist(tmp_path, download=False)
        assert str(target) in str(info.value)


@pytest.mark.parametrize("shape", [(10, 28, 28), (2**31, 28, 28)])
def test_gzip_bomb_is_refused_without_inflating_it(tmp_path, shape):
    """200 MB of zeros behind a plausible or absurd header: refused in small memory."""
    import tracemalloc
    import zlib

    gz = zlib.compressobj(1, zlib.DEFLATED, 31)  # wbits 31: gzip container
    parts = [gz.compress(_idx_bytes(shape))]
    zeros = bytes(1 << 20)
    parts += [gz.compress(zeros) for _ in range(200)]
    parts.append(gz.flush())
    target = _first_of_four(tmp_path, b"".join(parts))
    del parts, zeros
    tracemalloc.start()
    try:
        with pytest.raises(datasets.DatasetError) as info:
            datasets.load_mnist(tmp_path, download=False)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(target) in str(info.value)
    assert peak < 16 << 20, f"peak {peak / 2**20:.0f} MiB"


def _no_download(monkeypatch):
    import pooch

    def refuse(*args, **kwargs):  # pragma: no cover - reached only on a bug
        raise AssertionError("must not download")

    monkeypatch.setattr(pooch, "retrieve", refuse)


@pytest.mark.parametrize("via", ["env", "path"])
def test_incomplete_data_dir_names_the_missing_file(monkeypatch, tmp_path, via):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    present = list(datasets.MNIST_FILES)[:3]
    for name in present:
        (data_dir / f"{name}.gz").write_bytes(b"")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    _no_download(monkeypatch)
    if via == "env":
        monkeypatch.setenv("FASTNN_DATA_DIR", str(data_dir))
        path = None
    else:
        monkeypatch.delenv("FASTNN_DATA_DIR", raising=False)
        path = data_dir
    with pytest.raises(datasets.DatasetError, match="missing MNIST files") as info:
        datasets.load_mnist(path)
    message = str(info.value)
    assert str(data_dir) in message and "t10k-labels-idx1-ubyte" in message
    assert not any(name in message for name in present)
    assert sorted(p.name for p in data_dir.iterdir()) == sorted(
        f"{name}.gz" for name in present
    )
    assert not (tmp_path / "cache").exists()


def test_offline_download_error_is_short_and_says_what_to_do(monkeypatch, tmp_path):
    import socket

    import pooch

    monkeypatch.delenv("FASTNN_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))

    def offline(url, **kwargs):
        # the shape of a requests error on a machine without DNS: long and nested
        try:
            raise socket.gaierror(-3, "Temporary failure in name resolution")
        except OSError as exc:
            raise ConnectionError(
                f"HTTPSConnectionPool(host='example', port=443): Max retries "
                f"exceeded with url: {url} (Caused by NameResolutionError("
                f"'<urllib3.connection.HTTPSConnection object at 0x7f>: Failed "
                f"to resolve host ({exc})'))" + " more detail" * 40
            ) from exc

    monkeypatch.setattr(pooch, "retrieve", offline)
    with pytest.raises(datasets.DatasetError) as info:
        datasets.load_mnist()
    message = str(info.value)
    assert len(message) < 300 and "\n" not in message, message
    assert "train-images-idx3-ubyte.gz" in message
    assert "Temporary failure in name resolution" in message
    for hint in ("--data-dir", "FASTNN_DATA_DIR", "path="):
        assert hint in message
