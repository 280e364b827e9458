"""The Winograd convolutions of the numpy backend (mnist_nets/backends/winograd.py).

The 1-D algorithms against the direct correlation, each layer against the im2col layer (its
reference) in float64 on every output layout, finite differences through the backend, the
float32 error on real digits against float64, reused buffers, and the per-layer choice.
"""

import numpy as np
import pytest
from helpers import (
    blas_keeps_equal_rows_equal,
    check_buffers_written_before_read,
    check_gradients,
    inputs,
    small_spec,
)

from mnist_nets import specs
from mnist_nets.backends import get_backend, winograd
from mnist_nets.backends import numpy_layers as nl
from mnist_nets.data import load_split
from mnist_nets.machine import numpy_blas
from mnist_nets.params import init_params
from mnist_nets.specs import Conv2D, Dense, Flatten, MaxPool2D, ReLU

BACKEND = get_backend("numpy")
ALGORITHMS = list(winograd.ALGORITHMS.values())
IDS = [a.name for a in ALGORITHMS]


@pytest.mark.parametrize("a", ALGORITHMS, ids=IDS)
def test_each_algorithm_is_the_correlation_it_stands_for(a):
    """``A^T [(G g) * (B^T d)] = y``, ``y[i] = sum_k d[i + k] g[k]``, for every unit ``d`` and
    ``g`` (so for all, by bilinearity): each transform entry is checked."""
    assert a.AT.shape == (a.m, a.alpha) and a.G.shape == (a.alpha, a.r)
    assert a.BT.shape == (a.alpha, a.alpha)
    for i in range(a.alpha):
        for k in range(a.r):
            d, g = np.eye(a.alpha)[i], np.eye(a.r)[k]
            want = [d[j : j + a.r] @ g for j in range(a.m)]
            np.testing.assert_allclose(a.AT @ ((a.G @ g) * (a.BT @ d)), want, atol=1e-14)


def _pair(a, k, p, hw, c, f, pool, input_grad=True, passes=winograd.PASSES):
    """An im2col layer and a Winograd layer (for ``passes``) with the same float64
    parameters."""
    layer = Conv2D(f, k, padding=p)
    out = layer.output_shape((*hw, c))
    wb = np.random.default_rng(0).normal(size=(k * k * c + 1, f))
    args = ("conv", (*hw, c), out, np.float64, input_grad, layer)
    ref = nl.Conv2DLayer(*args, wb, np.zeros_like(wb), pool=pool)
    win = winograd.WinogradConv2DLayer(
        *args, wb, np.zeros_like(wb), pool=pool, algorithm=a, passes=passes
    )
    return ref, win


# which products run by Winograd: each alone, all three, both backward passes
PASS_SETS = [("forward",), ("weight",), ("input",), winograd.PASSES, ("weight", "input")]

SHAPES = [  # (kernel, padding, (h, w), channels, filters, pool)
    (3, 1, (14, 14), 4, 5, 2),  # alexnet conv2's shape, small: pooled, tiles fit
    (3, 1, (7, 7), 3, 4, 1),  # alexnet conv3-4: odd, the last tiles reach past the edge
    (3, 1, (7, 7), 3, 4, 2),  # alexnet conv5: pooled, an odd edge dropped
    (3, 0, (12, 11), 3, 5, 2),  # speedrun conv2 (valid), not square
    (3, 0, (9, 6), 2, 2, 1),
    (5, 0, (12, 12), 2, 3, 2),  # cnn conv2
    (5, 2, (9, 10), 1, 3, 1),
    (5, 0, (11, 9), 2, 3, 2),
]


