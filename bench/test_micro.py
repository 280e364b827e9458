"""Micro-benchmarks: throughput per layer type and per model, to explain a slow training cell.

A framework slow on every case pays a per-call cost; one slow only where convolutions
are is slow at convolutions.  Three passes, each over real MNIST images, each returning
only when the device is done:

* ``forward``: ``backend.forward`` on one batch (inference mode; numpy out);
* ``loss_and_grads``: forward and backward on one batch, dropout off (numpy out);
* ``train_steps``: ``backend.train_epoch`` over 2 staged batches: the compiled SGD
  steps training really uses (for TensorFlow, ``forward`` and ``loss_and_grads`` run
  eagerly while training runs a compiled graph, so this is the pass to compare with
  the training cells);
* ``full_batch``: ``backend.train_epoch`` with one batch that is the whole staged set
  (``FULL_BATCH_ROUNDS`` micro-batches' worth of images, in shuffled order), as the
  ``seed`` recipe trains.

Read layer by layer, the passes show where a step's time goes: ``loss_and_grads`` less
``forward`` is the backward pass, ``train_steps`` less twice ``loss_and_grads`` the SGD
update and the per-step overhead; the ``conv`` (1-channel input) and ``conv_deep``
(8 channels) rows separate a network's first conv layer from its later ones.

Rounds: as many as fit the profile's time budget (3 to 200; 2 for a call longer than
the budget), after one untimed warm-up call.  The batch is the profile's
``micro_batch`` (128 in standard).
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from bench import memory
from bench.micro_specs import micro_spec
from mnist_nets.params import init_params
from mnist_nets.specs import UpdateRule

TRAIN_STEPS = 2
FULL_BATCH_ROUNDS = 16  # the full_batch pass: one batch of this many micro-batches' images


def _rounds(call, budget_s: float) -> int:
    """Untimed warm-up call, then enough rounds to fill ``budget_s`` (3 to 200; 2 when
    one call alone takes longer than the budget)."""
    t0 = time.perf_counter()
    call()
    once = max(time.perf_counter() - t0, 1e-6)
    if once >= budget_s:
        return 2
    return int(min(200, max(3, budget_s / once)))


def test_micro(benchmark, case, pass_, framework, device, backend_on, profile, bench_data, seed):
    if not profile.run_micro:
        pytest.skip(f"{profile.name} profile: micro-benchmarks run in the smoke and standard ones")
    spec = micro_spec(case)
    train, _, _ = bench_data
    backend = backend_on
    batch = min(profile.micro_batch, len(train))
    model = backend.build(spec, init_params(spec, seed), device, seed)
    x, y = train.x[:batch], train.y[:batch]
    images = batch
    if pass_ == "forward":

        def call():
            return backend.forward(model, x)

        flops = spec.flops_forward
    elif pass_ == "loss_and_grads":

        def call():
            return backend.loss_and_grads(model, x, y)

        flops = spec.flops_training
    else:
        steps = TRAIN_STEPS if pass_ == "train_steps" else FULL_BATCH_ROUNDS
        images = min(steps * batch, len(train))
        staged = backend.stage(model, train.x[:images], train.y[:images])
        order = np.arange(images)
        if pass_ == "full_batch":
            batch, order = images, np.random.default_rng(seed).permutation(images)

        def call():
            backend.train_epoch(
                model,
                staged,
                order,
                lr=spec.recipe.lr,
                update=UpdateRule("sgd"),
                batch_size=batch,
                sync_every=steps,
                on_sync=lambda first, losses, correct: None,
            )

        flops = spec.flops_training

    def timed():
        out = call()
        memory.synchronize(backend.name, device)
        return out

    rounds = _rounds(timed, profile.micro_seconds)
    benchmark.group = f"micro-{profile.name}-{case}-{pass_}"
    benchmark.pedantic(timed, rounds=rounds, warmup_rounds=0, iterations=1)
    if benchmark.disabled:  # --benchmark-disable: the call ran once, nothing was timed
        return
    median = benchmark.stats.stats.median
    benchmark.extra_info.update(
        {
            "schema": 1,
            "kind": "micro",
            "profile": profile.name,
            "case": case,
            "case_description": spec.description,
            "pass": pass_,
            "framework": backend.name,
            "device": device,
            "device_name": backend.device_name(device),
            "batch_size": batch,
            "images_per_round": images,
            "median_seconds": median,
            "samples_per_second": images / median if median > 0 else None,
            "flops_per_sample": flops,
            "achieved_gflops": flops * images / median / 1e9 if median > 0 else None,
            "versions": backend.versions(),
        }
    )
