"""The training loop all backends share.

:func:`fit` owns everything that must be the same in every framework: the data order
of each epoch (:func:`mnist_nets.data.epoch_order`), the learning rate of each epoch,
the divergence check, evaluation and the history.  A backend only runs the epochs
(:meth:`~mnist_nets.backends.base.Backend.train_epoch`) and predicts.

Vocabulary: an *epoch* is one pass over the whole training set in shuffled
mini-batches.  ``train_accuracy`` is the running accuracy over that pass (training
mode, dropout on, parameters changing as it goes, as Keras reports it);
``test_accuracy`` is measured after the epoch on the test set in eval mode.
``seconds`` is the epoch's training time only; evaluation time is kept apart in
``eval_seconds``.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import numpy as np

from mnist_nets.data import Split, epoch_order


class Diverged(RuntimeError):
    """The loss became NaN or infinite."""

    def __init__(self, epoch: int, batch: int, loss: float, lr: float):
        self.epoch, self.batch, self.loss, self.lr = epoch, batch, loss, lr
        super().__init__(
            f"training diverged: the loss became {loss} at epoch {epoch}, batch {batch} "
            f"(learning rate {lr:g}); try a lower learning rate, e.g. --lr {lr / 10:g}"
        )


class Trainable(Protocol):
    """What :func:`fit` needs of a backend (every
    :class:`~mnist_nets.backends.base.Backend` is one); named here so that this module
    imports no backend: ``backends.base`` imports this module, not the reverse."""

    name: str

    def stage(self, model: Any, x: np.ndarray, y: np.ndarray | None = None) -> Any: ...

    def train_epoch(self, model: Any, staged: Any, order: np.ndarray, **kwargs: Any) -> None: ...

    def predict(self, model: Any, staged: Any, batch_size: int = ...) -> np.ndarray: ...


class Progress(Protocol):
    """What :func:`fit` tells about a run as it goes (the CLI draws a progress bar)."""

    def epoch_start(self, epoch: int, epochs: int, batches: int) -> None: ...

    def batches_done(self, done: int, mean_loss: float, samples_per_s: float) -> None: ...

    def epoch_end(self, record: EpochRecord) -> None: ...


@dataclass
class EpochRecord:
    epoch: int  # from 1
    loss: float  # mean training loss over the epoch's samples
    train_accuracy: float  # running accuracy over the epoch's mini-batches
    test_accuracy: float | None
    seconds: float  # training time of this epoch
    eval_seconds: float  # test-set evaluation after it
    lr: float
    samples: int  # training samples seen in the epoch


@dataclass
class History:
    epochs: list[EpochRecord] = field(default_factory=list)

    @property
    def train_seconds(self) -> float:
        return sum(r.seconds for r in self.epochs)

    @property
    def final(self) -> EpochRecord:
        return self.epochs[-1]

    def seconds_to_accuracy(self, target: float) -> float | None:
        """Training seconds until the first epoch whose test accuracy reached ``target``."""
        elapsed = 0.0
        for r in self.epochs:
            elapsed += r.seconds
            if r.test_accuracy is not None and r.test_accuracy >= target:
                return elapsed
        return None

    def to_dict(self) -> dict[str, Any]:
        return {"epochs": [asdict(r) for r in self.epochs]}


def fit(
    backend: Trainable,
    model: Any,
    train: Split,
    test: Split | None,
    *,
    epochs: int,
    lr: float,
    batch_size: int,
    seed: int,
    momentum: float = 0.0,
    lr_decay: float = 1.0,
    progress: Progress | None = None,
    sync_every: int = 50,
    on_epoch_end: Any = None,
) -> History:
    """Train ``model`` for ``epochs`` epochs; returns the :class:`History`.

    ``on_epoch_end(record, model)``, if given, is called after each complete epoch
    (the CLI saves weights there).  Raises :class:`Diverged` as soon as a non-finite
    loss is seen (at most ``sync_every`` batches after it happened, naming its batch).
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if not (math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a positive number, got {lr!r}")
    n = len(train.y)
    if n == 0:
        raise ValueError("the training set is empty")

    staged_train = backend.stage(model, train.x, train.y)
    staged_test = backend.stage(model, test.x) if test is not None else None
    history = History()
    for epoch in range(epochs):
        epoch_lr = float(lr * lr_decay**epoch)
        log = _EpochLog(epoch + 1, epoch_lr, n, batch_size, progress)
        if progress is not None:
            progress.epoch_start(epoch + 1, epochs, log.n_batches)
        log.start = time.perf_counter()
        backend.train_epoch(
            model,
            staged_train,
            epoch_order(seed, epoch, n),
            lr=epoch_lr,
            momentum=momentum,
            batch_size=batch_size,
            sync_every=sync_every,
            on_sync=log.on_sync,
        )
        seconds = time.perf_counter() - log.start
        if np.isnan(log.losses).any():
            raise RuntimeError(
                f"the {backend.name} backend did not report every batch of epoch {epoch + 1}"
            )
        t1 = time.perf_counter()
        test_accuracy = None
        if staged_test is not None:
            test_accuracy = float(np.mean(backend.predict(model, staged_test) == test.y))
        record = EpochRecord(
            epoch=epoch + 1,
            loss=log.mean_loss(log.n_batches),
            train_accuracy=float(log.correct.sum() / n),
            test_accuracy=test_accuracy,
            seconds=seconds,
            eval_seconds=time.perf_counter() - t1,
            lr=epoch_lr,
            samples=n,
        )
        history.epochs.append(record)
        if progress is not None:
            progress.epoch_end(record)
        if on_epoch_end is not None:
            on_epoch_end(record, model)
    return history


class _EpochLog:
    """Collects one epoch's per-batch losses and correct counts as the backend reports them."""

    def __init__(self, epoch: int, lr: float, n: int, batch_size: int, progress):
        self.epoch, self.lr, self.progress = epoch, lr, progress
        self.n_batches = math.ceil(n / batch_size)
        self.sizes = np.full(self.n_batches, batch_size, dtype=np.float64)
        self.sizes[-1] = n - batch_size * (self.n_batches - 1)
        self.losses = np.full(self.n_batches, np.nan)
        self.correct = np.zeros(self.n_batches)
        self.start = time.perf_counter()

    def mean_loss(self, end: int) -> float:
        """Mean loss per sample over batches [0, end)."""
        return float(np.dot(self.losses[:end], self.sizes[:end]) / self.sizes[:end].sum())

    def on_sync(self, first: int, batch_losses, batch_correct) -> None:
        batch_losses = np.asarray(batch_losses, dtype=np.float64)
        end = first + len(batch_losses)
        self.losses[first:end] = batch_losses
        self.correct[first:end] = batch_correct
        bad = np.flatnonzero(~np.isfinite(batch_losses))
        if bad.size:
            raise Diverged(self.epoch, first + int(bad[0]) + 1, batch_losses[bad[0]], self.lr)
        if self.progress is not None:
            elapsed = max(time.perf_counter() - self.start, 1e-9)
            self.progress.batches_done(
                end, self.mean_loss(end), float(self.sizes[:end].sum()) / elapsed
            )


def evaluate(backend: Trainable, model: Any, split: Split) -> float:
    """Test accuracy of ``model`` on ``split``."""
    return float(np.mean(backend.predict(model, backend.stage(model, split.x)) == split.y))
