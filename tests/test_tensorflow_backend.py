"""The TensorFlow backend against hand-written numpy maths, the SGD formula and its seed.

The numpy reference here is deliberately naive (loops over output positions, float64)
so that it shares nothing with the backend but the spec's documented definitions:
symmetric padding then VALID, floor pooling, flatten in H, W, C order, ``x @ W + b``.
"""

from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

import numpy_reference  # noqa: E402
from spec_strategies import random_batch, random_params  # noqa: E402

from mnist_nets.backends import DeviceError, get_backend  # noqa: E402
from mnist_nets.data import load_split  # noqa: E402
from mnist_nets.params import init_params  # noqa: E402
from mnist_nets.specs import (  # noqa: E402
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    MaxPool2D,
    ModelSpec,
    Recipe,
    ReLU,
    get_spec,
    list_specs,
)
from mnist_nets.training import Diverged  # noqa: E402

RECIPE = Recipe(lr=0.1, epochs=1, batch_size=32)
RTOL = 1e-5  # float32 against float64, relative to the largest reference value


@pytest.fixture(scope="module")
def backend():
    return get_backend("tensorflow")


def make_spec(name, layers, input_shape, loss="cross_entropy"):
    return ModelSpec(name=name, layers=layers, recipe=RECIPE, loss=loss, input_shape=input_shape)


# Small specs that exercise every layer.  ``strided`` has a stride-2 conv with padding 1 on
# a 10x10 input, where TensorFlow's "SAME" would pad 0 before and 1 after: only symmetric
# padding matches the reference.  ``wide`` pads a 5x5 kernel by 1 (neither SAME nor VALID)
# and pools 3x3 every 2 pixels, dropping the last row and column.
DENSE = make_spec("dense", (Flatten(), Dense(16), ReLU(), Dense(10)), input_shape=(28, 28, 1))
STRIDED = make_spec(
    "strided",
    (
        Conv2D(4, 3, stride=2, padding=1),
        ReLU(),
        Conv2D(3, 3, padding="same"),
        MaxPool2D(2),
        Flatten(),
        Dense(10),
    ),
    input_shape=(10, 10, 2),
)
WIDE = make_spec(
    "wide",
    (
        Conv2D(3, 5, padding=1),
        ReLU(),
        MaxPool2D(3, stride=2),
        Flatten(),
        Dense(6),
        ReLU(),
        Dense(10),
    ),
    input_shape=(10, 10, 2),
)
TINY = make_spec(
    "tiny",
    (Conv2D(2, 3), ReLU(), MaxPool2D(2), Flatten(), Dense(10)),
    input_shape=(6, 6, 1),
)


def assert_close(got, ref, rtol=RTOL, what="", atol=0.0):
    got, ref = np.asarray(got, np.float64), np.asarray(ref, np.float64)
    assert got.shape == ref.shape, f"{what}: shape {got.shape} != {ref.shape}"
    err, scale = np.abs(got - ref).max(), np.abs(ref).max()
    assert err <= rtol * scale + atol, f"{what}: max error {err:.3g} > {rtol:g} x {scale:.3g}"


def assert_update(before, after, expected, what):
    """``after - before`` equals ``expected``, up to float32 rounding of the parameters."""
    rounding = 2 * np.finfo(np.float32).eps * np.abs(before).max()
    assert_close(after - before, expected, what=what, atol=rounding)


# ----------------------------------------------------------------- parameters and forward


@pytest.mark.parametrize("name", list_specs())
def test_build_export_round_trip_is_exact(backend, name):
    spec = get_spec(name)
    params = init_params(spec, seed=3)
    model = backend.build(spec, params)
    exported = backend.export_params(model)
    assert list(exported) == list(params)
    for pname, value in params.items():
        assert exported[pname].dtype == np.float32
        np.testing.assert_array_equal(exported[pname], value, err_msg=pname)
    exported[next(iter(exported))][...] = 7.0  # a copy: the model does not change
    again = backend.export_params(model)
    np.testing.assert_array_equal(again[next(iter(again))], params[next(iter(params))])


@pytest.mark.parametrize("spec", [DENSE, STRIDED, WIDE], ids=lambda s: s.name)
def test_forward_matches_numpy_reference(backend, spec):
    params = random_params(spec, seed=1)
    x, _ = random_batch(spec, 5, seed=2)
    model = backend.build(spec, params)
    ref = numpy_reference.activations(spec, params, x)
    assert_close(backend.forward(model, x), ref[-1], what="logits")
    acts = backend.activations(model, x)
    assert [a.shape for a in acts] == [(5, *s) for s in spec.output_shapes]
    for info, got, want in zip(spec.layer_infos, acts, ref, strict=True):
        assert_close(got, want, what=info.name)


def test_bad_inputs_name_the_problem(backend):
    model = backend.build(DENSE, random_params(DENSE, 0))
    with pytest.raises(ValueError, match=r"NHWC.*\(N, 28, 28, 1\)"):
        backend.forward(model, np.zeros((2, 28, 28), np.float32))
    with pytest.raises(ValueError, match=r"labels must be in 0\.\.9"):
        backend.loss_and_grads(model, np.zeros((2, 28, 28, 1), np.float32), np.array([0, 10]))


