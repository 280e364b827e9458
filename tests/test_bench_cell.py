"""bench/cell.py: one training benchmark cell, what it times and what it stores."""

from __future__ import annotations

import numpy as np
import pytest


def _tiny_cell(epochs=2, rounds=1, seed=0, **recipe_fields):
    from bench.cell import TrainingCell
    from bench.profiles import Profile
    from mnist_nets.backends.numpy_backend import NumpyBackend
    from mnist_nets.data import Split
    from mnist_nets.specs import get_spec

    rng = np.random.default_rng(0)
    x = rng.random((50, 28, 28, 1), dtype=np.float32)
    y = (np.arange(50) % 10).astype(np.uint8)
    spec = get_spec("perceptron")
    recipe = spec.recipe.__class__(**{"lr": 0.1, "epochs": epochs, "batch_size": 16,
                                      "momentum": 0.5, "lr_decay": 0.5, **recipe_fields})
    profile = Profile("tiny", 50, 20, epochs, description="tiny data")
    class Backend(NumpyBackend):
        def device_name(self, device):
            return f"device {device}"

        def versions(self):
            return {"numpy": np.__version__}

    cell = TrainingCell(spec, recipe, profile, Backend(), "cpu", Split(x, y),
                        Split(x[:20], y[:20]), seed=seed, data_load_seconds=0.25)
    for _ in range(rounds):
        args, kwargs = cell.setup()
        cell.run(*args, **kwargs)
    return cell


def test_cell_gflops_come_from_the_training_flops():
    cell = _tiny_cell(epochs=2, rounds=2)
    info = cell.results_info({"gflops": 100.0, "method": "m"})
    spec = cell.spec
    train_times = [r.history.train_seconds for r in cell.rounds]
    median = float(np.median(train_times))
    assert info["rounds"] == 2 and info["train_seconds_rounds"] == train_times
    assert info["train_seconds"] == pytest.approx(median)
    assert info["samples_trained"] == 100
    assert info["achieved_gflops"] == pytest.approx(
        spec.flops_training * 100 / median / 1e9, rel=1e-12)
    from bench.environment import thread_counts
    assert info["threads"] == thread_counts("numpy")
    assert info["samples_per_second"] == pytest.approx(100 / median)
    assert info["fraction_of_peak"] == pytest.approx(info["achieved_gflops"] / 100.0)
    assert (info["peak_gflops"], info["peak_method"]) == (100.0, "m")
    h = cell.rounds[0].history
    assert info["test_accuracy"] == h.final.test_accuracy
    assert info["final_loss"] == h.final.loss
    assert info["final_train_accuracy"] == h.final.train_accuracy
    assert [e["lr"] for e in info["per_epoch"]] == [0.1, 0.05]
    assert [e["epoch"] for e in info["per_epoch"]] == [1, 2]
    assert info["per_epoch"] == [
        {"epoch": e.epoch, "loss": e.loss, "train_accuracy": e.train_accuracy,
         "test_accuracy": e.test_accuracy, "seconds": e.seconds,
         "eval_seconds": e.eval_seconds, "lr": e.lr}
        for e in h.epochs
    ]
    assert info["eval_seconds"] == pytest.approx(sum(e.eval_seconds for e in h.epochs))
    assert info["first_epoch_extra_seconds"] == pytest.approx(
        h.epochs[0].seconds - h.epochs[1].seconds)
    assert info["stage_and_overhead_seconds"] == pytest.approx(
        cell.rounds[0].wall_seconds - h.train_seconds - info["eval_seconds"])
    assert info["test_accuracy_rounds"] == [r.history.final.test_accuracy for r in cell.rounds]
    assert info["wall_seconds_rounds"] == [r.wall_seconds for r in cell.rounds]
    assert info["diverged"] is None
    assert info["build_seconds"] == cell.rounds[0].build_seconds
    assert info["warmup_seconds"] == cell.warmup_seconds > 0
    assert set(info) >= {"target_reached", "time_to_target_seconds", "target_epoch", "threads",
                         "peak_rss_increase_bytes", "device_peak_bytes"}
    no_peak = cell.results_info(None)
    assert no_peak["peak_gflops"] is None and no_peak["fraction_of_peak"] is None


