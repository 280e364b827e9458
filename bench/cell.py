"""One training benchmark cell: a model x framework x device, trained with a profile's recipe.

What is timed, and what is kept apart
-------------------------------------
* **Training time** is the sum of the epochs' training time as :func:`mnist_nets.training.fit`
  measures it: the clock around each ``train_epoch``, which returns only when the device
  has finished (and we synchronise once more after ``fit``).  Test-set evaluation after
  each epoch is timed apart (``eval_seconds``).
* **One-off costs** are recorded beside it, never inside it: loading MNIST (once per
  session), building the model (``build_seconds``), and a warm-up.  The warm-up runs on
  a *throwaway* model built from the same initial parameters: one training pass over
  ``batch_size + (n % batch_size)`` images (so both the full and the last, smaller batch
  shape are seen: graph tracing, kernel selection, thread pools) and one prediction.
  The measured model is then built fresh, so every framework trains the same
  trajectory from the same weights in the same data order.  A framework that still pays
  a first-call cost on the new model shows it as ``first_epoch_extra_seconds``
  (epoch 1 minus the median of the later epochs).
* ``stage_and_overhead_seconds`` is the rest of the round's wall time: moving the data
  to the device (``stage``) and the loop's bookkeeping.
* Where the profile asks for it (``fashion``), the trained model then predicts the test
  set once more, after the clocks, for the round's confusion matrix (``confusion``).

A benchmark run has rounds, interleaved across cells (bench/conftest.py): round r of a
cell is one ``TrainingCell`` with ``seed = base seed + r - 1``, so within a round every
framework starts from the same weights in the same data order, and across rounds the
seeds differ.  Each round is stored as its own benchmark entry; the report
(bench/reporting/summary.py) folds them into one cell (median time with min-max, mean
accuracy with sd and min).

Beside the clock each round records whether other processes used the CPU while it
trained (bench/steadiness.py), and round 1 of each cell measures the memory training
the model costs in a fresh process (bench/memprobe.py: the same way in every
framework; the in-session RSS increase is still stored, as ``peak_rss_increase_bytes``,
but it sees only what the allocators did not already hold).
"""

from __future__ import annotations

import gc
import math
import statistics
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bench import memory
from bench.environment import thread_counts
from bench.profiles import Profile
from bench.steadiness import CpuWindow
from mnist_nets.data import Split
from mnist_nets.params import init_params
from mnist_nets.specs import NUM_CLASSES, ModelSpec, Recipe
from mnist_nets.training import Diverged, History, Progress

SCHEMA = 1


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray) -> list[list[int]]:
    """Counts ``[true class][predicted class]`` over the test images (rows sum to each
    class's number of images)."""
    labels = np.asarray(labels, dtype=np.int64)
    predicted = np.asarray(predicted, dtype=np.int64)
    counts = np.bincount(labels * NUM_CLASSES + predicted, minlength=NUM_CLASSES**2)
    return counts.reshape(NUM_CLASSES, NUM_CLASSES).tolist()


def epoch_definition(recipe: Recipe, n_train: int) -> str:
    """The exact meaning of one epoch for this recipe and training-set size."""
    steps = math.ceil(n_train / recipe.batch_size)
    if recipe.batch_size >= n_train:
        return f"one full-batch gradient step over all {n_train:,} training images"
    order = "a fresh shuffled order" if recipe.shuffle else "the data's own order (unshuffled)"
    last = n_train - recipe.batch_size * (steps - 1)
    tail = "" if last == recipe.batch_size else f", the last of {last}"
    return (
        f"one pass over the {n_train:,} training images in {order}: "
        f"{steps:,} steps of {recipe.batch_size} images{tail}"
    )


@dataclass
class RoundResult:
    history: History | None
    wall_seconds: float
    build_seconds: float
    peak_rss_increase: int | None
    device_peak: int | None
    diverged: str | None = None
    cpu: dict | None = None  # CpuWindow.as_dict(): other processes' use of the cores
    confusion: list[list[int]] | None = None  # [true class][predicted class] on the test set


