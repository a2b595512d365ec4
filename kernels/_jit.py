"""The one decorator every CPU kernel is compiled with.

Flags come from ``_config``; caching goes through ``_cache``'s locator. When no
cache directory is writable at all, the kernel is compiled without a cache
rather than failing at import (Numba itself raises "no locator available").
"""

import numba

from . import _cache, _config

_cache.install_locator()


def cpu_jit(fn):
    """Compile ``fn`` with Numba in nopython mode using fastnn's flags."""
    options = dict(
        fastmath=_config.FASTMATH,
        parallel=_config.PARALLEL,
        nogil=True,
        # NumPy semantics for x/0 (inf/nan) instead of a Python exception
        # check on every division.
        error_model="numpy",
    )
    if _config.CACHE:
        try:
            return numba.njit(cache=True, **options)(fn)
        except RuntimeError:  # no writable cache location anywhere
            pass
    return numba.njit(cache=False, **options)(fn)
