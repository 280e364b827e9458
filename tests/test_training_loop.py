"""The shared training loop (mnist_nets.training.fit), driven by a scripted stand-in backend."""

from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest
from helpers import Scripted, split

from mnist_nets.data import epoch_order
from mnist_nets.specs import Recipe, SpecError, UpdateRule
from mnist_nets.training import (
    Diverged,
    EpochRecord,
    History,
    eval_points,
    evaluate,
    fit,
    learning_rates,
)


def test_history_orders_and_learning_rates():
    backend = Scripted([[1.0, 1.0, 4.0], [0.5, 0.5, 0.5]])  # batches of 4, 4, 2
    history = fit(
        backend,
        None,
        split(10),
        split(20),
        Recipe(lr=0.1, epochs=2, batch_size=4, momentum=0.9, lr_decay=0.5),
        seed=7,
        sync_every=2,
    )
    assert [call[1] for call in backend.calls] == [[0.1] * 3, [0.05] * 3]
    assert backend.updates == [UpdateRule("sgd", 0.9)] * 2
    assert [call[2] for call in backend.calls] == [0.9, 0.9]  # momentum
    assert [call[3] for call in backend.calls] == [4, 4]  # batch size
    assert [r.lr for r in history.epochs] == [0.1, 0.05]
    np.testing.assert_array_equal(backend.calls[0][0], epoch_order(7, 0, 10))
    np.testing.assert_array_equal(backend.calls[1][0], epoch_order(7, 1, 10))
    first = history.epochs[0]
    assert first.loss == pytest.approx((4 * 1.0 + 4 * 1.0 + 2 * 4.0) / 10)
    assert first.train_accuracy == pytest.approx(6 / 10)
    assert first.test_accuracy == pytest.approx(2 / 20)  # label 3 is 2 of 20
    assert history.epochs[1].loss == pytest.approx(0.5)
    assert history.seconds_to_accuracy(0.1) == pytest.approx(first.seconds)
    assert history.seconds_to_accuracy(0.5) is None


def test_divergence_names_epoch_and_batch():
    backend = Scripted([[1.0] * 5, [1.0, 1.0, 1.0, np.nan, np.inf]])
    with pytest.raises(Diverged, match=r"nan at epoch 2, batch 4 \(learning rate 0.1\).*--lr 0.01"):
        fit(backend, None, split(10), None, Recipe(lr=0.1, epochs=3, batch_size=2), seed=0)
    assert len(backend.calls) == 2


