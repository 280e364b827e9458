"""Sharper tests for bench/ (tables, report, cell), written to kill mutants that survived
`make mutation`."""

from __future__ import annotations

import numpy as np
import pytest

from bench import tables
from bench.history import HistoryError, load_runs, select
from mnist_nets.specs import get_spec, list_specs
from tests.test_report import table_cells, training_cell, write_run


def test_numpy_speed_notes_cells_from_two_different_runs(tmp_path):
    # dnn: the reference and the first other framework in run 1, the rest in run 2
    first, rest = tables.FRAMEWORKS[:2], tables.FRAMEWORKS[2:]
    write_run(tmp_path, 1, [training_cell("dnn", f, train_seconds=2.0) for f in first])
    write_run(tmp_path, 2, [*[training_cell("dnn", f, train_seconds=4.0) for f in rest],
                            *[training_cell("perceptron", f, train_seconds=1.0) for f in
                              tables.FRAMEWORKS]])
    rows = {r[0]: r for r in table_cells(
        tables.numpy_speed(select(load_runs(tmp_path)), list_specs(), "standard"))[1:]}
    one = tables.ONE_ROUND  # a single round decides nothing
    assert rows["dnn"][-1] == f"{one} (cells from different runs)"  # 2 runs are enough
    assert rows["perceptron"][-1] == one  # one run: no note
    assert rows["perceptron"][1 + len(tables.FRAMEWORKS)] == "1.00 (vs PyTorch)"


def test_report_machine_filter_keeps_only_matching_runs(tmp_path):
    write_run(tmp_path, 1, [training_cell("dnn", "torch", test_accuracy=0.5)],
              "2026-01-01T10:00:00", gpu="Fancy GPU")
    write_run(tmp_path, 2, [training_cell("dnn", "torch", test_accuracy=0.75)],
              "2026-01-02T10:00:00")
    runs = load_runs(tmp_path)
    key = ("standard", "dnn", "torch", "cpu")
    assert select(runs).training[key].info["test_accuracy"] == 0.75
    assert select(runs, machine="fancy").training[key].info["test_accuracy"] == 0.5
    assert select(runs, machine="TESTHOST").training[key].info["test_accuracy"] == 0.75
    with pytest.raises(HistoryError, match="no stored run matches --machine 'EPYC'"):
        select(runs, machine="EPYC")


def test_report_main_machine_option(tmp_path):
    from tests.test_report import block, readme_template, run_report

    class WS:
        readme = tmp_path / "README.md"
        results = tmp_path / "results"
        assets = tmp_path / "assets"

    WS.readme.write_text(readme_template())
    write_run(WS.results, 1, [training_cell("dnn", "torch", test_accuracy=0.5)],
              "2026-01-01T10:00:00", gpu="Fancy GPU")
    write_run(WS.results, 2, [training_cell("dnn", "torch", test_accuracy=0.75)],
              "2026-01-02T10:00:00")
    assert run_report(WS, "--no-plots", "--machine", "Fancy") == 0
    text = block(WS.readme.read_text(), "tables-by-framework")
    assert "50.00 %" in text and "75.00 %" not in text
    assert run_report(WS, "--no-plots", "--machine", "nowhere") == 2


