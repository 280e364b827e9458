"""The float32 tests do not pass or fail by the CPU: they pass on another set of BLAS kernels.

numpy's OpenBLAS picks its kernels for the CPU it runs on (AVX-512 on this machine, AVX2 on
most others, ...), and each set rounds a product's sums in its own order.  Three tests
depended on that and failed on OpenBLAS's AVX2 kernels while passing here: AlexNet's float32
training run (it forks at near-kinks by rounding alone), equal patches giving equal outputs
(some kernels round equal rows of a product 1 ulp apart) and the banded layer being bitwise
im2col's.  Those tests, run here again in a child process whose OpenBLAS is told to use
another core type's kernels (``OPENBLAS_CORETYPE``), must pass there too.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mnist_nets.machine import numpy_blas

ROOT = Path(__file__).resolve().parent.parent
# the tests whose outcome the kernels' rounding decides, where the float32 sums differ
KERNEL_SENSITIVE = (
    "tests/test_banded.py::test_float32_on_real_digits",
    "tests/test_winograd.py::test_identical_patches_give_identical_outputs",
    "tests/test_real_data_equivalence.py::test_training_on_real_data[mnist-alexnet]",
    "tests/test_real_data_equivalence.py::test_numpy_forks_within_the_bound[mnist-alexnet]",
)


def cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def other_core_type() -> str | None:
    """An OpenBLAS core type other than the one numpy's OpenBLAS chose, that this CPU can
    run: the AVX2 kernels (Haswell) where it chose others, else older SSE ones (Prescott).
    None where numpy's BLAS is not OpenBLAS or the CPU is not x86-64."""
    flags, chosen = cpu_flags(), numpy_blas()
    if not chosen.startswith("openblas") or "pni" not in flags:  # pni: SSE3 in Linux
        return None
    if "Haswell kernels" not in chosen and {"avx2", "fma"} <= flags:
        return "Haswell"
    return "Prescott"


def test_the_float32_tests_pass_on_another_cpus_kernels():
    core = other_core_type()
    if core is None:
        pytest.skip("numpy's BLAS is not OpenBLAS on x86-64: no other kernels to choose")
    env = dict(os.environ, OPENBLAS_CORETYPE=core)
    probe = "from mnist_nets.machine import numpy_blas; print(numpy_blas())"
    check = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=120,
    )
    # another set of kernels than this process's (OpenBLAS may name it otherwise: this
    # build reports Prescott's request as "Katmai")
    assert check.stdout.strip() != numpy_blas(), f"{core}: the same kernels {check.stdout}"
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rfE", "-p", "no:cacheprovider", *KERNEL_SENSITIVE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    lines = run.stdout.splitlines()
    failed = [line for line in lines if line.startswith(("FAILED", "ERROR"))]
    summary = lines[-1] if lines else run.stderr[-500:]
    assert run.returncode == 0, f"on OpenBLAS's {core} kernels: {summary}\n" + "\n".join(failed)
    assert " passed" in summary, summary