def test_a_backend_that_skips_batches_is_caught():
    backend = Scripted([[1.0, 1.0]])  # 3 batches expected
    with pytest.raises(RuntimeError, match="did not report every batch"):
        fit(backend, None, split(10), None, Recipe(lr=0.1, epochs=1, batch_size=4), seed=0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"epochs": 0}, "epochs must be"),
        ({"lr": -1.0}, "lr must be"),
        ({"batch_size": 0}, "batch_size"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        replace(Recipe(lr=0.1, epochs=1, batch_size=4), **kwargs)


def test_progress_is_told(monkeypatch):
    events = []

    class Recorder:
        def epoch_start(self, epoch, epochs, batches):
            events.append(("start", epoch, epochs, batches))

        def batches_done(self, done, mean_loss, samples_per_s):
            events.append(("batches", done, round(mean_loss, 6)))

        def epoch_end(self, record):
            events.append(("end", record.epoch))

    fit(
        Scripted([[2.0, 4.0, 6.0]]),
        None,
        split(6),
        None,
        Recipe(lr=0.1, epochs=1, batch_size=2),
        seed=0,
        sync_every=2,
        progress=Recorder(),
    )
    assert events == [("start", 1, 1, 3), ("batches", 2, 3.0), ("batches", 3, 4.0), ("end", 1)]


def test_evaluations_at_fractions_of_an_epoch_stay_off_the_training_clock():
    """Three evaluations per epoch of 5 batches: after batches 2, 4 and 5, each call trains
    exactly the batches between them, and the slow evaluations are not training time."""
    recipe = Recipe(lr=0.1, epochs=2, batch_size=2, evals_per_epoch=3, shuffle=False)
    backend = Scripted([[1.0, 1.0], [1.0, 1.0], [1.0]] * 2, predict_seconds=0.05)
    history = fit(
        backend, None, split(10), split(20), replace(recipe, lr=0.1, epochs=2, batch_size=2), seed=3
    )
    assert [len(call[0]) for call in backend.calls] == [4, 4, 2] * 2
    np.testing.assert_array_equal(np.concatenate([c[0] for c in backend.calls[:3]]), np.arange(10))
    assert [e.epoch for e in history.evals] == pytest.approx([0.4, 0.8, 1.0, 1.4, 1.8, 2.0])
    assert [e.step for e in history.evals] == [2, 4, 5, 7, 9, 10]
    assert all(e.eval_seconds >= 0.05 for e in history.evals)
    assert history.train_seconds < 0.05  # six evaluations of >= 0.05 s each were left out
    assert history.epochs[0].eval_seconds >= 0.15
    assert history.seconds_to_accuracy(0.1) == history.evals[0].train_seconds
    assert history.epochs_to_accuracy(0.1) == pytest.approx(0.4)
    assert history.to_dict()["evals"][2]["epoch"] == 1.0


def test_eval_points_split_an_epoch_evenly():
    assert eval_points(10, 1) == [10]
    assert eval_points(10, 4) == [3, 5, 8, 10]
    assert eval_points(3, 10) == [1, 2, 3]  # never more evaluations than batches


def test_one_cycle_warms_up_then_anneals():
    recipe = Recipe(lr=0.01, epochs=2, schedule="one_cycle", warmup=0.25)
    lrs = learning_rates(recipe, 50).ravel()
    assert lrs.shape == (100,)
    assert lrs[0] == pytest.approx(0.01 / 25)
    assert lrs.max() == pytest.approx(0.01) and int(np.argmax(lrs)) == 24
    assert lrs[-1] == pytest.approx(0.01 / 25 / 1e4)
    assert np.all(np.diff(lrs[:25]) > 0) and np.all(np.diff(lrs[24:]) < 0)


def test_one_cycle_matches_torch_one_cycle_lr():
    torch = pytest.importorskip("torch")
    recipe = Recipe(lr=0.01, epochs=3, schedule="one_cycle", warmup=0.3)
    ours = learning_rates(recipe, 47).ravel()
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.01)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=0.01, total_steps=len(ours), pct_start=0.3, cycle_momentum=False
    )
    theirs = []
    for _ in ours:
        theirs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=0)


def test_a_shorter_cycle_is_torchs_one_cycle_over_its_steps_then_holds_the_final_rate():
    """``cycle_epochs=1.5`` over 2 epochs of 40 batches: torch's OneCycleLR over the first 60
    steps, then its final rate for the remaining 20."""
    torch = pytest.importorskip("torch")
    recipe = Recipe(lr=0.01, epochs=2, schedule="one_cycle", warmup=0.05, cycle_epochs=1.5)
    ours = learning_rates(recipe, 40).ravel()
    assert ours.shape == (80,)
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.01)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=0.01, total_steps=60, pct_start=0.05, cycle_momentum=False
    )
    theirs = []
    for _ in range(60):
        theirs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    np.testing.assert_allclose(ours[:60], theirs, rtol=1e-9, atol=0)
    assert np.all(ours[60:] == ours[59])  # held at the end of the cycle
    assert ours[59] == pytest.approx(0.01 / 25 / 1e4, rel=1e-12)
    # a cycle as long as the run is the plain schedule
    whole = replace(recipe, cycle_epochs=2)
    np.testing.assert_array_equal(
        learning_rates(whole, 40), learning_rates(replace(recipe, cycle_epochs=None), 40)
    )


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"cycle_epochs": 0}, "cycle_epochs must be a number in (0, epochs=2]"),
        ({"cycle_epochs": 2.5}, "cycle_epochs must be a number in (0, epochs=2]"),
        ({"cycle_epochs": float("nan")}, "cycle_epochs must be a number"),
        ({"cycle_epochs": 1.5, "schedule": "decay"}, "cycle_epochs is a one_cycle setting"),
    ],
)
def test_bad_cycle_epochs_are_refused_with_the_fix(fields, words):
    kwargs = {"lr": 0.01, "epochs": 2, "schedule": "one_cycle", **fields}
    with pytest.raises(SpecError) as err:
        Recipe(**kwargs)
    assert words in str(err.value)