# --------------------------------------------------------------------------- bench/cell.py


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
                      shuffle=False, evals_per_epoch=2)
    spec = cell.spec
    assert cell.static_info() == {
        "schema": 1, "kind": "training", "profile": "tiny", "profile_description": "tiny data",
        "dataset": cell.profile.dataset, "model": "perceptron", "framework": "numpy",
        "device": "cpu", "device_name": "device cpu", "seed": 0, "epochs": 1, "lr": 0.1,
        "momentum": 0.0, "lr_decay": 1.0, "batch_size": 16, "optimizer": "adam",
        "betas": [0.8, 0.95], "eps": 1e-7, "schedule": "one_cycle", "warmup": 0.25,
        "shuffle": False, "evals_per_epoch": 2, "loss_function": spec.loss,
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


# --------------------------------------------------------------------------- bench/tables.py


def test_number_formats_at_their_boundaries():
    assert tables.seconds(None) == "–"
    assert tables.seconds(0.123) == "0.12 s"
    assert tables.seconds(1.0) == "1.0 s" and tables.seconds(0.99) == "0.99 s"
    assert tables.seconds(99.94) == "99.9 s" and tables.seconds(100.0) == "100 s"
    assert tables.seconds(12345.6) == "12,346 s"
    assert tables.percent(None) == "–"
    assert tables.percent(0.92346) == "92.35 %" and tables.percent(0.92346, 1) == "92.3 %"
    assert tables.share(None) == "–"
    assert tables.share(0.1) == "10 %" and tables.share(0.099) == "9.9 %"
    assert tables.share(0.0123) == "1.2 %" and tables.share(0.5) == "50 %"
    assert tables.share(0.105) == "10 %"
    assert tables.count(None) == "–" and tables.count(12345.4) == "12,345"
    assert tables.size(None) == "–"
    assert tables.size(10 * 2**20) == "10 MiB" and tables.size(10.5 * 2**20) == "10 MiB"
    assert tables.size(9.96 * 2**20) == "10.0 MiB" and tables.size(2**19) == "0.5 MiB"
    assert tables.size(2048 * 2**20) == "2,048 MiB"


def test_learning_rate_time_and_target_texts():
    assert tables.learning_rate({"lr": 0.1}) == "0.1"
    assert tables.learning_rate({"lr": 0.1, "momentum": 0.0, "lr_decay": 1}) == "0.1"
    assert tables.learning_rate({"lr": 0.05, "momentum": 0.9}) == "0.05 (momentum 0.9)"
    assert tables.learning_rate({"lr": 0.05, "lr_decay": 0.5}) == "0.05 (×0.5/epoch)"
    assert tables.learning_rate({"lr": 0.05, "momentum": 0.9, "lr_decay": 0.8}) == (
        "0.05 (momentum 0.9, ×0.8/epoch)")
    assert tables.train_time({"train_seconds": 2.0}) == "2.0 s"
    assert tables.train_time({"train_seconds": 2.0, "train_seconds_rounds": [2.0]}) == "2.0 s"
    assert tables.train_time({"train_seconds": 2.0, "train_seconds_rounds": [3.0, 1.5, 2.0]}) == (
        "2.0 s (1.5 s–3.0 s, 3 rounds)")
    assert tables.train_time({"train_seconds": 2.0, "train_seconds_rounds": [3.0, 1.0]}) == (
        "2.0 s (1.0 s–3.0 s, 2 rounds)")
    assert tables.time_to_target({}) == "no target"
    assert tables.time_to_target({"target_accuracy": 0.9, "target_reached": True,
                                  "time_to_target_seconds": 5.0, "target_epoch": 2}) == (
        "5.0 s (epoch 2)")
    assert tables.time_to_target({"target_accuracy": 0.985, "target_reached": False}) == (
        "not reached (98.5 %)")
    assert tables.table(["a", "b"], [["1", "2"]]) == "| a | b |\n|---|---|\n| 1 | 2 |"


def test_spread_and_verdict_at_their_boundaries():
    assert tables.spread({"train_seconds": 2.0}) == (2.0, 2.0)  # no per-round figures
    assert tables.spread({"train_seconds": 2.0, "train_seconds_rounds": []}) == (2.0, 2.0)
    assert tables.spread({"train_seconds": 2.0, "train_seconds_rounds": [3.0, 1.0, 2.0]}) == (
        1.0, 3.0)

    def cell(*rounds):
        return {"train_seconds": sorted(rounds)[len(rounds) // 2],
                "train_seconds_rounds": list(rounds)}

    fast, slow = cell(1.0, 1.5), cell(2.0, 3.0)
    assert tables.verdict(fast, slow) == "faster"  # two rounds each are enough
    assert tables.verdict(slow, fast) == "slower"
    assert tables.verdict(cell(1.0), slow) == tables.ONE_ROUND
    assert tables.verdict(fast, cell(3.0)) == tables.ONE_ROUND
    assert tables.verdict(fast, {"train_seconds": 3.0}) == tables.ONE_ROUND
    # ranges that touch at one point overlap: a tie either way round
    touching = cell(1.0, 2.0)
    assert tables.verdict(touching, slow) == "tie"
    assert tables.verdict(slow, touching) == "tie"
    assert tables.verdict(cell(1.0, 1.999), slow) == "faster"
    assert tables.verdict(slow, cell(1.0, 1.999)) == "slower"
    assert tables.verdict(cell(1.0, 2.5), slow) == "tie"


def test_rows_gpu_and_not_run_helpers(tmp_path):
    # "mxnet" stands for a framework with stored cells but no registry entry
    write_run(tmp_path, 1, [training_cell("dnn", "numpy"),
                            training_cell("dnn", "mxnet", device="tpu"),
                            training_cell("dnn", "torch", device="mps", profile="smoke")])
    selection = select(load_runs(tmp_path))
    assert tables.device_rows(selection, "standard") == [
        *[(f, "cpu") for f in tables.FRAMEWORKS], *[(f, "cuda") for f in tables.GPU_FRAMEWORKS],
        ("mxnet", "tpu")]
    assert ("numpy", "cpu") in tables.device_rows(selection, "standard")
    assert ("torch", "cuda") in tables.device_rows(selection, "standard")
    assert ("numpy", "cuda") not in tables.device_rows(selection, "standard")
    assert tables.has_gpu(selection)
    assert tables.missing(selection, "cuda") == "not run"
    write_run(tmp_path / "cpu", 1, [training_cell("dnn", "numpy")])
    cpu_only = select(load_runs(tmp_path / "cpu"))
    assert not tables.has_gpu(cpu_only)
    assert tables.missing(cpu_only, "cuda") == "no GPU in the stored runs"
    assert tables.missing(cpu_only, "cpu") == "not run"
    assert tables.not_run_cells("why", 3) == ["why", "not run", "not run"]
    assert tables.diverged({"test_accuracy": 0.9}) is False
    assert tables.diverged({"test_accuracy": 0.9, "diverged": "nan"}) is True
    assert tables.diverged({"test_accuracy": None}) is True


def test_by_framework_rows_and_missing_cells(tmp_path):
    write_run(tmp_path, 1, [training_cell("dnn", "numpy"),
                            training_cell("dnn", "mxnet", device="tpu")])  # unregistered
    text = tables.by_framework(select(load_runs(tmp_path)), ["dnn", "cnn"], "standard")
    mxnet = text.split("#### mxnet\n", 1)[1]
    assert table_cells(mxnet)[1][:2] == ["dnn", "92.34 %"]
    write_run(tmp_path / "cpu", 1, [training_cell("dnn", "numpy")])
    text = tables.by_framework(select(load_runs(tmp_path / "cpu")), ["dnn", "cnn"], "standard")
    numpy_rows = table_cells(text.split("#### numpy\n", 1)[1].split("####", 1)[0])
    assert numpy_rows[2][:2] == ["cnn", "not run"]  # a CPU cell never says "no GPU"


def test_training_memory_cells_when_not_measured(tmp_path):
    """No probe in the run, a probe that failed, a probe's figure: each says which, the GPU
    figure beside the host's."""
    failed = {"training_memory_bytes": None, "error": "timed out after 600 s"}
    write_run(tmp_path, 1, [
        training_cell("dnn", "numpy"),
        training_cell("dnn", "torch", training_memory=failed),
        training_cell("dnn", "torch", device="cuda", device_peak_bytes=2**30,
                      training_memory={"training_memory_bytes": 12 * 2**20}),
        training_cell("dnn", "tensorflow", device="cuda", device_peak_bytes=2**30,
                      training_memory=failed),
    ], gpu="Test GPU")
    text = tables.network(get_spec("dnn"), select(load_runs(tmp_path)), "standard", "d.svg", None)
    rows = table_cells(text)
    column = rows[0].index("Training memory")
    memory = {(r[0], r[1]): r[column] for r in rows[1:]}
    assert memory[("numpy", "cpu")] == "not measured in this run"
    assert memory[("PyTorch", "cpu")] == "not measured (probe failed)"
    assert memory[("PyTorch", "cuda")] == "1,024 MiB GPU, 12 MiB host"
    assert memory[("TensorFlow", "cuda")] == "1,024 MiB GPU, not measured (probe failed) host"
    assert tables.training_memory({}) == "not measured in this run"
    assert tables.training_memory({"training_memory": failed}) == "not measured (probe failed)"


def test_accuracy_shows_a_spread_only_over_several_rounds():
    one = {"test_accuracy": 0.9876, "test_accuracy_rounds": [0.9876], "test_accuracy_sd": 0.0}
    assert tables.accuracy(one) == tables.percent(0.9876)
    many = {"test_accuracy": 0.98, "test_accuracy_rounds": [0.97, 0.99], "test_accuracy_sd": 0.01}
    assert tables.accuracy(many) == (
        f"{tables.percent(0.98)} ± 1.00 (min {tables.percent(0.97)})"
    )


@pytest.mark.parametrize("epoch, shown", [(2.0, "2"), (1.5, "1.5"), ("2 of 3", "2 of 3")])
def test_time_to_target_of_one_round_names_its_epoch(epoch, shown):
    info = {"target_accuracy": 0.99, "target_reached": True, "time_to_target_seconds": 4.0,
            "target_epoch": epoch, "train_seconds": 5.0}  # fmt: skip
    assert tables.time_to_target(info) == f"{tables.seconds(4.0)} (epoch {shown})"


def _edit_machine(path, **changes):
    """Rewrite a stored run's machine block: a value of None removes the key."""
    import json

    data = json.loads(path.read_text())
    ours = data["machine_info"]["mnist_nets"]
    for key, value in changes.items():
        if value is None:
            ours.pop(key, None)
        else:
            ours[key] = value
    path.write_text(json.dumps(data))


def test_machine_lines_name_everything_the_run_stored(tmp_path):
    path = write_run(tmp_path, 1, [
        training_cell("dnn", "numpy", profile_description="b data"),
        training_cell("dnn", "torch", profile_description="a data", dataset="fashion-mnist",
                      data_load_seconds=2.5),
    ], gpu="Fancy GPU")
    _edit_machine(path, gemm_peaks={
        "cpu": {"gflops": 1234.56, "method": "numpy matmul"},
        "cuda": {"gflops": 9876.5},  # no method stored
        "tpu": {"gflops": None},  # no figure: left out
        "x": 3.0,  # not a measurement: left out
    })
    assert tables.machine(select(load_runs(tmp_path)), "standard") == (
        "Main tables: profile `standard` (a data; b data). The figures come from these stored "
        "runs (`bench/results/`):\n\n"
        "- `0001_abc_20260101_100000` (2026-01-01 10:00 UTC; standard, loading Fashion-MNIST "
        "2.5 s): CPU Test CPU, 2 cores; GPU Fancy GPU; python 3.11.7, numpy 2.4.6, "
        "torch 2.13.0; float32 GEMM peak 1,234.6 GFLOP/s on cpu (numpy matmul); "
        "float32 GEMM peak 9,876.5 GFLOP/s on cuda ()"
    )


def test_machine_line_of_a_run_that_stored_little(tmp_path):
    path = write_run(tmp_path, 2, [
        training_cell("dnn", "numpy", data_load_seconds=0.25),  # MNIST: loaded first
        training_cell("dnn", "torch", dataset="fashion-mnist", data_load_seconds=3.0),
    ])
    _edit_machine(path, cores=None, versions=None, gemm_peaks=None)
    runs = load_runs(tmp_path)
    runs[0].machine.pop("cpu")  # load_run names an unknown CPU; a Run built without one
    lines = tables.machine(select(runs), "standard").split("\n")
    assert lines[0].startswith("Main tables: profile `standard` (standard data). The figures")
    assert lines[2:] == [
        "- `0002_abc_20260101_100000` (2026-01-01 10:00 UTC; standard, loading MNIST 0.25 s): "
        "CPU unknown; no GPU; versions not recorded"
    ]
    assert tables.steadiness(runs[0]) is None  # nothing measured: no line at all


def test_by_architecture_rows_of_a_diverged_and_an_unregistered_cell(tmp_path):
    write_run(tmp_path, 1, [training_cell("dnn", "numpy", diverged="nan", test_accuracy=None),
                            training_cell("dnn", "mxnet", device="tpu")])
    rows = table_cells(tables.by_architecture(select(load_runs(tmp_path)), ["dnn"], "standard"))
    assert rows[1] == ["numpy", "diverged", "–", "2", "0.1 (momentum 0.9, ×0.5/epoch)", "cpu",
                       "–", "–", "–"]
    assert rows[-1][:3] == ["mxnet", "92.34 %", "12.3 s"] and rows[-1][5] == "tpu"


def _fake_spec(**recipe):
    from types import SimpleNamespace

    from mnist_nets.specs import Recipe

    return SimpleNamespace(
        name="dnn", description="A test net.", param_count=1234, loss="cross_entropy",
        flops_forward=1_225_001, flops_training=2_225_001,  # 1.23 and 2.23 MFLOPs, rounded up
        target_accuracy=0.9, recipe=Recipe(**{"lr": 0.1, "epochs": 1, **recipe}))


def test_network_block_of_one_epoch_with_odd_cells(tmp_path):
    write_run(tmp_path, 1, [
        training_cell("dnn", "numpy", epochs=1, device_peak_bytes=2**30, achieved_gflops=None),
        training_cell("dnn", "torch", epochs=3, diverged="nan", test_accuracy=None),
        training_cell("dnn", "mxnet", device="tpu"),
    ])
    text = tables.network(_fake_spec(), select(load_runs(tmp_path)), "standard", "d.svg", None)
    assert text.split("\n")[:8] == [
        "A test net. **1,234 parameters**; 1.23 MFLOPs per image forward, 2.23 MFLOPs per image "
        "per training step; loss: softmax cross-entropy. Recipe: SGD, lr 0.1, batch 128, "
        "1 epoch; target test accuracy 90.0 %.",
        "",
        "![dnn: layers, output shapes and parameters](d.svg)",
        "",
        "Loss and accuracy curves: not run (profile `standard`).",
        "",
        "Measured (profile `standard`):",
        "",
    ]
    rows = {(r[0], r[1]): r[2:] for r in table_cells(text)[1:]}
    # a CPU cell's device peak is not GPU memory; no GFLOP/s figure: "–"
    assert rows[("numpy", "cpu")] == ["92.34 %", "0.2800", "12.3 s", "9,724", "–", "0.61 %",
                                      "not measured in this run", "0.01 s + 0.5 s + –"]
    assert rows[("PyTorch", "cpu")] == ["diverged"] + ["–"] * 7
    assert rows[("mxnet", "tpu")][:2] == ["92.34 %", "0.2800"]
    assert text.endswith("The benchmark trained 1, 2, 3 of the recipe's 1 epochs "
                         "(see *How the benchmarks run*).")
    assert "2 epochs;" in tables.network(_fake_spec(epochs=2), select([]), "p", "d.svg", None)
    write_run(tmp_path / "cpu", 1, [training_cell("dnn", "numpy")])
    rows = table_cells(tables.network(_fake_spec(), select(load_runs(tmp_path / "cpu")),
                                      "standard", "d.svg", None))
    assert rows[2][:4] == ["PyTorch", "cpu", "not run", "not run"]  # a CPU row: never "no GPU"


def test_micro_on_two_devices_without_batch_sizes(tmp_path):
    from tests.test_report import micro_cell

    cells = [micro_cell("c", "forward", "numpy", 100.0), micro_cell("c", "forward", "torch",
                                                                   200.0, device="cuda")]
    for c in cells:
        del c["extra_info"]["batch_size"]
    write_run(tmp_path, 1, cells)
    text = tables.micro(select(load_runs(tmp_path)), "standard", ["c"], {"c": "a case"})

    def device_table(frameworks, rate):
        rows = [[f"c{': a case' if i == 0 else ''}", label,
                 *(rate if (i, n) == (0, 0) else "not run" for n, _ in enumerate(frameworks))]
                for i, label in enumerate(tables.PASS_LABELS.values())]
        return tables.table(["Case", "Pass", *(tables.LABELS[f] for f in frameworks)], rows)

    assert text == (
        "Images per second (median of the rounds) through batches of ? images: *forward* in "
        "inference mode, *forward + backward* with dropout off (both as the backend's "
        "`forward` and `loss_and_grads`), *SGD steps* as training runs them (`train_epoch` "
        "over 2 staged batches).\n\n"
        "On cpu:\n\n" + device_table(tables.FRAMEWORKS, "100") + "\n\n"
        "On cuda:\n\n" + device_table(tables.GPU_FRAMEWORKS, "200")
    )


def test_seed_profile_rows_and_its_absence(tmp_path):
    assert tables.seed_profile(select([]), ["perceptron"]) == (
        "Seed profile: not run (`make bench BENCH_PROFILE=seed`, best on a machine with a GPU)."
    )
    write_run(tmp_path, 1, [
        training_cell("perceptron", "numpy", profile="seed", diverged="nan", test_accuracy=None),
        training_cell("perceptron", "torch", device="cuda", profile="seed"),
    ], gpu="Fancy GPU")
    rows = table_cells(tables.seed_profile(select(load_runs(tmp_path)), ["perceptron"]))[1:]
    assert rows[0] == ["perceptron", "numpy", "diverged", "–", "2",
                       "0.1 (momentum 0.9, ×0.5/epoch)", "cpu"]
    cuda = [r for r in rows if r[-1] == "cuda"]
    assert [r[1] for r in cuda] == [tables.LABELS[f] for f in tables.GPU_FRAMEWORKS]
    assert cuda[0][2:4] == ["92.34 %", "12.3 s"]


def test_single_neuron_finding_takes_the_best_framework(tmp_path):
    write_run(tmp_path, 1, [
        training_cell("perceptron", "numpy", test_accuracy=0.92),
        training_cell("perceptron", "torch", test_accuracy=0.90),
        training_cell("single_neuron", "numpy", test_accuracy=0.2),
        training_cell("single_neuron_ce", "numpy", test_accuracy=0.3),
        training_cell("single_neuron_ce", "torch", diverged="nan", test_accuracy=None),
        training_cell("perceptron", "mxnet", device="tpu", test_accuracy=0.5),  # the last row
    ])
    text = tables.single_neuron_finding(select(load_runs(tmp_path)), "standard")
    rows = {(r[0], r[1]): r[2:] for r in table_cells(text)[1:]}
    assert rows[("PyTorch", "cpu")] == ["90.00 %", "not run", "diverged"]
    assert rows[("mxnet", "tpu")] == ["50.00 %", "not run", "not run"]
    assert text.endswith(
        "one hidden neuron reaches at most 20.00 % test accuracy under MSE and 30.00 % under "
        "cross-entropy; ten output perceptrons reach 92.00 %.")


def numpy_speed_met(tmp_path, times: dict, rounds: int) -> dict:
    """The "Met" column of numpy_speed over made-up cells: model -> (numpy's time, every
    other framework's time), each cell with ``rounds`` equal rounds."""
    cells = []
    for model, (numpy_t, other_t) in times.items():
        for f in tables.FRAMEWORKS:
            t = numpy_t if f == "numpy" else other_t
            for r in range(1, rounds + 1):  # a benchmark entry per round, as a run has them
                cell = training_cell(model, f, round=r, seed=r - 1, train_seconds=t,
                                     train_seconds_rounds=[t])  # fmt: skip
                cell["name"] = cell["name"].replace("]", f"-r{r}]")
                cells.append(cell)
    write_run(tmp_path, 1, cells)
    rows = table_cells(tables.numpy_speed(select(load_runs(tmp_path)), list(times), "standard"))
    return {r[0]: r[-1] for r in rows[1:]}


def test_numpy_speed_target_on_its_bound_is_met_only_when_the_bound_is_included(tmp_path):
    met = numpy_speed_met(
        tmp_path,
        {
            "cnn": (10.0, 10.0),  # ratio 1.00 against "≤ 1": met
            "perceptron": (10.0, 10.0),  # ratio 1.00 against "< 1": not met
            "dnn": (9.0, 10.0),  # ratio 0.90 against "< 0.9": not met
            "alexnet": (12.0, 10.0),  # ratio 1.20 against "≤ 1.2": met
            "single_neuron": (1.0, 2.0),  # no target
        },
        rounds=2,  # two rounds decide
    )
    assert met == {
        "cnn": "yes",
        "perceptron": "**no**",
        "dnn": "**no**",
        "alexnet": "yes",
        "single_neuron": "–",
    }


def test_numpy_speed_needs_two_rounds_of_each_to_decide(tmp_path):
    met = numpy_speed_met(tmp_path, {"cnn": (5.0, 10.0)}, rounds=1)
    assert met == {"cnn": tables.ONE_ROUND}
    (tmp_path / "2").mkdir()
    assert numpy_speed_met(tmp_path / "2", {"cnn": (5.0, 10.0)}, rounds=2) == {"cnn": "yes"}
