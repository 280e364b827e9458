"""The training loop all backends share.

:func:`fit` owns everything that must be the same in every framework: the data order
of each epoch (:func:`mnist_nets.data.epoch_order`), the learning rate of every
mini-batch (:func:`learning_rates`: per-epoch decay or one-cycle), the divergence check,
evaluation (after each epoch, or after equal shares of it) and the history.  A backend
only runs batches (:meth:`~mnist_nets.backends.base.Backend.train_epoch`, given the
per-batch learning rates and the update rule) and predicts.

Vocabulary: an *epoch* is one pass over the whole training set in shuffled
mini-batches.  ``train_accuracy`` is the running accuracy over that pass (training
mode, dropout on, parameters changing as it goes, as Keras reports it);
``test_accuracy`` is measured after the epoch on the test set in eval mode.
``seconds`` is the epoch's training time only; evaluation time is kept apart in
``eval_seconds``.  With ``evals_per_epoch = k > 1`` the test set is also evaluated after
each k-th share of the epoch's batches (:class:`EvalRecord`), off the training clock, so
that time-to-accuracy (:meth:`History.seconds_to_accuracy`) is read finer than an epoch.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import numpy as np

from mnist_nets.data import Split, epoch_order
from mnist_nets.specs import Recipe


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
    lr: float  # learning rate of the epoch's first batch
    samples: int  # training samples seen in the epoch


@dataclass
class EvalRecord:
    """One test-set evaluation, made after ``step`` mini-batches of training in all."""

    epoch: float  # epochs trained so far: 0.25, 0.5, ... (1.0 is the end of epoch 1)
    step: int  # mini-batches trained so far
    train_seconds: float  # training time so far (evaluations excluded)
    test_accuracy: float
    eval_seconds: float  # this evaluation's time


@dataclass
class History:
    epochs: list[EpochRecord] = field(default_factory=list)
    evals: list[EvalRecord] = field(default_factory=list)

    @property
    def train_seconds(self) -> float:
        return sum(r.seconds for r in self.epochs)

    @property
    def final(self) -> EpochRecord:
        return self.epochs[-1]

    def seconds_to_accuracy(self, target: float) -> float | None:
        """Training seconds until the first evaluation whose test accuracy reached
        ``target`` (evaluations within epochs count; evaluation time does not)."""
        if self.evals:
            return next((e.train_seconds for e in self.evals if e.test_accuracy >= target), None)
        elapsed = 0.0
        for r in self.epochs:
            elapsed += r.seconds
            if r.test_accuracy is not None and r.test_accuracy >= target:
                return elapsed
        return None

    def epochs_to_accuracy(self, target: float) -> float | None:
        """Epochs trained (fractional) until the test accuracy first reached ``target``."""
        return next((e.epoch for e in self.evals if e.test_accuracy >= target), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "epochs": [asdict(r) for r in self.epochs],
            "evals": [asdict(e) for e in self.evals],
        }


def learning_rates(recipe: Recipe, n_batches: int) -> np.ndarray:
    """The learning rate of every mini-batch of a run, shape ``(epochs, n_batches)``.

    ``decay``: ``lr * lr_decay ** epoch``.  ``one_cycle`` (as torch's ``OneCycleLR`` with
    cosine annealing, without momentum cycling): over ``S`` steps, step ``s`` (from 0)
    warms up from ``lr / div_factor`` to ``lr`` until step ``a = warmup * S - 1``, then
    anneals to ``lr / (div_factor * final_div_factor)`` at step ``S - 1``, each phase along
    half a cosine.  ``S`` is every step of the run (``epochs * n_batches``), or with
    ``cycle_epochs`` the first ``round(cycle_epochs * n_batches)`` of them (at least 1);
    the steps after the cycle keep its final rate.
    """
    r = recipe
    if r.schedule == "decay":
        per_epoch = r.lr * r.lr_decay ** np.arange(r.epochs, dtype=np.float64)
        return np.repeat(per_epoch[:, None], n_batches, axis=1)
    run_steps = r.epochs * n_batches
    total = run_steps
    if r.cycle_epochs is not None:
        total = min(run_steps, max(1, round(r.cycle_epochs * n_batches)))
    start = r.lr / r.div_factor
    end = start / r.final_div_factor
    peak_step = r.warmup * total - 1
    s = np.arange(total, dtype=np.float64)

    def cosine(a: float, b: float, pct: np.ndarray) -> np.ndarray:
        return b + (a - b) / 2 * (np.cos(np.pi * pct) + 1)

    # peak_step <= 0: no warm-up step (at 0 exactly, step 0 is the peak); the anneal's span
    # is S * (1 - warmup) > 0 steps, and its fraction runs to exactly 1 at step S - 1
    up = cosine(start, r.lr, s / peak_step) if peak_step > 0 else np.full(total, r.lr)
    down = cosine(r.lr, end, (s - peak_step) / (total - 1 - peak_step))
    lrs = np.full(run_steps, end)  # after the cycle (if it ends early): its final rate
    lrs[:total] = np.where(s <= peak_step, up, down)
    return lrs.reshape(r.epochs, n_batches)


def eval_points(n_batches: int, evals_per_epoch: int) -> list[int]:
    """The batch counts within an epoch after which the test set is evaluated: equal
    shares of the epoch's batches, the last one at its end (duplicates dropped)."""
    k = min(evals_per_epoch, n_batches)
    return sorted({math.ceil(n_batches * (i + 1) / k) for i in range(k)})