@pytest.mark.parametrize(
    "a, k, p, hw, c, f, pool",
    [
        (a, *shape)
        for a in ALGORITHMS
        for shape in SHAPES
        if a.r == shape[0] and a.m % shape[-1] == 0
    ],
    ids=lambda v: v.name if isinstance(v, winograd.Algorithm) else None,
)
@pytest.mark.parametrize("passes", PASS_SETS, ids="+".join)
def test_the_layer_is_the_im2col_layer(a, k, p, hw, c, f, pool, passes):
    """Output, input gradient, weight and bias gradients of the im2col layer, in float64, in
    either output layout (plain, or in pooling phases), with each product by Winograd alone,
    all three, and the default's backward passes; two batches, so reused buffers too."""
    ref, win = _pair(a, k, p, hw, c, f, pool, passes=passes)
    rng = np.random.default_rng(1)
    for n in (3, 3):
        x = rng.normal(size=(n, *hw, c))
        want = ref.forward(x, True).copy()
        got = win.forward(x, True)
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12 * np.abs(want).max())
        g = rng.normal(size=want.shape)
        dx_want = ref.backward(g).copy()
        dx = win.backward(g)
        assert dx.shape == x.shape
        np.testing.assert_allclose(dx, dx_want, rtol=0, atol=1e-12 * np.abs(dx_want).max())
        np.testing.assert_allclose(win.dwb, ref.dwb, rtol=0, atol=1e-11 * np.abs(ref.dwb).max())


def test_without_input_gradient_only_the_parameters_get_one():
    ref, win = _pair(winograd.F2_3, 3, 1, (6, 6), 2, 3, 2, input_grad=False)
    x = np.random.default_rng(2).normal(size=(2, 6, 6, 2))
    g = np.random.default_rng(3).normal(size=ref.forward(x, True).shape)
    win.forward(x, True)
    assert ref.backward(g) is None and win.backward(g) is None
    np.testing.assert_allclose(win.dwb, ref.dwb, rtol=1e-12)


def test_a_layer_it_does_not_fit_is_refused():
    layer = Conv2D(2, 3, stride=2)
    with pytest.raises(ValueError, match="does not fit"):
        winograd.WinogradConv2DLayer(
            "c", (8, 8, 1), layer.output_shape((8, 8, 1)), np.float64, True, layer,
            np.zeros((10, 2)), np.zeros((10, 2)), algorithm=winograd.F2_3,
        )  # fmt: skip


@pytest.fixture
def every_fitting_conv(monkeypatch):
    """Run ``algorithm`` for ``passes`` on every convolution it fits (not only where the
    choice puts it)."""

    def use(a, passes=winograd.PASSES):
        def choose(layer, in_shape, pool):
            fits = layer.stride == 1 and layer.kernel == a.r and a.m % pool == 0
            return (a, frozenset(passes)) if fits else None

        monkeypatch.setattr(winograd, "choice_for", choose)

    return use


