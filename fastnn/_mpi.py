"""The MPI plumbing of data-parallel training: importing mpi4py, agreeing on
errors, moving a model's flat buffers between ranks, and aborting a run that
one rank can no longer follow.

Every function here is *collective*: all ranks of the communicator call it in
the same order, or the run hangs. That is why errors found by one rank are
first agreed on (``agree``) and only then raised, on every rank alike.
"""

import sys
import traceback
import zlib

import numpy as np

INSTALL_HINT = (
    "data-parallel training needs mpi4py and an MPI library: pip install "
    "'.[mpi]' in the fastnn clone (mpi4py and the mpich wheel), or mpi4py "
    "built against your cluster's MPI"
)


def mpi():
    """The ``mpi4py.MPI`` module, or ImportError saying how to install it."""
    try:
        from mpi4py import MPI
    except ImportError as exc:
        raise ImportError(f"{INSTALL_HINT} ({exc})") from None
    return MPI


class RankError(RuntimeError):
    """Raised on every rank when another rank's check failed: names the rank
    and its error."""


def agree(comm, error):
    """Collective: share each rank's ``error`` (an exception or None); when
    any rank has one, every rank raises: its own error, else a RankError
    naming the first rank that failed."""
    report = None if error is None else f"{type(error).__name__}: {error}"
    reports = comm.allgather(report)
    if error is not None:
        raise error
    for rank, report in enumerate(reports):
        if report is not None:
            raise RankError(f"rank {rank} of {len(reports)} failed: {report}")


def agree_on(comm, check, *args):
    """Run ``check(*args)`` on every rank; its error, on any rank, raised on
    all (see ``agree``); otherwise its result."""
    try:
        result, error = check(*args), None
    except Exception as exc:  # noqa: BLE001 - re-raised by agree
        result, error = None, exc
    agree(comm, error)
    return result


def require_same(comm, what):
    """Collective: ValueError on every rank unless every rank passed an equal
    dict ``what`` (its keys name what must match: shapes, seeds, settings)."""
    everyone = comm.allgather(what)
    for rank, theirs in enumerate(everyone):
        for key, value in what.items():
            if theirs.get(key) != value:
                raise ValueError(
                    f"data-parallel ranks disagree on {key}: rank {comm.rank} has "
                    f"{value!r}, rank {rank} has {theirs.get(key)!r}; every rank "
                    "must call fit with the same model, data sizes and arguments"
                )


def broadcast_array(comm, backend, array, root=0):
    """Collective: the root's ``array`` (host or device) copied into every
    rank's ``array``, through the host."""
    host = np.ascontiguousarray(backend.to_host(array))
    comm.Bcast(host, root=root)
    if comm.rank != root:
        backend.copy_into(array, host)


def fingerprint(backend, array):
    """A CRC-32 of an array's bytes: equal on every rank while replicas agree."""
    return zlib.crc32(np.ascontiguousarray(backend.to_host(array)).view(np.uint8))


def abort(comm, exc):
    """Print which rank failed and why, then MPI_Abort the whole job: the
    other ranks are blocked in a collective this rank will never reach."""
    lines = traceback.format_exception(type(exc), exc, exc.__traceback__)
    sys.stderr.write(
        "".join(lines) + f"fastnn: error: rank {comm.rank} of {comm.size} failed "
        f"({type(exc).__name__}: {exc}); aborting all {comm.size} ranks\n"
    )
    sys.stderr.flush()
    comm.Abort(1)
