"""The numpy backend's hand-written math, checked against finite differences in float64.

Each layer type is checked inside a small spec (hypothesis draws its shapes, strides and
paddings) behind a *probe*, a layer with parameters placed before it: the probe's
gradient is made of the checked layer's input gradient, so one check covers both the
input and the parameter gradients.  Then the losses, the SGD step, the max-pool's
tie-breaking and the registered architectures.
"""

import dataclasses
import os
import signal
import time
from types import SimpleNamespace

import numpy as np
import numpy_reference
import pytest
from helpers import check_buffers_written_before_read, check_gradients, inputs, small_spec
from hypothesis import given, settings
from hypothesis import strategies as st

from mnist_nets import dropout, specs
from mnist_nets.backends import get_backend, numpy_backend
from mnist_nets.backends import numpy_layers as nl
from mnist_nets.data import load_split
from mnist_nets.params import init_params
from mnist_nets.specs import (
    Conv2D,
    Crop,
    Dense,
    Dropout,
    Flatten,
    MaxPool2D,
    ModelSpec,
    Recipe,
    ReLU,
    UpdateRule,
)

BACKEND = get_backend("numpy")
RECIPE = Recipe(lr=0.1, epochs=1)
EPS = 1e-6


@st.composite
def image_shapes(draw, min_side=1):
    return (
        draw(st.integers(min_side, 8)),
        draw(st.integers(min_side, 8)),
        draw(st.integers(1, 3)),
    )


@st.composite
def conv_specs(draw):
    """Small random networks of convolutions, ReLUs and max-pools in any valid order."""
    shape = (draw(st.integers(3, 10)), draw(st.integers(3, 10)), draw(st.integers(1, 3)))
    layers, current = [], shape
    for _ in range(draw(st.integers(1, 4))):
        kernel = draw(st.integers(1, 4))
        candidate = draw(
            st.sampled_from(
                [
                    Conv2D(
                        draw(st.integers(1, 4)),
                        kernel,
                        stride=draw(st.integers(1, 2)),
                        padding=draw(st.integers(0, kernel - 1)),
                    ),
                    MaxPool2D(draw(st.integers(1, 3)), draw(st.integers(1, 3))),
                    ReLU(),
                    Crop(draw(st.integers(1, 2))),
                ]
            )
        )
        try:
            current = candidate.output_shape(current)
        except specs.SpecError:
            continue
        layers.append(candidate)
    return small_spec("random", shape, [*layers, Flatten(), Dense(10)])


@settings(max_examples=30)
@given(spec=conv_specs(), seed=st.integers(0, 2**16))
def test_forward_matches_a_plain_reference(spec, seed):
    params = init_params(spec, seed)
    params = {n: p + np.float32(0.05) for n, p in params.items()}  # biases too
    x = np.random.default_rng(seed).normal(size=(2, *spec.input_shape)).astype(np.float32)
    model = BACKEND.build(spec, params, dtype=np.float64)
    expected = numpy_reference.activations(spec, params, x)
    np.testing.assert_allclose(BACKEND.forward(model, x), expected[-1], rtol=1e-10, atol=1e-12)
    activations = BACKEND.activations(model, x)
    assert [a.shape[1:] for a in activations] == spec.output_shapes
    for info, got, want in zip(spec.layer_infos, activations, expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12, err_msg=info.name)


@pytest.mark.parametrize("name", specs.list_specs())
def test_registered_forward_matches_a_plain_reference(name):
    spec = specs.get_spec(name)
    params = init_params(spec, 5)
    x = load_split("test", limit=4).x
    model = BACKEND.build(spec, params)  # float32, dropout off at inference
    logits = BACKEND.forward(model, x)
    assert logits.dtype == np.float32
    expected = numpy_reference.activations(spec, params, x)
    np.testing.assert_allclose(logits, expected[-1], rtol=1e-4, atol=1e-5)
    for info, got, want in zip(
        spec.layer_infos, BACKEND.activations(model, x), expected, strict=True
    ):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5, err_msg=info.name)


# --------------------------------------------------------------------------- layers


@settings(max_examples=25)
@given(data=st.data(), seed=st.integers(0, 2**16))
def test_conv2d_gradients(data, seed):
    kernel = data.draw(st.integers(1, 4), label="kernel")
    padding = data.draw(st.integers(0, kernel - 1), label="padding")
    stride = data.draw(st.integers(1, 3), label="stride")
    side = max(1, kernel - 2 * padding)
    h, w = data.draw(st.integers(side, 8)), data.draw(st.integers(side, 8))
    c = data.draw(st.integers(1, 3), label="channels")
    conv = Conv2D(data.draw(st.integers(1, 3)), kernel, stride=stride, padding=padding)
    probe = data.draw(st.booleans(), label="probe")  # without: the input gradient is skipped
    layers = [Conv2D(c, 1), conv] if probe else [conv]
    out_h, out_w, _ = conv.output_shape((h, w, c))
    # a following ReLU + max-pool fuses with the convolution: draw that path too
    after = data.draw(st.sampled_from(["none", "pool", "relu+pool"]), label="after")
    if after != "none" and min(out_h, out_w) >= 2:
        size = data.draw(st.integers(2, min(out_h, out_w, 3)), label="pool")
        layers += [ReLU()] if after == "relu+pool" else []
        layers += [MaxPool2D(size)]
    spec = small_spec("conv", (h, w, c), [*layers, Flatten(), Dense(10)])
    x, y = inputs((h, w, c), data.draw(st.integers(1, 3), label="batch"), seed)
    check_gradients(spec, x, y, seed)


