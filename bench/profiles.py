"""Benchmark profiles: how much data, which recipe, which cells.

* ``smoke``: the first 1,000 training and 1,000 test images, one epoch of each spec's
  recipe.  The whole matrix in a few minutes; a test runs it so CI proves the harness.
  Inference cells (bench/test_inference.py): 100 batch-1 calls after 10 warm-up calls,
  3 calls of the large batch.
* ``standard``: the full 60,000 / 10,000 images and each spec's own recipe
  (``spec.recipe``), with the epochs of three recipes cut (:data:`STANDARD_EPOCHS`) so
  that three rounds of the whole matrix fit in the benchmark's time budget.  The
  recipes' learning-rate schedules are per epoch, so the first k epochs are the same
  as in the full recipe.  The README's main tables.  Inference cells: 1,000 batch-1
  calls after 50 warm-up calls, and the large batch (1,000 test images) called for
  about a second (3 to 50 calls).
* ``seed``: the original project's recipe (``spec.seed_recipe``): full-batch gradient
  descent, 100 "epochs" each one step over all 60,000 images, lr 0.01.  On a CPU the
  convolutional networks are skipped (meant for a GPU).
* ``fashion``: the standard profile on Fashion-MNIST (``make bench BENCH_PROFILE=fashion``):
  every network but the MNIST time-to-99 % races (``speedrun``, ``speedrun2``) with the
  recipe and floor it has on Fashion-MNIST (``spec.for_dataset``), the epochs of
  :data:`FASHION_EPOCHS`, no micro-benchmarks or inference cells (speed does not depend on
  the images), and each round's confusion matrix on the test set.  Its own run, so that the
  MNIST run keeps its time.

A run with ``--train-limit``, ``--test-limit`` or ``--epochs`` is recorded as profile
``custom`` so that it can never be mistaken for one of the others.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from mnist_nets.specs import Conv2D, ModelSpec, Recipe, race_specs

PROFILES = ("smoke", "standard", "seed", "fashion")
CUSTOM = "custom"

# The standard profile's epochs where it trains fewer than the spec's recipe.  Chosen
# from the per-epoch test accuracies of stored run 0005 (seed 0, three frameworks):
# alexnet was at 99.28-99.38 % after epoch 4 (target 99.2 %; epochs 5-6 added no more
# than the seed-to-seed noise), cnn at 99.10-99.13 % after epoch 4 (target 99 %; epoch 3
# dipped to 98.97 %), dnn at 98.16-98.21 % after epoch 7 (target 98 %).
STANDARD_EPOCHS = (("alexnet", 4), ("cnn", 4), ("dnn", 7))

# The rounds (one seed each) of every time-to-target race (``ModelSpec.is_race``) in the
# standard profile: its figures are medians and means over this many seeds.
RACE_ROUNDS = 10

# The fashion profile's epochs where it trains fewer than the spec's Fashion-MNIST recipe:
# none.  dnn, cnn and alexnet train their whole Fashion-MNIST recipes
# (``spec.dataset_recipes``: the MNIST caps left dnn at 88.2-88.8 % in stored run 0008,
# under its 89 % floor; all three train with Adam and a one-cycle schedule, whose anneal
# needs the whole run).  Whether the floors (the specs' dataset_targets) hold in every
# round is what a stored fashion run shows, cell by cell.
FASHION_EPOCHS: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class Profile:
    name: str
    train_limit: int | None  # None: all 60,000
    test_limit: int | None  # None: all 10,000
    epochs: int | None  # None: the recipe's own
    use_seed_recipe: bool = False
    micro_batch: int = 128  # micro-benchmarks: batch size
    micro_seconds: float = 1.0  # micro-benchmarks: time budget per case
    run_micro: bool = True  # the seed profile leaves them to the standard profile
    description: str = ""
    rounds: int = 1  # default --rounds: interleaved rounds, round r trains seed r - 1
    epoch_caps: tuple[tuple[str, int], ...] = ()  # (model, epochs): fewer than the recipe
    round_floors: tuple[tuple[str, int], ...] = ()  # (model, rounds): at least these rounds
    dataset: str = "mnist"  # mnist_nets.data.DATASETS: the images every cell trains on
    skip_models: tuple[tuple[str, str], ...] = ()  # (model, why the profile leaves it out)
    confusion: bool = False  # store each round's confusion matrix on the test set
    # inference cells (bench/test_inference.py): batch-1 calls timed after the warm-up
    # calls, and the time budget of the large batch's calls (3 to 50 of them)
    run_inference: bool = True
    inference_calls: int = 1000
    inference_warmup: int = 50
    inference_batch: int = 1000
    inference_seconds: float = 1.0

    def rounds_for(self, model: str, rounds: int) -> int:
        """The rounds (seeds) ``model`` runs when the others run ``rounds``."""
        return max(rounds, dict(self.round_floors).get(model, 0))

    def most_rounds(self, rounds: int) -> int:
        """The rounds of the model that runs the most."""
        return max([rounds, *(n for _, n in self.round_floors)])

    def epochs_for(self, spec: ModelSpec) -> int | None:
        """The epochs this profile trains ``spec`` for, when not its recipe's own."""
        if self.epochs is not None:
            return self.epochs
        return dict(self.epoch_caps).get(spec.name)

    def spec(self, spec: ModelSpec) -> ModelSpec:
        """``spec`` with the recipe and floor it has on this profile's dataset."""
        return spec.for_dataset(self.dataset)

    def recipe(self, spec: ModelSpec) -> Recipe:
        """The recipe this profile trains ``spec`` with."""
        recipe = self.spec(spec).recipe
        if self.use_seed_recipe:
            if spec.seed_recipe is None:
                raise ValueError(f"spec {spec.name!r} has no seed_recipe")
            recipe = spec.seed_recipe
        epochs = self.epochs_for(spec)
        if epochs is not None and epochs != recipe.epochs:
            recipe = recipe.with_epochs(epochs)
        return recipe

    def skip_reason(self, spec: ModelSpec, device: str) -> str | None:
        """Why this profile does not run ``spec`` on ``device`` (None: it does)."""
        why = dict(self.skip_models).get(spec.name)
        if why:
            return f"{self.name} profile: {why}"
        if self.use_seed_recipe and device == "cpu" and is_convolutional(spec):
            return "seed profile: meant for a GPU"
        return None


