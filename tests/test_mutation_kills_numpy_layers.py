"""Sharper tests for mnist_nets.backends.numpy_layers, written to kill mutants that survived
`make mutation`.

Most are about the buffers a layer reuses from one batch to the next: a fresh model's
buffers come from ``np.empty`` and are usually zero, which hides a forgotten ``fill(0)``.
Here every reused buffer is poisoned (NaN, or True for masks) between two batches, so
anything the second batch fails to overwrite shows.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from mnist_nets import dropout
from mnist_nets.backends import get_backend
from mnist_nets.backends import numpy_layers as nl
from mnist_nets.params import init_params
from mnist_nets.specs import Conv2D, Dense, Dropout, Flatten, MaxPool2D, ModelSpec, Recipe, ReLU

BACKEND = get_backend("numpy")
RECIPE = Recipe(lr=0.1, epochs=1)
INIT_ONLY = {"xp", "pt", "p"}  # buffers whose set-once parts (zero border, ones) must persist


def _poison(model) -> None:
    for layer in [*model.layers, *(model._plain_layers or [])]:
        for name, a in layer.buf._arrays.items():
            if name in INIT_ONLY:
                continue
            a.fill(True if a.dtype == np.bool_ else np.nan)


def _spec(shape, *layers):
    return ModelSpec("t", (*layers, Flatten(), Dense(10)), RECIPE, input_shape=shape)


SPECS = {
    # pools that do not tile their input (an edge dropped), overlapping pools, stride > size
    "untiled pool": _spec((5, 7, 2), Conv2D(3, 1), MaxPool2D(2)),
    "tiled pool": _spec((4, 6, 2), Conv2D(3, 1), ReLU(), MaxPool2D(2)),
    "overlapping pool": _spec((6, 6, 1), Conv2D(2, 3, padding=1), MaxPool2D(3, stride=1)),
    "sparse pool": _spec((7, 7, 2), Conv2D(2, 2), MaxPool2D(1, stride=2)),
    "fused odd edge": _spec((7, 7, 1), Conv2D(2, 2, padding=1), ReLU(), MaxPool2D(2)),
    "padded stride": _spec((6, 5, 3), Conv2D(4, 3, stride=2, padding=2), ReLU(),
                           Conv2D(2, 2, padding=1)),
    "dropout": _spec((4, 4, 1), Conv2D(2, 3), Dropout(0.5)),
}


@pytest.mark.parametrize("name", SPECS)
def test_reused_buffers_give_the_same_numbers_as_fresh_ones(name):
    spec = SPECS[name]
    rng = np.random.default_rng(1)
    x1 = rng.normal(size=(3, *spec.input_shape))
    x2 = rng.normal(size=(4, *spec.input_shape))
    y1, y2 = rng.integers(0, 10, 3), rng.integers(0, 10, 4)
    params = init_params(spec, 2)
    params = {k: v + rng.normal(0, 0.1, v.shape) for k, v in params.items()}

    fresh = BACKEND.build(spec, params, dtype=np.float64, seed=5)
    loss_fresh, grads_fresh = BACKEND.loss_and_grads(fresh, x2, y2)
    out_fresh = BACKEND.forward(fresh, x2)
    acts_fresh = BACKEND.activations(fresh, x2)

    reused = BACKEND.build(spec, params, dtype=np.float64, seed=5)
    BACKEND.loss_and_grads(reused, x1, y1)
    BACKEND.forward(reused, x1)
    BACKEND.activations(reused, x1)
    reused.rng = np.random.default_rng(0)  # realign dropout's draws below
    fresh2 = BACKEND.build(spec, params, dtype=np.float64, seed=5)
    fresh2.rng = np.random.default_rng(0)
    for layer in [*reused.layers, *fresh2.layers]:
        if isinstance(layer, nl.DropoutLayer):
            layer.rng = np.random.default_rng(0)
    _poison(reused)
    loss_reused, grads_reused = BACKEND.loss_and_grads(reused, x2, y2)
    loss_fresh2, grads_fresh2 = BACKEND.loss_and_grads(fresh2, x2, y2)
    assert loss_reused == loss_fresh2
    for k in grads_fresh2:
        np.testing.assert_array_equal(grads_reused[k], grads_fresh2[k], err_msg=k)
    if not spec.has_dropout:
        assert loss_reused == loss_fresh
        for k in grads_fresh:
            np.testing.assert_array_equal(grads_reused[k], grads_fresh[k], err_msg=k)
    _poison(reused)
    np.testing.assert_array_equal(BACKEND.forward(reused, x2), out_fresh)
    _poison(reused)
    for a, b in zip(BACKEND.activations(reused, x2), acts_fresh, strict=True):
        np.testing.assert_array_equal(a, b)


def test_buffers_reuse_and_reallocate():
    buf = nl.Buffers(np.float32)
    calls = []
    a = buf.get("a", (2, 3), init=lambda arr: calls.append(arr.shape) or arr.fill(7))
    assert a.dtype == np.float32 and a.shape == (2, 3) and calls == [(2, 3)]
    assert (a == 7).all()
    assert buf.get("a", (2, 3), init=lambda arr: calls.append("again")) is a  # reused, no init
    assert calls == [(2, 3)]
    b = buf.get("a", (3, 2))
    assert b is not a and b.shape == (3, 2)
    c = buf.get("a", (3, 2), np.bool_)
    assert c is not b and c.dtype == np.bool_
    assert buf.get("a", (3, 2), np.bool_) is c
    assert buf.get("a", (3, 2)) is not c  # back to the default dtype
    assert buf.get("b", (3, 2), "float64").dtype == np.float64
    assert nl.Buffers("float64").dtype == np.float64


def test_dense_layer_without_input_gradient_returns_none():
    w, b = np.ones((3, 2)), np.zeros(2)
    dw, db = np.zeros((3, 2)), np.zeros(2)
    layer = nl.DenseLayer("d", (3,), (2,), np.float64, False, w, b, dw, db)
    layer.forward(np.arange(6.0).reshape(2, 3), True)
    assert layer.backward(np.ones((2, 2))) is None
    assert dw.tolist() == [[3, 3], [5, 5], [7, 7]] and db.tolist() == [2, 2]


def test_dropout_inference_and_rate_zero_pass_through():
    x = np.arange(6.0).reshape(2, 3)
    clock = SimpleNamespace(seed=0, dropout_step=1)
    layer = nl.DropoutLayer("d", (3,), (3,), np.float64, True, 0.5, 0, clock)
    assert layer.forward(x, training=False) is x and layer.keep is None
    assert layer.backward(x) is x
    zero = nl.DropoutLayer("d", (3,), (3,), np.float64, True, 0.0, 0, clock)
    assert zero.forward(x, training=True) is x and zero.keep is None
    y = layer.forward(np.ones((50, 3)), training=True)
    kept = layer.keep.copy()
    assert set(np.unique(y)) == {0.0, 2.0}
    np.testing.assert_array_equal(layer.backward(np.full((50, 3), 3.0)), kept * 6.0)
    layer.forward(x, training=False)
    assert layer.keep is None  # inference forgets the last mask


def test_losses_on_known_values():
    logits = np.array([[0.0, np.log(3.0)] + [-np.inf] * 8, [1000.0, 1000.0] + [-1000.0] * 8])
    loss, grad = nl.softmax_cross_entropy(logits, np.array([1, 0]))
    assert loss == pytest.approx((np.log(4 / 3) + np.log(2)) / 2)
    assert grad[0, :2] == pytest.approx([0.25 / 2, -0.25 / 2])
    assert grad[1, :2] == pytest.approx([-0.5 / 2, 0.5 / 2])
    out = np.zeros((2, 10))
    out[0, 3] = 2.0
    before = out.copy()
    loss, grad = nl.mean_squared_error(out, np.array([3, 0]))
    np.testing.assert_array_equal(out, before)  # the outputs are not changed
    assert loss == pytest.approx((1 + 1) / 20)
    assert grad[0, 3] == pytest.approx(2 * 1 / 20) and grad[1, 0] == pytest.approx(-2 / 20)
    assert grad.sum() == pytest.approx(0.0)
    assert nl.LOSSES == {"cross_entropy": nl.softmax_cross_entropy,
                         "mse": nl.mean_squared_error}


def test_sgd_with_and_without_scratch():
    p, g, v = np.ones(3, np.float32), np.array([1, 2, 3], np.float32), np.ones(3, np.float32)
    scratch = np.empty(3, np.float32)
    nl.sgd_momentum_step(p, g, v, 0.5, 0.25, scratch)
    assert v.tolist() == [1.25, 2.25, 3.25]
    assert p.tolist() == pytest.approx([1 - 0.625, 1 - 1.125, 1 - 1.625])
    assert p.dtype == v.dtype == np.float32
    before = p.copy()
    nl.sgd_momentum_step(p, g, v, 0.5, 0.0)  # plain SGD: param -= lr * grad, v not needed
    assert p.tolist() == pytest.approx((before - 0.5 * g).tolist())
    assert v.tolist() == [1.25, 2.25, 3.25]


def test_dropout_draws_the_shared_mask():
    """The mask is mnist_nets.dropout's for the clock's seed and step, the layer's index in
    the spec and the rows the layer sees (from ``first_row``)."""
    clock = SimpleNamespace(seed=3, dropout_step=7)
    layer = nl.DropoutLayer("d", (64,), (64,), np.float32, True, 0.5, 4, clock)
    layer.first_row = 5
    layer.forward(np.ones((8, 64), np.float32), training=True)
    expected = dropout.keep_mask(3, 7, 4, (8, 64), 0.5, first_row=5)
    np.testing.assert_array_equal(layer.keep, expected)
    assert layer.keep.dtype == np.bool_ and layer.name == "d"
