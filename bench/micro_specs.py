"""Specs for the micro-benchmarks: one small network per layer type, built around it.

Every spec must end in ten outputs and hold parameters, so each layer of interest is
wrapped in the least that makes a classifier; the wrapper is chosen so that the layer
of interest does most of the work where it can (dense, conv).  ``conv`` convolves the
1-channel image (like the first layer of ``cnn`` and ``alexnet``), ``conv_deep`` an
8-channel map (like every later conv layer): the numpy backend lays out their patch
matrices and weight-gradient products differently.  Pooling and ReLU do
little arithmetic whatever their surroundings: their rows mostly show per-call costs.
Dropout is left out: it is the identity in ``forward`` and off in ``loss_and_grads``.
"""

from __future__ import annotations

from mnist_nets.specs import Conv2D, Dense, Flatten, MaxPool2D, ModelSpec, Recipe, ReLU

_RECIPE = Recipe(lr=0.01, epochs=1)
MICRO_PASSES = ("forward", "loss_and_grads", "train_steps", "full_batch")

LAYER_SPECS: dict[str, ModelSpec] = {
    "dense": ModelSpec(
        name="micro_dense",
        description="Flatten -> Dense(1024) -> Dense(10)",
        layers=(Flatten(), Dense(1024), Dense(10)),
        recipe=_RECIPE,
    ),
    "conv": ModelSpec(
        name="micro_conv",
        description="Conv2D(32, 5x5, same) -> MaxPool2D(4) -> Flatten -> Dense(10)",
        layers=(Conv2D(32, 5, padding="same"), MaxPool2D(4), Flatten(), Dense(10)),
        recipe=_RECIPE,
    ),
    "conv_deep": ModelSpec(
        name="micro_conv_deep",
        description="Conv2D(8, 1x1) -> Conv2D(32, 5x5, same) -> MaxPool2D(4) -> Flatten -> "
        "Dense(10)",
        layers=(
            Conv2D(8, 1),
            Conv2D(32, 5, padding="same"),
            MaxPool2D(4),
            Flatten(),
            Dense(10),
        ),
        recipe=_RECIPE,
    ),
    "maxpool": ModelSpec(
        name="micro_maxpool",
        description="Conv2D(16, 1x1) -> MaxPool2D(2) -> Flatten -> Dense(10)",
        layers=(Conv2D(16, 1), MaxPool2D(2), Flatten(), Dense(10)),
        recipe=_RECIPE,
    ),
    "relu": ModelSpec(
        name="micro_relu",
        description="Conv2D(16, 1x1) -> ReLU -> MaxPool2D(2) -> Flatten -> Dense(10)",
        layers=(Conv2D(16, 1), ReLU(), MaxPool2D(2), Flatten(), Dense(10)),
        recipe=_RECIPE,
    ),
}


def micro_cases(models: list[str]) -> list[str]:
    """The micro-benchmark cases: every layer type, then the given models."""
    return [f"layer:{name}" for name in LAYER_SPECS] + [f"model:{name}" for name in models]


def micro_spec(case: str) -> ModelSpec:
    """The spec a case ("layer:conv", "model:cnn") runs."""
    from mnist_nets.specs import get_spec

    kind, name = case.split(":", 1)
    return LAYER_SPECS[name] if kind == "layer" else get_spec(name)