def fit(
    backend: Trainable,
    model: Any,
    train: Split,
    test: Split | None,
    recipe: Recipe,
    *,
    seed: int,
    progress: Progress | None = None,
    sync_every: int = 50,
    on_epoch_end: Any = None,
) -> History:
    """Train ``model`` by ``recipe``; returns the :class:`History`.

    The recipe is the one way hyper-parameters reach the loop: its epochs, batch size,
    peak learning rate and schedule, update rule (optimizer, momentum, betas, eps),
    shuffling and evaluations per epoch.  A caller that wants other values makes another
    recipe (``dataclasses.replace(spec.recipe, epochs=1)``), which checks them.
    ``on_epoch_end(record, model)``, if given, is called after each complete epoch
    (the CLI saves weights there).  Raises :class:`Diverged` as soon as a non-finite
    loss is seen (at most ``sync_every`` batches after it happened, naming its batch).
    """
    if not isinstance(recipe, Recipe):
        raise TypeError(
            f"recipe must be a mnist_nets.specs.Recipe, got {type(recipe).__name__}; "
            "override its fields with dataclasses.replace(recipe, ...)"
        )
    n = len(train.y)
    if n == 0:
        raise ValueError("the training set is empty")
    epochs, batch_size = recipe.epochs, recipe.batch_size
    rule = recipe.update_rule
    n_batches = math.ceil(n / batch_size)
    lrs = learning_rates(recipe, n_batches)
    points = eval_points(n_batches, recipe.evals_per_epoch) if test is not None else []

    staged_train = backend.stage(model, train.x, train.y)
    staged_test = backend.stage(model, test.x) if test is not None else None
    history = History()
    clock = 0.0  # training seconds so far
    for epoch in range(epochs):
        epoch_lrs = lrs[epoch]
        log = _EpochLog(epoch + 1, float(epoch_lrs[0]), n, batch_size, progress)
        if progress is not None:
            progress.epoch_start(epoch + 1, epochs, log.n_batches)
        order = epoch_order(seed, epoch, n) if recipe.shuffle else np.arange(n)
        seconds = eval_seconds = 0.0
        test_accuracy = None
        log.start = time.perf_counter()
        done = 0
        for end in points or [n_batches]:  # points end with n_batches
            t0 = time.perf_counter()
            backend.train_epoch(
                model,
                staged_train,
                order[done * batch_size : end * batch_size],
                lr=epoch_lrs[done:end],
                update=rule,
                batch_size=batch_size,
                sync_every=sync_every,
                on_sync=log.offset(done),
            )
            seconds += time.perf_counter() - t0
            done = end
            if staged_test is not None:  # (with a test set, every end is a point)
                t1 = time.perf_counter()
                test_accuracy = float(np.mean(backend.predict(model, staged_test) == test.y))
                spent = time.perf_counter() - t1
                eval_seconds += spent
                history.evals.append(
                    EvalRecord(
                        epoch=round(epoch + end / n_batches, 6),
                        step=epoch * n_batches + end,
                        train_seconds=clock + seconds,
                        test_accuracy=test_accuracy,
                        eval_seconds=spent,
                    )
                )
                log.start += spent  # the progress bar's samples/s counts training only
        clock += seconds
        if np.isnan(log.losses).any():
            raise RuntimeError(
                f"the {backend.name} backend did not report every batch of epoch {epoch + 1}"
            )
        record = EpochRecord(
            epoch=epoch + 1,
            loss=log.mean_loss(log.n_batches),
            train_accuracy=float(log.correct.sum() / n),
            test_accuracy=test_accuracy,
            seconds=seconds,
            eval_seconds=eval_seconds,
            lr=float(epoch_lrs[0]),
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

    def offset(self, done: int):
        """``on_sync`` for a call that trains the epoch's batches from ``done`` on."""
        return lambda first, losses, correct: self.on_sync(done + first, losses, correct)

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