@dataclass
class TrainingCell:
    spec: ModelSpec
    recipe: Recipe
    profile: Profile
    backend: Any
    device: str
    train: Split
    test: Split
    seed: int = 0
    progress: Progress | None = None  # told of each epoch (bench/progress.py)
    data_load_seconds: float | None = None
    rounds: list[RoundResult] = field(default_factory=list)
    warmup_seconds: float | None = None

    def __post_init__(self) -> None:
        self.framework = self.backend.name
        self.params = init_params(self.spec, self.seed)
        self._build_seconds = 0.0
        self._sampler: memory.RssSampler | None = None
        self._window: CpuWindow | None = None

    # -- the pedantic round -----------------------------------------------------

    def warm_up(self) -> None:
        """Warm the framework up on a throwaway model (see the module docstring)."""
        r = self.recipe
        n = len(self.train)
        n_warm = min(n, r.batch_size + (n % r.batch_size))
        t0 = time.perf_counter()
        model = self.backend.build(self.spec, self.params, self.device, self.seed)
        staged = self.backend.stage(model, self.train.x[:n_warm], self.train.y[:n_warm])
        self.backend.train_epoch(
            model,
            staged,
            np.arange(n_warm),
            lr=r.lr,
            update=r.update_rule,
            batch_size=r.batch_size,
            sync_every=50,
            on_sync=lambda first, losses, correct: None,
        )
        n_eval = min(len(self.test), 1000 + len(self.test) % 1000)
        self.backend.predict(model, self.backend.stage(model, self.test.x[:n_eval]))
        memory.synchronize(self.framework, self.device)
        self.warmup_seconds = time.perf_counter() - t0
        del model, staged

    def setup(self) -> tuple[tuple, dict]:
        """Before each round (not timed): warm up once, then build a fresh model."""
        if self.warmup_seconds is None:
            self.warm_up()
        gc.collect()
        memory.reset_device_peak(self.framework, self.device)
        self._sampler = memory.RssSampler().start()
        t0 = time.perf_counter()
        model = self.backend.build(self.spec, self.params, self.device, self.seed)
        memory.synchronize(self.framework, self.device)
        self._build_seconds = time.perf_counter() - t0
        self._window = CpuWindow().start()
        return (model,), {}

    def run(self, model: Any) -> RoundResult:
        """One timed round: train with the recipe and evaluate after each epoch."""
        r = self.recipe
        diverged = None
        history = None
        t0 = time.perf_counter()
        try:
            history = self.backend.train(
                model, (self.train, self.test), r, self.seed, progress=self.progress
            )
        except Diverged as exc:
            diverged = str(exc)
        memory.synchronize(self.framework, self.device)
        wall = time.perf_counter() - t0
        assert self._sampler is not None and self._window is not None
        self._window.stop()
        self._sampler.stop()
        confusion = None
        if self.profile.confusion and history is not None:  # after the clocks, not timed
            staged = self.backend.stage(model, self.test.x)
            confusion = confusion_matrix(self.test.y, self.backend.predict(model, staged))
        result = RoundResult(
            history=history,
            wall_seconds=wall,
            build_seconds=self._build_seconds,
            peak_rss_increase=self._sampler.peak_increase,
            device_peak=memory.device_peak(self.framework, self.device),
            diverged=diverged,
            cpu=self._window.as_dict(),
            confusion=confusion,
        )
        self.rounds.append(result)
        if diverged:
            warnings.warn(
                f"{self.spec.name} / {self.framework} / {self.device}: {diverged}", stacklevel=1
            )
        return result

    # -- what is stored ---------------------------------------------------------

    def static_info(self) -> dict[str, Any]:
        """The cell's identity and set-up, known before it runs."""
        r, spec = self.recipe, self.spec
        return {
            "schema": SCHEMA,
            "kind": "training",
            "profile": self.profile.name,
            "profile_description": self.profile.description,
            "dataset": self.profile.dataset,
            "model": spec.name,
            "framework": self.framework,
            "device": self.device,
            "device_name": self.backend.device_name(self.device),
            "seed": self.seed,
            "epochs": r.epochs,
            "lr": r.lr,
            "momentum": r.momentum,
            "lr_decay": r.lr_decay,
            "batch_size": r.batch_size,
            "optimizer": r.optimizer,
            "betas": list(r.betas),
            "eps": r.eps,
            "schedule": r.schedule,
            "warmup": r.warmup,
            "cycle_epochs": r.cycle_epochs,
            "shuffle": r.shuffle,
            "evals_per_epoch": r.evals_per_epoch,
            "loss_function": spec.loss,
            "train_samples": len(self.train),
            "test_samples": len(self.test),
            "epoch_definition": epoch_definition(r, len(self.train)),
            "param_count": spec.param_count,
            "flops_training_per_sample": spec.flops_training,
            "flops_forward_per_sample": spec.flops_forward,
            "target_accuracy": spec.target_accuracy,
            "versions": self.backend.versions(),
            "data_load_seconds": self.data_load_seconds,
        }

    def results_info(self, peak: dict | None) -> dict[str, Any]:
        """The measured figures, after the rounds (``peak``: the device's GEMM peak)."""
        first = self.rounds[0]
        out: dict[str, Any] = {
            "rounds": len(self.rounds),
            "threads": thread_counts(self.framework),
            "build_seconds": first.build_seconds,
            "cpu_window": first.cpu,
            "co_runner": bool(first.cpu and first.cpu.get("co_runner")),
            "warmup_seconds": self.warmup_seconds,
            "peak_rss_increase_bytes": max(
                (r.peak_rss_increase for r in self.rounds if r.peak_rss_increase is not None),
                default=None,
            ),
            "device_peak_bytes": max(
                (r.device_peak for r in self.rounds if r.device_peak is not None), default=None
            ),
            "peak_gflops": peak["gflops"] if peak else None,
            "peak_method": peak["method"] if peak else None,
            "diverged": first.diverged,
        }
        if first.confusion is not None:
            out["confusion"] = first.confusion
        if first.history is None or not first.history.epochs:
            return out
        h = first.history
        final = h.final
        train_times = [r.history.train_seconds for r in self.rounds if r.history is not None]
        median_train = statistics.median(train_times)
        samples = sum(e.samples for e in h.epochs)
        eval_seconds = sum(e.eval_seconds for e in h.epochs)
        flops = self.spec.flops_training * samples
        achieved = flops / median_train / 1e9 if median_train > 0 else None
        later = [e.seconds for e in h.epochs[1:]]
        out.update(
            {
                "test_accuracy": final.test_accuracy,
                "final_loss": final.loss,
                "final_train_accuracy": final.train_accuracy,
                "per_epoch": [
                    {
                        "epoch": e.epoch,
                        "loss": e.loss,
                        "train_accuracy": e.train_accuracy,
                        "test_accuracy": e.test_accuracy,
                        "seconds": e.seconds,
                        "eval_seconds": e.eval_seconds,
                        "lr": e.lr,
                    }
                    for e in h.epochs
                ],
                "train_seconds": median_train,
                "train_seconds_rounds": train_times,
                "test_accuracy_rounds": [
                    r.history.final.test_accuracy for r in self.rounds if r.history is not None
                ],
                "eval_seconds": eval_seconds,
                "evals": [
                    {
                        "epoch": e.epoch,
                        "train_seconds": e.train_seconds,
                        "test_accuracy": e.test_accuracy,
                    }
                    for e in h.evals
                ],
                "wall_seconds_rounds": [r.wall_seconds for r in self.rounds],
                "stage_and_overhead_seconds": first.wall_seconds - h.train_seconds - eval_seconds,
                "first_epoch_extra_seconds": (
                    h.epochs[0].seconds - statistics.median(later) if later else None
                ),
                "samples_trained": samples,
                "samples_per_second": samples / median_train if median_train > 0 else None,
                "achieved_gflops": achieved,
                "fraction_of_peak": (achieved / peak["gflops"] if achieved and peak else None),
            }
        )
        out.update(self._target(h))
        return out

    def _target(self, h: History) -> dict[str, Any]:
        target = self.spec.target_accuracy
        if target is None:
            return {"target_reached": None, "time_to_target_seconds": None, "target_epoch": None}
        reached = h.seconds_to_accuracy(target)
        epoch = h.epochs_to_accuracy(target)  # fractional where the recipe evaluates within
        return {
            "target_reached": reached is not None,
            "time_to_target_seconds": reached,
            "target_epoch": epoch,
        }