def test_cell_static_info():
    cell = _tiny_cell(epochs=1)
    s = cell.static_info()
    spec = cell.spec
    assert (s["kind"], s["profile"], s["profile_description"]) == ("training", "tiny", "tiny data")
    assert s["schema"] == 1
    assert s["device_name"] == "device cpu" and s["versions"] == {"numpy": np.__version__}
    assert (s["model"], s["framework"], s["device"], s["seed"]) == ("perceptron", "numpy", "cpu", 0)
    assert (s["epochs"], s["lr"], s["momentum"], s["lr_decay"], s["batch_size"]) == (
        1, 0.1, 0.5, 0.5, 16)
    assert (s["optimizer"], s["loss_function"]) == ("sgd", spec.loss)
    assert (s["train_samples"], s["test_samples"]) == (50, 20)
    assert s["flops_training_per_sample"] == spec.flops_training
    assert s["flops_forward_per_sample"] == spec.flops_forward
    assert s["param_count"] == spec.param_count
    assert s["target_accuracy"] == spec.target_accuracy
    assert s["data_load_seconds"] == 0.25
    assert s["epoch_definition"] == (
        "one pass over the 50 training images in a fresh shuffled order: 4 steps of 16 images, "
        "the last of 2"
    )
    assert cell.results_info(None)["first_epoch_extra_seconds"] is None  # one epoch


def test_epoch_definition_wording():
    from bench.cell import epoch_definition
    from mnist_nets.specs import Recipe

    assert epoch_definition(Recipe(lr=0.1, epochs=1, batch_size=100), 60_000) == (
        "one pass over the 60,000 training images in a fresh shuffled order: "
        "600 steps of 100 images"
    )
    assert epoch_definition(Recipe(lr=0.1, epochs=1, batch_size=60_000), 60_000) == (
        "one full-batch gradient step over all 60,000 training images"
    )
    assert epoch_definition(Recipe(lr=0.1, epochs=1, batch_size=128), 1000).endswith(
        "8 steps of 128 images, the last of 104")
    assert epoch_definition(Recipe(lr=0.1, epochs=1, batch_size=128, shuffle=False), 1000) == (
        "one pass over the 1,000 training images in the data's own order (unshuffled): "
        "8 steps of 128 images, the last of 104"
    )


def test_cell_stores_the_whole_recipe_and_every_evaluation():
    """The exact dicts a cell stores, for an Adam, one-cycle, unshuffled recipe evaluated
    twice per epoch (every field differs from the Recipe defaults)."""
    cell = _tiny_cell(epochs=1, momentum=0.0, lr_decay=1.0, optimizer="adam",
                      betas=(0.8, 0.95), eps=1e-7, schedule="one_cycle", warmup=0.25,
                      shuffle=False, evals_per_epoch=2, cycle_epochs=0.75)
    spec = cell.spec
    assert cell.static_info() == {
        "schema": 1, "kind": "training", "profile": "tiny", "profile_description": "tiny data",
        "dataset": cell.profile.dataset, "model": "perceptron", "framework": "numpy",
        "device": "cpu", "device_name": "device cpu", "seed": 0, "epochs": 1, "lr": 0.1,
        "momentum": 0.0, "lr_decay": 1.0, "batch_size": 16, "optimizer": "adam",
        "betas": [0.8, 0.95], "eps": 1e-7, "schedule": "one_cycle", "warmup": 0.25,
        "cycle_epochs": 0.75, "shuffle": False, "evals_per_epoch": 2, "loss_function": spec.loss,
        "train_samples": 50, "test_samples": 20,
        "epoch_definition": "one pass over the 50 training images in the data's own order "
                            "(unshuffled): 4 steps of 16 images, the last of 2",
        "param_count": spec.param_count, "flops_training_per_sample": spec.flops_training,
        "flops_forward_per_sample": spec.flops_forward,
        "target_accuracy": spec.target_accuracy, "versions": {"numpy": np.__version__},
        "data_load_seconds": 0.25,
    }
    h = cell.rounds[0].history
    assert [(e.epoch, e.step) for e in h.evals] == [(0.5, 2), (1.0, 4)]
    info = cell.results_info(None)
    assert info["evals"] == [
        {"epoch": 0.5, "train_seconds": h.evals[0].train_seconds,
         "test_accuracy": h.evals[0].test_accuracy},
        {"epoch": 1.0, "train_seconds": h.evals[1].train_seconds,
         "test_accuracy": h.evals[1].test_accuracy},
    ]
    assert 0 < info["evals"][0]["train_seconds"] <= info["evals"][1]["train_seconds"]
    assert info["evals"][1]["test_accuracy"] == info["test_accuracy"]
    assert set(info) == {
        "rounds", "threads", "build_seconds", "cpu_window", "co_runner", "warmup_seconds",
        "peak_rss_increase_bytes", "device_peak_bytes", "peak_gflops", "peak_method",
        "diverged", "test_accuracy", "final_loss", "final_train_accuracy", "per_epoch",
        "train_seconds", "train_seconds_rounds", "test_accuracy_rounds", "eval_seconds",
        "evals", "wall_seconds_rounds", "stage_and_overhead_seconds",
        "first_epoch_extra_seconds", "samples_trained", "samples_per_second",
        "achieved_gflops", "fraction_of_peak", "target_reached", "time_to_target_seconds",
        "target_epoch",
    }


