"""The Markdown report of ``gpu_check.py``, built from its results dict alone
(so a saved ``gpu_check.json`` can be printed again: ``gpu_check.py
--from-json FILE``). Pure Python: no NumPy, no GPU."""

#: (key in a case's dict, column heading), in table order
COLUMNS = (
    ("fastnn_graphs", "fastnn graphs"),
    ("fastnn_eager", "fastnn eager"),
    ("torch_eager", "PyTorch eager"),
    ("torch_graph", "PyTorch graph"),
)
#: (name, numerator column, denominator column)
RATIOS = (
    ("fastnn/PyTorch eager", "fastnn_graphs", "torch_eager"),
    ("fastnn/PyTorch graph", "fastnn_graphs", "torch_graph"),
)
MNIST_RUNS = (
    ("fastnn_cold", "fastnn CLI, empty kernel cache (cold)"),
    ("fastnn_warm", "fastnn CLI, same cache again (warm)"),
    ("pytorch", "PyTorch CUDA eager (torch_mnist_cuda.py)"),
)
VERSION_KEYS = (
    "python",
    "numpy",
    "numba",
    "numba-cuda",
    "numba-cuda-mlir",
    "cupy",
    "torch",
)


def fmt_seconds(seconds):
    """1.23 s, 2.07 ms, 153 µs: three significant digits."""
    if seconds is None:
        return "-"
    for scale, unit in ((1, "s"), (1e-3, "ms"), (1e-6, "µs")):
        if abs(seconds) >= scale or unit == "µs":
            value = seconds / scale
            digits = 0 if abs(value) >= 100 else 1 if abs(value) >= 10 else 2
            return f"{value:,.{digits}f} {unit}"
    return "-"  # pragma: no cover - the loop always returns


def cell_seconds(cell):
    """The per-call seconds of a table cell (a dict), or None."""
    if isinstance(cell, dict) and isinstance(cell.get("seconds"), (int, float)):
        return float(cell["seconds"])
    return None


def case_ratios(case):
    """{ratio name: float or None} for one case of the steps section."""
    out = {}
    for name, top, bottom in RATIOS:
        a, b = cell_seconds(case.get(top)), cell_seconds(case.get(bottom))
        out[name] = a / b if a is not None and b else None
    return out


def format_cell(case, key):
    cell = case.get(key)
    if cell is None:
        return "-"
    if isinstance(cell, dict) and "error" in cell:
        return "error"
    seconds = cell_seconds(cell)
    if seconds is None:
        return "-"
    text = fmt_seconds(seconds)
    gflop = case.get("gflop")
    if case.get("show_flops") and gflop and seconds > 0:
        text += f" ({gflop / seconds / 1e3:.1f} TFLOP/s)"
    return text


def steps_table(cases):
    """The Markdown table of the steps section's cases (dict of dicts)."""
    heads = ["case"] + [h for _, h in COLUMNS] + [name for name, _, _ in RATIOS]
    lines = [
        "| " + " | ".join(heads) + " |",
        "| --- |" + " ---: |" * (len(heads) - 1),
    ]
    for key, case in cases.items():
        if not isinstance(case, dict):
            continue
        row = [case.get("title", key)]
        row += [format_cell(case, col) for col, _ in COLUMNS]
        for value in case_ratios(case).values():
            row.append("-" if value is None else f"{value:.2f}")
        lines.append("| " + " | ".join(row) + " |")
    return lines


def header_lines(env):
    versions = env.get("versions", {}) if isinstance(env, dict) else {}
    parts = [f"{k} {versions[k]}" for k in VERSION_KEYS if versions.get(k)]
    commit = str(env.get("commit", "unknown"))
    if env.get("uncommitted_files"):
        commit += f" (+{env['uncommitted_files']} changed files)"
    return [
        f"# fastnn vs PyTorch on {env.get('gpu', 'an unknown GPU')}",
        "",
        f"Date {env.get('date', '?')}; fastnn commit {commit}; "
        f"CUDA kernels by {env.get('cuda_package', '?')}.",
        ", ".join(parts) + "." if parts else "Versions unknown.",
    ]


def tests_lines(tests):
    if not isinstance(tests, dict) or not tests:
        return []
    if tests.get("skipped"):
        return ["", "CUDA tests: skipped (--skip-tests)."]
    lines = ["", "CUDA tests on the device:"]
    for name, run in tests.items():
        if not isinstance(run, dict):
            continue
        if "summary" in run:
            lines.append(
                f"- {name}: {run['summary']} (exit status {run.get('returncode')})"
            )
        elif "error" in run:
            lines.append(f"- {name}: not run: {run['error']}")
    if "error" in tests:
        lines.append(f"- stopped: {tests['error']}")
    return lines


