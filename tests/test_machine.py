"""mnist_nets.machine: the malloc settings every training process runs with.

The fault counts come from fresh interpreters, since :func:`tune_allocator` changes the
process it runs in for good."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time

import pytest
from helpers import one_line, run

from mnist_nets import machine

GLIBC = platform.libc_ver()[0] == "glibc"

# In a fresh interpreter: tune (or not, by $MNIST_NETS_ALLOCATOR), then ``once()``
# allocates, fills and frees a 48 MiB block through malloc itself (above glibc's largest
# mmap threshold, 32 MiB).
PRELUDE = """
import ctypes, json, resource
from mnist_nets.machine import release_free_memory, tune_allocator
from bench.memprobe import _status_kib
told = tune_allocator()
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
size = 48 << 20
def once():
    p = libc.malloc(size)
    ctypes.memset(p, 1, size)
    libc.free(p)
"""

# The page faults of the last 5 of 6 uses of the block.
FAULTS = """
once()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
    once()
after = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
print(json.dumps({"told": told, "faults": after - before}))
"""

# The resident set with the freed block kept, then after handing the heap's free memory back.
RELEASE = """
once()
kept = _status_kib("VmRSS")
released = release_free_memory()
print(json.dumps({"kept": kept, "after": _status_kib("VmRSS"), "released": released}))
"""


def fresh(script: str, choice: str = "tuned") -> dict:
    env = {"MNIST_NETS_ALLOCATOR": choice, "PATH": "", "PYTHONPATH": ":".join(sys.path)}
    done = subprocess.run(
        [sys.executable, "-c", PRELUDE + script],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.skipif(not GLIBC, reason="mallopt is glibc's")
def test_tuned_malloc_reuses_large_blocks_without_page_faults():
    system, tuned = fresh(FAULTS, "system"), fresh(FAULTS, "tuned")
    assert system["told"] == "system default"
    assert tuned["told"] == "glibc: no mmap blocks, trim above 2 GiB"
    # glibc's defaults map and unmap each block: 5 x 12,288 faults of 4 KiB pages (fewer
    # where the kernel backs them with huge pages); tuned, the heap keeps the block
    assert tuned["faults"] < 50, tuned
    assert tuned["faults"] * 10 < system["faults"], (system, tuned)


@pytest.mark.skipif(not GLIBC, reason="malloc_trim is glibc's")
def test_free_memory_the_tuned_heap_keeps_is_handed_back_before_a_memory_reading():
    got = fresh(RELEASE)
    assert got["released"] is True
    assert got["kept"] - got["after"] > 40 * 1024, got  # KiB: the 48 MiB block went back


@pytest.mark.skipif(not GLIBC, reason="mallopt is glibc's")
@pytest.mark.parametrize(
    "choice, told",
    [(None, "glibc: no mmap blocks, trim above 2 GiB"), ("system", "system default")],
)
def test_the_memory_probe_runs_with_the_session_s_malloc_and_says_so(choice, told):
    env = {**os.environ, "PYTHONPATH": ":".join(sys.path)}
    env.pop("MNIST_NETS_ALLOCATOR", None)
    if choice:
        env["MNIST_NETS_ALLOCATOR"] = choice
    done = subprocess.run(
        [sys.executable, "-m", "bench.memprobe", "perceptron", "numpy", "--steps", "2"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["allocator"] == told
    assert result["training_memory_bytes"] > 0


def test_the_memory_probe_hands_free_memory_back_before_its_baseline(monkeypatch):
    import bench.memprobe as memprobe

    calls = []
    monkeypatch.setattr(machine, "release_free_memory", lambda: calls.append("release"))
    monkeypatch.setattr(memprobe, "reset_high_water_mark", lambda: calls.append("reset") or True)
    memprobe.probe("perceptron", "numpy", "cpu", seed=0, steps=1)
    assert calls == ["release", "reset"]


def test_the_memory_probe_reports_bytes_from_the_kernel_s_kib(monkeypatch):
    """/proc/self/status gives VmRSS and VmHWM in KiB (1,024 bytes): the probe reports
    bytes, the peak's increase over the baseline and the baseline itself."""
    import bench.memprobe as memprobe

    readings = {"VmRSS": 10_000, "VmHWM": 12_500}
    monkeypatch.setattr(memprobe, "_status_kib", lambda field: readings[field])
    monkeypatch.setattr(memprobe, "reset_high_water_mark", lambda: True)
    result = memprobe.probe("perceptron", "numpy", "cpu", seed=0, steps=1)
    assert result["training_memory_bytes"] == 2_500 * 1024
    assert result["rss_before_bytes"] == 10_000 * 1024


