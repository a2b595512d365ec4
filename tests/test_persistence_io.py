"""Where models are saved and loaded from: paths (file modes, special files,
temporary files left by killed writers, interrupts) and file objects or bytes."""

import io
import os
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import fastnn as fnn
from fastnn import persistence
from fastnn.persistence import ModelFileError
from tests.test_persistence import trained

ROOT = Path(__file__).resolve().parents[1]
posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")


def temporaries(folder):
    return sorted(n for n in os.listdir(folder) if n.endswith(".tmp"))


@pytest.fixture
def umask():
    """Set the process umask for one test, then restore it."""
    old = os.umask(0o022)
    yield os.umask
    os.umask(old)


# -------------------------------------------------------------- file modes
@posix_only
@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o077, 0o600), (0, 0o666)])
def test_new_file_mode_follows_umask(tmp_path, umask, mask, mode):
    model, _, _ = trained(epochs=0)
    umask(mask)
    model.save(tmp_path / "m.safetensors")
    assert stat.S_IMODE(os.stat(tmp_path / "m.safetensors").st_mode) == mode


@posix_only
def test_overwritten_file_keeps_its_mode(tmp_path, umask):
    model, _, _ = trained(epochs=0)
    path = tmp_path / "m.safetensors"
    path.write_bytes(b"old")
    path.chmod(0o640)
    umask(0o077)
    model.save(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    assert fnn.load_model(path).n_params == model.n_params


# ----------------------------------------------------------- special files
def special_files(tmp_path):
    folder = tmp_path / "folder"
    folder.mkdir()
    yield "directory", folder
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    yield "FIFO", fifo
    device = tmp_path / "null"
    try:
        os.mknod(device, stat.S_IFCHR | 0o600, os.makedev(1, 3))
    except (OSError, AttributeError):
        pass  # not root, or a container without mknod
    else:
        yield "character device", device


@posix_only
def test_save_refuses_special_files(tmp_path):
    model, _, _ = trained(epochs=0)
    for kind, path in special_files(tmp_path):
        before = os.lstat(path)
        with pytest.raises(ValueError, match=f"{path}: is a {kind}, not a regular"):
            model.save(path)
        after = os.lstat(path)
        assert (after.st_ino, after.st_mode) == (before.st_ino, before.st_mode)
    assert temporaries(tmp_path) == []


@posix_only
def test_save_refuses_symlinks_and_keeps_their_target(tmp_path):
    model, _, _ = trained(epochs=0)
    target = tmp_path / "target.safetensors"
    target.write_bytes(b"precious")
    link = tmp_path / "link.safetensors"
    link.symlink_to(target)
    with pytest.raises(ValueError, match="is a symbolic link"):
        model.save(link)
    assert link.is_symlink() and target.read_bytes() == b"precious"
    dangling = tmp_path / "dangling.safetensors"
    dangling.symlink_to(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="is a symbolic link"):
        model.save(dangling)
    assert not (tmp_path / "nowhere").exists()
    assert temporaries(tmp_path) == []


# ---------------------------------------------------- interrupts and kills
def test_interrupt_right_after_replace_keeps_the_saved_file(tmp_path, monkeypatch):
    model, x, _ = trained()
    path = tmp_path / "m.safetensors"
    real_replace = os.replace

    def replace_then_interrupt(src, dst):
        real_replace(src, dst)
        raise KeyboardInterrupt

    monkeypatch.setattr(persistence.os, "replace", replace_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        model.save(path)
    monkeypatch.undo()
    np.testing.assert_array_equal(fnn.load_model(path).predict(x), model.predict(x))
    assert temporaries(tmp_path) == []


# A child that saves a model and stops inside fsync (the temporary file then
# exists and is complete), printing "writing" so the parent can signal it.
CHILD = textwrap.dedent(
    """
    import os, sys, time
    import fastnn as fnn
    from fastnn import persistence

    def stuck_fsync(fd):
        print("writing", flush=True)
        time.sleep(60)

    model = fnn.Sequential([fnn.Dense(300, 300)], seed=0)
    persistence.os.fsync = stuck_fsync
    model.save(sys.argv[1])
    """
)


def start_stuck_writer(path):
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout.readline() == "writing\n"
    return child


@posix_only
def test_later_save_removes_temporaries_of_killed_writers(tmp_path):
    model, x, _ = trained()
    path = tmp_path / "m.safetensors"
    model.save(path)
    child = start_stuck_writer(path)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    stale = temporaries(tmp_path)
    assert len(stale) == 1 and f"-{child.pid}-" in stale[0]
    np.testing.assert_array_equal(fnn.load_model(path).predict(x), model.predict(x))
    model.save(tmp_path / "other.safetensors")  # any save in that folder
    assert temporaries(tmp_path) == []


@posix_only
def test_sigterm_during_save_removes_the_temporary(tmp_path):
    model, x, _ = trained()
    path = tmp_path / "m.safetensors"
    model.save(path)
    child = start_stuck_writer(path)
    child.send_signal(signal.SIGTERM)
    assert child.wait(timeout=30) == -signal.SIGTERM  # still dies of SIGTERM
    assert temporaries(tmp_path) == []
    np.testing.assert_array_equal(fnn.load_model(path).predict(x), model.predict(x))


@posix_only
def test_temporaries_of_live_writers_are_kept(tmp_path):
    model, _, _ = trained(epochs=0)
    mine = tmp_path / f".fastnn-{os.getpid()}-0123abcd.tmp"  # this process: alive
    mine.write_bytes(b"partial")
    foreign = tmp_path / ".fastnn-x1y2z3.tmp"  # not our naming scheme
    foreign.write_bytes(b"partial")
    model.save(tmp_path / "m.safetensors")
    assert mine.exists() and foreign.exists()


@posix_only
def test_locked_temporary_is_kept_even_if_its_pid_looks_dead(tmp_path):
    """A writer in another PID namespace (container) holds its file's lock."""
    fcntl = pytest.importorskip("fcntl")
    model, _, _ = trained(epochs=0)
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()  # its pid is now dead here
    other = tmp_path / f".fastnn-{finished.pid}-0123abcd.tmp"
    with open(other, "wb") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        model.save(tmp_path / "m.safetensors")
        assert other.exists()
    model.save(tmp_path / "m.safetensors")
    assert not other.exists()


# ------------------------------------------------- file objects and bytes
def test_bytesio_round_trip_equals_path_round_trip(tmp_path):
    model, x, y = trained(optimizer=fnn.Adam(lr=0.01))
    buffer = io.BytesIO()
    model.save(buffer)
    model.save(tmp_path / "m.safetensors")

    buffer.seek(0)
    from_buffer = fnn.load_model(buffer)
    from_path = fnn.load_model(tmp_path / "m.safetensors")
    np.testing.assert_array_equal(from_buffer.predict(x), model.predict(x))
    for resumed in (from_buffer, from_path):
        resumed.fit(x, y, epochs=2, batch_size=16, seed=3, verbose=0)
    np.testing.assert_array_equal(from_buffer.get_weights(), from_path.get_weights())
    assert from_buffer.optimizer.steps == from_path.optimizer.steps


def test_open_file_objects(tmp_path):
    model, x, _ = trained()
    path = tmp_path / "m.safetensors"
    with open(path, "wb") as f:
        f.write(b"prefix")
        model.save(f)  # writes at the current position, leaves f open
        assert not f.closed
    with open(path, "rb") as f:
        assert f.read(6) == b"prefix"
        loaded = fnn.load_model(f)  # reads from the current position
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
def test_load_from_bytes_like(kind):
    model, x, _ = trained()
    buffer = io.BytesIO()
    model.save(buffer)
    loaded = fnn.load_model(kind(buffer.getvalue()))
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


def test_paths_may_be_str_or_pathlike(tmp_path):
    model, x, _ = trained()
    model.save(str(tmp_path / "a.safetensors"))
    model.save(tmp_path / "b.safetensors")
    for name in ("a.safetensors", "b.safetensors"):
        for path in (str(tmp_path / name), tmp_path / name):
            np.testing.assert_array_equal(
                fnn.load_model(path).predict(x), model.predict(x)
            )


def test_errors_name_bytes_and_file_objects():
    with pytest.raises(ModelFileError, match="^<bytes>: not a fastnn model file"):
        fnn.load_model(b"garbage")
    with pytest.raises(ModelFileError, match="^<file object>: not a fastnn model"):
        fnn.load_model(io.BytesIO(b"garbage"))


def test_wrong_targets_and_sources_raise_type_error(tmp_path):
    model, _, _ = trained(epochs=0)
    for target in (None, 3, b"m.safetensors", io.StringIO()):
        with pytest.raises(TypeError, match="path"):
            model.save(target)
    for source in (None, 3, io.StringIO("text")):
        with pytest.raises(TypeError, match="path"):
            fnn.load_model(source)
    with open(tmp_path / "t.txt", "w") as f:
        with pytest.raises(TypeError, match="binary"):
            model.save(f)
