"""The banded one-channel convolution of the numpy backend (mnist_nets/backends/banded.py).

Against the im2col layer fused with the same pool (its reference): bitwise equal outputs
in float32 on real digits (the zeros of the band add exactly nothing), the same ties,
gradients in float64 within rounding and in float32 within float32's; finite differences
through the backend; poisoned buffers; and which layers the backend runs banded.
"""

import numpy as np
import pytest
from helpers import check_buffers_written_before_read, check_gradients, inputs, small_spec

from mnist_nets import specs
from mnist_nets.backends import banded, get_backend
from mnist_nets.backends import numpy_layers as nl
from mnist_nets.data import load_split
from mnist_nets.params import init_params
from mnist_nets.specs import Conv2D, Dense, Flatten, MaxPool2D, ReLU

BACKEND = get_backend("numpy")


def _pair(k, p, hw, f, dtype, seed=0):
    """An im2col conv and a banded conv (one input channel, no input gradient) with the
    same parameters, each with its fused 2x2 max-pool."""
    layer = Conv2D(f, k, padding=p)
    out = layer.output_shape((*hw, 1))
    wb = np.random.default_rng(seed).normal(size=(k * k + 1, f)).astype(dtype)
    args = ("conv", (*hw, 1), out, dtype, False, layer)
    pooled = MaxPool2D(2).output_shape(out)
    pair = []
    for conv in (
        nl.Conv2DLayer(*args, wb, np.zeros_like(wb), pool=2),
        banded.BandedConv2DLayer(*args, wb, np.zeros_like(wb)),
    ):
        pool = nl.MaxPool2DLayer("pool", out, pooled, dtype, False, MaxPool2D(2), conv.phases)
        pair.append((conv, pool))
    return pair


def _run(conv, pool, x, g):
    y = pool.forward(conv.forward(x, True), True).copy()
    conv.backward(pool.backward(g))
    return y, conv.dwb.copy()


SHAPES = [  # (kernel, padding, (h, w), filters): speedrun conv1, speedrun2 conv1, others
    (5, 0, (28, 28), 12),
    (5, 0, (24, 24), 8),
    (3, 1, (8, 12), 3),  # padded
    (1, 0, (6, 9), 2),  # 1x1, an odd edge the pool drops
]


@pytest.mark.parametrize("k, p, hw, f", SHAPES)
def test_the_layer_is_the_im2col_layer_in_float64(k, p, hw, f):
    """Pooled output and weight and bias gradients, float64, two batches (reused buffers).
    Not bitwise: OpenBLAS's dgemm for im2col's 3 columns does not add the terms in order
    (the float32 products of the networks do: ``test_float32_on_real_digits``)."""
    (ref, ref_pool), (band, band_pool) = _pair(k, p, hw, f, np.float64)
    rng = np.random.default_rng(1)
    for n in (3, 3):
        x = rng.normal(size=(n, *hw, 1))
        g = rng.normal(size=(n, *ref_pool.out_shape))
        y_want, dwb_want = _run(ref, ref_pool, x, g)
        y, dwb = _run(band, band_pool, x, g)
        np.testing.assert_allclose(y, y_want, rtol=0, atol=1e-14 * np.abs(y_want).max())
        np.testing.assert_allclose(dwb, dwb_want, rtol=0, atol=1e-12 * np.abs(dwb_want).max())
        y_conv = ref.to_nhwc(ref.forward(x, True))
        np.testing.assert_allclose(band.to_nhwc(band.forward(x, True)), y_conv, rtol=0,
                                   atol=1e-14 * np.abs(y_conv).max())  # fmt: skip


def test_a_layer_it_does_not_fit_is_refused():
    layer = Conv2D(2, 3)
    with pytest.raises(ValueError, match="does not fit"):
        banded.BandedConv2DLayer(
            "c", (8, 8, 1), layer.output_shape((8, 8, 1)), np.float64, False, layer,
            np.zeros((10, 2)), np.zeros((10, 2)),
        )  # fmt: skip


