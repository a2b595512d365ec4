"""Where fastnn's compiled CPU kernels are cached, and when a cache is stale.

Numba keys a function's on-disk cache on its own source file only. Two traps
follow, and this module closes both:

* a kernel that calls a jitted helper from another module keeps running the
  old helper after that module is edited (the caller's file did not change);
* ``fastmath``/``parallel`` are not part of the key, so a cache compiled with
  other flags would be loaded (and can crash).

fastnn therefore registers its own cache locator for files inside
``fastnn.kernels``: its "source stamp" is one hash over every kernel source
file, the flags in ``kernels/_config.py`` and the Numba version, so any edit or
flag change recompiles everything; each CPU BLAS (MKL, OpenBLAS) has a cache
tree of its own. The cache lives in the first writable of
``$FASTNN_CACHE_DIR``, ``$XDG_CACHE_HOME/fastnn/numba`` (default
``~/.cache/fastnn/numba``) and ``<tempdir>/fastnn-numba-<user>``; with none
writable, kernels compile without a cache instead of failing to import.
To clear the cache, delete that directory (``fastnn info`` prints it).
"""

import getpass
import hashlib
import os
import tempfile
from functools import lru_cache
from pathlib import Path

import numba

from . import _config
from ._cpu_blas import cpu_blas

_KERNELS_DIR = Path(__file__).resolve().parent


def candidate_cache_dirs():
    """Directories tried for the kernel cache, most preferred first."""
    dirs = []
    if os.environ.get("FASTNN_CACHE_DIR"):
        dirs.append(Path(os.environ["FASTNN_CACHE_DIR"]))
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(
        os.path.expanduser("~"), ".cache"
    )
    dirs.append(Path(xdg) / "fastnn" / "numba")
    try:
        user = getpass.getuser()
    except Exception:  # no user name in some containers
        user = str(os.getuid()) if hasattr(os, "getuid") else "user"
    dirs.append(Path(tempfile.gettempdir()) / f"fastnn-numba-{user}")
    return dirs


@lru_cache(maxsize=None)
def source_stamp():
    """One hash over all kernel sources, the Numba flags and the Numba version."""
    digest = hashlib.sha256()
    digest.update(numba.__version__.encode())
    digest.update(_config.flags_fingerprint().encode())
    for path in sorted(_KERNELS_DIR.rglob("*.py")):
        digest.update(str(path.relative_to(_KERNELS_DIR)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _is_kernel_file(py_file):
    try:
        return Path(py_file).resolve().is_relative_to(_KERNELS_DIR)
    except (OSError, ValueError):
        return False


def _make_locator_class():
    """Build the locator on Numba's cache classes, or None if they moved."""
    try:
        from numba.core import caching
    except ImportError:  # pragma: no cover - depends on Numba internals
        return None
    base = getattr(caching, "UserProvidedCacheLocator", None) or getattr(
        caching, "_UserProvidedCacheLocator", None
    )
    impl = getattr(caching, "CacheImpl", None) or getattr(caching, "_CacheImpl", None)
    if base is None or impl is None:
        return None  # pragma: no cover

    class FastnnCacheLocator(base):
        """Numba cache locator for fastnn kernels (see module docstring)."""

        def __init__(self, py_func, py_file, root):
            self._py_file = py_file
            self._lineno = py_func.__code__.co_firstlineno
            subpath = self.get_suitable_cache_subpath(py_file)
            # one tree per BLAS: switching FASTNN_CPU_BLAS back and forth
            # finds its own compiled kernels instead of recompiling each time
            self._cache_path = str(Path(root) / cpu_blas() / subpath)

        def get_cache_path(self):
            return self._cache_path

        def get_source_stamp(self):
            return source_stamp()

        @classmethod
        def from_function(cls, py_func, py_file):
            if not _is_kernel_file(py_file):
                return None  # not ours: Numba's own locators decide
            for root in candidate_cache_dirs():
                locator = cls(py_func, py_file, root)
                try:
                    locator.ensure_cache_path()
                except OSError:
                    continue
                return locator
            return None

    return impl, FastnnCacheLocator


def install_locator():
    """Put fastnn's locator first in Numba's list (idempotent)."""
    made = _make_locator_class()
    if made is None:
        return False
    impl, locator_cls = made
    classes = impl._locator_classes
    if not any(c.__name__ == "FastnnCacheLocator" for c in classes):
        classes.insert(0, locator_cls)
    return True


def active_cache_dir():
    """The directory kernels are cached in now, or None when caching is off."""
    if not _config.CACHE:
        return None
    for root in candidate_cache_dirs():
        try:
            root.mkdir(parents=True, exist_ok=True)
            tempfile.TemporaryFile(dir=root).close()
        except OSError:
            continue
        return root
    return None
