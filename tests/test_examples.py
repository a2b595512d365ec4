"""Every script in examples/ runs, as a user runs it, in its ``--quick`` mode.

A smoke test only: each script runs in a fresh process and must exit 0 and
print its result line. What the examples teach is tested elsewhere (the
kernel loop's learning in test_kernel_example.py, the full scikit-learn
example in test_sklearn_behaviour.py). A new example needs an entry in
``SMOKE``, which a test enforces.
"""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"

#: script -> (modules it needs beyond fastnn, needs MNIST, text its output has)
SMOKE = {
    "kernel_training_loop.py": ((), False, "first batch loss"),
    "mnist.py": ((), True, "same predictions"),
    "regression.py": ((), False, "test R^2: MLP"),
    "sklearn_pipeline.py": (("sklearn",), False, "test accuracy"),
    "tabular_csv.py": (("sklearn", "pandas"), False, "test accuracy"),
}


def test_every_example_has_a_smoke_test():
    scripts = sorted(path.name for path in EXAMPLES.glob("*.py"))
    assert scripts == sorted(SMOKE), "add the new example to SMOKE"


@pytest.mark.parametrize("script", sorted(SMOKE))
def test_example_runs_quick(script, request, tmp_path):
    needs, mnist, expected = SMOKE[script]
    for module in needs:
        pytest.importorskip(module)
    # the fastnn of this tree, as the test process imports it; no GUI backend
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path, "MPLBACKEND": "Agg"}
    if mnist:
        env["FASTNN_DATA_DIR"] = str(request.getfixturevalue("mnist_dir"))
    args = [sys.executable, str(EXAMPLES / script), "--quick"]
    source = (EXAMPLES / script).read_text()
    if "--plot" in source and importlib.util.find_spec("matplotlib"):
        args += ["--plot", str(tmp_path / "curves.png")]
    # run from elsewhere: an example must not rely on the working directory
    result = subprocess.run(
        args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180
    )
    assert result.returncode == 0, result.stderr
    assert expected in result.stdout
    if "--plot" in args:
        assert (tmp_path / "curves.png").stat().st_size > 0