@pytest.mark.parametrize("passes", [winograd.PASSES, ("input",)], ids="+".join)
@pytest.mark.parametrize("a", ALGORITHMS, ids=IDS)
def test_finite_differences_through_the_backend(a, passes, every_fitting_conv):
    every_fitting_conv(a, passes)
    k = a.r
    layers = [Conv2D(3, k, padding=k // 2), ReLU(), MaxPool2D(2), Conv2D(4, k, padding=k // 2)]
    spec = small_spec("winograd", (9, 8, 2), [*layers, ReLU(), Flatten(), Dense(10)])
    model = BACKEND.build(spec, init_params(spec, 0))
    assert sum(isinstance(layer, winograd.WinogradConv2DLayer) for layer in model.layers) == 2
    x, y = inputs((9, 8, 2), 3, 4)
    check_gradients(spec, x, y, seed=5)


@pytest.mark.parametrize(
    "layers",
    [
        [Conv2D(2, 3, padding=1), ReLU(), Conv2D(3, 3), ReLU(), MaxPool2D(2)],
        [Conv2D(2, 5), MaxPool2D(2), Conv2D(2, 5, padding=2), ReLU()],
    ],
    ids=["3x3", "5x5"],
)
@pytest.mark.parametrize("a", ALGORITHMS, ids=IDS)
def test_buffers_are_never_read_before_they_are_written(a, layers, every_fitting_conv, monkeypatch):
    """As the numpy layers' test of the same name: poisoned fresh buffers (NaN) give the same
    gradients, so the zero margins that tiles reach into are set, and the rest written."""
    every_fitting_conv(a)
    spec = small_spec("buffers", (11, 11, 1), [*layers, Flatten(), Dense(10)])
    x, y = inputs((11, 11, 1), 5, 3)
    x = x.astype(np.float64)
    check_buffers_written_before_read(spec, x, y, monkeypatch)


# Largest float32 error against float64 allowed for each algorithm, relative to the largest
# reference value, on the activations and gradients of real digits at initial weights.
# Measured: im2col up to 6e-7, F(2x2,3x3) up to 5e-7, F(4x4,3x3) up to 3.4e-6 (its points
# reach +-2, and B^T has entries up to 5), F(2x2,5x5) up to 1.7e-5 (weight gradient of a
# first layer, whose input has one channel and large flat regions).
FLOAT32_BOUND = {"im2col": 2e-6, "F(2x2,3x3)": 2e-6, "F(4x4,3x3)": 2e-5, "F(2x2,5x5)": 1e-4}


@pytest.mark.parametrize("a", ALGORITHMS, ids=IDS)
def test_float32_error_on_real_digits(a, every_fitting_conv, monkeypatch):
    """Each conv of alexnet (3x3) or cnn (5x5) in float32, against the float64 im2col layer,
    on real MNIST activations (the spec's earlier layers at initial weights) and the
    output gradients the backward pass brings them."""
    spec = specs.get_spec("alexnet" if a.r == 3 else "cnn").without_dropout()
    params = init_params(spec, 0)
    real = load_split("train", limit=8)
    monkeypatch.setattr(winograd, "ENABLED", False)
    ref = BACKEND.build(spec, params, dtype=np.float64)
    seen = {}
    for layer in ref.layers:
        if isinstance(layer, nl.Conv2DLayer):
            layer.forward = _recording(seen, layer, "x", layer.forward)
            layer.backward = _recording(seen, layer, "g", layer.backward)
    ref.step(real.x.astype(np.float64), real.y, True)
    every_fitting_conv(a)
    fast = {layer.name: layer for layer in BACKEND.build(spec, params).layers}
    checked = 0
    for name, io in seen.items():
        layer = fast[name]
        if not isinstance(layer, winograd.WinogradConv2DLayer):
            continue
        want_y = {lay.name: lay for lay in ref.layers}[name]
        y64 = want_y.forward(io["x"], True).copy()
        dx64 = want_y.backward(io["g"])
        y32 = layer.forward(io["x"].astype(np.float32), True)
        dx32 = layer.backward(io["g"].astype(np.float32))
        pairs = [(y32, y64), (layer.dwb, want_y.dwb)] + ([(dx32, dx64)] if dx64 is not None else [])
        for got, want in pairs:
            err = np.abs(got.astype(np.float64) - want).max() / np.abs(want).max()
            assert err <= FLOAT32_BOUND[a.name], f"{name}: relative error {err:.2e}"
        checked += 1
    assert checked >= 2


def _recording(seen, layer, key, fn):
    def run(*args):
        seen.setdefault(layer.name, {})[key] = args[0].copy()
        return fn(*args)

    return run


def test_the_choice_by_shape(monkeypatch):
    """Where the measurements put Winograd (docs/numpy-fast-convolutions.md): the input
    gradient of 3x3 stride-1 layers without a pool with at least 96 channels on each side
    (AlexNet's conv4), F(2x2,3x3), when switched on; never a forward pass; im2col everywhere
    else, for every layer when switched off (the default: see winograd.ENABLED), and in the
    plain layers (for ``activations``)."""
    spec = specs.get_spec("alexnet")
    default = BACKEND.build(spec, init_params(spec, 0))
    assert not any(isinstance(lay, winograd.WinogradConv2DLayer) for lay in default.layers)
    monkeypatch.setattr(winograd, "ENABLED", True)
    model = BACKEND.build(spec, init_params(spec, 0))
    chosen = {
        layer.name: (layer.a.name, set(layer.passes))
        for layer in model.layers
        if isinstance(layer, winograd.WinogradConv2DLayer)
    }
    assert chosen == {"conv4": ("F(2x2,3x3)", {"input"})}
    assert not any(isinstance(lay, winograd.WinogradConv2DLayer) for lay in model.plain_layers)
    for name in specs.list_specs():
        model = BACKEND.build(specs.get_spec(name), init_params(specs.get_spec(name), 0))
        for layer in model.layers:
            if isinstance(layer, winograd.WinogradConv2DLayer):
                assert "forward" not in layer.passes, (name, layer.name)
    monkeypatch.setattr(winograd, "ENABLED", False)
    model = BACKEND.build(spec, init_params(spec, 0))
    assert not any(isinstance(lay, winograd.WinogradConv2DLayer) for lay in model.layers)


@pytest.mark.parametrize("enabled", [False, True], ids=["default", "choice-on"])
@pytest.mark.parametrize("name", specs.list_specs())
def test_identical_patches_give_identical_outputs(name, enabled, monkeypatch):
    """Exact ties stay exact: in the training layers the backend builds for every registered
    network, by default and with the Winograd choice switched on, every conv layer gives
    bitwise equal outputs (per filter) at all the pixels whose patches are equal.  Here the
    input varies along one spatial axis only, so the pixels of a column (or of a row) away
    from the zero padding have equal patches.  (An F(4x4,3x3) forward pass fails: its data
    transform of a constant row, e.g. 4a - 5a + a, is not exactly 0 in float32.)

    A forward pass by patch matrix needs a BLAS that computes equal rows of a product
    equally (:func:`helpers.blas_keeps_equal_rows_equal`, probed at each layer's own
    product): a layer whose product fails the probe is left out, and where every layer's
    does (as with OpenBLAS's AVX2 kernels) the test is skipped, naming the kernels."""
    monkeypatch.setattr(winograd, "ENABLED", enabled)
    spec = specs.get_spec(name)
    model = BACKEND.build(spec, init_params(spec, 0))
    rng = np.random.default_rng(0)
    checked, unequal_rows = 0, []
    for layer in model.layers:
        if not isinstance(layer, nl.Conv2DLayer):
            continue
        h, w, c = layer.in_shape
        p = layer.p
        for axis in (1, 2):  # constant down the columns, then along the rows
            shape = [2, h, w, c]
            shape[axis] = 1
            x = np.broadcast_to(rng.normal(size=shape), (2, h, w, c)).astype(np.float32)
            out = layer.forward(np.ascontiguousarray(x), True)
            by_patches = "forward" not in getattr(layer, "passes", ())  # one product, P @ W
            if by_patches and not blas_keeps_equal_rows_equal(layer.P, out.size // len(layer.P)):
                unequal_rows.append(layer.name)
                break
            y = layer.to_nhwc(out)
            inner = np.moveaxis(y, axis, 1)[:, p : y.shape[axis] - p]  # patches inside
            assert inner.shape[1] > 1
            np.testing.assert_array_equal(inner, np.broadcast_to(inner[:, :1], inner.shape))
        else:
            checked += 1
    if unequal_rows and not checked:
        pytest.skip(
            f"numpy's BLAS ({numpy_blas()}) gives equal rows of a product unequal sums at the "
            f"products of {', '.join(unequal_rows)}: no layer on it can keep equal patches equal"
        )
    if any(isinstance(layer, Conv2D) for layer in spec.layers):
        assert checked + len(unequal_rows) >= 2


def test_mix_skips_zeros_and_accumulates():
    xs = [np.full(3, v) for v in (1.0, 2.0, 4.0)]
    outs = [np.full(3, 100.0), np.full(3, 100.0)]
    winograd.mix(np.array([[0, 1, -1], [3, 0, 0.5]]), xs, outs)
    assert outs[0].tolist() == [-2.0] * 3 and outs[1].tolist() == [5.0] * 3
    winograd.mix(np.array([[-1, -1, 0], [0, 0, 0]]), xs, outs, add=True)
    assert outs[0].tolist() == [-5.0] * 3 and outs[1].tolist() == [5.0] * 3
    winograd.mix(np.array([[-1, -1, 0], [0, 0, 0]]), xs, outs)
    assert outs[0].tolist() == [-3.0] * 3 and outs[1].tolist() == [0.0] * 3