def test_decay_schedule_is_per_epoch():
    lrs = learning_rates(Recipe(lr=0.1, epochs=3, lr_decay=0.5), 4)
    np.testing.assert_allclose(lrs, [[0.1] * 4, [0.05] * 4, [0.025] * 4])


def test_recipe_update_rule_reaches_the_backend():
    recipe = Recipe(lr=0.01, epochs=1, optimizer="adam", betas=(0.7, 0.9), eps=1e-6)
    backend = Scripted([[1.0, 1.0]])
    fit(backend, None, split(4), None, replace(recipe, lr=0.01, epochs=1, batch_size=2), seed=0)
    assert backend.updates == [UpdateRule("adam", 0.0, (0.7, 0.9), 1e-6)]


# --------------------------------------------------------------------------- sharper checks
# Written against mutants that survived `make mutation` (see tests/MUTATION.md).


def test_every_epoch_gets_its_order_lr_momentum_and_batch_size():
    backend = Scripted([[1.0, 1.0, 4.0], [0.5, 0.5, 0.5], [2.0, 2.0, 2.0]])
    seen = []
    history = fit(
        backend,
        "model",
        split(10),
        split(20),
        Recipe(lr=0.1, epochs=3, batch_size=4, momentum=0.9, lr_decay=0.5),
        seed=7,
        sync_every=2,
        on_epoch_end=lambda record, model: seen.append((record.epoch, model)),
    )
    # one learning rate per batch (3 batches of up to 4), constant within an epoch
    assert [c[1] for c in backend.calls] == [
        pytest.approx([lr] * 3, rel=1e-12) for lr in (0.1, 0.05, 0.025)
    ]
    assert [c[2] for c in backend.calls] == [0.9, 0.9, 0.9]
    assert [c[3] for c in backend.calls] == [4, 4, 4]
    for epoch, call in enumerate(backend.calls):
        np.testing.assert_array_equal(call[0], epoch_order(7, epoch, 10))
    assert [r.lr for r in history.epochs] == pytest.approx([0.1, 0.05, 0.025], rel=1e-12)
    assert [r.epoch for r in history.epochs] == [1, 2, 3]
    assert [r.samples for r in history.epochs] == [10, 10, 10]
    assert seen == [(1, "model"), (2, "model"), (3, "model")]
    assert history.final is history.epochs[-1]
    assert history.epochs[2].loss == pytest.approx(2.0)
    for r in history.epochs:
        assert r.seconds >= 0 and r.eval_seconds >= 0


def test_defaults_no_momentum_no_decay_sync_every_50():
    class Recording(Scripted):
        def _train_epoch(self, model, staged, order, **kwargs):
            self.sync_every = kwargs["sync_every"]
            super()._train_epoch(model, staged, order, **kwargs)

    backend = Recording([[1.0] * 3, [1.0] * 3])
    history = fit(backend, None, split(6), None, Recipe(lr=0.2, epochs=2, batch_size=2), seed=1)
    assert [c[1] for c in backend.calls] == [[0.2] * 3, [0.2] * 3]
    assert [c[2] for c in backend.calls] == [0.0, 0.0]
    assert backend.sync_every == 50
    assert all(r.test_accuracy is None for r in history.epochs)


