"""The shared training loop (mnist_nets.training.fit), driven by a scripted stand-in backend."""

import time

import numpy as np
import pytest

from mnist_nets.backends.base import Backend, batch_lrs
from mnist_nets.data import Split, epoch_order
from mnist_nets.specs import Recipe, UpdateRule
from mnist_nets.training import Diverged, eval_points, fit, learning_rates


class Scripted(Backend):
    """Reports the losses it is given; records the orders and learning rates it is asked for."""

    name = "scripted"

    def __init__(self, losses_per_epoch, predict_seconds=0.0):
        self.losses_per_epoch = losses_per_epoch  # per call of train_epoch
        self.predict_seconds = predict_seconds
        self.calls = []
        self.updates = []

    def build(self, spec, params, device="cpu", seed=0):
        return None

    def forward(self, model, x, training=False):
        time.sleep(self.predict_seconds)
        logits = np.zeros((len(x), 10), np.float32)
        logits[:, 3] = 1.0  # always predicts 3
        return logits

    def activations(self, model, x):
        raise NotImplementedError

    def loss_and_grads(self, model, x, y):
        raise NotImplementedError

    def export_params(self, model):
        return {}

    def train_epoch(
        self, model, staged, order, *, lr, momentum, batch_size, sync_every, on_sync, update=None
    ):
        lrs = batch_lrs(lr, -(-len(order) // batch_size)).tolist()
        self.calls.append((order.copy(), lrs, momentum, batch_size))
        self.updates.append(update)
        losses = np.asarray(self.losses_per_epoch[len(self.calls) - 1], dtype=np.float64)
        for first in range(0, len(losses), sync_every):
            chunk = losses[first : first + sync_every]
            on_sync(first, chunk, np.full(len(chunk), 2.0))


def split(n):
    y = np.arange(n, dtype=np.uint8) % 10
    return Split(np.zeros((n, 28, 28, 1), np.float32), y)


def test_history_orders_and_learning_rates():
    backend = Scripted([[1.0, 1.0, 4.0], [0.5, 0.5, 0.5]])  # batches of 4, 4, 2
    history = fit(
        backend,
        None,
        split(10),
        split(20),
        epochs=2,
        lr=0.1,
        batch_size=4,
        seed=7,
        momentum=0.9,
        lr_decay=0.5,
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
        fit(backend, None, split(10), None, epochs=3, lr=0.1, batch_size=2, seed=0)
    assert len(backend.calls) == 2


def test_a_backend_that_skips_batches_is_caught():
    backend = Scripted([[1.0, 1.0]])  # 3 batches expected
    with pytest.raises(RuntimeError, match="did not report every batch"):
        fit(backend, None, split(10), None, epochs=1, lr=0.1, batch_size=4, seed=0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"epochs": 0}, "epochs must be"),
        ({"lr": -1.0}, "lr must be"),
        ({"batch_size": 0}, "batch_size"),
    ],
)
def test_bad_arguments(kwargs, message):
    args = {"epochs": 1, "lr": 0.1, "batch_size": 4, "seed": 0} | kwargs
    with pytest.raises(ValueError, match=message):
        fit(Scripted([[1.0]]), None, split(4), None, **args)


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
        epochs=1,
        lr=0.1,
        batch_size=2,
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
        backend, None, split(10), split(20), epochs=2, lr=0.1, batch_size=2, seed=3, recipe=recipe
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


def test_decay_schedule_is_per_epoch():
    lrs = learning_rates(Recipe(lr=0.1, epochs=3, lr_decay=0.5), 4)
    np.testing.assert_allclose(lrs, [[0.1] * 4, [0.05] * 4, [0.025] * 4])


def test_recipe_update_rule_reaches_the_backend():
    recipe = Recipe(lr=0.01, epochs=1, optimizer="adam", betas=(0.7, 0.9), eps=1e-6)
    backend = Scripted([[1.0, 1.0]])
    fit(backend, None, split(4), None, epochs=1, lr=0.01, batch_size=2, seed=0, recipe=recipe)
    assert backend.updates == [UpdateRule("adam", 0.0, (0.7, 0.9), 1e-6)]