def is_convolutional(spec: ModelSpec) -> bool:
    return any(isinstance(layer, Conv2D) for layer in spec.layers)


_PROFILES = {
    "smoke": Profile(
        "smoke",
        train_limit=1000,
        test_limit=1000,
        epochs=1,
        micro_batch=32,
        micro_seconds=0.05,
        inference_calls=100,
        inference_warmup=10,
        inference_seconds=0.05,
        description="1,000 train / 1,000 test images, 1 epoch of the spec's recipe",
    ),
    "standard": Profile(
        "standard",
        train_limit=None,
        test_limit=None,
        epochs=None,
        rounds=3,
        epoch_caps=STANDARD_EPOCHS,
        round_floors=tuple((name, RACE_ROUNDS) for name in race_specs()),
        micro_seconds=0.5,
        description="60,000 train / 10,000 test images, the spec's recipe"
        + "".join(f"; {m} {e} epochs" for m, e in STANDARD_EPOCHS),
    ),
    "seed": Profile(
        "seed",
        train_limit=None,
        test_limit=None,
        epochs=None,
        use_seed_recipe=True,
        run_micro=False,
        run_inference=False,
        description="the original project's recipe: 100 full-batch steps, lr 0.01",
    ),
    "fashion": Profile(
        "fashion",
        train_limit=None,
        test_limit=None,
        epochs=None,
        rounds=3,
        epoch_caps=FASHION_EPOCHS,
        run_micro=False,
        run_inference=False,
        dataset="fashion-mnist",
        skip_models=tuple(
            (name, "an MNIST time-to-99 % race, not run on Fashion-MNIST") for name in race_specs()
        ),
        confusion=True,
        description="Fashion-MNIST, 60,000 train / 10,000 test images, the spec's recipe"
        + "".join(f"; {m} {e} epochs" for m, e in FASHION_EPOCHS),
    ),
}


def get_profile(
    name: str,
    *,
    train_limit: int | None = None,
    test_limit: int | None = None,
    epochs: int | None = None,
) -> Profile:
    """The profile called ``name``; any override turns it into profile ``custom``."""
    if name not in _PROFILES:
        raise ValueError(
            f"unknown benchmark profile {name!r}; choose one of: {', '.join(PROFILES)}"
        )
    profile = _PROFILES[name]
    overrides = {
        k: v
        for k, v in (("train_limit", train_limit), ("test_limit", test_limit), ("epochs", epochs))
        if v is not None
    }
    if not overrides:
        return profile
    text = ", ".join(f"{k} {v}" for k, v in overrides.items())
    return dataclasses.replace(
        profile,
        name=CUSTOM,
        description=f"{profile.name} with {text}",
        **overrides,
    )