def test_seconds_to_accuracy_sums_training_time_only():
    def rec(epoch, acc, seconds):
        return EpochRecord(epoch, 1.0, 0.5, acc, seconds, 100.0, 0.1, 10)

    h = History([rec(1, None, 1.0), rec(2, 0.5, 2.0), rec(3, 0.9, 4.0)])
    assert h.train_seconds == 7.0
    assert h.seconds_to_accuracy(0.5) == 3.0  # reached exactly at epoch 2
    assert h.seconds_to_accuracy(0.6) == 7.0
    assert h.seconds_to_accuracy(0.95) is None
    assert h.to_dict()["epochs"][1] == {
        "epoch": 2,
        "loss": 1.0,
        "train_accuracy": 0.5,
        "test_accuracy": 0.5,
        "seconds": 2.0,
        "eval_seconds": 100.0,
        "lr": 0.1,
        "samples": 10,
    }


def test_running_accuracy_counts_the_correct_per_batch():
    class Correct(Scripted):
        def _train_epoch(self, model, staged, order, *, lr, update, batch_size, sync_every,
                         on_sync):  # fmt: skip
            self.calls.append((order.copy(), lr, update.momentum, batch_size))
            on_sync(0, [1.0, 3.0], [4, 1])  # batches of 4 and 2 samples: 5 of 6 correct

    history = fit(Correct([]), None, split(6), None, Recipe(lr=0.1, epochs=1, batch_size=4), seed=0)
    assert history.final.train_accuracy == pytest.approx(5 / 6)
    assert history.final.loss == pytest.approx((4 * 1.0 + 2 * 3.0) / 6)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"epochs": True}, "epochs must be a positive integer, got True"),
        ({"epochs": 1.0}, "epochs must be a positive integer, got 1.0"),
        ({"epochs": -1}, "epochs must be a positive integer, got -1"),
        ({"batch_size": True}, "batch_size must be a positive integer, got True"),
        ({"batch_size": 2.0}, "batch_size must be a positive integer, got 2.0"),
        ({"batch_size": -3}, "batch_size must be a positive integer, got -3"),
        ({"lr": 0.0}, "lr must be a positive number, got 0.0"),
        ({"lr": float("inf")}, "lr must be a positive number, got inf"),
        ({"lr": float("nan")}, "lr must be a positive number, got nan"),
    ],
)
def test_bad_arguments_are_named(kwargs, message):
    """A bad epoch count, batch size or rate is refused where the run's recipe is made."""
    with pytest.raises(ValueError, match=f"^Recipe: {message}$"):
        replace(Recipe(lr=0.1, epochs=1, batch_size=4), **kwargs)


def test_fit_takes_its_hyper_parameters_only_from_a_recipe():
    with pytest.raises(TypeError, match="^recipe must be a mnist_nets.specs.Recipe, got dict"):
        fit(Scripted([[1.0]]), None, split(4), None, {"lr": 0.1, "epochs": 1}, seed=0)
    with pytest.raises(TypeError, match="momentum"):
        fit(Scripted([[1.0]]), None, split(4), None, Recipe(lr=0.1, epochs=1), seed=0,
            momentum=0.9)  # fmt: skip


def test_smallest_valid_arguments_are_accepted():
    history = fit(
        Scripted([[1.0] * 4]), None, split(4), None, Recipe(lr=1e-9, epochs=1, batch_size=1), seed=0
    )
    assert len(history.epochs) == 1


def test_an_empty_training_set_is_refused():
    with pytest.raises(ValueError, match="^the training set is empty$"):
        fit(Scripted([[]]), None, split(0), None, Recipe(lr=0.1, epochs=1, batch_size=4), seed=0)


def test_diverged_carries_its_fields_and_the_first_bad_batch():
    backend = Scripted([[1.0, np.inf, np.nan, 1.0]])
    with pytest.raises(Diverged) as info:
        fit(
            backend,
            None,
            split(8),
            None,
            Recipe(lr=0.5, epochs=1, batch_size=2),
            seed=0,
            sync_every=4,
        )
    e = info.value
    assert (e.epoch, e.batch, e.loss, e.lr) == (1, 2, np.inf, 0.5)
    assert str(e) == (
        "training diverged: the loss became inf at epoch 1, batch 2 (learning rate 0.5); "
        "try a lower learning rate, e.g. --lr 0.05"
    )


