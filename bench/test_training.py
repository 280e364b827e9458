"""Training benchmarks: every model x framework x device trained on real MNIST.

Each cell trains the spec with the profile's recipe from ``init_params(spec, seed)`` in
the data order ``fit`` derives from the seed, evaluates on the test images after every
epoch and stores its figures in ``benchmark.extra_info`` (see bench/cell.py for what is
timed and what is kept apart).  pytest-benchmark's own ``stats`` time the whole round
(training, evaluation and staging); the README uses ``extra_info["train_seconds"]``.
"""

from __future__ import annotations

import pytest

from bench.cell import TrainingCell
from bench.progress import EpochLines, terminal_line_writer
from mnist_nets.specs import get_spec


def test_train(
    benchmark,
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
    spec = get_spec(model)
    reason = profile.skip_reason(spec, device)
    if reason:
        pytest.skip(reason)
    train, test, load_seconds = bench_data
    cell = TrainingCell(
        spec=spec,
        recipe=profile.recipe(spec),
        profile=profile,
        backend=backend_on,
        device=device,
        train=train,
        test=test,
        seed=seed,
        data_load_seconds=load_seconds,
        progress=EpochLines(
            f"{model} / {framework} / {device}", terminal_line_writer(pytestconfig)
        ),
    )
    peak = gemm_peak(device)
    benchmark.group = f"train-{profile.name}-{model}"
    benchmark.extra_info.update(cell.static_info())
    benchmark.pedantic(cell.run, setup=cell.setup, rounds=rounds, warmup_rounds=0, iterations=1)
    benchmark.extra_info.update(cell.results_info(peak))
    assert len(cell.rounds) == rounds
