"""The numpy backend as a Backend: building, the interface's contracts, and training on real MNIST
(it learns, it is reproducible bit for bit, it reports divergence).  Its math is checked
against finite differences in test_numpy_layers.py."""

import subprocess
import sys

import numpy as np
import numpy_reference
import pytest

from mnist_nets.backends import DeviceError, get_backend
from mnist_nets.backends.registry import framework_modules
from mnist_nets.data import Split, epoch_order, load_split
from mnist_nets.params import ParamsError, init_params
from mnist_nets.specs import (
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    MaxPool2D,
    ModelSpec,
    Recipe,
    ReLU,
    UpdateRule,
    get_spec,
    race_specs,
)
from mnist_nets.training import Diverged

BACKEND = get_backend("numpy")

# a small network with every layer type, dropout included, quick to train
SMALL = ModelSpec(
    "small",
    (
        Conv2D(4, 3, stride=2, padding=1),
        ReLU(),
        MaxPool2D(2),
        Flatten(),
        Dropout(0.4),
        Dense(16),
        ReLU(),
        Dropout(0.2),
        Dense(10),
    ),
    Recipe(lr=0.05, momentum=0.9, batch_size=32, epochs=2),
)


@pytest.fixture(scope="module")
def train_2000():
    return load_split("train", limit=2000)


def train(spec, data, *, seed, build_seed=0, epochs=2, lr=None, **kwargs):
    r = spec.recipe
    model = BACKEND.build(spec, init_params(spec, seed), seed=build_seed)
    recipe = Recipe(lr=lr or r.lr, epochs=epochs, batch_size=r.batch_size, momentum=r.momentum)
    history = BACKEND.train(model, (data, None), recipe, seed, **kwargs)
    return model, history


# --------------------------------------------------------------------------- interface


def test_build_checks_device_params_and_dtype():
    spec = get_spec("perceptron")
    params = init_params(spec, 0)
    assert BACKEND.devices() == ["cpu"]
    with pytest.raises(DeviceError, match="not available to the numpy backend"):
        BACKEND.build(spec, params, device="cuda")
    with pytest.raises(ParamsError, match=r"dense1.weight has shape \(10, 784\)"):
        BACKEND.build(spec, {**params, "dense1.weight": params["dense1.weight"].T})
    with pytest.raises(ValueError, match="float32, float64"):
        BACKEND.build(spec, params, dtype=np.float16)
    assert "numpy" in BACKEND.versions()


def test_versions_name_the_blas_that_does_the_matrix_products():
    """The stored runs say which BLAS numpy was built with (numpy's own record of it)."""
    blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    assert BACKEND.versions() == {
        "numpy": np.__version__,
        "blas": f"{blas['name']} {blas['version']}",
    }


def test_forward_export_and_grads_follow_the_interface():
    spec = get_spec("cnn")
    params = init_params(spec, 0)
    model = BACKEND.build(spec, params)
    x = load_split("test", limit=5).x
    logits = BACKEND.forward(model, x)
    assert logits.shape == (5, 10) and logits.dtype == np.float32
    kept = logits.copy()
    BACKEND.forward(model, x[::-1])  # a later call must not overwrite earlier results
    np.testing.assert_array_equal(logits, kept)
    exported = BACKEND.export_params(model)
    assert list(exported) == list(spec.param_shapes)
    for name, value in exported.items():
        assert value.dtype == np.float32
        np.testing.assert_array_equal(value, params[name])
    exported["dense2.bias"] += 1  # a copy: the model does not change
    np.testing.assert_array_equal(BACKEND.forward(model, x), logits)
    loss, grads = BACKEND.loss_and_grads(model, x, np.arange(5))
    assert np.isfinite(loss) and loss > 0
    assert {n: g.shape for n, g in grads.items()} == spec.param_shapes
    assert all(np.abs(g).sum() > 0 for g in grads.values())
    np.testing.assert_array_equal(
        BACKEND.predict(model, BACKEND.stage(model, x), batch_size=2), np.argmax(logits, axis=1)
    )
    with pytest.raises(ValueError, match=r"NHWC arrays \(N, 28, 28, 1\)"):
        BACKEND.forward(model, x[:, :, :, 0])


