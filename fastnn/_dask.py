"""Inference on Dask collections: ``predict`` and ``evaluate`` chunk by chunk.

``Sequential.predict`` and ``Sequential.evaluate`` send Dask arrays,
DataFrames and Series here. Each row chunk runs through the in-memory
``predict`` (or the sums behind ``evaluate``) on whichever worker holds it.

The model travels once per worker, not once per chunk: an inference copy of it
(weights, loss and metrics; no optimizer state) is one key of the graph
(``dask.delayed``), and every chunk's task depends on that key. The
distributed scheduler moves the model to a worker once and its tasks there
share it (``predict`` and ``evaluate`` are thread-safe); a local scheduler
passes the object itself. The copy is taken when ``predict``/``evaluate`` is
called, so training the model afterwards does not change a lazy result.

Dask stays optional: nothing here imports it until a Dask collection arrives,
and a collection can only exist once ``dask`` is imported.
"""

from __future__ import annotations

import copy
import sys
from typing import TYPE_CHECKING, Any

import numpy as np

from fastnn import _inputs, _model_state

if TYPE_CHECKING:
    from fastnn.model import Sequential

#: Columns of the per-chunk sums of ``evaluate``: the loss sum (or the sum of
#: w_i l_i), its denominator (rows or sum(w_i)), the correct count, the rows.
_SUMS = 4


def is_collection(value: object) -> bool:
    """Whether ``value`` is a Dask collection (array, DataFrame, Series, ...),
    decided without importing Dask."""
    if type(value) is np.ndarray:  # the common case, first and fastest
        return False
    dask = sys.modules.get("dask")
    return (
        dask is not None
        and type(value).__module__.startswith("dask")
        and dask.is_dask_collection(value)
    )


def any_collection(*values: object) -> bool:
    """Whether any of ``values`` is a Dask collection."""
    return any(is_collection(value) for value in values)


def predict(model: Sequential, x: Any, batch_size: int = 1024) -> Any:
    """A lazy Dask array (N, O) of the model dtype: ``model.predict`` of each
    row chunk of ``x`` (a Dask array or DataFrame (N, F)), computed on the
    workers. Columns split over several chunks are joined into one first."""
    _require_built(model, "predict")
    _inputs.batch_size(batch_size, 1)  # checked now, not on a worker
    x = _features(model, x)
    return x.map_blocks(
        _predict_block,
        _shipped(model),
        batch_size,
        dtype=model.dtype,
        chunks=(x.chunks[0], (model.out_features,)),
        meta=np.empty((0, 0), model.dtype),
        token="fastnn-predict",
    )


def _predict_block(x: np.ndarray, model: Sequential, batch_size: int) -> np.ndarray:
    if len(x) == 0:  # an empty partition (a filtered DataFrame's, say)
        return np.empty((0, model.out_features), model.dtype)
    return model.predict(x, batch_size)


def evaluate(
    model: Sequential,
    x: Any,
    y: Any,
    batch_size: int = 1024,
    sample_weight: Any = None,
) -> dict[str, float]:
    """``model.evaluate`` over inputs of which at least one is a Dask
    collection: each row chunk's sums (``Sequential._evaluate_sums``) are
    computed on the workers and added up, so the loss is the (weighted) mean
    over all rows and accuracy the fraction correct over all of them."""
    import dask.array as da

    _require_built(model, "evaluate")
    _inputs.batch_size(batch_size, 1)
    x = _features(model, x) if is_collection(x) else _host_features(model, x)
    y = _rows(y, "y", (1, 2))
    weights = (
        None if sample_weight is None else _rows(sample_weight, "sample_weight", (1,))
    )
    x, y, weights, known = _align_rows(x, y, weights)
    args = [_shipped(model), None, batch_size, None, x, "ij"]
    args += [y, "i" if y.ndim == 1 else "il"]
    if weights is not None:
        args += [weights, "i"]
    sums = da.blockwise(
        _evaluate_block,
        "ik",
        *args,
        new_axes={"k": _SUMS},
        adjust_chunks={"i": 1},
        align_arrays=known,
        concatenate=True,
        dtype=np.float64,
        meta=np.empty((0, 0), np.float64),
        token="fastnn-evaluate",
    )
    loss_sum, denominator, correct, n = sums.sum(axis=0).compute()
    if n == 0:
        raise ValueError("x: is empty (0 samples)")
    if weights is not None and denominator == 0:
        raise ValueError(
            "sample_weight: all weights are 0 (or too small for "
            f"{model.dtype}); nothing to learn from"
        )
    return model._evaluate_result(
        int(n), float(loss_sum), float(denominator), int(correct)
    )


def _evaluate_block(
    model: Sequential,
    batch_size: int,
    x: np.ndarray,
    y: np.ndarray,
    sample_weight: np.ndarray | None = None,
) -> np.ndarray:
    """The (1, 4) sums of one row chunk (see ``_SUMS``)."""
    if len(x) == 0 and len(y) == 0:
        return np.zeros((1, _SUMS))
    x, y = model._check_xy(x, y)
    weights = None
    if sample_weight is not None:
        weights = _chunk_weights(model, sample_weight, y)
    loss_sum, denominator, correct = model._evaluate_sums(x, y, batch_size, weights)
    return np.array([[loss_sum, denominator, correct, len(x)]], np.float64)


