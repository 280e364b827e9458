"""What machine a run happens on: CPU model and core count, read without any framework."""

from __future__ import annotations

import functools
import os
import platform


@functools.lru_cache(maxsize=1)
def cpu_name() -> str:
    """The CPU model ("AMD EPYC 7B13", ...), from /proc/cpuinfo where there is one."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def cpu_count() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def numpy_blas() -> str:
    """numpy's BLAS as this process loaded it: library, version, the kernels it chose for
    the CPU and its threads, e.g. "openblas 0.3.31.188.0, SkylakeX kernels, 2 threads".
    The kernels decide numpy's matrix-product speed and the rounding of its sums: OpenBLAS's
    AVX-512 and AVX2 kernels ("SkylakeX", "Haswell") train AlexNet along different float32
    paths (docs/conventions.md), so a run records which it had."""
    import numpy
    from threadpoolctl import threadpool_info

    home = os.path.dirname(os.path.dirname(numpy.__file__))  # site-packages: numpy.libs too
    blas = [i for i in threadpool_info() if i.get("user_api") == "blas"]

    def numpys(info) -> bool:  # in numpy's own folders, not another package's (torch's MKL)
        path = info.get("filepath") or ""
        return path.startswith(home) and os.path.relpath(path, home).startswith("numpy")

    found = [i for i in blas if numpys(i)] or (blas if len(blas) == 1 else [])
    if not found:
        return "not found"
    info = found[0]
    threads = info["num_threads"]
    parts = [f"{info['internal_api']} {info.get('version') or ''}".strip()]
    if info.get("architecture"):
        parts.append(f"{info['architecture']} kernels")
    parts.append(f"{threads} thread{'s' if threads != 1 else ''}")
    return ", ".join(parts)


# ----------------------------------------------------------------- the C allocator

ALLOCATOR_VARIABLE = "MNIST_NETS_ALLOCATOR"
_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4  # glibc's <malloc.h> mallopt parameters
_KEEP_BYTES = (1 << 31) - 1  # free memory kept atop glibc's heap: 2 GiB, C's INT_MAX
_allocator: str | None = None


def tune_allocator() -> str:
    """Keep glibc's ``malloc`` from handing large blocks back to the kernel after each
    use; returns what the process now runs with (stored beside every benchmark run).

    A training step of a network with large activations (``speedrun`` at batch 256,
    ``alexnet``, a full-batch perceptron) frees and allocates the same blocks of tens of
    megabytes each step.  glibc serves a block above its mmap threshold (at most 32 MiB)
    with a fresh ``mmap`` and unmaps it when freed, and trims its heap's top, so the
    next step touches new pages again: thousands of page faults per step in PyTorch,
    whose CPU allocator keeps no cache, and in JAX.  Here every block comes from the
    heap (``M_MMAP_MAX`` 0) and up to 2 GiB of free memory stays there
    (``M_TRIM_THRESHOLD``), so a step after the first faults almost never, and PyTorch's
    and JAX's steps run faster; numpy (its own buffers) and TensorFlow (its own
    allocator) are unchanged.  docs/history.md ("The C allocator") has the figures.  It
    is what PyTorch's CPU performance guides get from jemalloc or tcmalloc, with the C
    library already loaded.  The cost: memory freed stays with the process until it
    exits, so its resident set is its high-water mark.

    ``$MNIST_NETS_ALLOCATOR=system`` keeps glibc's defaults; other C libraries (macOS,
    musl) are left alone.  Idempotent; a bad value raises :class:`ValueError`.
    """
    global _allocator
    choice = os.environ.get(ALLOCATOR_VARIABLE, "tuned").strip() or "tuned"
    if choice not in ("tuned", "system"):
        raise ValueError(
            f"${ALLOCATOR_VARIABLE} is {choice!r}; set it to 'tuned' (the default) or "
            "'system' (glibc's own malloc settings), or unset it"
        )
    if _allocator is not None:
        return _allocator
    if choice == "system":
        _allocator = "system default"
        return _allocator
    libc = _glibc()
    if libc is None:
        _allocator = "system default (not glibc)"
    elif libc.mallopt(_M_MMAP_MAX, 0) == 1 and libc.mallopt(_M_TRIM_THRESHOLD, _KEEP_BYTES):
        _allocator = "glibc: no mmap blocks, trim above 2 GiB"
    else:
        _allocator = "system default (mallopt refused)"
    return _allocator


def allocator() -> str:
    """What :func:`tune_allocator` set in this process ("system default" before it ran)."""
    return _allocator or "system default"


def release_free_memory() -> bool:
    """Hand the free memory glibc holds back to the kernel (``malloc_trim(0)``), so a
    resident-set reading after it counts only memory in use; False where not glibc."""
    libc = _glibc()
    return libc is not None and bool(libc.malloc_trim(0))


def _glibc():
    """The process's glibc through ctypes, or None under another C library."""
    if platform.libc_ver()[0] != "glibc":
        return None
    import ctypes

    try:
        libc = ctypes.CDLL(None)
        libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
    except (OSError, AttributeError):
        return None
    return libc