def distributed_lines(distributed):
    """The data-parallel section: per CUDA package, each scenario's largest
    weight difference from the one-process CPU run."""
    if not isinstance(distributed, dict) or not distributed:
        return []
    if distributed.get("skipped"):
        why = distributed["skipped"]
        reason = why if isinstance(why, str) else "--skip-distributed"
        return ["", f"Data-parallel training on the GPU: skipped ({reason})."]
    lines = [
        "",
        "Data-parallel training on the GPU (`mpiexec -n 2`, every rank a GPU "
        "model, `DataParallel.fit`) against the same training in one CPU "
        "process, largest |weight difference| (float64):",
    ]
    for name, run in distributed.items():
        if not isinstance(run, dict):
            continue
        if "scenarios" in run:
            cells = ", ".join(
                f"{row['scenario']} {row['max_abs_weight_diff']:.2g}"
                for row in run["scenarios"]
            )
            lines.append(f"- {name}: {cells}")
        elif "error" in run:
            lines.append(f"- {name}: not run: {run['error']}")
    if "error" in distributed:
        lines.append(f"- stopped: {distributed['error']}")
    return lines


def mnist_lines(mnist):
    if not isinstance(mnist, dict) or not mnist:
        return []
    if mnist.get("skipped"):
        return ["", "MNIST: skipped (--skip-mnist)."]
    epochs = mnist.get("epochs", "?")
    lines = [
        "",
        f"MNIST, 784-512-512-10, SGD 0.05 momentum 0.9, cosine, batch 128, "
        f"{epochs} epoch{'' if epochs == 1 else 's'} (fixed: the CLI has no stop-at-accuracy option); wall time of the "
        "whole process (import, data load, training, test evaluation):",
        "",
        "| run | wall time | fit only | test accuracy |",
        "| --- | ---: | ---: | ---: |",
    ]
    for key, label in MNIST_RUNS:
        run = mnist.get(key)
        if not isinstance(run, dict):
            continue
        if "error" in run:
            lines.append(f"| {label} | error | - | - |")
            continue
        accuracy = run.get("accuracy")
        lines.append(
            f"| {label} | {fmt_seconds(run.get('seconds'))} | "
            f"{fmt_seconds(run.get('fit_s'))} | "
            f"{'-' if accuracy is None else f'{accuracy:.4f}'} |"
        )
    ratio = mnist.get("ratio_warm_over_pytorch")
    if ratio is not None:
        lines += ["", f"fastnn warm / PyTorch wall time: {ratio:.2f}"]
    return lines


def error_lines(results):
    """One line per recorded error, so no cell's "error" goes unexplained."""
    where = {}  # message: paths, in the order met

    def walk(node, path):
        if not isinstance(node, dict):
            return
        if isinstance(node.get("error"), str):
            message = " ".join(node["error"].split())[:300]
            where.setdefault(message, []).append("/".join(path) or "run")
        for key, value in node.items():
            if key not in ("traceback", "sections"):
                walk(value, path + [str(key)])

    walk(results, [])
    lines = []
    for message, paths in where.items():
        more = f" (and {len(paths) - 1} more)" if len(paths) > 1 else ""
        lines.append(f"- {paths[0]}{more}: {message}")
    return (["", "Errors:"] + lines) if lines else []


def _fastnn_cells(cases):
    """(case title, column heading, cell) of every measured fastnn cell."""
    for key, case in cases.items():
        if not isinstance(case, dict):
            continue
        for col, head in COLUMNS[:2]:
            cell = case.get(col)
            if isinstance(cell, dict) and "error" not in cell:
                yield case.get("title", key), head, cell


def graph_report_lines(cases):
    lines = [
        f"- {title}, {head}: {str(cell['graph_report'])[:200]}"
        for title, head, cell in _fastnn_cells(cases)
        if cell.get("graph_report")
    ]
    if not lines:
        return []
    return ["", "fastnn graph reports (model._graph_report):"] + lines


def fixed_cost_lines(cases):
    lines = [
        f"- {title}, {head}: {fmt_seconds(cell['per_call_s'])}"
        for title, head, cell in _fastnn_cells(cases)
        if isinstance(cell.get("per_call_s"), (int, float))
    ]
    if not lines:
        return []
    head = "fastnn fixed cost per fit call (1-epoch fit - S steps: data copy, "
    head += "graph recording, set-up):"
    return ["", head] + lines


def report(results):
    """The whole Markdown report, as one string."""
    env = results.get("environment") or {}
    steps = results.get("steps")
    steps = steps if isinstance(steps, dict) else {}
    cases = steps.get("cases") or {}
    lines = header_lines(env) + [""]
    lines += steps_table(cases) if cases else ["(no step timings)"]
    notes = steps.get("notes")
    if notes:
        lines += [""] + [f"- {note}" for note in notes]
    lines += fixed_cost_lines(cases)
    lines += graph_report_lines(cases)
    lines += tests_lines(results.get("tests"))
    lines += distributed_lines(results.get("distributed"))
    lines += mnist_lines(results.get("mnist"))
    lines += error_lines(results)
    durations = results.get("sections") or {}
    if durations:
        lines += [
            "",
            "Section times: "
            + ", ".join(
                f"{name} {info.get('seconds', 0):.0f} s ({info.get('status', '?')})"
                for name, info in durations.items()
                if isinstance(info, dict)
            ),
        ]
    return "\n".join(lines) + "\n"