@pytest.mark.parametrize("name", ["speedrun", "speedrun2"])
def test_float32_on_real_digits(name):
    """The network's first layer on 64 real training digits in float32: the pooled output
    and the weight gradient within float32 rounding of im2col's.  The band's zeros add
    exactly 0 and the other terms come in im2col's order, so where the BLAS sums a dot
    product's terms in order the pooled output is bitwise im2col's (measured: OpenBLAS's
    AVX-512 kernels, this machine's); its AVX2 kernels group the sums otherwise, 1 ulp apart
    (9.5e-7 absolute, outputs of order 1).  The weight gradient's sums are grouped
    differently in any case (B diagonal entries of dKb per weight): measured 3-4e-7 of the
    largest.  Both are held to 2e-6 of the largest value (34 float32 ulps of it): a sum of
    K + 1 = 26 terms, rounded in any order, errs by at most ~26 ulps of the sum of the
    terms' magnitudes, which on these digits stays near the largest output."""
    spec = specs.get_spec(name)
    model = BACKEND.build(spec, init_params(spec, 0))
    i = 1 if isinstance(model.layers[0], nl.CropLayer) else 0
    conv, pool = model.layers[i], model.layers[i + 1]
    assert isinstance(conv, banded.BandedConv2DLayer)
    real = load_split("train", limit=64)
    x = real.x.astype(np.float32)
    if i:
        x = np.ascontiguousarray(model.layers[0].forward(x, True))
    (ref, ref_pool), _ = _pair(conv.k, conv.p, conv.in_shape[:2], conv.wb.shape[1], np.float32)
    ref.wb[...] = conv.wb
    g = np.random.default_rng(2).normal(size=(len(x), *pool.out_shape)).astype(np.float32)
    y_want, dwb_want = _run(ref, ref_pool, x, g)
    y, dwb = _run(conv, pool, x, g)
    for what, got, want in (("pooled output", y, y_want), ("weight gradient", dwb, dwb_want)):
        err = np.abs(got - want).max() / np.abs(want).max()
        assert err <= 2e-6, f"{what}: {err:.3g} of the largest value from im2col's"


def test_ties_go_to_the_first_window_element():
    """A 1x1 identity convolution: the band's pooling phases route a tied window's gradient
    to its first element in row-major order, as every backend does (docs/conventions.md)."""
    (ref, ref_pool), (band, band_pool) = _pair(1, 0, (4, 8), 1, np.float64)
    for conv in (ref, band):
        conv.wb[...] = [[1.0], [0.0]]
    x = np.ones((1, 4, 8, 1))
    x[0, 2:, 2:4, 0] = [[1, 3], [3, 3]]
    g = np.arange(1.0, 9.0).reshape(1, 2, 4, 1)
    y_want, dwb_want = _run(ref, ref_pool, x, g)
    y, dwb = _run(band, band_pool, x, g)
    np.testing.assert_array_equal(y, y_want)
    np.testing.assert_array_equal(dwb, dwb_want)
    won = [band_pool.won[o].reshape(2, 4) for o in range(4)]
    assert won[0][0].tolist() == [True] * 4  # all ones: the first element wins every window
    assert won[1][1, 1] and not won[0][1, 1]  # [[1, 3], [3, 3]]: the first 3, right of the 1


def test_finite_differences_through_the_backend():
    layers = [Conv2D(3, 3), MaxPool2D(2), ReLU(), Conv2D(2, 3, padding=1), ReLU()]
    spec = small_spec("banded", (10, 10, 1), [*layers, Flatten(), Dense(10)])
    model = BACKEND.build(spec, init_params(spec, 0))
    assert isinstance(model.layers[0], banded.BandedConv2DLayer)
    x, y = inputs((10, 10, 1), 3, 4)
    check_gradients(spec, x, y, seed=5)


def _banded_first(model):
    assert isinstance(model.layers[0], banded.BandedConv2DLayer)


def test_buffers_are_never_read_before_they_are_written(monkeypatch):
    """Poisoned fresh buffers (NaN) give the same gradients: the ones column and the band's
    zeros are set, the rest written before it is read."""
    spec = small_spec("buffers", (11, 9, 1), [Conv2D(2, 2), MaxPool2D(2), Flatten(), Dense(10)])
    x, y = inputs((11, 9, 1), 5, 3)
    x = x.astype(np.float64)
    check_buffers_written_before_read(spec, x, y, monkeypatch, check_model=_banded_first)


def test_the_choice_by_shape():
    """Banded: the first layers of the races (one channel, 12 and 8 filters); im2col: cnn's
    (20 filters, measured no faster), alexnet's (32), every layer after the first."""
    chosen = set()
    for name in specs.list_specs():
        spec = specs.get_spec(name)
        model = BACKEND.build(spec, init_params(spec, 0))
        chosen |= {
            (name, layer.name)
            for layer in model.layers
            if isinstance(layer, banded.BandedConv2DLayer)
        }
        assert not any(isinstance(lay, banded.BandedConv2DLayer) for lay in model.plain_layers)
    assert chosen == {("speedrun", "conv1"), ("speedrun2", "conv1")}
    conv = Conv2D(4, 5)
    assert banded.applies(conv, (28, 28, 1), (24, 24, 4), 2, False)
    assert not banded.applies(conv, (28, 28, 1), (24, 24, 4), 2, True)  # input gradient
    assert not banded.applies(conv, (28, 28, 2), (24, 24, 4), 2, False)  # two channels
    assert not banded.applies(conv, (26, 26, 1), (22, 22, 4), 2, False)  # 22 // 2 * 2 % 4
    assert not banded.applies(conv, (28, 28, 1), (24, 24, 4), 1, False)  # no pool
    assert not banded.applies(Conv2D(17, 5), (28, 28, 1), (24, 24, 17), 2, False)