# ----------------------------------------------------------------- loss and gradients


@pytest.mark.parametrize("loss", ["cross_entropy", "mse"])
def test_loss_and_grads_match_finite_differences(backend, loss):
    spec = make_spec("tiny", TINY.layers, TINY.input_shape, loss=loss)
    params = random_params(spec, seed=4)
    x, y = random_batch(spec, 6, seed=5)
    value, grads = backend.loss_and_grads(backend.build(spec, params), x, y)
    assert value == pytest.approx(numpy_reference.loss(spec, params, x, y), rel=1e-5)
    assert list(grads) == list(params)
    eps = 1e-6
    for pname, p in params.items():
        p64 = p.astype(np.float64)
        numeric = np.empty(p.shape)
        for idx in np.ndindex(p.shape):
            shifted = {k: v.astype(np.float64) for k, v in params.items()}
            plus, minus = p64.copy(), p64.copy()
            plus[idx] += eps
            minus[idx] -= eps
            shifted[pname] = plus
            up = numpy_reference.loss(spec, shifted, x, y)
            shifted[pname] = minus
            numeric[idx] = (up - numpy_reference.loss(spec, shifted, x, y)) / (2 * eps)
        assert_close(grads[pname], numeric, rtol=1e-4, what=f"d {loss} / d {pname}")


# ----------------------------------------------------------------- training


def run_epoch(backend, model, staged, order, *, lr, momentum, batch_size, sync_every=50):
    calls = []
    backend.train_epoch(
        model,
        staged,
        np.asarray(order),
        lr=lr,
        momentum=momentum,
        batch_size=batch_size,
        sync_every=sync_every,
        on_sync=lambda first, losses, correct: calls.append((first, losses, correct)),
    )
    return calls


def test_full_batch_step_is_params_minus_lr_grads(backend):
    spec = STRIDED
    params = random_params(spec, seed=6)
    x, y = random_batch(spec, 8, seed=7)
    model = backend.build(spec, params)
    loss, grads = backend.loss_and_grads(model, x, y)
    calls = run_epoch(
        backend,
        model,
        backend.stage(model, x, y),
        np.arange(8),
        lr=0.1,
        momentum=0.0,
        batch_size=8,
    )
    assert len(calls) == 1 and calls[0][0] == 0
    assert calls[0][1] == pytest.approx([loss], rel=1e-6)
    predicted = np.argmax(backend.forward(backend.build(spec, params), x), axis=1)
    assert calls[0][2].tolist() == [int(np.sum(predicted == y))]
    after = backend.export_params(model)
    for name, p in params.items():
        assert_update(p, after[name], -0.1 * grads[name], what=name)


def test_two_momentum_steps_follow_the_formula(backend):
    spec = DENSE
    params = random_params(spec, seed=8)
    x, y = random_batch(spec, 6, seed=9)
    lr, m = 0.05, 0.9
    model = backend.build(spec, params)
    staged = backend.stage(model, x, y)
    _, g0 = backend.loss_and_grads(model, x, y)
    run_epoch(backend, model, staged, np.arange(6), lr=lr, momentum=m, batch_size=6)
    p1 = backend.export_params(model)
    _, g1 = backend.loss_and_grads(model, x, y)
    # a new learning rate in the second "epoch": v = m * v + g; p -= lr * v
    run_epoch(backend, model, staged, np.arange(6), lr=lr / 2, momentum=m, batch_size=6)
    p2 = backend.export_params(model)
    for name, p in params.items():
        assert_update(p, p1[name], -lr * g0[name], what=f"step 1 {name}")
        assert_update(p1[name], p2[name], -(lr / 2) * (m * g0[name] + g1[name]), what=name)


def test_models_of_one_network_share_graphs_not_variables(backend):
    """The compiled loop is traced once per network; each model trains its own variables."""
    spec = DROPOUT_NET
    params = random_params(spec, seed=14)
    x, y = random_batch(spec, 12, seed=15)
    a, b = backend.build(spec, params, seed=1), backend.build(spec, params, seed=1)
    staged_a, staged_b = backend.stage(a, x, y), backend.stage(b, x, y)
    run_epoch(backend, b, staged_b, np.arange(12), lr=0.1, momentum=0.9, batch_size=5)
    for name, value in backend.export_params(a).items():
        np.testing.assert_array_equal(value, params[name], err_msg=f"a's {name} moved")
    run_epoch(backend, a, staged_a, np.arange(12), lr=0.1, momentum=0.9, batch_size=5)
    after_a, after_b = backend.export_params(a), backend.export_params(b)
    assert any(not np.array_equal(after_b[n], params[n]) for n in params)
    for name in params:
        np.testing.assert_array_equal(after_a[name], after_b[name], err_msg=name)