def test_progress_reports_samples_per_second_and_epoch_records():
    events = []

    class Recorder:
        def epoch_start(self, epoch, epochs, batches):
            events.append(("start", epoch, epochs, batches))

        def batches_done(self, done, mean_loss, samples_per_s):
            assert samples_per_s > 0
            events.append(("batches", done, mean_loss))

        def epoch_end(self, record):
            events.append(("end", record.epoch, record.loss))

    fit(
        Scripted([[2.0, 4.0, 6.0], [1.0, 1.0, 1.0]]),
        None,
        split(5),
        None,
        Recipe(lr=0.1, epochs=2, batch_size=2),
        seed=0,
        sync_every=1,
        progress=Recorder(),
    )
    assert events == [
        ("start", 1, 2, 3),
        ("batches", 1, 2.0),
        ("batches", 2, 3.0),
        ("batches", 3, pytest.approx((2 * 2 + 2 * 4 + 6) / 5)),
        ("end", 1, pytest.approx(3.6)),
        ("start", 2, 2, 3),
        ("batches", 1, 1.0),
        ("batches", 2, 1.0),
        ("batches", 3, 1.0),
        ("end", 2, 1.0),
    ]


def test_evaluate_is_the_fraction_predicted_right():
    backend = Scripted([])
    assert evaluate(backend, None, split(20)) == pytest.approx(2 / 20)


def test_evaluate_and_fit_pass_the_model_on():
    class Checking(Scripted):
        def stage(self, model, x, y=None):
            assert model == "the model"
            return super().stage(model, x, y)

        def predict(self, model, staged):
            assert model == "the model"
            return super().predict(model, staged)

    assert evaluate(Checking([]), "the model", split(20)) == pytest.approx(2 / 20)
    fit(
        Checking([[1.0]]),
        "the model",
        split(4),
        split(10),
        Recipe(lr=0.1, epochs=1, batch_size=4),
        seed=0,
    )


# --------------------------------------------------------------------------- one-cycle edges


def one_cycle(epochs=1, **kwargs):
    return Recipe(lr=1.0, epochs=epochs, schedule="one_cycle", **kwargs)


def test_one_cycle_starts_at_lr_over_div_factor_and_ends_at_its_final_value():
    for epochs, n_batches, warmup in [(1, 1, 0.3), (1, 2, 0.3), (1, 10, 0.2), (3, 7, 0.3)]:
        lrs = learning_rates(one_cycle(epochs, warmup=warmup), n_batches)
        assert lrs.shape == (epochs, n_batches) and np.isfinite(lrs).all()
        # the last step is at lr / (div_factor * final_div_factor), however short the run
        assert lrs[-1, -1] == pytest.approx(1.0 / 25 / 1e4, rel=1e-12), (epochs, n_batches)
    # warm-up over 2 steps (peak_step 1): step 0 at lr / div_factor, step 1 at the peak
    lrs = learning_rates(one_cycle(warmup=0.2), 10)[0]
    assert lrs[0] == pytest.approx(1.0 / 25, rel=1e-12) and lrs[1] == 1.0
    assert np.all(np.diff(lrs[1:]) < 0)  # then only down


def test_one_cycle_whose_peak_is_its_first_step():
    """warmup * S == 1 (peak_step 0): no warm-up, step 0 at the peak, then the anneal."""
    lrs = learning_rates(one_cycle(warmup=0.25), 4)[0]
    assert lrs[0] == 1.0
    assert lrs[1:].tolist() == pytest.approx(
        [4e-6 + (1.0 - 4e-6) / 2 * (np.cos(np.pi * k / 3) + 1) for k in (1, 2, 3)], rel=1e-12
    )


def test_fit_runs_the_schedule_over_its_own_epochs_not_the_recipes():
    backend = Scripted([[1.0] * 4])
    fit(
        backend,
        None,
        split(8),
        None,
        replace(one_cycle(epochs=5, warmup=0.25), lr=1.0, epochs=1, batch_size=2),
        seed=0,
    )
    assert backend.calls[0][1] == pytest.approx(learning_rates(one_cycle(warmup=0.25), 4)[0])