def test_cell_stores_the_rounds_cpu_window_and_co_runner():
    import dataclasses

    cell = _tiny_cell(epochs=1)
    first = cell.rounds[0]
    window = cell._window.as_dict()  # the round's own window, stopped by run()
    assert set(window) == {"wall_seconds", "other_cores", "own_cores", "steal_cores",
                           "co_runner"}
    assert first.cpu == window and window["wall_seconds"] > 0
    info = cell.results_info(None)
    assert info["cpu_window"] == window
    assert info["co_runner"] is bool(window["co_runner"])
    busy = {**window, "other_cores": 1.5, "co_runner": True}
    quiet = {**window, "other_cores": 0.0, "co_runner": False}
    cell.rounds = [dataclasses.replace(first, cpu=busy), dataclasses.replace(first, cpu=quiet)]
    info = cell.results_info(None)
    assert (info["cpu_window"], info["co_runner"]) == (busy, True)  # round 1's window
    cell.rounds = [dataclasses.replace(first, cpu=quiet), dataclasses.replace(first, cpu=busy)]
    assert cell.results_info(None)["co_runner"] is False
    cell.rounds = [dataclasses.replace(first, cpu=None)]  # a round from before the windows
    info = cell.results_info(None)
    assert info["cpu_window"] is None and info["co_runner"] is False


def test_cell_run_needs_the_setups_sampler_and_window():
    from bench.steadiness import CpuWindow

    cell = _tiny_cell(epochs=1, rounds=0)
    cell.warmup_seconds = 0.0  # no warm-up needed here
    model = cell.backend.build(cell.spec, cell.params, "cpu", 0)
    cell._window = CpuWindow().start()  # a window but no memory sampler
    with pytest.raises(AssertionError):
        cell.run(model)
    assert cell.rounds == []


def test_cell_target_fields():
    cell = _tiny_cell(epochs=2)
    h = cell.rounds[0].history
    accs = [e.test_accuracy for e in h.epochs]
    import dataclasses
    cell.spec = dataclasses.replace(cell.spec, target_accuracy=accs[0])  # reached exactly
    assert cell._target(h) == {"target_reached": True,
                               "time_to_target_seconds": h.epochs[0].seconds,
                               "target_epoch": 1}
    cell.spec = dataclasses.replace(cell.spec, target_accuracy=1.01)
    assert cell._target(h) == {"target_reached": False, "time_to_target_seconds": None,
                               "target_epoch": None}
    cell.spec = dataclasses.replace(cell.spec, target_accuracy=None)
    assert cell._target(h) == {"target_reached": None, "time_to_target_seconds": None,
                               "target_epoch": None}


def test_cell_results_with_missing_figures():
    import dataclasses

    from bench.cell import RoundResult
    from mnist_nets.training import EpochRecord, History

    cell = _tiny_cell(epochs=1)
    first = cell.rounds[0]
    cell.rounds = [dataclasses.replace(first, peak_rss_increase=5, device_peak=None),
                   dataclasses.replace(first, peak_rss_increase=None, device_peak=None),
                   dataclasses.replace(first, peak_rss_increase=9, device_peak=None)]
    info = cell.results_info(None)
    assert info["peak_rss_increase_bytes"] == 9 and info["device_peak_bytes"] is None
    cell.rounds = [dataclasses.replace(first, peak_rss_increase=None, device_peak=7)]
    info = cell.results_info(None)
    assert info["peak_rss_increase_bytes"] is None and info["device_peak_bytes"] == 7
    # a diverged round has no history: the measured figures are left out
    cell.rounds = [RoundResult(None, 1.0, 0.1, None, None, diverged="training diverged")]
    info = cell.results_info(None)
    assert info["diverged"] == "training diverged" and "test_accuracy" not in info
    cell.rounds = [RoundResult(History([]), 1.0, 0.1, None, None)]
    assert "test_accuracy" not in cell.results_info(None)
    # a clock too coarse to see the training: no rate rather than a division by zero
    zero = History([EpochRecord(1, 0.5, 0.5, 0.5, 0.0, 0.0, 0.1, 50)])
    cell.rounds = [RoundResult(zero, 1.0, 0.1, None, None)]
    info = cell.results_info({"gflops": 10.0, "method": "m"})
    assert info["achieved_gflops"] is None and info["samples_per_second"] is None
    assert info["fraction_of_peak"] is None