def test_on_sync_reports_every_batch_and_propagates_errors():
    spec = get_spec("perceptron")
    model = BACKEND.build(spec, init_params(spec, 0))
    data = load_split("train", limit=100)
    staged = BACKEND.stage(model, data.x, data.y)
    calls = []

    def on_sync(first, losses, correct):
        calls.append((first, list(losses), list(correct)))

    kwargs = dict(lr=0.1, update=UpdateRule("sgd", 0.9), batch_size=10)
    BACKEND.train_epoch(model, staged, np.arange(100), **kwargs, sync_every=3, on_sync=on_sync)
    assert [(first, len(losses)) for first, losses, _ in calls] == [(0, 3), (3, 3), (6, 3), (9, 1)]
    correct = [c for _, _, cs in calls for c in cs]
    assert all(0 <= c <= 10 for c in correct) and sum(correct) > 0

    class Stop(Exception):
        pass

    def stop(first, losses, correct):
        raise Stop

    with pytest.raises(Stop):
        BACKEND.train_epoch(model, staged, np.arange(100), **kwargs, sync_every=5, on_sync=stop)


def test_float64_models_keep_float64():
    spec = get_spec("dnn")
    model = BACKEND.build(spec, init_params(spec, 0), dtype=np.float64)
    x = load_split("test", limit=3).x
    assert BACKEND.forward(model, x).dtype == np.float64
    assert (
        BACKEND.loss_and_grads(model, x, np.zeros(3, int))[1]["dense1.weight"].dtype == np.float64
    )
    assert BACKEND.export_params(model)["dense1.weight"].dtype == np.float64


def test_no_framework_is_imported():
    code = (
        "import sys\nfrom mnist_nets.backends import get_backend\nget_backend('numpy')\n"
        f"print(sorted(m for m in {framework_modules()!r} if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


# --------------------------------------------------------------------------- training


def test_overfits_256_real_images():
    data = load_split("train", limit=256)
    spec = get_spec("dnn").with_recipe(batch_size=32)
    model, history = train(spec, data, seed=0, epochs=10)
    assert history.epochs[0].train_accuracy < 0.9
    assert np.mean(BACKEND.predict(model, BACKEND.stage(model, data.x)) == data.y) == 1.0


def test_loss_falls_within_one_epoch(train_2000):
    spec = get_spec("cnn")
    model = BACKEND.build(spec, init_params(spec, 0))
    losses = []
    BACKEND.train_epoch(
        model,
        BACKEND.stage(model, train_2000.x, train_2000.y),
        epoch_order(0, 0, 2000),
        lr=spec.recipe.lr,
        batch_size=spec.recipe.batch_size,
        sync_every=1,
        on_sync=lambda first, batch_losses, correct: losses.extend(batch_losses),
        update=UpdateRule("sgd", spec.recipe.momentum),
    )
    assert len(losses) == 32
    assert np.mean(losses[:5]) > 2.0  # chance level: log(10) = 2.3
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5])


def test_same_seed_same_result_bit_for_bit(train_2000):
    data = Split(train_2000.x[:640], train_2000.y[:640])
    first, h1 = train(SMALL, data, seed=3, build_seed=5)
    second, h2 = train(SMALL, data, seed=3, build_seed=5)
    other_dropout, _ = train(SMALL, data, seed=3, build_seed=6)
    a, b = BACKEND.export_params(first), BACKEND.export_params(second)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    assert [r.loss for r in h1.epochs] == [r.loss for r in h2.epochs]
    c = BACKEND.export_params(other_dropout)  # the dropout masks follow the build seed
    assert not np.array_equal(a["dense1.weight"], c["dense1.weight"])


def test_divergence_names_epoch_and_batch():
    data = load_split("train", limit=512)
    spec = get_spec("dnn").with_recipe(batch_size=32)
    # where the losses first stop being finite, watched batch by batch (the run below
    # draws its weights and data order from seed 1 too)
    model = BACKEND.build(spec, init_params(spec, 1))
    losses = []
    BACKEND.train_epoch(
        model,
        BACKEND.stage(model, data.x, data.y),
        epoch_order(1, 0, 512),
        lr=1e3,
        batch_size=32,
        sync_every=1,
        on_sync=lambda first, batch_losses, correct: losses.extend(batch_losses),
        update=UpdateRule("sgd", 0.9),
    )
    bad = int(np.flatnonzero(~np.isfinite(losses))[0]) + 1
    assert 1 < bad < 16  # diverges, but not at once: the batch number is worth checking
    with pytest.raises(Diverged, match=rf"at epoch 1, batch {bad} \(learning rate 1000\)") as exc:
        train(spec, data, seed=1, epochs=3, lr=1e3)
    assert (exc.value.epoch, exc.value.batch) == (1, bad)


