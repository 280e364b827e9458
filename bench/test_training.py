"""Training benchmarks: every model x framework x device x round trained on real MNIST.

Round r of a cell trains the spec with the profile's recipe (on the profile's dataset) from
``init_params(spec, seed + r - 1)`` in the data order ``fit`` derives from that seed,
evaluates on the test images after every epoch and stores its figures in
``benchmark.extra_info`` (see bench/cell.py for what is timed and what is kept apart).
The rounds are interleaved across cells (bench/conftest.py).  pytest-benchmark's own
``stats`` time the whole round (training, evaluation and staging); the README uses
``extra_info["train_seconds"]``, folded over the rounds by bench/reporting/summary.py.
"""

from __future__ import annotations

import warnings

import pytest

from bench import memprobe
from bench.cell import TrainingCell
from bench.peak import MEASUREMENTS, run_peak
from bench.progress import EpochLines, terminal_line_writer
from mnist_nets.specs import get_spec


def test_train(
    benchmark,
    bench_round,
    model,
    framework,
    device,
    backend_on,
    profile,
    bench_data,
    rounds,
    seed,
    gemm_peak,
    pytestconfig,
):
    spec = profile.spec(get_spec(model))  # its recipe and floor on the profile's dataset
    reason = profile.skip_reason(spec, device)
    if reason:
        pytest.skip(reason)
    planned = profile.rounds_for(model, rounds)
    if bench_round > planned:
        pytest.skip(f"{model} runs {planned} rounds in this profile")
    train, test, load_seconds = bench_data
    round_seed = seed + bench_round - 1
    label = f"{model} / {framework} / {device}"
    write = terminal_line_writer(pytestconfig)
    progress = EpochLines(label, write)
    progress.round = bench_round - 1  # EpochLines counts from here
    cell = TrainingCell(
        spec=spec,
        recipe=profile.recipe(spec),
        profile=profile,
        backend=backend_on,
        device=device,
        train=train,
        test=test,
        seed=round_seed,
        data_load_seconds=load_seconds,
        progress=progress,
    )
    peak = gemm_peak(device)
    if device == "cpu" and MEASUREMENTS:  # % of peak against the highest so far
        peak = {**(peak or {}), "gflops": run_peak(MEASUREMENTS), "method": "highest of the run"}
    benchmark.group = f"train-{profile.name}-{model}"
    benchmark.extra_info.update(cell.static_info())
    benchmark.extra_info.update({"round": bench_round, "rounds_planned": planned})
    if bench_round == 1:  # outside the timed window, in a fresh process
        probe = memprobe.measure(model, framework, device, round_seed)
        benchmark.extra_info["training_memory"] = probe
        if probe.get("training_memory_bytes") is None:
            write(f"  {label}: memory not measured ({probe.get('error')})")
    benchmark.pedantic(cell.run, setup=cell.setup, rounds=1, warmup_rounds=0, iterations=1)
    benchmark.extra_info.update(cell.results_info(peak))
    window = benchmark.extra_info.get("cpu_window") or {}
    if window.get("co_runner"):
        steal = window.get("steal_cores")
        message = (
            f"{label}, round {bench_round}: other processes used "
            f"{window['other_cores']:.2f} cores on average while it trained"
            + (f" ({steal:.2f} of them the hypervisor's steal)" if steal else "")
            + "; its time is suspect (rerun on an idle machine)"
        )
        write(f"  WARNING: {message}")
        warnings.warn(message, stacklevel=1)
    assert len(cell.rounds) == 1