def test_a_bad_setting_is_refused_naming_the_variable_and_the_choices(monkeypatch):
    monkeypatch.setenv("MNIST_NETS_ALLOCATOR", "jemalloc")
    with pytest.raises(ValueError) as info:
        machine.tune_allocator()
    assert str(info.value) == (
        "$MNIST_NETS_ALLOCATOR is 'jemalloc'; set it to 'tuned' (the default) or 'system' "
        "(glibc's own malloc settings), or unset it"
    )


def test_the_cli_refuses_a_bad_setting_in_one_line_exit_2(monkeypatch, capsys):
    monkeypatch.setenv("MNIST_NETS_ALLOCATOR", "fast")
    code, out, err = run(capsys, "train", "--model", "perceptron", "--limit", "100")
    assert code == 2 and out == ""
    assert "$MNIST_NETS_ALLOCATOR is 'fast'" in one_line(err)


def test_what_the_process_runs_with_is_stored_with_each_benchmark_run():
    from bench.environment import machine_block

    machine.tune_allocator()  # the bench session's conftest does it before any cell
    assert machine_block()["allocator"] == machine.allocator()
    assert machine.allocator() in (
        "glibc: no mmap blocks, trim above 2 GiB",
        "system default (not glibc)",
        "system default (mallopt refused)",
        "system default",  # $MNIST_NETS_ALLOCATOR=system in the test's environment
    )


def test_cpu_count_is_the_cores_this_process_may_run_on(monkeypatch):
    """Under ``taskset`` or a container's CPU set, the process's affinity mask is what
    counts, not the machine's core count; where there is no mask, the machine's count."""
    if not hasattr(os, "sched_getaffinity"):
        pytest.skip("no sched_getaffinity on this platform")
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {3})
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    assert machine.cpu_count() == 1
    monkeypatch.delattr(os, "sched_getaffinity")
    assert machine.cpu_count() == 64


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc and fork are Linux's")
def test_the_memory_probe_counts_the_numpy_second_process_s_own_pages(monkeypatch):
    """numpy trains a convolutional network's batches in two processes: the child's private
    pages (read from its smaps_rollup) are part of the training memory, once."""
    import bench.memprobe as memprobe

    readings = {"VmRSS": 10_000, "VmHWM": 12_500}
    monkeypatch.setattr(memprobe, "_status_kib", lambda field: readings[field])
    monkeypatch.setattr(memprobe, "reset_high_water_mark", lambda: True)
    result = memprobe.probe("cnn", "numpy", "cpu", seed=0, steps=2)
    own = result["children_private_bytes"]
    assert own > 1024 * 1024  # at least the child's buffers for its half of a batch
    assert result["training_memory_bytes"] == 2_500 * 1024 + own
    assert memprobe.private_kib(os.getpid()) > 0
    assert memprobe.private_kib(2**22 + 1) == 0  # no such process


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc and fork are Linux's")
def test_the_memory_probe_leaves_out_processes_it_did_not_start(monkeypatch):
    import bench.memprobe as memprobe

    readings = {"VmRSS": 10_000, "VmHWM": 12_500}
    monkeypatch.setattr(memprobe, "_status_kib", lambda field: readings[field])
    monkeypatch.setattr(memprobe, "reset_high_water_mark", lambda: True)
    older = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        time.sleep(0.5)  # its interpreter up, with private pages of its own
        assert older.pid in memprobe.child_pids() and memprobe.private_kib(older.pid) > 0
        result = memprobe.probe("perceptron", "numpy", "cpu", seed=0, steps=1)
    finally:
        older.kill()
        older.wait()
    assert result["children_private_bytes"] == 0
    assert result["training_memory_bytes"] == 2_500 * 1024


def test_numpy_blas_names_the_library_its_kernels_and_threads(monkeypatch):
    """What a run stores as numpy's BLAS: the library numpy loaded (not another package's,
    such as torch's), with the kernels it chose for the CPU and its threads."""
    import threadpoolctl

    text = machine.numpy_blas()
    info = [i for i in threadpoolctl.threadpool_info() if "numpy" in (i.get("filepath") or "")]
    assert info, "numpy's BLAS not found by threadpoolctl"
    assert text.startswith(f"{info[0]['internal_api']} {info[0]['version']}"), text
    if info[0].get("architecture"):
        assert f", {info[0]['architecture']} kernels, " in text, text
    with threadpoolctl.threadpool_limits(1, user_api="blas"):
        assert machine.numpy_blas().endswith(", 1 thread"), machine.numpy_blas()
    torch_like = {"user_api": "blas", "internal_api": "mkl", "num_threads": 4, "version": "1",
                  "filepath": "/elsewhere/torch/lib/libmkl.so"}  # fmt: skip
    monkeypatch.setattr(threadpoolctl, "threadpool_info", lambda: [torch_like, *info])
    assert machine.numpy_blas() == text  # the other package's BLAS is passed over
    monkeypatch.setattr(threadpoolctl, "threadpool_info", lambda: [torch_like, torch_like])
    assert machine.numpy_blas() == "not found"