@pytest.mark.filterwarnings("error")  # a diverging run is told by its losses, not by warnings
@pytest.mark.parametrize("model_name", ["dnn", "single_neuron"])
def test_a_diverging_epoch_reports_non_finite_losses_without_warnings(model_name):
    spec = get_spec(model_name)
    model = BACKEND.build(spec, init_params(spec, 0))
    data = load_split("train", limit=64)
    reported = []
    BACKEND.train_epoch(
        model,
        BACKEND.stage(model, data.x, data.y),
        np.arange(64),
        lr=1e30,
        batch_size=8,
        sync_every=1,
        on_sync=lambda first, losses, correct: reported.extend(losses),
        update=UpdateRule("sgd"),
    )
    assert len(reported) == 8 and not np.all(np.isfinite(reported))
    model = BACKEND.build(spec, init_params(spec, 0))
    whole = []  # one batch of the whole set: blocks in two halves, the second on a thread
    for _ in range(3):
        BACKEND.train_epoch(
            model,
            BACKEND.stage(model, data.x, data.y),
            np.arange(64),
            lr=1e30,
            batch_size=64,
            sync_every=1,
            on_sync=lambda first, batch, correct: whole.extend(batch),
            update=UpdateRule("sgd"),
        )
    assert not np.all(np.isfinite(whole))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("model_name", ["cnn", "alexnet", *race_specs()])
def test_every_layer_computes_in_the_model_s_dtype(model_name, dtype):
    """No layer slips into float64 in a float32 model (twice the memory and time), nor the
    other way round, in training or in evaluation."""
    spec = get_spec(model_name)
    model = BACKEND.build(spec, init_params(spec, 0), dtype=dtype)
    x = load_split("test", limit=4).x.astype(dtype)
    assert [a.dtype for a in BACKEND.activations(model, x)] == [np.dtype(dtype)] * len(spec.layers)
    h = x
    for layer in model.layers:
        h = layer.forward(h, True)
        assert h.dtype == dtype, type(layer).__name__
    other = np.float64 if dtype == np.float32 else np.float32
    staged, _ = BACKEND.stage(model, x.astype(other))
    assert staged.dtype == dtype and staged.flags.c_contiguous  # inputs come in converted
    assert {a.dtype for a in (model.flat, model.flat_grad, model.velocity, model.adam_m,
                              model.adam_v, model.scratch)} == {np.dtype(dtype)}  # fmt: skip
    many = np.repeat(x, 70, axis=0)  # 280 rows: inference in chunks of the layers' rows
    assert BACKEND.forward(model, many).dtype == dtype
    assert model.forward(np.ascontiguousarray(many[:3]), False).dtype == dtype


def test_a_conv_followed_by_a_tiling_pool_runs_fused():
    """*Speed: conv and pool fused*: the convolutions of cnn and of every race (speedrun,
    speedrun2) write their output in pooling-phase order for the max-pool of size 2
    (stride 2) after them."""

    def fused(name):
        model = BACKEND.build(get_spec(name), init_params(get_spec(name), 0))
        convs = [layer for layer in model.layers if hasattr(layer, "transposed")]
        pools = [layer for layer in model.layers if hasattr(layer, "phased")]
        return [c.pool for c in convs], [p.phased for p in pools]

    assert fused("cnn") == ([2, 2], [True, True])
    for name in race_specs():
        assert fused(name) == ([2, 2], [True, True]), name


