"""What the figures depend on besides the code: library versions, threads, the GPU.

Nothing here imports a framework: torch and TensorFlow are asked only when a backend
has already imported them (``sys.modules``).
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import sys

from mnist_nets.machine import cpu_count, cpu_name

_LIBRARIES = ("numpy", "torch", "tensorflow", "keras", "pytest-benchmark", "matplotlib")
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def library_versions() -> dict[str, str]:
    """Installed versions of the libraries that matter (absent ones left out), and Python."""
    out = {"python": platform.python_version()}
    for name in _LIBRARIES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            if name == "tensorflow":
                try:
                    out[name] = importlib.metadata.version("tensorflow-cpu")
                except importlib.metadata.PackageNotFoundError:
                    pass
    return out


def thread_counts(framework: str) -> dict[str, int | str | None]:
    """The thread settings a cell ran with: cores, environment variables, the framework's."""
    out: dict[str, int | str | None] = {"cores": cpu_count()}
    for var in _THREAD_VARIABLES:
        if os.environ.get(var):
            out[var] = os.environ[var]
    if framework == "torch" and "torch" in sys.modules:
        torch = sys.modules["torch"]
        out["torch_intra_op"] = torch.get_num_threads()
        out["torch_inter_op"] = torch.get_num_interop_threads()
    if framework == "tensorflow" and "tensorflow" in sys.modules:
        threading = sys.modules["tensorflow"].config.threading
        # 0 means "TensorFlow's default": one per core
        out["tf_intra_op"] = threading.get_intra_op_parallelism_threads()
        out["tf_inter_op"] = threading.get_inter_op_parallelism_threads()
    return out


def gpu_name() -> str | None:
    """The first CUDA GPU's name when torch is already imported and sees one."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        return str(torch.cuda.get_device_name(0))
    return None


def machine_block() -> dict:
    """What the report quotes under its tables, stored in each history's machine_info."""
    from bench.peak import PEAKS

    return {
        "cpu": cpu_name(),
        "cores": cpu_count(),
        "gpu": gpu_name(),
        "platform": platform.platform(),
        "versions": library_versions(),
        "gemm_peaks": {k: v for k, v in PEAKS.items() if v is not None},
    }