def _chunk_weights(
    model: Sequential, sample_weight: np.ndarray, y: np.ndarray
) -> np.ndarray:
    """One chunk's checked weights. A chunk whose weights are all 0 is valid
    (it still counts for accuracy); only all-zero weights overall are refused,
    once the chunks' sums are in."""
    raw = np.asarray(sample_weight)
    if raw.shape == (len(y),) and raw.dtype.kind in "fiub" and not raw.any():
        return np.zeros(len(y), model.dtype)
    return model._check_weights(raw, None, y)


def _shipped(model: Sequential) -> Any:
    """One graph key holding an inference copy of ``model`` (see the module
    docstring); a fresh key per call, as the copy is taken now."""
    import dask

    state = _model_state.snapshot(model)
    state["optimizer"] = state["optimizer_state"] = None
    # the layers themselves belong to ``model``; the copy binds copies of them
    state["layers"] = [copy.deepcopy(layer) for layer in model.layers]
    clone = type(model).__new__(type(model))
    _model_state.restore(clone, state)
    return dask.delayed(clone, pure=False, traverse=False)


def _require_built(model: Sequential, method: str) -> None:
    if not model.built:
        raise RuntimeError(
            f"{method} on Dask data needs a built model (each worker would "
            "otherwise initialise its own random weights): call model.build(seed) "
            "or train it first"
        )


def _as_array(value: Any, name: str) -> Any:
    """A Dask array from a Dask array, DataFrame or Series."""
    import dask.array as da

    if isinstance(value, da.Array):
        return value
    if hasattr(value, "to_dask_array"):  # DataFrame, Series
        return value.to_dask_array()
    raise TypeError(
        f"{name}: expected a Dask array, DataFrame or Series, got "
        f"{type(value).__name__}"
    )


def _features(model: Sequential, x: Any) -> Any:
    """``x`` as a Dask array (N, F), one chunk across its columns, with the
    checks that need no data (the chunks get the full checks on the workers)."""
    x = _as_array(x, "x")
    if x.dtype.kind not in "fiub":
        raise ValueError(f"x: expected real numbers, got dtype {x.dtype}")
    if x.ndim != 2:
        raise ValueError(
            f"x: expected a 2-D array (samples, features), got shape {x.shape}"
        )
    if x.shape[1] != model.in_features:
        raise ValueError(
            f"x: has {x.shape[1]} features per sample but the model expects "
            f"{model.in_features}"
        )
    if x.shape[0] == 0:
        raise ValueError("x: is empty (0 samples)")
    if x.numblocks[1] > 1:
        x = x.rechunk({1: -1})
    return x


def _host_features(model: Sequential, x: Any) -> np.ndarray:
    """In-memory features next to Dask targets: checked once, here."""
    return model._check_x(x)


def _rows(value: Any, name: str, ndims: tuple[int, ...]) -> Any:
    """A Dask array (one chunk across columns), or an in-memory array."""
    array = _as_array(value, name) if is_collection(value) else np.asarray(value)
    if array.ndim not in ndims:
        expected = " or ".join(("(N,)", "(N, O)")[: len(ndims)])
        raise ValueError(f"{name}: expected shape {expected}, got {array.shape}")
    if isinstance(array, np.ndarray) or array.ndim == 1 or array.numblocks[1] == 1:
        return array
    return array.rechunk({1: -1})


def _align_rows(x: Any, y: Any, weights: Any) -> tuple[Any, Any, Any, bool]:
    """(x, y, weights) as Dask arrays with the same row chunks, and whether
    those chunks' sizes are known.

    Known sizes: each is rechunked to the row chunks of the first Dask one,
    and in-memory arrays are split the same way. Unknown sizes (DataFrame
    partitions): the Dask ones must have as many partitions, paired in order
    (each chunk's checks then compare their lengths), and in-memory ones are
    refused, since where to split them is unknown.
    """
    import dask.array as da

    arrays = [("x", x), ("y", y), ("sample_weight", weights)]
    lazy = [(name, a) for name, a in arrays if a is not None and is_collection(a)]
    reference_name, reference = lazy[0]
    known = not any(np.isnan(size) for _, a in lazy for size in a.chunks[0])
    out: list[Any] = []
    for name, array in arrays:
        if array is None:
            out.append(None)
            continue
        if known:
            if array.shape[0] != reference.shape[0]:
                raise ValueError(
                    f"{name}: has {array.shape[0]} samples but {reference_name} "
                    f"has {reference.shape[0]}"
                )
            rows = reference.chunks[0]
            if not is_collection(array):
                array = da.from_array(array, chunks=(rows,) + array.shape[1:])
            elif array.chunks[0] != rows:
                array = array.rechunk({0: rows})
        elif not is_collection(array):
            raise ValueError(
                f"{name}: an in-memory array cannot be paired with the chunks of "
                f"{reference_name}, whose sizes are unknown; pass a Dask "
                f"collection partitioned like it, or call "
                f"{reference_name}.compute_chunk_sizes() first"
            )
        elif array.numblocks[0] != reference.numblocks[0]:
            raise ValueError(
                f"{name}: has {array.numblocks[0]} row chunks but {reference_name} "
                f"has {reference.numblocks[0]}; their sizes are unknown, so they "
                "must be partitioned alike"
            )
        out.append(array)
    return out[0], out[1], out[2], known