@settings(max_examples=25)
@given(data=st.data(), seed=st.integers(0, 2**16))
def test_maxpool_gradients(data, seed):
    h, w, c = data.draw(image_shapes(min_side=2), label="shape")
    size = data.draw(st.integers(1, min(h, w, 3)), label="size")
    stride = data.draw(st.integers(1, 3), label="stride")  # overlapping, tiling or gapped
    # directly after a conv the pool fuses with it (when it tiles); a ReLU first is swapped
    # behind the pool; a Dropout(0) in between keeps the general path
    between = data.draw(st.sampled_from([[], [ReLU()], [Dropout(0.0)]]), label="between")
    layers = [Conv2D(c, 1), *between, MaxPool2D(size, stride), Flatten(), Dense(10)]
    spec = small_spec("pool", (h, w, c), layers)
    x, y = inputs((h, w, c), data.draw(st.integers(1, 3), label="batch"), seed)
    check_gradients(spec, x, y, seed)


@settings(max_examples=20)
@given(data=st.data(), seed=st.integers(0, 2**16))
def test_crop_gradients(data, seed):
    """Behind a probe the input gradient (the output's in the middle, zero on the border)
    is checked; first in the spec, it is skipped; a convolution after it reads its view."""
    h, w, c = data.draw(image_shapes(min_side=3), label="shape")
    border = data.draw(st.integers(1, (min(h, w) - 1) // 2), label="border")
    probe = data.draw(st.booleans(), label="probe")
    conv = data.draw(st.booleans(), label="conv after")
    layers = [Conv2D(c, 1)] if probe else []
    layers += [Crop(border)]
    layers += [Conv2D(2, 1), ReLU()] if conv else []
    spec = small_spec("crop", (h, w, c), [*layers, Flatten(), Dense(10)])
    x, y = inputs((h, w, c), data.draw(st.integers(1, 3), label="batch"), seed)
    check_gradients(spec, x, y, seed)
    if probe:  # the probe's gradient comes only through the crop's middle
        model = BACKEND.build(spec, init_params(spec, seed), dtype=np.float64)
        model.forward(x, True)
        crop = model.layers[1]
        g = np.ones((len(x), *crop.out_shape))
        dx = crop.backward(g)
        assert dx.sum() == g.sum() and dx[:, border : h - border, border : w - border].all()


@settings(max_examples=15)
@given(shape=image_shapes(), units=st.integers(1, 12), seed=st.integers(0, 2**16))
def test_dense_gradients(shape, units, seed):
    layers = [Flatten(), Dense(units), Dense(10)]  # the first Dense is the probe
    x, y = inputs(shape, 3, seed)
    check_gradients(small_spec("dense", shape, layers), x, y, seed)


@settings(max_examples=15)
@given(shape=image_shapes(), seed=st.integers(0, 2**16), loss=st.sampled_from(specs.LOSSES))
def test_relu_and_flatten_gradients(shape, seed, loss):
    layers = [Conv2D(shape[2], 1), ReLU(), Flatten(), Dense(7), ReLU(), Dense(10)]
    x, y = inputs(shape, 3, seed)
    check_gradients(small_spec("relu", shape, layers, loss=loss), x, y, seed)


@settings(max_examples=15)
@given(
    shape=st.tuples(st.integers(1, 5), st.integers(1, 5)),
    rate=st.floats(0.0, 0.9),
    seed=st.integers(0, 2**16),
)
def test_dropout_forward_and_gradient(shape, rate, seed):
    """Training mode: the same mask, scaled by 1 / (1 - rate), in both directions."""
    clock = SimpleNamespace(seed=seed, dropout_step=1)  # the same mask at every call
    layer = nl.DropoutLayer("dropout1", shape, shape, np.float64, True, rate, 0, clock)
    rng = np.random.default_rng(seed)
    x, g = rng.normal(size=(4, *shape)), rng.normal(size=(4, *shape))

    def forward(x):
        return layer.forward(x, training=True).copy()

    y = forward(x)
    kept = y != 0
    np.testing.assert_allclose(y[kept], x[kept] / (1 - rate), rtol=1e-12)
    np.testing.assert_allclose(layer.backward(g), np.where(kept, g / (1 - rate), 0), rtol=1e-12)
    # the layer is linear for a fixed mask, so its gradient is exact: <dL/dx, d> = L(x + d) - L(x)
    d = rng.normal(size=x.shape)
    assert np.sum(layer.backward(g) * d) == pytest.approx(np.sum(g * (forward(x + d) - y)))
    assert layer.forward(x, training=False) is x


def test_dropout_drops_at_the_rate():
    clock = SimpleNamespace(seed=0, dropout_step=1)
    layer = nl.DropoutLayer("d", (1000,), (1000,), np.float32, True, 0.3, 0, clock)
    y = layer.forward(np.ones((100, 1000), np.float32), training=True)
    assert y.dtype == np.float32
    assert np.mean(y == 0) == pytest.approx(0.3, abs=0.005)
    assert np.unique(y).tolist() == pytest.approx([0.0, 1 / 0.7])
    dropped = y == 0
    clock.dropout_step = 2  # the next step draws another mask
    assert not np.array_equal(layer.forward(np.ones((100, 1000), np.float32), True) == 0, dropped)


def test_maxpool_ties_go_to_the_first_element():
    """As in torch and TensorFlow: a window of equal values passes its gradient to the first."""
    layer = nl.MaxPool2DLayer("pool1", (4, 4, 1), (2, 2, 1), np.float64, True, MaxPool2D(2))
    x = np.ones((1, 4, 4, 1))
    x[0, 2:, 2:, 0] = [[1, 3], [3, 3]]  # one window's maximum is tied three times
    y = layer.forward(x, training=False)
    assert y[0, :, :, 0].tolist() == [[1, 1], [1, 3]]
    dx = layer.backward(np.full((1, 2, 2, 1), 2.0))[0, :, :, 0]
    assert dx.tolist() == [[2, 0, 2, 0], [0, 0, 0, 0], [2, 0, 0, 2], [0, 0, 0, 0]]


def test_fused_conv_and_pool_route_ties_to_the_first_element():
    """The fused path (conv output in pooling-phase order) breaks ties the same way."""
    spec = small_spec("fused", (4, 4, 1), [Conv2D(1, 1), MaxPool2D(2), Flatten(), Dense(10)])
    wb, dwb = np.array([[1.0], [0.0]]), np.zeros((2, 1))  # identity convolution
    conv = nl.Conv2DLayer(
        "conv1", (4, 4, 1), (4, 4, 1), np.float64, True, spec.layers[0], wb, dwb, 2
    )
    pool = nl.MaxPool2DLayer(
        "pool1", (4, 4, 1), (2, 2, 1), np.float64, True, MaxPool2D(2), conv.phases
    )
    x = np.ones((1, 4, 4, 1))
    x[0, 2:, 2:, 0] = [[1, 3], [3, 3]]
    assert pool.forward(conv.forward(x, False), False)[0, :, :, 0].tolist() == [[1, 1], [1, 3]]
    dx = conv.backward(pool.backward(np.full((1, 2, 2, 1), 2.0)))[0, :, :, 0]
    assert dx.tolist() == [[2, 0, 2, 0], [0, 0, 0, 0], [2, 0, 0, 2], [0, 0, 0, 0]]
    assert dwb[:, 0].tolist() == [2 * (1 + 1 + 1 + 3), 8]  # sum of x * g over the winners, sum of g


# --------------------------------------------------------------------------- losses


@settings(max_examples=20)
@given(
    logits=st.lists(st.floats(-30, 30), min_size=10, max_size=10).map(np.array),
    label=st.integers(0, 9),
    loss=st.sampled_from(specs.LOSSES),
)
def test_loss_values_and_gradients(logits, label, loss):
    z, y = np.stack([logits, logits[::-1]]), np.array([label, 9 - label])
    value, grad = nl.LOSSES[loss](z.copy(), y)
    assert value == pytest.approx(numpy_reference.loss_of(z, y, loss), rel=1e-12, abs=1e-12)
    numeric = np.zeros_like(z)
    for idx in np.ndindex(z.shape):
        dz = np.zeros_like(z)
        dz[idx] = EPS
        numeric[idx] = (
            numpy_reference.loss_of(z + dz, y, loss) - numpy_reference.loss_of(z - dz, y, loss)
        ) / (2 * EPS)
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-6)


@settings(max_examples=20)
@given(
    logits=st.lists(st.floats(-30, 30), min_size=10, max_size=10).map(np.array),
    label=st.integers(0, 9),
    smoothing=st.floats(0.01, 0.5),
)
def test_label_smoothing_values_and_gradients(logits, label, smoothing):
    """Cross-entropy against (1 - e) onehot + e / 10: the reference's value, and a
    gradient that matches central differences (the smoothed part included)."""
    z, y = np.stack([logits, logits[::-1]]), np.array([label, 9 - label])
    spec = small_spec("smooth", (1, 1, 1), [Flatten(), Dense(10)])
    spec = dataclasses.replace(spec, label_smoothing=smoothing)
    value, grad = nl.loss_function(spec)(z.copy(), y)

    def reference(z):
        return numpy_reference.loss_of(z, y, "cross_entropy", smoothing)

    assert value == pytest.approx(reference(z), rel=1e-12, abs=1e-12)
    numeric = np.zeros_like(z)
    for idx in np.ndindex(z.shape):
        dz = np.zeros_like(z)
        dz[idx] = EPS
        numeric[idx] = (reference(z + dz) - reference(z - dz)) / (2 * EPS)
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-6)


