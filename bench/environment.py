"""What the figures depend on besides the code: library versions, threads, the GPU.

Nothing here imports a framework: a framework's backend is asked only when it is
already loaded; the libraries to record come from the registry of frameworks.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform

from mnist_nets.backends import loaded_backend
from mnist_nets.backends.registry import FRAMEWORKS
from mnist_nets.machine import allocator, cpu_count, cpu_name, numpy_blas

_LIBRARIES = (
    *dict.fromkeys(lib for f in FRAMEWORKS for lib in f.libraries),
    "pytest-benchmark",
    "matplotlib",
)
_ALTERNATIVES = dict(alt for f in FRAMEWORKS for alt in f.alternatives)
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def library_versions() -> dict[str, str]:
    """Installed versions of the libraries that matter (absent ones left out), and Python."""
    out = {"python": platform.python_version()}
    for name in _LIBRARIES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            if name in _ALTERNATIVES:
                try:
                    out[name] = importlib.metadata.version(_ALTERNATIVES[name])
                except importlib.metadata.PackageNotFoundError:
                    pass
    return out


def thread_counts(framework: str) -> dict[str, int | str | None]:
    """The thread settings a cell ran with: cores, environment variables, the framework's."""
    out: dict[str, int | str | None] = {"cores": cpu_count()}
    for var in _THREAD_VARIABLES:
        if os.environ.get(var):
            out[var] = os.environ[var]
    backend = loaded_backend(framework)
    if backend is not None:
        out.update(backend.thread_settings())
    return out


def gpu_name() -> str | None:
    """The first CUDA GPU's name, from the first loaded backend that sees one."""
    for f in FRAMEWORKS:
        backend = loaded_backend(f.name)
        if f.gpu and backend is not None and "cuda" in backend.devices():
            return str(backend.device_name("cuda"))
    return None


def memory_bytes() -> int | None:
    """The machine's physical memory (None where the system does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def machine_block() -> dict:
    """The run's machine identity (CPU model, cores, memory, GPU) and what the report
    quotes under its tables, stored in each history's machine_info["mnist_nets"]."""
    from bench.peak import PEAKS

    return {
        "cpu": cpu_name(),
        "cores": cpu_count(),
        "memory_bytes": memory_bytes(),
        "gpu": gpu_name(),
        "platform": platform.platform(),
        "versions": library_versions(),
        "gemm_peaks": {k: v for k, v in PEAKS.items() if v is not None},
        "allocator": allocator(),
        "blas": numpy_blas(),
    }