def test_halves_take_every_batch_of_two_rows_or_more(monkeypatch):
    """With the threshold at 0: batches of 2, 2 and 1 rows; the two of 2 rows go as
    halves, the last (one row has no halves) in one piece, and every loss is finite."""
    from mnist_nets.backends import numpy_backend
    from mnist_nets.backends import numpy_layers as nl

    spec = get_spec("cnn")
    monkeypatch.setattr(nl, "HALVES_MIN_FLOPS", 0)
    assert numpy_backend.in_halves(spec, 2) and not numpy_backend.in_halves(spec, 1)
    halved, real = [], nl.step_in_halves
    monkeypatch.setattr(nl, "step_in_halves", lambda *a: halved.append(len(a[1])) or real(*a))
    model = BACKEND.build(spec, init_params(spec, 0))
    data = load_split("train", limit=5)
    losses = []
    BACKEND.train_epoch(
        model,
        BACKEND.stage(model, data.x, data.y),
        np.arange(5),
        lr=0.01,
        batch_size=2,
        sync_every=1,
        on_sync=lambda first, batch, correct: losses.extend(batch),
        update=UpdateRule("sgd"),
    )
    assert halved == [2, 2] and len(losses) == 3 and np.all(np.isfinite(losses))


def _dnn_in_float64(images: int):
    """``dnn`` in float64 for the update tests: ``(params, model, probe, data, staged,
    names)``, ``probe`` a second model to take gradients at given parameters."""
    spec = get_spec("dnn")
    params = init_params(spec, 0)
    model = BACKEND.build(spec, params, dtype=np.float64)
    probe = BACKEND.build(spec, params, dtype=np.float64)
    data = load_split("train", limit=images)
    staged = BACKEND.stage(model, data.x, data.y)
    return params, model, probe, data, staged, [p.name for p in spec.parameters]


def test_train_epoch_with_adam_is_the_textbook_algorithm_over_calls():
    """numpy's ``train_epoch`` with Adam (float64): every batch's update is Kingma & Ba's,
    with the batch's own learning rate and the step count carried from one call to the
    next, against gradients taken at the same parameters by ``loss_and_grads``; and each
    ``on_sync`` gets as many correct counts as losses."""
    from mnist_nets.specs import UpdateRule

    params, model, probe, data, staged, names = _dnn_in_float64(20)
    rule = UpdateRule("adam", 0.0, (0.8, 0.95), 1e-6)
    p = np.concatenate([params[k].astype(np.float64).ravel() for k in names])
    m, v, t = np.zeros_like(p), np.zeros_like(p), 0
    for lrs in ([1e-3, 2e-3, 3e-3], [4e-3, 5e-3]):  # two calls: batches of 8, 8, 4; 8, 8
        order = np.arange(8 * len(lrs) - (4 if len(lrs) == 3 else 0))
        synced = []
        BACKEND.train_epoch(model, staged, order, lr=np.array(lrs), update=rule,
                            batch_size=8, sync_every=2,
                            on_sync=lambda first, losses, correct, synced=synced: synced.append(
                                (first, len(losses), len(correct))))  # fmt: skip
        assert synced == ([(0, 2, 2), (2, 1, 1)] if len(lrs) == 3 else [(0, 2, 2)])
        for b, lr in enumerate(lrs):
            idx = order[b * 8 : (b + 1) * 8]
            offset = 0
            for k in names:
                size = probe.params[k].size
                probe.params[k][...] = p[offset : offset + size].reshape(probe.params[k].shape)
                offset += size
            _, grads = BACKEND.loss_and_grads(probe, data.x[idx], data.y[idx])
            g = np.concatenate([grads[k].ravel() for k in names])
            t += 1
            m = 0.8 * m + 0.2 * g
            v = 0.95 * v + 0.05 * g * g
            p = p - lr * (m / (1 - 0.8**t)) / (np.sqrt(v / (1 - 0.95**t)) + 1e-6)
        np.testing.assert_allclose(model.flat, p, rtol=1e-9, atol=1e-12)
    assert model.adam_t == t == 5