@settings(max_examples=10)
@given(shape=image_shapes(), seed=st.integers(0, 2**16), smoothing=st.floats(0.01, 0.3))
def test_label_smoothing_gradients_through_a_network(shape, seed, smoothing):
    layers = [Conv2D(2, 1), ReLU(), Flatten(), Dense(10)]
    spec = dataclasses.replace(small_spec("smooth", shape, layers), label_smoothing=smoothing)
    x, y = inputs(shape, 3, seed)
    check_gradients(spec, x, y, seed)


def test_cross_entropy_is_stable_for_huge_logits():
    z = np.zeros((2, 10), np.float32)
    z[:, 0] = 1e4
    loss, grad = nl.softmax_cross_entropy(z, np.array([0, 1]))
    assert loss == pytest.approx((0 + 1e4) / 2)
    assert np.isfinite(grad).all() and grad.dtype == np.float32
    np.testing.assert_allclose(grad[1, :2], [0.5, -0.5])


def test_mse_averages_over_batch_and_outputs():
    loss, grad = nl.mean_squared_error(np.zeros((4, 10), np.float32), np.array([0, 1, 2, 3]))
    assert loss == pytest.approx(0.1)  # one wrong output of 10, squared error 1
    assert grad[0, 0] == pytest.approx(-2 / 40) and grad[0, 1] == 0


