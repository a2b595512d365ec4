"""Atomic replacement of a file by a path, for ``fastnn.persistence``.

The data is written under a temporary name (``.fastnn-<pid>-<random>.tmp``)
in the target's directory, flushed to disk, then renamed over the target: a
crash mid-save leaves the previous file intact. The temporary file is created
with mode 0666 (the umask applies, as for any new file) or given the mode of
the file it replaces; only a regular file is replaced.

A writer killed mid-save (SIGKILL, the OOM killer) leaves its temporary file;
the next write into that directory removes it when its pid is no process here
and its lock (held while writing, released by the kernel when the writer
dies) is free: a pid alone could be a live writer's in another PID namespace.
A SIGTERM while writing removes the temporary file, where that is safe to
arrange (see ``_removed_on_sigterm``).
"""

import contextlib
import os
import re
import secrets
import signal
import stat
import threading

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]


def existing_mode(path):
    """The permission bits of the regular file at ``path``, None when there is
    none, or a ValueError for anything else there."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(st.st_mode):
        raise ValueError(
            f"{path}: is a symbolic link; fastnn neither writes through a link "
            "nor replaces it: save to the target's path, or remove the link"
        )
    if not stat.S_ISREG(st.st_mode):
        kinds = [
            (stat.S_ISDIR, "directory"),
            (stat.S_ISFIFO, "FIFO"),
            (stat.S_ISCHR, "character device"),
            (stat.S_ISBLK, "block device"),
            (stat.S_ISSOCK, "socket"),
        ]
        kind = next((k for test, k in kinds if test(st.st_mode)), "special file")
        raise ValueError(
            f"{path}: is a {kind}, not a regular file; a model is saved to a new "
            "file or over a regular file only"
        )
    return stat.S_IMODE(st.st_mode)


def write(path, data, mode):
    """Replace ``path`` by a file holding ``data``, with permission bits
    ``mode`` (None: those of a new file)."""
    directory = os.path.dirname(os.path.abspath(path))
    _remove_stale_temporaries(directory)
    tmp = os.path.join(directory, f".fastnn-{os.getpid()}-{secrets.token_hex(4)}.tmp")
    with _removed_on_sigterm(tmp):
        # os.open applies the umask to 0o666 (mkstemp would give 0o600)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
        fd = os.open(tmp, flags | getattr(os, "O_BINARY", 0), 0o666)
        try:
            with os.fdopen(fd, "wb") as f:
                _lock(f.fileno())
                if mode is not None:
                    os.chmod(tmp, mode)
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
                if fcntl is not None:  # rename while the lock marks the file live
                    os.replace(tmp, path)
            if fcntl is None:
                os.replace(tmp, path)
        except BaseException:
            # gone already when the interrupt came right after os.replace
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise


# --------------------------------------------------- temporaries of others
_TEMPORARY = re.compile(r"\.fastnn-([0-9]+)-[0-9a-f]+\.tmp")


def _lock(fd):
    """Mark a temporary file as being written: the lock dies with its writer,
    also one in another PID namespace (a container) whose pid means nothing
    here."""
    if fcntl is not None:
        with contextlib.suppress(OSError):  # a file system without locks
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def _alive(pid):
    if pid == os.getpid():
        return True  # another thread's save
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    except (OverflowError, OSError):
        return False
    return True


def _remove_stale_temporaries(directory):
    """Remove the temporary files of writers that died mid-save (SIGKILL,
    OOM killer): those whose pid is no process here and whose lock is free."""
    if os.name != "posix":
        return  # os.kill(pid, 0) would terminate the process on Windows
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        match = _TEMPORARY.fullmatch(name)
        if match is None or _alive(int(match[1])):
            continue
        path = os.path.join(directory, name)
        try:
            # O_NONBLOCK: a FIFO of that name must not hang the save
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            continue
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if stat.S_ISREG(os.fstat(fd).st_mode):
                os.unlink(path)
        except OSError:
            pass  # locked by a live writer, or gone already
        finally:
            os.close(fd)


@contextlib.contextmanager
def _removed_on_sigterm(tmp):
    """While saving, make a SIGTERM remove ``tmp`` and then end the process
    as it would have. Only in the main thread (where Python runs handlers)
    and where SIGTERM has its default action: a program's own handler wins."""
    if (
        not hasattr(signal, "SIGTERM")
        or threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
    ):
        yield
        return

    def handler(signum, frame):
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)

    try:
        signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main interpreter
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