def test_without_a_test_set_an_epoch_is_one_call_of_the_backend():
    """Evaluations split an epoch into calls; with nothing to evaluate it stays whole."""
    backend = Scripted([[1.0] * 4, [1.0] * 4])
    fit(
        backend,
        None,
        split(8),
        None,
        replace(Recipe(lr=0.1, epochs=2, evals_per_epoch=4), lr=0.1, epochs=2, batch_size=2),
        seed=0,
    )
    assert [len(call[0]) for call in backend.calls] == [8, 8]


def test_training_time_sums_the_calls_and_leaves_evaluation_out(monkeypatch):
    """On a fake clock: each batch takes 1 s, each evaluation 100 s."""
    import mnist_nets.training as training

    now = [0.0]
    monkeypatch.setattr(training, "time", SimpleNamespace(perf_counter=lambda: now[0]))

    class Clocked(Scripted):
        def _train_epoch(self, model, staged, order, *, lr, update, batch_size, sync_every,
                         on_sync):  # fmt: skip
            for i in range(-(-len(order) // batch_size)):
                now[0] += 1.0
                on_sync(i, [1.0], [1.0])

        def predict(self, model, staged):
            now[0] += 100.0
            return super().predict(model, staged)

    rates = []

    class Rates:
        def epoch_start(self, epoch, epochs, batches): ...

        def batches_done(self, done, mean_loss, samples_per_s):
            rates.append(samples_per_s)

        def epoch_end(self, record): ...

    history = fit(
        Clocked([]),
        None,
        split(8),
        split(10),
        replace(Recipe(lr=0.1, epochs=3, evals_per_epoch=2), lr=0.1, epochs=3, batch_size=2),
        seed=0,
        progress=Rates(),
    )
    assert [(r.seconds, r.eval_seconds) for r in history.epochs] == [(4.0, 200.0)] * 3
    assert [(e.step, e.train_seconds, e.eval_seconds) for e in history.evals] == [
        (2, 2.0, 100.0), (4, 4.0, 100.0), (6, 6.0, 100.0), (8, 8.0, 100.0),
        (10, 10.0, 100.0), (12, 12.0, 100.0)]  # fmt: skip
    assert history.train_seconds == 12.0 and history.seconds_to_accuracy(0.0) == 2.0
    # 2 samples a batch, a batch a second: 2 samples/s at every batch, evaluations left out
    assert rates == [2.0] * 12


def test_evaluations_name_their_epoch_to_six_decimals():
    recipe = Recipe(lr=0.1, epochs=2, evals_per_epoch=3)
    history = fit(
        Scripted([[1.0]] * 6),
        None,
        split(3),
        split(10),
        replace(recipe, lr=0.1, epochs=2, batch_size=1),
        seed=0,
    )
    assert [e.epoch for e in history.evals] == [0.333333, 0.666667, 1.0, 1.333333, 1.666667, 2.0]


def test_a_backend_that_leaves_a_batch_unreported_is_named_with_the_epoch():
    backend = Scripted([[1.0] * 4, [1.0] * 3])  # epoch 2's last batch never reported
    with pytest.raises(RuntimeError) as info:
        fit(backend, None, split(8), None, Recipe(lr=0.1, epochs=2, batch_size=2), seed=0)
    assert str(info.value) == "the scripted backend did not report every batch of epoch 2"


def test_a_shorter_run_drops_a_cycle_it_cannot_hold():
    """``--epochs 1`` (or a profile's one epoch) on a recipe whose cycle spans 1.6 epochs:
    the cycle then spans the whole run, which still ends at the cycle's final rate."""
    recipe = Recipe(lr=0.01, epochs=2, schedule="one_cycle", cycle_epochs=1.6)
    one = recipe.with_epochs(1)
    assert (one.epochs, one.cycle_epochs) == (1, None)
    assert learning_rates(one, 10)[0, -1] == pytest.approx(0.01 / 25 / 1e4, rel=1e-12)
    three = recipe.with_epochs(3)
    assert (three.epochs, three.cycle_epochs) == (3, 1.6)
    assert recipe.with_epochs(2) == recipe