# --------------------------------------------------------------------------- optimizer


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_sgd_momentum_step(momentum):
    rng = np.random.default_rng(0)
    p, g1, g2 = (rng.normal(size=5).astype(np.float32) for _ in range(3))
    params, velocity = p.copy(), np.zeros(5, np.float32)
    nl.sgd_momentum_step(params, g1, velocity, 0.1, momentum, np.empty(5, np.float32))
    nl.sgd_momentum_step(params, g2, velocity, 0.1, momentum, np.empty(5, np.float32))
    v1 = g1
    v2 = momentum * v1 + g2
    np.testing.assert_allclose(params, p - 0.1 * v1 - 0.1 * v2, rtol=1e-6)
    if momentum:  # without momentum no velocity is kept (it would be the gradient itself)
        np.testing.assert_allclose(velocity, v2, rtol=1e-6)
    assert params.dtype == velocity.dtype == np.float32


def _textbook_adam(params, grads_per_step, lr, betas, eps):
    """Kingma & Ba's Algorithm 1, line by line, in float64: the parameters after each step."""
    beta1, beta2 = betas
    m, v, p, out = np.zeros_like(params), np.zeros_like(params), params.copy(), []
    for t, g in enumerate(grads_per_step, start=1):
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        m_hat, v_hat = m / (1 - beta1**t), v / (1 - beta2**t)
        p = p - lr * m_hat / (np.sqrt(v_hat) + eps)
        out.append((p.copy(), m.copy(), v.copy()))
    return out