def test_cell_warm_up_and_setup_calls(monkeypatch):
    """What the warm-up and each round's set-up ask of the backend and of bench.memory."""
    from bench import cell as cell_module
    from bench.cell import TrainingCell
    from bench.profiles import Profile
    from mnist_nets.backends.numpy_backend import NumpyBackend
    from mnist_nets.data import Split
    from mnist_nets.params import init_params
    from mnist_nets.specs import Recipe, UpdateRule, get_spec

    calls = []

    class Recording(NumpyBackend):
        def build(self, spec, params, device="cpu", seed=0, **kw):
            calls.append(("build", device, seed))
            return super().build(spec, params, device, seed, **kw)

        def stage(self, model, x, y=None):
            calls.append(("stage", len(x)))
            return super().stage(model, x, y)

        def train_epoch(self, model, staged, order, **kw):
            calls.append(("train_epoch", order.tolist(), kw["lr"], kw["update"].momentum,
                          kw["batch_size"], kw["sync_every"], kw.get("update")))
            return super().train_epoch(model, staged, order, **kw)

    monkeypatch.setattr(cell_module.memory, "device_peak",
                        lambda framework, device: calls.append(("device_peak", framework, device))
                        or 123)
    for name in ("synchronize", "reset_device_peak"):
        monkeypatch.setattr(cell_module.memory, name,
                            lambda framework, device, name=name: calls.append(
                                (name, framework, device)))
    rng = np.random.default_rng(0)
    x = rng.random((50, 28, 28, 1), dtype=np.float32)
    y = (np.arange(50) % 10).astype(np.uint8)
    spec = get_spec("perceptron")
    # Adam: a warm-up with the default update (plain SGD) would warm up the wrong optimizer
    recipe = Recipe(lr=0.3, epochs=1, batch_size=16, momentum=0.25, optimizer="adam",
                    betas=(0.8, 0.9))
    cell = TrainingCell(spec, recipe, Profile("tiny", 50, 20, 1), Recording(), "cpu",
                        Split(x, y), Split(np.concatenate([x] * 46), np.concatenate([y] * 46)),
                        seed=3)
    for k, v in init_params(spec, 3).items():
        np.testing.assert_array_equal(cell.params[k], v)
    cell.warm_up()
    assert calls == [
        ("build", "cpu", 3),
        ("stage", 16 + 50 % 16),
        ("train_epoch", list(range(18)), 0.3, 0.25, 16, 50,
         UpdateRule("adam", 0.25, (0.8, 0.9), 1e-8)),
        ("stage", 1000 + 2300 % 1000),  # the full and the last, smaller prediction batch
        ("synchronize", "numpy", "cpu"),
    ]
    assert 0 < cell.warmup_seconds < 60
    calls.clear()
    args, kwargs = cell.setup()
    assert calls[:3] == [("reset_device_peak", "numpy", "cpu"), ("build", "cpu", 3),
                         ("synchronize", "numpy", "cpu")]
    calls.clear()
    sampler = cell._sampler
    result = cell.run(*args, **kwargs)
    assert calls[-2:] == [("synchronize", "numpy", "cpu"), ("device_peak", "numpy", "cpu")]
    assert result.device_peak == 123
    assert result.peak_rss_increase == sampler.peak_increase


def test_a_diverged_round_is_recorded_with_no_history(monkeypatch):
    from mnist_nets.backends.numpy_backend import NumpyBackend
    from mnist_nets.training import Diverged

    cell = _tiny_cell(epochs=1)

    def diverge(self, *args, **kwargs):
        raise Diverged(1, 2, float("nan"), 0.1)

    monkeypatch.setattr(NumpyBackend, "train", diverge)
    args, kwargs = cell.setup()
    with pytest.warns(UserWarning, match=r"perceptron / numpy / cpu: training diverged"):
        result = cell.run(*args, **kwargs)
    assert result.history is None and result.diverged.startswith("training diverged")
    assert cell.rounds[-1] is result


def test_cell_run_passes_the_recipe_and_progress_and_times_the_round(monkeypatch):
    from mnist_nets.backends.numpy_backend import NumpyBackend

    seen = {}
    original = NumpyBackend.train

    def train(self, model, data, recipe, seed, **kwargs):
        seen.update(kwargs, recipe=recipe, seed=seed)
        return original(self, model, data, recipe, seed, **kwargs)

    monkeypatch.setattr(NumpyBackend, "train", train)
    cell = _tiny_cell(epochs=1, rounds=0, seed=4)
    cell.progress = progress = object.__new__(type("P", (), {
        "epoch_start": lambda self, *a: None, "batches_done": lambda self, *a: None,
        "epoch_end": lambda self, *a: None}))
    args, kwargs = cell.setup()
    result = cell.run(*args, **kwargs)
    recipe = seen.pop("recipe")  # the whole recipe: the one way hyper-parameters go
    assert (recipe.epochs, recipe.lr, recipe.batch_size, recipe.momentum, recipe.lr_decay) == (
        1, 0.1, 16, 0.5, 0.5)
    assert recipe == cell.recipe
    assert seen == {"progress": progress, "seed": 4}
    assert 0 < result.build_seconds < 60 and 0 < result.wall_seconds < 60
    assert result.wall_seconds >= result.history.train_seconds
    assert result.diverged is None
