"""The machine's float32 GEMM peak, measured once per session, the yardstick for "% of peak".

* cpu: numpy ``float32`` matmul of two 2048x2048 matrices (numpy's BLAS, all its
  threads), best of several repeats.  A dense ``n x n @ n x n`` product is ``2 n^3``
  FLOPs.
* cuda: ``torch.matmul`` of two 8192x8192 ``float32`` matrices on the GPU, with the
  TF32 setting torch has at that moment (recorded), synchronised around each repeat.

Peaks are cached for the session in :data:`PEAKS`; the benchmark session stores them in
each JSON history's ``machine_info`` so that the report can quote them.

Steadiness: :func:`measure_cpu` measures numpy's and torch's float32 GEMM on the CPU
(each the largest of its repeats) and appends them to :data:`MEASUREMENTS` with a label
("start", "before round 2", ..., "end").  The benchmark session calls it before round 1,
between rounds and at the end; all measurements are stored, and "% of peak" is taken
against the highest of them (:func:`run_peak`).
"""

from __future__ import annotations

import sys
import time

import numpy as np

PEAKS: dict[str, dict] = {}
MEASUREMENTS: list[dict] = []


def gemm_peak(device: str) -> dict | None:
    """``{"gflops", "method", ...}`` for ``device`` (measured on first use), or None."""
    if device not in PEAKS:
        if device == "cpu":
            PEAKS[device] = _cpu_peak()
        elif device == "cuda":
            PEAKS[device] = _cuda_peak()
        else:
            return None
    return PEAKS[device]


def _best_of(run, *, flops: float, min_repeats: int = 3, budget_s: float = 2.0) -> float:
    """Best GFLOP/s of ``run()`` over at least ``min_repeats`` repeats within ``budget_s``."""
    run()  # warm-up: thread pools, caches, first-call costs
    best = float("inf")
    start = time.perf_counter()
    repeats = 0
    while repeats < min_repeats or time.perf_counter() - start < budget_s:
        t0 = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - t0)
        repeats += 1
        if repeats >= 50:
            break
    return flops / best / 1e9


def _cpu_peak(n: int = 2048) -> dict:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    out = np.empty((n, n), dtype=np.float32)
    gflops = _best_of(lambda: np.matmul(a, b, out=out), flops=2.0 * n**3)
    return {
        "device": "cpu",
        "gflops": round(gflops, 2),
        "method": f"numpy {np.__version__} float32 matmul {n}x{n}, best of repeats",
    }


def _cuda_peak(n: int = 8192) -> dict | None:
    torch = sys.modules.get("torch")
    if torch is None:
        import torch
    if not torch.cuda.is_available():
        return None
    mats = [torch.randn((n, n), device="cuda", dtype=torch.float32) for _ in range(2)]

    def run():
        torch.matmul(mats[0], mats[1])
        torch.cuda.synchronize()

    gflops = _best_of(run, flops=2.0 * n**3)
    tf32 = bool(torch.backends.cuda.matmul.allow_tf32)
    mats.clear()
    torch.cuda.empty_cache()
    return {
        "device": "cuda",
        "gflops": round(gflops, 2),
        "method": f"torch {torch.__version__} float32 matmul {n}x{n} on "
        f"{torch.cuda.get_device_name(0)}, TF32 {'on' if tf32 else 'off'}, best of repeats",
    }


def _torch_cpu_gflops(n: int = 2048, budget_s: float = 1.0) -> tuple[float, str] | None:
    try:
        import torch
    except ImportError:
        return None
    gen = torch.Generator().manual_seed(0)
    a = torch.randn((n, n), dtype=torch.float32, generator=gen)
    b = torch.randn((n, n), dtype=torch.float32, generator=gen)
    out = torch.empty((n, n), dtype=torch.float32)
    gflops = _best_of(lambda: torch.matmul(a, b, out=out), flops=2.0 * n**3, budget_s=budget_s)
    return (
        gflops,
        f"torch {torch.__version__} float32 matmul {n}x{n}, {torch.get_num_threads()} threads",
    )


def measure_cpu(when: str, budget_s: float = 1.0) -> list[dict]:
    """Measure numpy's and torch's CPU GEMM now; append to and return the new entries."""
    n = 2048
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    out = np.empty((n, n), dtype=np.float32)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    new = [
        {
            "when": when,
            "time": stamp,
            "library": "numpy",
            "gflops": round(
                _best_of(lambda: np.matmul(a, b, out=out), flops=2.0 * n**3, budget_s=budget_s),
                2,
            ),
            "method": f"numpy {np.__version__} float32 matmul {n}x{n}, best of repeats",
        }
    ]
    torch_peak = _torch_cpu_gflops(n, budget_s)
    if torch_peak is not None:
        gflops, method = torch_peak
        new.append(
            {
                "when": when,
                "time": stamp,
                "library": "torch",
                "gflops": round(gflops, 2),
                "method": method + ", best of repeats",
            }
        )
    MEASUREMENTS.extend(new)
    return new


def run_peak(measurements: list[dict]) -> float | None:
    """The highest GFLOP/s among a run's measurements (None: none)."""
    values = [m["gflops"] for m in measurements if isinstance(m.get("gflops"), (int, float))]
    return max(values) if values else None
