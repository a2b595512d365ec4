"""Datasets. ``load_mnist`` finds, verifies and parses the MNIST IDX files."""

from __future__ import annotations

import gzip
import hashlib
import math
import os
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

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
MNIST_SHAPES = {
    # the real files' shapes bound how much a (possibly hostile) file may inflate to
    "train-images-idx3-ubyte": (60000, 28, 28),
    "train-labels-idx1-ubyte": (60000,),
    "t10k-images-idx3-ubyte": (10000, 28, 28),
    "t10k-labels-idx1-ubyte": (10000,),
}
MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)

_CHUNK = 1 << 20  # bytes read at a time from a (decompressing) file


class DatasetError(ValueError):
    """A data file is missing, corrupt, or could not be downloaded."""


def default_cache_dir() -> Path:
    """Where downloaded MNIST files are kept.

    Returns
    -------
    pathlib.Path
        ``$XDG_CACHE_HOME/fastnn/mnist`` (default ``~/.cache/fastnn/mnist``).
    """
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(
        os.path.expanduser("~"), ".cache"
    )
    return Path(base) / "fastnn" / "mnist"


def _local_file(directory, name):
    for candidate in (directory / f"{name}.gz", directory / name):
        if candidate.is_file():
            return candidate
    return None


def _idx_header(data, expected_ndim, source):
    """(shape, header length) of the uint8 IDX header at the start of ``data``."""
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
    return shape, header_end


def _read_idx_bounded(f, name, path):
    """The IDX file open as ``f``, read in chunks, never past its header's size.

    A small corrupt or hostile .gz can inflate to gigabytes: the header is read
    first, refused if it promises more than the real file holds, and the rest
    is read into a buffer of exactly the promised size.
    """
    real_shape = MNIST_SHAPES[name]
    head = f.read(4 + 4 * len(real_shape))
    shape, header_end = _idx_header(head, len(real_shape), path)
    size = header_end + math.prod(shape)
    if size > 4 + 4 * len(real_shape) + math.prod(real_shape):
        raise DatasetError(
            f"{path}: header promises shape {shape}, larger than MNIST's "
            f"{real_shape}; the file is corrupt or not MNIST"
        )
    data = bytearray(size)
    data[:header_end] = head
    view = memoryview(data)
    filled = header_end
    while filled < size:
        n = f.readinto(view[filled : filled + _CHUNK])
        if not n:
            raise DatasetError(
                f"{path}: truncated (header promises shape {shape}, "
                f"{size} bytes; it holds {filled})"
            )
        filled += n
    if f.read(1):  # also makes gzip check the CRC and length in the trailer
        raise DatasetError(
            f"{path}: more data than its header's shape {shape}; "
            "the file is corrupt or not MNIST"
        )
    return data


def _read_verified(path, name):
    """The decompressed bytes of ``path``, checked against the known SHA-256."""
    try:
        with (gzip.open if path.suffix == ".gz" else open)(path, "rb") as f:
            data = _read_idx_bounded(f, name, path)
    # a damaged deflate stream raises zlib.error, which is not an OSError
    except (OSError, EOFError, zlib.error) as exc:
        raise DatasetError(
            f"{path}: cannot be read ({type(exc).__name__}: {exc}); delete it and retry"
        ) from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != MNIST_FILES[name][0]:
        raise DatasetError(
            f"{path}: checksum mismatch (SHA-256 of the contents is {digest}, expected "
            f"{MNIST_FILES[name][0]}); the file is corrupt or not MNIST. Delete it, or "
            "point FASTNN_DATA_DIR at a directory holding the four original files"
        )
    return data


def parse_idx(
    data: bytes | bytearray, expected_ndim: int, source: str = "data"
) -> npt.NDArray[np.uint8]:
    """A uint8 IDX byte string (magic 0x0000 08 <ndim>) as a NumPy array.

    Parameters
    ----------
    data : bytes or bytearray
        The whole (decompressed) IDX file.
    expected_ndim : int
        The number of dimensions it must have (3 for images, 1 for labels).
    source : str, default "data"
        Names the data in error messages.

    Returns
    -------
    numpy.ndarray of uint8
        A read-only view of ``data``, shaped as its header says.

    Raises
    ------
    DatasetError
        For a bad magic number, another ndim, or a size that does not match
        the header.
    """
    shape, header_end = _idx_header(data, expected_ndim, source)
    if len(data) - header_end != math.prod(shape):
        raise DatasetError(
            f"{source}: header promises shape {shape} but holds "
            f"{len(data) - header_end} bytes"
        )
    return np.frombuffer(data, np.uint8, offset=header_end).reshape(shape)


def _root_cause(exc):
    """The innermost of a chain of errors (requests nests urllib3 nests socket)."""
    for _ in range(10):  # a bound, in case of a cycle
        reason = getattr(exc, "reason", None)
        inner = reason if isinstance(reason, BaseException) else None
        inner = inner or exc.__cause__ or exc.__context__
        if inner is None:
            break
        exc = inner
    return exc


