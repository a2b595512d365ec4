"""How ``compare.py`` reports: times on the terminal, the versions of
everything measured, and the README's Markdown tables from the JSON results.
"""

import os
import platform

import numpy as np

try:  # run from benchmarks/ (compare.py as a script)
    from compare_contenders import FLOOR
    from compare_models import torch_available
except ImportError:  # imported as benchmarks.compare_report: asv imports every module
    from .compare_contenders import FLOOR
    from .compare_models import torch_available


def fmt_time(seconds):
    """Seconds as a fixed-width string in us, ms or s."""
    if seconds < 1e-3:
        return f"{seconds * 1e6:8.1f} us"
    if seconds < 1:
        return f"{seconds * 1e3:8.2f} ms"
    return f"{seconds:8.2f} s "


def print_case(title, times, flops=None, peak=None):
    """Print one case: each contender's time, GFLOP/s and ratio to fastnn."""
    print(f"\n{title}")
    base = times.get("fastnn")
    for name, seconds in times.items():
        line = f"  {name:8s} {fmt_time(seconds)}"
        if flops:
            gflops = flops / seconds / 1e9
            line += f"  {gflops:7.1f} GFLOP/s ({100 * gflops / peak:4.1f}% of peak)"
        if name == FLOOR:
            line += f"  the matrix products alone: {100 * seconds / base:.0f}% of fastnn's time"
        elif base is not None and name != "fastnn":
            line += f"  fastnn/{name} = {base / seconds:.3f}"
        print(line)


def versions():
    """The machine and the versions of every library measured."""
    info = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu": platform.processor() or "unknown",
        "cores": os.cpu_count(),
        "numpy": np.__version__,
    }
    try:
        with open("/proc/cpuinfo") as f:
            names = [
                line.split(":", 1)[1].strip()
                for line in f
                if line.startswith("model name")
            ]
        info["cpu"] = names[0] if names else info["cpu"]
    except OSError:
        pass
    import numba

    import fastnn

    info.update(
        fastnn=fastnn.__version__,
        numba=numba.__version__,
        cpu_blas=fastnn.kernels.cpu_blas(),
    )
    if torch_available():
        import torch

        info["torch"] = torch.__version__
    return info


def markdown_table(results):
    """The README's results table: median times and fastnn/other ratios."""
    v = results["versions"]
    lines = [
        f"Measured {results['date']} on {v['cpu']} ({v['cores']} cores), Python "
        f"{v['python']}, fastnn {v['fastnn']} (CPU BLAS: {v.get('cpu_blas', '?')}), "
        f"numba {v['numba']}, NumPy {v['numpy']}, "
        f"PyTorch {v.get('torch', 'not installed')}; float32 matmul peak "
        f"{results['peak_gflops']:.0f} GFLOP/s. Ratio = fastnn time / other time "
        "(below 1: fastnn is faster). Matrix products alone: the same shapes' "
        "BLAS products by themselves, in the same run (share of fastnn's time).",
        "",
        "| case | fastnn | PyTorch | NumPy | fastnn/PyTorch | fastnn/NumPy | "
        "matrix products alone |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    titles = {
        "dense_layer_b128": "dense_forward+backward 128x784->512",
        "dense_layer_b1024": "dense_forward+backward 1024x784->512",
        "1_train_b128": "1. train step 784-512-512-10, b128",
        "2_train_b1024": "2. train step 784-512-512-10, b1024",
        "3_train_small": "3. train step 32-64-64-10, b32",
        "4_infer_b1": "4. inference latency, batch 1",
        "7_fit_small": "7. fit, per step, 32-64-64-10, b32",
        "8_fit_b128": "8. fit, per step, 784-512-512-10, b128",
        "9_fit_dropout": "9. fit, per step, 784-512-512-10 + Dropout(0.2), b128",
    }
    cases = results["cases"]
    for key, title in titles.items():
        if key not in cases:
            continue
        t = cases[key]["seconds"]
        cells = [
            fmt_time(t[n]).strip() if n in t else "-"
            for n in ("fastnn", "pytorch", "numpy")
        ]
        ratios = [
            f"{t['fastnn'] / t[n]:.2f}" if n in t else "-" for n in ("pytorch", "numpy")
        ]
        if "gflops" in cases[key]:
            cells[0] += f" ({cases[key]['gflops']['fastnn']:.0f} GFLOP/s)"
        floor = (
            f"{fmt_time(t[FLOOR]).strip()} ({100 * t[FLOOR] / t['fastnn']:.0f}%)"
            if FLOOR in t
            else "-"
        )
        lines.append(f"| {title} | " + " | ".join(cells + ratios + [floor]) + " |")
    lines += mnist_table(cases.get("5_mnist") or {})
    if "startup" in results:
        lines += [
            "",
            f"Cold JIT compile (empty cache, import + first steps): "
            f"{results['startup']['cold_s']:.1f} s; warm start: "
            f"{results['startup']['warm_s']:.2f} s.",
        ]
    return "\n".join(lines)


def mnist_table(mnist):
    """Lines of case 5's table (none without a fastnn row). fastnn rows name
    the BLAS that ran; a forced BLAS that could not be used shows as not run."""
    if "fastnn" not in mnist:
        return []
    base = mnist["fastnn"]
    lines = [
        "",
        "| 5. MNIST to 98% | time | epochs | s/epoch | peak RSS | fastnn/other time | "
        "fastnn/other RSS | fastnn/other per epoch |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, r in mnist.items():
        if "error" in r:
            missing = f"FASTNN_CPU_BLAS={r.get('cpu_blas_requested')} unavailable"
            lines.append(f"| {name} | not run: {missing} |" + " - |" * 6)
            continue
        label = f"{name} ({r['cpu_blas']})" if "cpu_blas" in r else name
        rel = (
            ("-", "-", "-")
            if name == "fastnn"
            else (
                f"{base['seconds'] / r['seconds']:.2f}",
                f"{base['peak_rss_mb'] / r['peak_rss_mb']:.2f}",
                f"{base['seconds_per_epoch'] / r['seconds_per_epoch']:.2f}",
            )
        )
        lines.append(
            f"| {label} | {r['seconds']:.1f} s | {r['epochs']} | "
            f"{r['seconds_per_epoch']:.2f} | {r['peak_rss_mb']:.0f} MB | "
            + " | ".join(rel)
            + " |"
        )
    return lines
