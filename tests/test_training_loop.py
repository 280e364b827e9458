"""The shared training loop (mnist_nets.training.fit), driven by a scripted stand-in backend."""

import numpy as np
import pytest

from mnist_nets.backends.base import Backend
from mnist_nets.data import Split, epoch_order
from mnist_nets.training import Diverged, fit


class Scripted(Backend):
    """Reports the losses it is given; records the orders and learning rates it is asked for."""

    name = "scripted"

    def __init__(self, losses_per_epoch):
        self.losses_per_epoch = losses_per_epoch
        self.calls = []

    def build(self, spec, params, device="cpu", seed=0):
        return None

    def forward(self, model, x, training=False):
        logits = np.zeros((len(x), 10), np.float32)
        logits[:, 3] = 1.0  # always predicts 3
        return logits

    def activations(self, model, x):
        raise NotImplementedError

    def loss_and_grads(self, model, x, y):
        raise NotImplementedError

    def export_params(self, model):
        return {}

    def train_epoch(self, model, staged, order, *, lr, momentum, batch_size, sync_every, on_sync):
        self.calls.append((order.copy(), lr, momentum, batch_size))
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
    assert [call[1] for call in backend.calls] == [0.1, 0.05]
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