def _download(name, directory):
    try:
        import pooch
    except ImportError:  # pragma: no cover - pooch is a dependency
        raise DatasetError(
            "downloading MNIST needs pooch (pip install pooch)"
        ) from None
    error = None
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
            error = exc
    # the full chain of network errors is hundreds of characters: its root is
    # what tells the user why (no DNS, refused, bad hash)
    root = _root_cause(error)
    lines = str(root).strip().splitlines()
    reason = f"{type(root).__name__}: {lines[0] if lines else ''}".rstrip(": ")
    if len(reason) > 80:
        reason = reason[:77] + "..."
    raise DatasetError(
        f"could not download {name}.gz ({reason}); to use local MNIST files pass "
        "--data-dir DIR to the CLI, set FASTNN_DATA_DIR=DIR, or call "
        "load_mnist(path=DIR)"
    ) from None


def _missing(directory):
    return [name for name in MNIST_FILES if _local_file(directory, name) is None]


def _find_directory(path):
    """path, else $FASTNN_DATA_DIR, else the cache dir if it holds all four files.

    A directory the user named must be complete: falling back to a download
    would hide a typo or a forgotten file behind a network error.
    """
    if path is not None:
        origin, directory = "", Path(path)
    elif os.environ.get("FASTNN_DATA_DIR"):
        origin, directory = " (FASTNN_DATA_DIR)", Path(os.environ["FASTNN_DATA_DIR"])
    else:
        directory = default_cache_dir()
        return None if _missing(directory) else directory
    missing = _missing(directory)
    if missing:
        note = "" if directory.is_dir() else "; the folder does not exist"
        raise DatasetError(
            f"{directory}{origin}: missing MNIST files {', '.join(missing)} "
            f"(.gz or raw IDX){note}"
        )
    return directory


def mnist_directory(
    path: str | os.PathLike[str] | None = None, download: bool = True
) -> Path:
    """The directory holding the four MNIST IDX files (``.gz`` or raw).

    Looked up as in ``load_mnist``: ``path``, else ``$FASTNN_DATA_DIR`` (either
    must hold all four files), else the user cache; if the cache lacks some
    and ``download`` is true, they are downloaded (with pooch, checked by MD5)
    into it first.

    Parameters
    ----------
    path : str or os.PathLike, optional
        A directory that must hold the four files.
    download : bool, default True
        Download missing files into the cache.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    DatasetError
        When files are missing and cannot (or may not) be downloaded.
    """
    directory = _find_directory(path)
    if directory is None:
        directory = default_cache_dir()
        if not download:
            raise DatasetError(
                f"MNIST not found in {directory} (missing "
                f"{', '.join(_missing(directory))}) and download=False; set "
                "FASTNN_DATA_DIR or pass path="
            )
        directory.mkdir(parents=True, exist_ok=True)
        for name in _missing(directory):
            _download(name, directory)
    return directory


def load_mnist(
    path: str | os.PathLike[str] | None = None,
    download: bool = True,
    dtype: str = "float32",
) -> tuple[
    tuple[npt.NDArray[Any], npt.NDArray[np.int64]],
    tuple[npt.NDArray[Any], npt.NDArray[np.int64]],
]:
    """MNIST as ``((x_train, y_train), (x_test, y_test))``.

    x: shape (N, 784), float32 in [0, 1] (``dtype="float32"``), or the raw
    uint8 pixels 0..255 (``dtype="uint8"``: a quarter of the memory; train
    with ``Sequential(..., input_scale=1/255)``, which scales each batch as
    it is read); y: int64 labels. Files are taken
    from ``path``, else ``$FASTNN_DATA_DIR`` (either must hold all four),
    else the user cache (``~/.cache/fastnn/mnist``), where missing ones are
    downloaded (with pooch, checked by MD5) if ``download`` is true. Local
    files may be gzipped or raw IDX; their decompressed contents are checked
    against the known SHA-256.

    Parameters
    ----------
    path : str or os.PathLike, optional
        A directory holding the four files.
    download : bool, default True
        Download missing files into the user cache.
    dtype : {"float32", "uint8"}, default "float32"
        Pixels scaled to [0, 1], or the raw bytes.

    Returns
    -------
    ((x_train, y_train), (x_test, y_test))
        x (60000, 784) and (10000, 784) of ``dtype``; y int64 labels 0..9.

    Raises
    ------
    DatasetError
        For missing, corrupt or undownloadable files.
    ValueError
        For another ``dtype``.
    """
    if dtype not in ("float32", "uint8"):
        raise ValueError(f"dtype: expected 'float32' or 'uint8', got {dtype!r}")
    directory = mnist_directory(path, download)
    arrays: dict[str, npt.NDArray[Any]] = {}
    for name in MNIST_FILES:
        file = _local_file(directory, name)
        raw = parse_idx(
            _read_verified(file, name), 3 if "images" in name else 1, str(file)
        )
        if "images" in name and dtype == "uint8":
            arrays[name] = raw.reshape(len(raw), -1)
        elif "images" in name:
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
