"""Datasets. ``load_mnist`` finds, verifies and parses the MNIST IDX files."""

import gzip
import hashlib
import os
from pathlib import Path

import numpy as np

MNIST_FILES = {
    # name: (SHA-256 of the decompressed IDX file, MD5 of the official .gz)
    "train-images-idx3-ubyte": (
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    ),
    "train-labels-idx1-ubyte": (
        "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "d53e105ee54ea40749a09fcbcd1e9432",
    ),
    "t10k-images-idx3-ubyte": (
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "9fb629c4189551a2d022fa330f9573f3",
    ),
    "t10k-labels-idx1-ubyte": (
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        "ec29112dd5afa0611ce80d1b7f02629c",
    ),
}
MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)


class DatasetError(ValueError):
    """A data file is missing, corrupt, or could not be downloaded."""


def default_cache_dir():
    """``$XDG_CACHE_HOME/fastnn/mnist`` (default ``~/.cache/fastnn/mnist``)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(
        os.path.expanduser("~"), ".cache"
    )
    return Path(base) / "fastnn" / "mnist"


def _local_file(directory, name):
    for candidate in (directory / f"{name}.gz", directory / name):
        if candidate.is_file():
            return candidate
    return None


def _read_verified(path, name):
    """The decompressed bytes of ``path``, checked against the known SHA-256."""
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                data = f.read()
        else:
            data = path.read_bytes()
    except (OSError, EOFError) as exc:
        raise DatasetError(
            f"{path}: cannot be read ({exc}); delete it and retry"
        ) from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != MNIST_FILES[name][0]:
        raise DatasetError(
            f"{path}: checksum mismatch (SHA-256 of the contents is {digest}, expected "
            f"{MNIST_FILES[name][0]}); the file is corrupt or not MNIST. Delete it, or "
            "point FASTNN_DATA_DIR at a directory holding the four original files"
        )
    return data


def parse_idx(data, expected_ndim, source="data"):
    """A uint8 IDX byte string (magic 0x0000 08 <ndim>) as a NumPy array."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise DatasetError(
            f"{source}: not an unsigned-byte IDX file (bad magic number)"
        )
    ndim = data[3]
    if ndim != expected_ndim:
        raise DatasetError(
            f"{source}: expected {expected_ndim} dimensions, header says {ndim}"
        )
    header_end = 4 + 4 * ndim
    if len(data) < header_end:
        raise DatasetError(f"{source}: truncated IDX header")
    shape = tuple(
        int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)
    )
    if len(data) - header_end != int(np.prod(shape)):
        raise DatasetError(
            f"{source}: header promises shape {shape} but holds {len(data) - header_end} bytes"
        )
    return np.frombuffer(data, np.uint8, offset=header_end).reshape(shape)


def _download(name, directory):
    try:
        import pooch
    except ImportError:  # pragma: no cover - pooch is a dependency
        raise DatasetError(
            "downloading MNIST needs pooch (pip install pooch)"
        ) from None
    errors = []
    for mirror in MNIST_MIRRORS:
        try:
            path = pooch.retrieve(
                url=f"{mirror}{name}.gz",
                known_hash=f"md5:{MNIST_FILES[name][1]}",
                fname=f"{name}.gz",
                path=directory,
                progressbar=True,  # pooch shows a tqdm bar per file
            )
            return Path(path)
        except Exception as exc:  # network errors come in many types
            errors.append(f"{mirror}: {exc}")
    raise DatasetError(
        f"could not download {name}.gz ({'; '.join(errors)}). Without network, put the "
        "four MNIST *-idx?-ubyte.gz files in a directory and set FASTNN_DATA_DIR to it "
        "(or pass path=)"
    )


def _find_directory(path):
    """The first of path, $FASTNN_DATA_DIR, the cache dir holding all four files."""
    candidates = []
    if path is not None:
        candidates.append(("path", Path(path)))
    if os.environ.get("FASTNN_DATA_DIR"):
        candidates.append(("FASTNN_DATA_DIR", Path(os.environ["FASTNN_DATA_DIR"])))
    candidates.append(("cache", default_cache_dir()))
    for origin, directory in candidates:
        if all(_local_file(directory, name) for name in MNIST_FILES):
            return directory
        if origin == "path":
            missing = [n for n in MNIST_FILES if not _local_file(directory, n)]
            raise DatasetError(
                f"{directory}: missing MNIST files {missing} (.gz or raw IDX)"
            )
    return None


def mnist_directory(path=None, download=True):
    """The directory holding the four MNIST IDX files (``.gz`` or raw).

    Looked up as in ``load_mnist``: ``path``, else ``$FASTNN_DATA_DIR``, else
    the user cache; if none holds them and ``download`` is true, they are
    downloaded (with pooch, checked by MD5) into the cache first.
    """
    directory = _find_directory(path)
    if directory is None:
        if not download:
            raise DatasetError("MNIST not found; set FASTNN_DATA_DIR or pass path=")
        directory = default_cache_dir()
        directory.mkdir(parents=True, exist_ok=True)
        for name in MNIST_FILES:
            if _local_file(directory, name) is None:
                _download(name, directory)
    return directory


def load_mnist(path=None, download=True):
    """MNIST as ``((x_train, y_train), (x_test, y_test))``.

    x: float32 in [0, 1], shape (N, 784); y: int64 labels. Files are taken
    from ``path``, else ``$FASTNN_DATA_DIR``, else the user cache
    (``~/.cache/fastnn/mnist``); if none holds them and ``download`` is true,
    they are downloaded (with pooch, checked by MD5) into the cache. Local
    files may be gzipped or raw IDX; their decompressed contents are checked
    against the known SHA-256.
    """
    directory = mnist_directory(path, download)
    arrays = {}
    for name in MNIST_FILES:
        file = _local_file(directory, name)
        raw = parse_idx(
            _read_verified(file, name), 3 if "images" in name else 1, str(file)
        )
        if "images" in name:
            # one float32 copy, scaled in place: no second full-size temporary
            values = raw.reshape(len(raw), -1).astype(np.float32)
            values /= np.float32(255.0)
            arrays[name] = values
        else:
            arrays[name] = raw.astype(np.int64)
    return (
        (arrays["train-images-idx3-ubyte"], arrays["train-labels-idx1-ubyte"]),
        (arrays["t10k-images-idx3-ubyte"], arrays["t10k-labels-idx1-ubyte"]),
    )
