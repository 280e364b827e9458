"""Hypothesis strategies: valid specs of every kind, random canonical parameters, input batches.

A drawn spec is either a dense-only stack or a conv/pool stack (conv layers with varied
filters, kernels, strides and paddings, optional ReLU, max-pooling and border crops)
followed by Flatten, an optional hidden dense layer and the 10-way output, with either loss (and
cross-entropy with or without label smoothing).  Inputs
are small images (6x6 to 14x14, 1 to 3 channels) so that each example runs in
milliseconds in every backend.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from mnist_nets.specs import (
    LOSSES,
    Conv2D,
    Crop,
    Dense,
    Flatten,
    MaxPool2D,
    ModelSpec,
    Recipe,
    ReLU,
    SpecError,
)

RECIPE = Recipe(lr=0.05, epochs=1, batch_size=8, momentum=0.9)
HAND_RECIPE = Recipe(lr=0.1, epochs=1)  # the recipe of specs written out in a test


def make_spec(name, layers, input_shape=(28, 28, 1), loss="cross_entropy", recipe=HAND_RECIPE):
    """A spec written out in a test (not registered), from its name and layers."""
    return ModelSpec(name, tuple(layers), recipe, loss=loss, input_shape=input_shape)


def label_smoothings(loss: str):
    """No smoothing, or some (cross-entropy only)."""
    if loss != "cross_entropy":
        return st.just(0.0)
    return st.one_of(st.just(0.0), st.floats(0.05, 0.3))


@st.composite
def conv_stacks(draw) -> ModelSpec:
    size = draw(st.integers(6, 14))
    channels = draw(st.integers(1, 3))
    shape = (size, size, channels)
    layers = []
    if draw(st.booleans()):  # crop the border first (the input gradient is not needed)...
        layers.append(Crop(draw(st.integers(1, 2))))
        shape = layers[-1].output_shape(shape)
    for _ in range(draw(st.integers(1, 3))):
        kernel = draw(st.integers(1, 5))
        conv = Conv2D(
            filters=draw(st.integers(1, 6)),
            kernel=kernel,
            stride=draw(st.integers(1, 3)),
            padding=draw(st.integers(0, kernel - 1)),
        )
        try:
            shape = conv.output_shape(shape)
        except SpecError:
            continue  # too small for this kernel: draw the next block
        layers.append(conv)
        if draw(st.booleans()):
            layers.append(ReLU())
        if draw(st.booleans()):
            pool_size = draw(st.integers(1, 3))
            pool = MaxPool2D(pool_size, stride=draw(st.integers(1, pool_size)))
            try:
                shape = pool.output_shape(shape)
                layers.append(pool)
            except SpecError:
                pass
        if draw(st.booleans()):  # ... or after a layer with parameters (it is needed)
            try:
                shape = Crop(1).output_shape(shape)
                layers.append(Crop(1))
            except SpecError:
                pass
    if not layers:
        layers.append(Conv2D(filters=2, kernel=1))
    layers.append(Flatten())
    if draw(st.booleans()):
        layers += [Dense(draw(st.integers(1, 16))), ReLU()]
    layers.append(Dense(10))
    loss = draw(st.sampled_from(LOSSES))
    return ModelSpec(
        name="drawn_conv",
        layers=tuple(layers),
        recipe=RECIPE,
        loss=loss,
        input_shape=(size, size, channels),
        label_smoothing=draw(label_smoothings(loss)),
    )


@st.composite
def dense_stacks(draw) -> ModelSpec:
    size = draw(st.integers(4, 10))
    layers = [Flatten()]
    for _ in range(draw(st.integers(0, 3))):
        layers.append(Dense(draw(st.integers(1, 24))))
        if draw(st.booleans()):
            layers.append(ReLU())
    layers.append(Dense(10))
    loss = draw(st.sampled_from(LOSSES))
    return ModelSpec(
        name="drawn_dense",
        layers=tuple(layers),
        recipe=RECIPE,
        loss=loss,
        input_shape=(size, size, draw(st.integers(1, 2))),
        label_smoothing=draw(label_smoothings(loss)),
    )


specs = st.one_of(dense_stacks(), conv_stacks())


def random_params(spec: ModelSpec, seed: int) -> dict[str, np.ndarray]:
    """Canonical parameters with random weights *and* biases (init_params zeroes biases)."""
    rng = np.random.default_rng(seed)
    return {
        p.name: (rng.standard_normal(p.shape) * np.sqrt(2.0 / p.fan_in)).astype(np.float32)
        for p in spec.parameters
    }


def random_batch(spec: ModelSpec, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A float32 NHWC batch in [0, 1] and its labels."""
    rng = np.random.default_rng(seed + 1)
    x = rng.random((n, *spec.input_shape), dtype=np.float32)
    y = rng.integers(0, 10, n).astype(np.uint8)
    return x, y


@st.composite
def cases(draw, spec_strategy=specs):
    """(spec, params, x, y) for one equivalence check."""
    spec = draw(spec_strategy)
    seed = draw(st.integers(0, 2**31 - 1))
    n = draw(st.integers(1, 6))
    x, y = random_batch(spec, n, seed)
    return spec, random_params(spec, seed), x, y
