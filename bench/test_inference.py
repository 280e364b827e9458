"""Inference benchmarks: every model x engine x device, at batch 1 (latency) and at a
large batch (throughput).

Engines come from the registry of engines (:data:`mnist_nets.engines.ENGINES`): every
backend that ``--frameworks`` selects, run the way its framework's users run inference
(:meth:`mnist_nets.backends.base.Backend.inference`: numpy's own forward, PyTorch's
``eval()`` under ``torch.inference_mode``, a compiled ``tf.function``, ``jax.jit``), and
every engine that only infers (onnxruntime on the graph of :mod:`mnist_nets.onnx_export`,
with its default session options).  A cell's ``engine_settings`` record how it ran.

Each cell is one model x engine x device x batch:

* ``latency``: batch 1.  After ``profile.inference_warmup`` untimed calls (the first
  traces or compiles), ``profile.inference_calls`` timed calls, each on the next of the
  first 1,000 test images in turn; stored: the median (``p50_ms``) and 99th percentile
  (``p99_ms``) of the calls' times and ``images_per_second`` = 1 / median.
* ``throughput``: one batch of ``profile.inference_batch`` test images, called after
  one untimed warm-up call as often as fits ``profile.inference_seconds`` (3 to 50
  calls); stored: the same percentiles and ``images_per_second`` = batch / median.

Every engine gets the same input, the exported model's: raw pixels, float32
``(N, 28, 28)``, values 0-255, prepared before the clock; the scaling to [0, 1] is part
of every call (the ONNX graph's first node, a backend session's division), and so is
handing the logits back as a numpy array (the device has finished when the call returns).
One call is timed by pytest-benchmark's ``pedantic`` (one iteration a round); the
percentiles are read from its per-call times.

The weights are the spec's initial weights (``init_params(spec, seed)``): an inference
call does the same arithmetic whatever the weights' values, so the time is that of
trained weights (no engine here skips zeros or branches on values).
"""

from __future__ import annotations

import itertools
import time

import numpy as np
import pytest

from bench.steadiness import CpuWindow
from conftest import selected_frameworks
from mnist_nets.params import init_params
from mnist_nets.specs import get_spec

MODES = ("latency", "throughput")
MAX_LATENCY_IMAGES = 1000  # batch-1 calls cycle through this many test images
SCHEMA = 1


def inference_engines(config: pytest.Config) -> list[str]:
    """The engines to run, in the registry's order: the backends ``--frameworks`` selects,
    and every engine that is not a backend."""
    from mnist_nets.engines import ENGINES

    frameworks = set(selected_frameworks(config))
    return [e.name for e in ENGINES if e.backend is None or e.backend in frameworks]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "engine" in metafunc.fixturenames:
        metafunc.parametrize("engine", inference_engines(metafunc.config))
    if "mode" in metafunc.fixturenames:
        metafunc.parametrize("mode", MODES)


@pytest.fixture
def engine_on(engine, device):
    """The engine, after skipping cells this machine cannot do."""
    from mnist_nets.backends import BackendUnavailable, DeviceError
    from mnist_nets.engines import get_engine

    try:
        eng = get_engine(engine)
    except BackendUnavailable as exc:
        pytest.skip(str(exc))
    try:
        eng.check_device(device)
    except DeviceError as exc:
        pytest.skip(str(exc))
    return eng


def percentile_ms(times: np.ndarray, q: float) -> float:
    """The ``q``-th percentile of call times in seconds, in milliseconds (linear
    interpolation between the closest ranks, numpy's default)."""
    return float(np.percentile(times, q) * 1e3)


def call_budget(call, budget_s: float, lo: int = 3, hi: int = 50) -> int:
    """Untimed warm-up call, then as many calls as fit ``budget_s`` (``lo`` to ``hi``)."""
    t0 = time.perf_counter()
    call()
    once = max(time.perf_counter() - t0, 1e-6)
    return int(min(hi, max(lo, budget_s / once)))


def test_inference(benchmark, model, engine, engine_on, device, mode, profile, bench_data, seed):
    if not profile.run_inference:
        pytest.skip(f"{profile.name} profile: inference cells run in the smoke and standard ones")
    spec = get_spec(model)
    _, test, _ = bench_data
    pixels = np.ascontiguousarray(test.x[..., 0] * np.float32(255.0)).round().astype(np.float32)
    t0 = time.perf_counter()
    session = engine_on.load(spec, init_params(spec, seed), device)
    load_seconds = time.perf_counter() - t0

    if mode == "latency":
        batch = 1
        images = [pixels[i : i + 1] for i in range(min(MAX_LATENCY_IMAGES, len(pixels)))]
        nxt = itertools.cycle(images).__next__
        t0 = time.perf_counter()
        session.run_pixels(nxt())
        first_call = time.perf_counter() - t0
        for _ in range(profile.inference_warmup - 1):
            session.run_pixels(nxt())
        calls = profile.inference_calls

        def call():
            return session.run_pixels(nxt())

    else:
        batch = min(profile.inference_batch, len(pixels))
        block = pixels[:batch]
        t0 = time.perf_counter()
        session.run_pixels(block)
        first_call = time.perf_counter() - t0

        def call():
            return session.run_pixels(block)

        calls = call_budget(call, profile.inference_seconds)

    window = CpuWindow().start()
    benchmark.group = f"inference-{profile.name}-{model}-{mode}"
    benchmark.pedantic(call, rounds=calls, warmup_rounds=0, iterations=1)
    window.stop()
    if benchmark.disabled:  # --benchmark-disable: the call ran once, nothing was timed
        return
    times = np.asarray(benchmark.stats.stats.data, dtype=np.float64)
    assert len(times) == calls
    median = float(np.median(times))
    cpu = window.as_dict()
    benchmark.extra_info.update(
        {
            "schema": SCHEMA,
            "kind": "inference",
            "profile": profile.name,
            "model": spec.name,
            "engine": engine,
            "device": device,
            "device_name": engine_on.device_name(device),
            "mode": mode,
            "batch": batch,
            "calls": calls,
            "warmup_calls": profile.inference_warmup if mode == "latency" else 1,
            "p50_ms": percentile_ms(times, 50),
            "p99_ms": percentile_ms(times, 99),
            "mean_ms": float(times.mean() * 1e3),
            "min_ms": float(times.min() * 1e3),
            "images_per_second": batch / median if median > 0 else None,
            "load_seconds": load_seconds,
            "first_call_seconds": first_call,
            "engine_settings": session.settings,
            "weights": f"init_params(spec, seed={seed}): the spec's initial weights",
            "input": "raw pixels float32 (N, 28, 28) 0-255, scaled inside each call",
            "param_count": spec.param_count,
            "flops_forward_per_sample": spec.flops_forward,
            "versions": engine_on.versions(),
            "cpu_window": cpu,
            "co_runner": bool(cpu and cpu.get("co_runner")),
        }
    )
