"""fastnn ``predict`` against onnxruntime running the same model exported with
``model.to_onnx``.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/onnx_compare.py

Inference of the 784-512-512-10 float32 network of ``compare.py`` (ReLU
hidden layers, logits out) at batch 1 and batch 1024, on the same input, with
the same threads: fastnn's BLAS limited to ``THREADS`` (threadpoolctl) and an
onnxruntime session with ``intra_op_num_threads = THREADS``,
``inter_op_num_threads = 1`` and its default graph optimisations. Calls
alternate by round (``compare.interleaved``); the table gives medians per call
and the ratio fastnn / onnxruntime (below 1: fastnn faster).
"""

import argparse
import json
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from compare import BIG, THREADS, fmt_time, interleaved, make_fastnn, versions  # noqa: E402

#: (batch, rounds, calls per round): ~1 s per contender and batch size
CASES = ((1, 15, 200), (1024, 15, 4))


def ort_session(path):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = THREADS
    options.inter_op_num_threads = 1
    return ort.InferenceSession(
        path, sess_options=options, providers=["CPUExecutionProvider"]
    )


def measure(quick=False):
    """{batch: {"fastnn": s, "onnxruntime": s}} medians per call."""
    from threadpoolctl import threadpool_limits

    model = make_fastnn(BIG)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.onnx")
        model.to_onnx(path)
        session = ort_session(path)
    rng = np.random.default_rng(0)
    results = {}
    with threadpool_limits(THREADS, user_api="blas"):
        for batch, rounds, calls in CASES:
            x = rng.random((batch, BIG[0]), dtype=np.float32)
            # the same numbers first, then the time
            np.testing.assert_allclose(
                session.run(None, {"input": x})[0],
                model.predict(x),
                rtol=1e-4,
                atol=1e-4,
            )
            contenders = {
                "fastnn": lambda x=x: model.predict(x),
                "onnxruntime": lambda x=x: session.run(None, {"input": x}),
            }
            if quick:
                rounds, calls = 3, max(1, calls // 10)
            results[batch] = interleaved(contenders, rounds, calls)
    return results


def markdown(results):
    lines = [
        "| 784-512-512-10, float32 | fastnn `predict` | onnxruntime `run` | fastnn / onnxruntime |",
        "|---|---:|---:|---:|",
    ]
    for batch, times in results.items():
        fast, ort = times["fastnn"], times["onnxruntime"]
        lines.append(
            f"| batch {batch} | {fmt_time(fast).strip()} | {fmt_time(ort).strip()} "
            f"| {fast / ort:.2f} |"
        )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few rounds (smoke run)")
    parser.add_argument("--json", metavar="FILE", help="write the results as JSON")
    args = parser.parse_args(argv)

    import onnxruntime

    info = versions()
    info["onnxruntime"] = onnxruntime.__version__
    info["threads"] = THREADS
    results = measure(args.quick)
    print(json.dumps(info))
    print(markdown(results))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"environment": info, "seconds": results}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
