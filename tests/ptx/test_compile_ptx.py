"""Every CUDA kernel through NVIDIA's compiler (NVVM) for the compute
capability ``toolchain.TARGET_CC``, once per argument-type combination it is
launched with (``signatures.SIGNATURES``). The CUDA simulator runs kernels as
Python and so misses the typing errors that only the real compiler hits;
this needs no GPU."""

import inspect

import pytest

from tests.ptx import discovery, toolchain
from tests.ptx.signatures import SIGNATURES, cases

pytestmark = pytest.mark.ptx

CASES = cases()


@pytest.fixture(scope="module")
def kernels():
    """{name: dispatcher} of every kernel in ``fastnn.kernels.cuda``."""
    reason = toolchain.cuda_package_reason()
    if reason is not None:
        toolchain.skip_or_fail(reason)
    return discovery.find_kernels()


@pytest.fixture(scope="module")
def compiler(kernels):
    reason = toolchain.compiler_reason()
    if reason is not None:
        toolchain.skip_or_fail(reason)
    return toolchain.compile_kernel


@pytest.mark.parametrize(
    "name, variant, argtypes",
    CASES,
    ids=[f"{name}-{variant}" for name, variant, _ in CASES],
)
def test_kernel_compiles(kernels, compiler, name, variant, argtypes):
    if name not in kernels:
        pytest.fail(f"{name}: no such kernel in fastnn.kernels.cuda", pytrace=False)
    try:
        ptx, restype = compiler(kernels[name], argtypes)
    except Exception as exc:  # the compiler's message is the useful part
        pytest.fail(
            f"{name} [{variant}] does not compile for sm_"
            f"{''.join(map(str, toolchain.TARGET_CC))} as "
            f"{toolchain.signature_text(argtypes)}:\n{type(exc).__name__}: {exc}",
            pytrace=False,
        )
    assert str(restype) == "none"  # text: each package has its own types
    assert ".target sm_{}{}".format(*toolchain.TARGET_CC) in ptx
    assert ptx.count(".entry ") == 1  # exactly one kernel entry point


def test_every_kernel_has_signatures(kernels):
    missing = sorted(set(kernels) - set(SIGNATURES))
    assert not missing, (
        f"CUDA kernels without argument types in tests/ptx/signatures.py: "
        f"{', '.join(missing)}. Add SIGNATURES['<name>'] = {{variant id: "
        "(Numba argument types, in the kernel's parameter order)}, one variant "
        "per dtype combination the kernel's wrapper launches it with."
    )


def test_every_signature_names_a_kernel(kernels):
    stale = sorted(set(SIGNATURES) - set(kernels))
    assert not stale, (
        f"tests/ptx/signatures.py lists kernels that fastnn.kernels.cuda no "
        f"longer has (renamed or removed?): {', '.join(stale)}"
    )


def test_signatures_match_parameter_counts(kernels):
    """A variant with too few or too many types would fail to compile with a
    less direct message; name it here instead."""
    wrong = [
        f"{name} [{variant}]: {len(argtypes)} types for "
        f"{len(inspect.signature(kernels[name].py_func).parameters)} parameters"
        for name, variant, argtypes in CASES
        if name in kernels
        and len(argtypes) != len(inspect.signature(kernels[name].py_func).parameters)
    ]
    assert not wrong, "\n".join(wrong)