@pytest.mark.parametrize("momentum", [0.0, 0.9])
@pytest.mark.parametrize("calls", [([0.05, 0.02, 0.03], [0.01, 0.04]), ([0.05, 0.0, 0.03],)])
def test_train_epoch_with_sgd_is_the_textbook_update_over_calls(momentum, calls):
    """numpy's ``train_epoch`` with SGD (float64), whose rate is folded into the gradient
    (*speed: the rate in the gradient*, the velocity held as ``lr * v`` within a call):
    every batch's update is ``v = momentum * v + grad;  p -= lr * v`` with the batch's own
    rate, against gradients taken at the same parameters by ``loss_and_grads``; the
    velocity is ``v`` again after each call, rates change within and between calls, and a
    call with a rate of 0 (which cannot be folded) gives the same update."""
    params, model, probe, data, staged, names = _dnn_in_float64(24)
    p = np.concatenate([params[k].astype(np.float64).ravel() for k in names])
    v = np.zeros_like(p)
    for lrs in calls:
        order = np.arange(8 * len(lrs))
        BACKEND.train_epoch(
            model,
            staged,
            order,
            lr=np.array(lrs),
            batch_size=8,
            sync_every=1,
            on_sync=lambda *a: None,
            update=UpdateRule("sgd", momentum),
        )
        for b, lr in enumerate(lrs):
            probe.flat[...] = p
            _, grads = BACKEND.loss_and_grads(probe, data.x[order[b * 8 : (b + 1) * 8]],
                                              data.y[order[b * 8 : (b + 1) * 8]])  # fmt: skip
            g = np.concatenate([grads[k].ravel() for k in names])
            numpy_reference.sgd_momentum_step(p, g, v, lr, momentum)  # the plain update
        np.testing.assert_allclose(model.flat, p, rtol=1e-9, atol=1e-12)
        if momentum:
            np.testing.assert_allclose(model.velocity, v, rtol=1e-9, atol=1e-12)


def test_a_failing_epoch_leaves_the_velocity_in_its_own_units():
    """The velocity, held as ``lr * v`` while an SGD epoch runs, is ``v`` again when the
    epoch ends by an error (here ``on_sync`` raising after the second batch)."""
    _, model, probe, data, staged, names = _dnn_in_float64(32)

    def stop(first, losses, correct):
        if first == 1:
            raise RuntimeError("stop")

    with pytest.raises(RuntimeError, match="stop"):
        BACKEND.train_epoch(
            model,
            staged,
            np.arange(32),
            lr=np.array([0.5, 0.1, 0.2, 0.3]),
            batch_size=8,
            sync_every=1,
            on_sync=stop,
            update=UpdateRule("sgd", 0.9),
        )
    g0 = BACKEND.loss_and_grads(probe, data.x[:8], data.y[:8])[1]
    g0 = np.concatenate([g0[k].ravel() for k in names])
    probe.flat[...] -= 0.5 * g0
    g1 = BACKEND.loss_and_grads(probe, data.x[8:16], data.y[8:16])[1]
    want = 0.9 * g0 + np.concatenate([g1[k].ravel() for k in names])
    np.testing.assert_allclose(model.velocity, want, rtol=1e-9, atol=1e-12)


def test_the_second_half_draws_its_dropout_masks_from_the_shared_source():
    """*Speed: two cores* runs a batch's halves side by side: the second half's dropout
    layers draw no random numbers of their own (two threads drawing from one generator would
    make a run depend on timing); like the first half's, they read the model's seed and step
    and the layer's index in the spec, and their rows from ``first_row``, so that a batch run
    in halves gets the very masks of :func:`mnist_nets.dropout.keep_mask` for the whole batch."""
    from mnist_nets import dropout
    from mnist_nets.backends import numpy_layers as nl

    spec = get_spec("alexnet")
    model = BACKEND.build(spec, init_params(spec, 0), seed=3)
    own = [layer for layer in model.layers if isinstance(layer, nl.DropoutLayer)]
    aside = [layer for layer in model.twin.layers if isinstance(layer, nl.DropoutLayer)]
    assert len(aside) == len(own) >= 1
    assert [layer.index for layer in aside] == [layer.index for layer in own]
    model.dropout_step = 5
    for first, half in ((0, own[0]), (3, aside[0])):
        half.first_row = first
        x = np.ones((3, *half.in_shape), np.float32)
        half.forward(x, training=True)
        np.testing.assert_array_equal(
            half.keep, dropout.keep_mask(3, 5, half.index, x.shape, half.rate, first_row=first)
        )
    whole = dropout.keep_mask(3, 5, own[0].index, (6, *own[0].in_shape), own[0].rate)
    np.testing.assert_array_equal(np.concatenate([own[0].keep, aside[0].keep]), whole)