@pytest.mark.parametrize(
    ("lr", "betas", "eps"), [(0.01, (0.7, 0.9), 1e-8), (0.003, (0.9, 0.999), 1e-6)]
)
def test_adam_step_is_the_textbook_algorithm(lr, betas, eps):
    # Gradients over ten orders of magnitude, so that eps and both bias corrections move the
    # result (at 1e-9 eps dominates the denominator; at step 1 the corrections are largest),
    # and signs that change between steps, so that the moments are exercised.
    rng = np.random.default_rng(3)
    scale = 10.0 ** rng.uniform(-9, 1, size=40)
    p0 = rng.normal(size=40)
    grads = [rng.normal(size=40) * scale for _ in range(6)]
    params, m, v, scratch = p0.copy(), np.zeros(40), np.zeros(40), np.empty(40)
    for t, (g, (want_p, want_m, want_v)) in enumerate(
        zip(grads, _textbook_adam(p0, grads, lr, betas, eps), strict=True), start=1
    ):
        g_copy = g.copy()
        nl.adam_step(params, g, m, v, t, lr, betas, eps, scratch)
        np.testing.assert_array_equal(g, g_copy)  # the gradient is only read
        np.testing.assert_allclose(m, want_m, rtol=1e-12, atol=0)
        np.testing.assert_allclose(v, want_v, rtol=1e-12, atol=0)
        np.testing.assert_allclose(params, want_p, rtol=1e-12, atol=0)
    # float32 stays float32 and gives the float64 result to float32 rounding
    p32, m32, v32 = p0.astype(np.float32), np.zeros(40, np.float32), np.zeros(40, np.float32)
    g_before = [g.astype(np.float32) for g in grads]
    for t, g in enumerate(g_before, start=1):
        nl.adam_step(p32, g, m32, v32, t, lr, betas, eps, np.empty(40, np.float32))
    assert p32.dtype == m32.dtype == v32.dtype == np.float32
    want32 = _textbook_adam(p0, [g.astype(np.float64) for g in g_before], lr, betas, eps)[-1][0]
    np.testing.assert_allclose(p32, want32, rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------- speed-ups
# Each speed-up held against the plain version it stands for (tests/numpy_reference.py).


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_lean_sgd_gives_the_plain_update_bit_for_bit(momentum):
    rng = np.random.default_rng(1)
    p, v, g = (rng.normal(size=1000).astype(np.float32) for _ in range(3))
    fast_p, fast_v = p.copy(), (v if momentum else np.zeros_like(v)).copy()
    plain_p, plain_v = p.copy(), fast_v.copy()
    for _ in range(3):
        nl.sgd_momentum_step(fast_p, g, fast_v, 0.01, momentum, np.empty_like(p))
        numpy_reference.sgd_momentum_step(plain_p, g, plain_v, 0.01, momentum)
    np.testing.assert_array_equal(fast_p, plain_p)


@pytest.mark.parametrize("transposed", [True, False])
def test_weight_gradient_operand_order(transposed):
    rng = np.random.default_rng(2)
    P, G = rng.normal(size=(300, 26)), rng.normal(size=(300, 20))
    stored = np.ascontiguousarray(P.T).T if transposed else P  # as the conv layer keeps it
    out = np.empty((26, 20))
    nl.weight_gradient(stored, G, out, transposed, nl.Buffers(np.float64))
    np.testing.assert_allclose(out, numpy_reference.weight_gradient(P, G), rtol=1e-12)


def test_chunks_and_blocks_are_near_equal_so_the_buffers_keep_one_shape():
    """677 rows in parts of at most 300: 226, 226 and 225 (not 300, 300 and 77, which would
    give the layers' buffers a second shape); both in_chunks and blocked_step split so."""
    x = np.arange(677.0)[:, None]
    sizes = []
    out = nl.in_chunks(lambda part: sizes.append(len(part)) or part * 2, x, 300)
    assert sizes == [226, 226, 225] and np.array_equal(out, x * 2)
    assert [nl._near_equal_size(n, 300) for n in (300, 301, 600, 677)] == [300, 151, 300, 226]


@pytest.mark.parametrize("name", ["cnn", "alexnet"])
def test_inference_in_chunks_gives_the_logits_of_one_piece(name):
    spec = specs.get_spec(name)
    model = BACKEND.build(spec, init_params(spec, 0))
    x, _ = inputs((28, 28, 1), 2 * nl.INFERENCE_CHUNK + 37, 3)
    chunked = BACKEND.forward(model, x)
    np.testing.assert_allclose(
        chunked, numpy_reference.forward_in_one_piece(model, x), rtol=1e-5, atol=1e-6
    )


@pytest.mark.parametrize("n", [2 * 300 + 77, 2 * 300], ids=["uneven", "even"])
def test_full_batch_in_blocks_gives_the_gradient_of_one_piece(n, monkeypatch):
    """Three blocks of 226, 226 and 225 rows, or two of 300 (the last block ends exactly at
    the last row)."""
    spec = small_spec("fullbatch", (6, 6, 1), [Conv2D(3, 3), ReLU(), Flatten(), Dense(10)])
    block = 300
    x, y = inputs((6, 6, 1), n, 4)
    x = x.astype(np.float64)
    order = np.random.default_rng(5).permutation(n)
    plain = BACKEND.build(spec, init_params(spec, 0), dtype=np.float64)
    blocked = BACKEND.build(spec, init_params(spec, 0), dtype=np.float64)
    real = nl.blocked_step
    loss, correct = numpy_reference.full_batch_step(BACKEND, plain, x, y, order)
    got_loss, got_correct = nl.blocked_step(blocked, x, y, block)
    assert got_correct == correct and got_loss == pytest.approx(loss, rel=1e-12)
    np.testing.assert_allclose(blocked.flat_grad, plain.flat_grad, rtol=1e-10, atol=1e-14)
    # *speed: two cores*: the second half of the rows, in blocks of its own, aside
    halved = BACKEND.build(spec, init_params(spec, 0), dtype=np.float64)
    aside = []
    run_aside = lambda fn, *args: aside.append(len(args[1])) or _Done(fn(*args))  # noqa: E731
    got_loss, got_correct = nl.blocked_step(halved, x, y, block, run_aside)
    assert aside == [n // 2]
    assert got_correct == correct and got_loss == pytest.approx(loss, rel=1e-12)
    np.testing.assert_allclose(halved.flat_grad, plain.flat_grad, rtol=1e-10, atol=1e-14)
    assert not np.array_equal(halved.twin.flat_grad, halved.flat_grad)  # each half its own
    # and train_epoch takes this path for a batch that is the whole set, in any order
    # (in one block here: fewer rows than FULL_BATCH_BLOCK)
    blocked = BACKEND.build(spec, init_params(spec, 0), dtype=np.float64)
    calls = []
    monkeypatch.setattr(nl, "blocked_step", lambda *a: calls.append(1) or real(*a))
    reported = []
    BACKEND.train_epoch(
        blocked,
        (x, y),
        order,
        lr=0.1,
        update=UpdateRule("sgd"),
        batch_size=n,
        sync_every=1,
        on_sync=lambda first, losses, corrects: reported.append((losses[0], corrects[0])),
    )
    expected = plain.flat - 0.1 * plain.flat_grad
    np.testing.assert_allclose(blocked.flat, expected, rtol=1e-10, atol=1e-14)
    assert reported == [(pytest.approx(loss, rel=1e-12), correct)] and calls == [1]


def test_a_batch_in_two_halves_gives_the_gradient_of_one_piece(monkeypatch):
    """*Speed: two cores*: two halves side by side (an odd batch: 39 and 38 rows) give the
    loss, the count and the gradient of one pass; train_epoch takes that path for a batch
    with the work for it, and the same seed gives the same numbers bit for bit."""
    spec = small_spec(
        "halves", (6, 6, 1), [Conv2D(3, 3), MaxPool2D(2), ReLU(), Flatten(), Dense(10)]
    )
    x, y = inputs((6, 6, 1), 77, 4)
    x = x.astype(np.float64)
    plain = BACKEND.build(spec, init_params(spec, 0), dtype=np.float64)
    halved = BACKEND.build(spec, init_params(spec, 0), dtype=np.float64)
    loss, correct = plain.step(x, y, training=True)
    aside = []
    run_aside = lambda fn, *args: aside.append(args[1].shape) or _Done(fn(*args))  # noqa: E731
    got_loss, got_correct = nl.step_in_halves(halved, x, y, run_aside)
    assert aside == [(38, 6, 6, 1)]  # the second half went aside
    assert got_correct == correct and got_loss == pytest.approx(loss, rel=1e-12)
    np.testing.assert_allclose(halved.flat_grad, plain.flat_grad, rtol=1e-10, atol=1e-14)
    assert not np.array_equal(halved.twin.flat_grad, halved.flat_grad)  # each half its own
    # train_epoch halves a batch with at least HALVES_MIN_FLOPS of training, on a thread
    # (two batches of 77 here: a batch that is the whole set goes by blocked_step instead)
    assert not numpy_backend.in_halves(spec, 77)  # by default too little work to split
    assert numpy_backend.in_halves(specs.get_spec("speedrun"), 256)
    monkeypatch.setattr(nl, "HALVES_MIN_FLOPS", 77 * spec.flops_training)
    assert numpy_backend.in_halves(spec, 77) and not numpy_backend.in_halves(spec, 76)
    dense = small_spec("dense", (6, 6, 1), [Flatten(), Dense(10)])
    assert not numpy_backend.in_halves(dense, 10**6)  # BLAS has both cores already
    xx, yy = np.concatenate([x, x[::-1]]), np.concatenate([y, y[::-1]])
    calls, real = [], nl.step_in_halves
    monkeypatch.setattr(nl, "step_in_halves", lambda *a: calls.append(len(a[1])) or real(*a))
    trained = []
    for threshold in (77 * spec.flops_training, 77 * spec.flops_training, np.inf):
        monkeypatch.setattr(nl, "HALVES_MIN_FLOPS", threshold)
        model = BACKEND.build(spec, init_params(spec, 0), dtype=np.float64)
        BACKEND.train_epoch(
            model,
            (xx, yy),
            np.arange(154),
            lr=0.1,
            batch_size=77,
            sync_every=1,
            on_sync=lambda *a: None,
            update=UpdateRule("sgd"),
        )
        trained.append(model.flat.copy())
    assert calls == [77, 77, 77, 77]  # the one-piece run (threshold inf) made no call
    np.testing.assert_array_equal(trained[0], trained[1])  # the same numbers every time
    np.testing.assert_allclose(trained[0], trained[2], rtol=1e-10, atol=1e-14)
    assert not np.allclose(trained[0], plain.flat)  # two steps moved the parameters


class _Done:
    """A future that is already done."""

    def __init__(self, value):
        self.value = value

    def result(self):
        return self.value


def test_the_other_half_is_waited_for_and_its_error_raised():
    spec = small_spec("halves", (4, 4, 1), [Flatten(), Dense(10)])
    model = BACKEND.build(spec, init_params(spec, 0), dtype=np.float64)
    x, y = inputs((4, 4, 1), 8, 1)

    class Failed:
        def result(self):
            raise FloatingPointError("in the other half")

    with pytest.raises(FloatingPointError, match="other half"):
        nl.step_in_halves(model, x.astype(np.float64), y, lambda fn, *args: Failed())
    waited = []

    class Waited(_Done):
        def result(self):
            waited.append(True)
            return super().result()

    model.layers[-1].forward = lambda *a: (_ for _ in ()).throw(ValueError("this half"))
    with pytest.raises(ValueError, match="this half"):
        nl.step_in_halves(model, x.astype(np.float64), y, lambda fn, *a: Waited(fn(*a)))
    assert waited == [True]  # the main half failed, and the other was still waited for


def test_inference_after_training_runs_in_chunks_of_the_training_batch():
    """After training at batch 16, inference runs in chunks of 16 rows: the layers' buffers
    keep their training shapes (no second, larger set), and the logits are those of one
    piece."""
    spec = small_spec("chunks", (8, 8, 1), [Conv2D(4, 3), ReLU(), Flatten(), Dense(10)])
    model = BACKEND.build(spec, init_params(spec, 0))
    x, y = inputs((8, 8, 1), 48, 9)
    BACKEND.train_epoch(
        model,
        BACKEND.stage(model, x, y),
        np.arange(48),
        lr=0.01,
        batch_size=16,
        sync_every=9,
        on_sync=lambda *a: None,
        update=UpdateRule("sgd"),
    )
    shapes = {name: a.shape for name, a in model.layers[0].buf._arrays.items()}
    test_x, _ = inputs((8, 8, 1), 4 * 16, 10)
    chunked = BACKEND.forward(model, test_x)
    assert {name: a.shape for name, a in model.layers[0].buf._arrays.items()} == shapes
    assert shapes["y"][0] == 16 * 6 * 6
    np.testing.assert_allclose(
        chunked, numpy_reference.forward_in_one_piece(model, test_x), rtol=1e-5, atol=1e-6
    )


# --------------------------------------------------------------------------- architectures


@pytest.mark.parametrize("name", specs.list_specs())
def test_architecture_gradients(name):
    spec = specs.get_spec(name).without_dropout()
    real = load_split("train", limit=2)  # real digits: flat backgrounds make pooling ties
    x = np.concatenate([real.x, np.random.default_rng(1).random((1, 28, 28, 1), np.float32)])
    check_gradients(spec, x, np.array([*real.y, 7]), seed=11, per_param=3)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX fork")
@pytest.mark.filterwarnings("ignore:os.fork:RuntimeWarning")  # the child runs numpy only
def test_a_forked_child_trains_in_halves_with_a_thread_of_its_own():
    """The thread that runs the second half lives in the process that started it; a
    child forked after it (multiprocessing's "fork", mutation testing) has no copy of it
    and must start its own instead of waiting for ever on its parent's."""
    spec = specs.get_spec("speedrun")
    model = BACKEND.build(spec, init_params(spec, 0))
    x, y = inputs(spec.input_shape, 256, 2)
    assert numpy_backend.in_halves(spec, 256)
    step = lambda: nl.step_in_halves(model, x, y, numpy_backend._aside().submit)  # noqa: E731
    step()  # the parent's thread exists now
    pid = os.fork()
    if pid == 0:  # the child: one more halved step, then out without pytest's clean-up
        code = 1
        try:
            step()
            code = 0
        finally:
            os._exit(code)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.05)
    else:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        pytest.fail("the forked child hung on its parent's thread")
    assert os.waitstatus_to_exitcode(status) == 0


def test_blocks_and_halves_run_the_layers_in_training_mode(monkeypatch):
    """Dropout acts only in training mode: the blocked full-batch pass and both halves of a
    halved batch must ask every layer for it."""
    spec = small_spec(
        "modes", (6, 6, 1), [Conv2D(3, 3), ReLU(), Flatten(), Dropout(0.5), Dense(10)]
    )
    x, y = inputs((6, 6, 1), 40, 4)
    model = BACKEND.build(spec, init_params(spec, 0))
    modes = []
    for layer in [*model.layers, *model.twin.layers]:
        real = layer.forward
        layer.forward = lambda h, training, real=real: modes.append(training) or real(h, training)
    nl.blocked_step(model, x, y, 16)
    assert modes and all(m is True for m in modes)
    modes.clear()
    nl.blocked_step(model, x, y, 16, lambda fn, *args: _Done(fn(*args)))
    assert len(modes) == 2 * 2 * len(model.layers) and all(m is True for m in modes)
    modes.clear()
    nl.step_in_halves(model, x, y, lambda fn, *args: _Done(fn(*args)))
    assert len(modes) == 2 * len(model.layers) and all(m is True for m in modes)


def test_blas_has_one_thread_while_two_halves_run(monkeypatch):
    """*Speed: two cores*: each half runs its matrix products on one BLAS thread (two
    halves with two BLAS threads each fight over the two cores)."""
    from threadpoolctl import threadpool_info

    spec = specs.get_spec("speedrun")
    x, y = inputs(spec.input_shape, 2 * 64, 2)
    seen = []

    def recording(real):
        def call(*args):
            seen.append({i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"})
            return real(*args)

        return call

    monkeypatch.setattr(nl, "step_in_halves", recording(nl.step_in_halves))
    monkeypatch.setattr(nl, "HALVES_MIN_FLOPS", 64 * spec.flops_training)
    model = BACKEND.build(spec, init_params(spec, 0))
    BACKEND.train_epoch(
        model,
        (x, y),
        np.arange(len(x)),
        lr=0.01,
        batch_size=64,
        sync_every=1,
        on_sync=lambda *a: None,
        update=UpdateRule("sgd"),
    )
    assert seen == [{1}, {1}]
    # and for a batch that is the whole set (blocked_step, its halves side by side)
    seen.clear()
    monkeypatch.setattr(nl, "blocked_step", recording(nl.blocked_step))
    BACKEND.train_epoch(
        model,
        (x, y),
        np.arange(len(x)),
        lr=0.01,
        batch_size=len(x),
        sync_every=1,
        on_sync=lambda *a: None,
        update=UpdateRule("sgd"),
    )
    assert seen == [{1}]


@pytest.mark.parametrize(
    "shape, layers",
    [
        ((7, 7, 1), [Conv2D(2, 2), MaxPool2D(4), ReLU(), Flatten(), Dense(10)]),  # 2 rows left
        ((7, 9, 1), [Conv2D(2, 2), MaxPool2D(4), Flatten(), Dense(10)]),  # 6x8: rows left only
        ((9, 7, 1), [Conv2D(2, 2), MaxPool2D(4), Flatten(), Dense(10)]),  # 8x6: columns only
        ((7, 7, 1), [Conv2D(2, 2), MaxPool2D(3, 2), Flatten(), Dense(10)]),  # overlapping
        ((7, 7, 1), [Conv2D(2, 2), ReLU(), MaxPool2D(2), Flatten(), Dense(10)]),  # fused
        ((7, 7, 1), [Conv2D(3, 3, padding=1), MaxPool2D(2), Flatten(), Dropout(0.3), Dense(10)]),
        ((7, 7, 1), [Conv2D(2, 3, stride=2, padding=1), ReLU(), Flatten(), Dense(10)]),
    ],
    ids=[
        "pool-remainder",
        "pool-rows",
        "pool-columns",
        "pool-overlap",
        "pool-fused",
        "padded-dropout",
        "strided-padded",
    ],
)
@pytest.mark.parametrize("plain", [False, True], ids=["rewritten", "plain"])
def test_buffers_are_never_read_before_they_are_written(shape, layers, plain, monkeypatch):
    """*Speed: reused buffers*: every layer writes the whole of each buffer it later reads
    (or sets it once when allocated, as the zero borders of a padded input); two steps with
    poisoned fresh buffers give the gradients of the same steps with clean ones."""
    spec = small_spec("buffers", shape, layers)
    x, y = inputs(shape, 9, 3)
    x = x.astype(np.float64)
    check_buffers_written_before_read(spec, x, y, monkeypatch, plain=plain)


# --------------------------------------------------------------------------- sharper checks
# Written against mutants that survived `make mutation` (see tests/MUTATION.md).
# Most are about the buffers a layer reuses from one batch to the next: a fresh model's
# buffers come from ``np.empty`` and are usually zero, which hides a forgotten ``fill(0)``.
# Here every reused buffer is poisoned (NaN, or True for masks) between two batches, so
# anything the second batch fails to overwrite shows.


INIT_ONLY = {"xp", "pt", "p", "band", "kb"}  # set-once parts (zero border, ones, zeros)


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
    fresh2 = BACKEND.build(spec, params, dtype=np.float64, seed=5)
    # dropout masks follow the model's seed and step (mnist_nets.dropout): both draw the same
    assert reused.dropout_step == fresh2.dropout_step
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


@pytest.mark.parametrize("rows, inputs, outputs", [(600, 784, 10), (600, 784, 40), (64, 784, 10)])
def test_dense_weight_gradient_in_either_operand_order(rows, inputs, outputs):
    """Both operand orders of the weight gradient (*speed: GEMM operand order*): a long
    batch into a few outputs runs (g^T x)^T, the others x^T g; each is the textbook
    x^T g, and the input gradient and the bias gradient are untouched by the choice."""
    rng = np.random.default_rng(rows + outputs)
    w, b = rng.normal(size=(inputs, outputs)), rng.normal(size=outputs)
    dw, db = np.full((inputs, outputs), np.nan), np.full(outputs, np.nan)
    layer = nl.DenseLayer("d", (inputs,), (outputs,), np.float64, True, w, b, dw, db)
    narrow = outputs <= layer.NARROW_OUT and rows >= layer.LONG_BATCH
    assert layer.narrow == (outputs <= layer.NARROW_OUT)
    x, g = rng.normal(size=(rows, inputs)), rng.normal(size=(rows, outputs))
    layer.forward(x, True)
    dx = layer.backward(g)
    np.testing.assert_allclose(dw, x.T @ g, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(db, g.sum(axis=0), rtol=1e-12)
    np.testing.assert_allclose(dx, g @ w.T, rtol=1e-12)
    assert ("dwb_t" in layer.buf._arrays) == narrow  # the order the shape chose


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