def test_batches_follow_the_order_and_sync_every(backend):
    """With lr 0 nothing moves, so each batch's loss is that of its own samples."""
    spec = WIDE
    params = random_params(spec, seed=10)
    x, y = random_batch(spec, 10, seed=11)
    model = backend.build(spec, params)
    order = np.random.default_rng(0).permutation(10)
    calls = run_epoch(
        backend,
        model,
        backend.stage(model, x, y),
        order,
        lr=0.0,
        momentum=0.9,
        batch_size=3,
        sync_every=3,
    )
    assert [(first, len(losses)) for first, losses, _ in calls] == [(0, 3), (3, 1)]
    losses = np.concatenate([c[1] for c in calls])
    correct = np.concatenate([c[2] for c in calls])
    for i, start in enumerate(range(0, 10, 3)):
        idx = order[start : start + 3]
        want, _ = backend.loss_and_grads(model, x[idx], y[idx])
        assert losses[i] == pytest.approx(want, rel=1e-5)
        predicted = np.argmax(backend.forward(model, x[idx]), axis=1)
        assert correct[i] == np.sum(predicted == y[idx])
    labels = backend.predict(model, backend.stage(model, x))
    np.testing.assert_array_equal(labels, np.argmax(backend.forward(model, x), axis=1))


def test_dropout_is_inverted_seeded_and_untouched_by_stage(backend):
    spec = make_spec("drop", (Flatten(), Dense(10), Dropout(0.5)), input_shape=(28, 28, 1))
    params = random_params(spec, seed=12)
    x, y = random_batch(spec, 200, seed=13)
    eval_logits = backend.forward(backend.build(spec, params), x)
    a = backend.build(spec, params, seed=3)
    backend.stage(a, x, y)  # its warm-up step must leave the dropout generator as it was
    train_a = backend.forward(a, x, training=True)
    train_b = backend.forward(backend.build(spec, params, seed=3), x, training=True)
    np.testing.assert_array_equal(train_a, train_b)
    assert not np.array_equal(backend.forward(a, x, training=True), train_a)  # a new mask
    kept = train_a != 0  # each output is dropped (0) or kept and scaled by 1 / (1 - 0.5)
    np.testing.assert_allclose(train_a[kept], 2.0 * eval_logits[kept], rtol=1e-6)
    assert abs(kept.mean() - 0.5) < 0.05
    other = backend.forward(backend.build(spec, params, seed=4), x, training=True)
    assert not np.array_equal(other, train_a)
    unseeded = backend.build(spec, params, seed=None)  # allowed after op determinism is on
    assert backend.forward(unseeded, x, training=True).shape == (200, 10)


@pytest.fixture(scope="module")
def small_train():
    return load_split("train", limit=384)


DROPOUT_NET = make_spec(
    "dropout_net",
    (Flatten(), Dropout(0.2), Dense(32), ReLU(), Dropout(0.5), Dense(10)),
    input_shape=(28, 28, 1),
)
SMALL_CNN = make_spec(
    "small_cnn",
    (
        Conv2D(4, 5),
        ReLU(),
        MaxPool2D(2),
        Conv2D(8, 3, stride=2, padding=1),
        ReLU(),
        Flatten(),
        Dense(10),
    ),
    input_shape=(28, 28, 1),
)


@pytest.mark.parametrize("spec", [DROPOUT_NET, SMALL_CNN], ids=lambda s: s.name)
def test_same_seed_same_parameters(backend, spec, small_train):
    def trained(seed):
        model = backend.build(spec, init_params(spec, seed=0), seed=seed)
        history = backend.train(model, (small_train, None), 2, 0.05, 32, seed=1, momentum=0.9)
        assert history.final.loss < history.epochs[0].loss  # it learns
        return backend.export_params(model)

    first, second = trained(seed=5), trained(seed=5)
    for name in first:
        np.testing.assert_array_equal(first[name], second[name], err_msg=name)
    if spec.has_dropout:  # another seed, other dropout masks
        other = trained(seed=6)
        assert any(not np.array_equal(first[n], other[n]) for n in first)


def test_diverging_lr_raises_diverged(backend, small_train):
    spec = make_spec("mse_net", (Flatten(), Dense(10)), (28, 28, 1), loss="mse")
    model = backend.build(spec, init_params(spec, seed=0))
    with pytest.raises(Diverged, match="diverged"):
        backend.train(model, (small_train, None), 3, 1e6, 32, seed=0)


# ----------------------------------------------------------------- devices and versions


def test_cuda_without_gpu_is_a_clear_device_error(backend):
    if tf.config.list_physical_devices("GPU"):
        pytest.skip("a GPU is visible")
    assert backend.devices() == ["cpu"]
    with pytest.raises(DeviceError, match=r"'cuda'.*no GPU.*Use device 'cpu'"):
        backend.build(DENSE, random_params(DENSE, 0), device="cuda")


def test_versions_and_device_name(backend):
    versions = backend.versions()
    assert versions["tensorflow"] == tf.__version__
    assert {"numpy", "keras", "tf_intra_op_threads", "tf_inter_op_threads"} <= set(versions)
    assert backend.device_name("cpu")
