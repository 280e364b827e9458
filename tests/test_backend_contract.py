"""The contract every registered backend keeps, one set of tests run against each.

The backends are taken from the registry (:mod:`mnist_nets.backends.registry`): a new
backend is held to all of this by its registry entry alone; one whose framework is not
installed is skipped.  What is peculiar to one framework (the torch 2.13.0 convolution
workarounds, TensorFlow's shared graphs) stays in that framework's own test file.

References: the naive float64 numpy maths of ``numpy_reference`` (loops over kernel
offsets and windows, sharing nothing with any backend but the spec's definitions),
central finite differences of its loss, and the SGD formula of
:mod:`mnist_nets.backends.base`.
"""

from __future__ import annotations

import importlib

import numpy as np
import numpy_reference
import pytest
from spec_strategies import make_spec, random_batch, random_params

from mnist_nets.backends import Backend, DeviceError, get_backend
from mnist_nets.backends.registry import FRAMEWORKS, NAMES
from mnist_nets.data import load_split
from mnist_nets.params import init_params
from mnist_nets.specs import (
    LAYER_TYPES,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    MaxPool2D,
    Recipe,
    ReLU,
    UpdateRule,
    get_spec,
    list_specs,
)
from mnist_nets.training import Diverged

RTOL = 2e-5  # float32 against float64, relative to the largest reference value


@pytest.fixture(scope="module", params=NAMES)
def backend(request) -> Backend:
    name = request.param
    if not FRAMEWORKS[NAMES.index(name)].installed():
        pytest.skip(f"{name} is not installed")
    return get_backend(name)


# Small specs, none registered: non-square inputs with several channels, so that a wrong
# flatten order, a swapped H/W or a mis-transposed kernel changes the logits.  STRIDED
# has a stride-2 conv with padding 1 on an even input (where TensorFlow's "SAME" would
# pad asymmetrically); WIDE pads a 5x5 kernel by 1 and pools 3x3 every 2 pixels,
# dropping the last row and column.
CONV = make_spec(
    "conv_pad_stride",
    [
        Conv2D(4, 3, stride=2, padding=1),
        ReLU(),
        MaxPool2D(2, stride=1),
        Conv2D(3, 2, padding=1),
        ReLU(),
        Flatten(),
        Dense(7),
        ReLU(),
        Dense(10),
    ],
    input_shape=(9, 7, 2),
)
DENSE = make_spec("dense_only", [Flatten(), Dense(6), ReLU(), Dense(10)], (3, 4, 2))
STRIDED = make_spec(
    "strided",
    [
        *(Conv2D(4, 3, stride=2, padding=1), ReLU(), Conv2D(3, 3, padding="same")),
        *(MaxPool2D(2), Flatten(), Dense(10)),
    ],
    input_shape=(10, 10, 2),
)
WIDE = make_spec(
    "wide",
    [
        *(Conv2D(3, 5, padding=1), ReLU(), MaxPool2D(3, stride=2)),
        *(Flatten(), Dense(6), ReLU(), Dense(10)),
    ],
    input_shape=(10, 10, 2),
)
TINY = make_spec(  # small enough for a per-element finite-difference gradient
    "tiny",
    [Conv2D(3, 3, stride=2, padding=1), ReLU(), MaxPool2D(2, stride=1), Flatten(), Dense(10)],
    input_shape=(6, 5, 2),
)
DROPOUT_NET = make_spec(
    "small_dropout",
    [
        *(Conv2D(4, 5, stride=2), ReLU(), MaxPool2D(2), Flatten(), Dropout(0.5)),
        *(Dense(32), ReLU(), Dropout(0.3), Dense(10)),
    ],
)


def assert_close(got, ref, rtol=RTOL, what="", atol=0.0):
    """``max|got - ref| <= rtol * max|ref| + atol`` (float32 against float64)."""
    got, ref = np.asarray(got, np.float64), np.asarray(ref, np.float64)
    assert got.shape == ref.shape, f"{what}: shape {got.shape} != {ref.shape}"
    err, scale = np.abs(got - ref).max(), max(np.abs(ref).max(), 1e-3)
    assert err <= rtol * scale + atol, f"{what}: max error {err:.3g} > {rtol:g} x {scale:.3g}"


def assert_update(before, after, expected, what):
    """``after - before`` equals ``expected``, up to float32 rounding of the parameters."""
    rounding = 2 * np.finfo(np.float32).eps * np.abs(before).max()
    assert_close(after - before, expected, rtol=1e-5, what=what, atol=rounding)


def run_epoch(backend, model, staged, order, *, lr, update, batch_size, sync_every=50):
    calls = []
    backend.train_epoch(
        model,
        staged,
        np.asarray(order),
        lr=lr,
        batch_size=batch_size,
        sync_every=sync_every,
        on_sync=lambda first, losses, correct: calls.append((first, losses, correct)),
        update=update,
    )
    return calls


# --------------------------------------------------------------------------- the registry


def test_every_backend_has_a_layer_for_every_layer_type(backend):
    """Each backend module chooses its layers from a table keyed by layer type."""
    entry = FRAMEWORKS[NAMES.index(backend.name)]
    table = importlib.import_module(entry.module).LAYERS
    assert set(table) == set(LAYER_TYPES.values())


def test_registry_entry_names_the_backend(backend):
    entry = FRAMEWORKS[NAMES.index(backend.name)]
    assert type(backend).__name__ == entry.cls and type(backend).__module__ == entry.module
    assert backend.devices()[0] == "cpu"
    assert set(backend.devices()) <= set(entry.devices)


# --------------------------------------------------------------------------- parameters, forward


@pytest.mark.parametrize("name", list_specs())
def test_build_export_round_trip_is_exact(backend, name):
    spec = get_spec(name)
    params = random_params(spec, seed=3)
    exported = backend.export_params(backend.build(spec, params))
    assert list(exported) == list(spec.param_shapes)
    for key, value in params.items():
        assert exported[key].dtype == np.float32 and exported[key].shape == value.shape
        np.testing.assert_array_equal(exported[key], value, err_msg=key)
        assert not np.shares_memory(exported[key], value)


@pytest.mark.parametrize("spec", [CONV, DENSE, STRIDED, WIDE, TINY], ids=lambda s: s.name)
def test_float64_models_compute_in_float64(backend, spec):
    """``build(..., dtype="float64")``: the logits, the gradients and the exported
    parameters are float64,
    and the logits match the float64 reference to float64 rounding (1e-12 relative), which
    no float32 computation reaches; a dtype outside DTYPES is a clear error."""
    params = random_params(spec, seed=1)
    x, _ = random_batch(spec, 5, seed=2)
    model = backend.build(spec, params, dtype="float64")
    logits = backend.forward(model, x)
    assert logits.dtype == np.float64
    ref = numpy_reference.forward(spec, params, x)
    assert np.abs(logits - ref).max() <= 1e-12 * np.abs(ref).max()
    assert all(v.dtype == np.float64 for v in backend.export_params(model).values())
    _, grads = backend.loss_and_grads(model, x, np.arange(5) % 10)
    assert all(g.dtype == np.float64 for g in grads.values())
    with pytest.raises(ValueError, match="dtype must be one of float32, float64"):
        backend.build(spec, params, dtype="float16")


@pytest.mark.parametrize("spec", [CONV, DENSE, STRIDED, WIDE, TINY], ids=lambda s: s.name)
def test_forward_matches_numpy_reference(backend, spec):
    params = random_params(spec, seed=1)
    x, _ = random_batch(spec, 5, seed=2)
    logits = backend.forward(backend.build(spec, params), x)
    assert logits.shape == (5, 10) and logits.dtype == np.float32
    assert_close(logits, numpy_reference.forward(spec, params, x))


def test_activations_are_every_layer_in_canonical_layout(backend):
    params = random_params(CONV, seed=12)
    x, _ = random_batch(CONV, 4, seed=12)
    acts = backend.activations(backend.build(CONV, params), x)
    assert [a.shape for a in acts] == [(4, *shape) for shape in CONV.output_shapes]
    expected = numpy_reference.activations(CONV, params, x)
    for info, got, want in zip(CONV.layer_infos, acts, expected, strict=True):
        assert_close(got, want, what=info.name)  # a conv output keeps its negatives


def test_flatten_order_is_hwc(backend):
    """The reference is sensitive to the flatten order, and the backend follows H, W, C."""
    params = random_params(CONV, seed=4)
    x, _ = random_batch(CONV, 3, seed=4)
    hwc = numpy_reference.forward(CONV, params, x, flatten="hwc")
    chw = numpy_reference.forward(CONV, params, x, flatten="chw")
    assert np.abs(hwc - chw).max() > 100 * RTOL * np.abs(hwc).max()
    assert_close(backend.forward(backend.build(CONV, params), x), hwc)


@pytest.mark.parametrize("loss", ["cross_entropy", "mse"])
def test_loss_and_grads_match_finite_differences(backend, loss):
    """Gradients against central differences of the float64 reference loss."""
    spec = make_spec("tiny_" + loss, TINY.layers, TINY.input_shape, loss=loss)
    params = random_params(spec, seed=5)
    x, y = random_batch(spec, 6, seed=6)
    value, grads = backend.loss_and_grads(backend.build(spec, params), x, y)
    assert isinstance(value, float)
    assert value == pytest.approx(numpy_reference.loss(spec, params, x, y), rel=1e-5)
    assert list(grads) == list(params)
    eps = 1e-6
    for name, p in params.items():
        p64 = p.astype(np.float64)
        numeric = np.zeros_like(p64)
        for i in np.ndindex(p.shape):
            shifted = dict(params)
            for sign in (1, -1):
                q = p64.copy()
                q[i] += sign * eps
                shifted[name] = q
                numeric[i] += sign * numpy_reference.loss(spec, shifted, x, y) / (2 * eps)
        assert grads[name].shape == p.shape
        assert_close(grads[name], numeric, rtol=1e-4, what=f"d {loss} / d {name}")


# --------------------------------------------------------------------------- training steps


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
        batch_size=8,
        update=UpdateRule("sgd"),
    )
    assert len(calls) == 1 and calls[0][0] == 0
    assert calls[0][1].dtype == np.float64
    assert calls[0][1] == pytest.approx([loss], rel=1e-6)
    predicted = np.argmax(backend.forward(backend.build(spec, params), x), axis=1)
    assert calls[0][2].tolist() == [int(np.sum(predicted == y))]
    after = backend.export_params(model)
    for name, p in params.items():
        assert_update(p, after[name], -0.1 * grads[name], what=name)


@pytest.mark.parametrize("spec", [DENSE, CONV], ids=lambda s: s.name)
def test_two_momentum_steps_follow_the_formula(backend, spec):
    """v = m * v + g; p -= lr * v, with a new learning rate in the second epoch."""
    params = random_params(spec, seed=8)
    x, y = random_batch(spec, 6, seed=9)
    lr, m = 0.05, 0.9
    model = backend.build(spec, params)
    staged = backend.stage(model, x, y)
    _, g0 = backend.loss_and_grads(model, x, y)
    run_epoch(
        backend, model, staged, np.arange(6), lr=lr, batch_size=6, update=UpdateRule("sgd", m)
    )
    p1 = backend.export_params(model)
    _, g1 = backend.loss_and_grads(model, x, y)
    run_epoch(
        backend, model, staged, np.arange(6), lr=lr / 2, batch_size=6, update=UpdateRule("sgd", m)
    )
    p2 = backend.export_params(model)
    for name, p in params.items():
        assert_update(p, p1[name], -lr * g0[name], what=f"step 1 {name}")
        assert_update(p1[name], p2[name], -(lr / 2) * (m * g0[name] + g1[name]), what=name)


def test_two_adam_steps_follow_the_formula(backend):
    """m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2; p -= lr m / (1 - b1^t) /
    (sqrt(v / (1 - b2^t)) + eps), with betas far apart so that swapping them shows."""
    params = random_params(DENSE, seed=8)
    x, y = random_batch(DENSE, 6, seed=9)
    lr, (b1, b2), eps = 0.01, (0.5, 0.99), 1e-7
    rule = UpdateRule("adam", 0.0, (b1, b2), eps)
    model = backend.build(DENSE, params)
    staged = backend.stage(model, x, y)
    m = {k: np.zeros_like(v, np.float64) for k, v in params.items()}
    v = {k: np.zeros_like(val, np.float64) for k, val in params.items()}
    before = params
    for t in (1, 2):
        _, g = backend.loss_and_grads(model, x, y)
        run_epoch(backend, model, staged, np.arange(6), lr=lr, batch_size=6, update=rule)
        after = backend.export_params(model)
        for name in params:
            m[name] = b1 * m[name] + (1 - b1) * g[name]
            v[name] = b2 * v[name] + (1 - b2) * np.square(g[name].astype(np.float64))
            step = lr * m[name] / (1 - b1**t) / (np.sqrt(v[name] / (1 - b2**t)) + eps)
            assert_update(before[name], after[name], -step, what=f"step {t} {name}")
        before = after


def test_batches_follow_the_order_and_sync_every(backend):
    """With lr 0 nothing moves, so each batch's loss is that of its own samples; the last
    batch is smaller, and ``on_sync`` hears of every batch once, in chunks."""
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
        batch_size=3,
        sync_every=3,
        update=UpdateRule("sgd", 0.9),
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


def test_sync_reports_every_batch_in_chunks(backend):
    model = backend.build(DENSE, random_params(DENSE, seed=0))
    x, y = random_batch(DENSE, 50, seed=10)
    calls = run_epoch(
        backend,
        model,
        backend.stage(model, x, y),
        np.random.default_rng(0).permutation(50),
        lr=0.01,
        batch_size=5,
        sync_every=3,
        update=UpdateRule("sgd", 0.5),
    )
    assert [(first, len(losses)) for first, losses, _ in calls] == [(0, 3), (3, 3), (6, 3), (9, 1)]
    counts = np.concatenate([c for _, _, c in calls])
    assert np.all((counts >= 0) & (counts <= 5))


def test_an_error_in_on_sync_propagates(backend):
    model = backend.build(DENSE, random_params(DENSE, seed=0))
    x, y = random_batch(DENSE, 20, seed=10)

    def stop(first, losses, correct):
        raise KeyboardInterrupt("stop")

    with pytest.raises(KeyboardInterrupt):
        backend.train_epoch(
            model,
            backend.stage(model, x, y),
            np.arange(20),
            lr=0.01,
            batch_size=5,
            sync_every=2,
            on_sync=stop,
            update=UpdateRule("sgd"),
        )


def test_predict_is_argmax_of_forward(backend):
    model = backend.build(CONV, random_params(CONV, seed=11))
    x, _ = random_batch(CONV, 23, seed=11)
    labels = backend.predict(model, backend.stage(model, x), batch_size=10)
    assert labels.shape == (23,)
    np.testing.assert_array_equal(labels, np.argmax(backend.forward(model, x), axis=1))


def test_specs_that_differ_only_in_their_loss_train_by_their_own(backend):
    """Whatever a backend compiles and keeps for a network is keyed by everything that
    shapes a step: the same layers with cross-entropy and then with MSE each take the step
    of their own loss (numpy's, computed by hand, as the reference)."""
    reference = get_backend("numpy")
    layers = [Flatten(), Dense(10)]
    for loss in ("cross_entropy", "mse"):
        spec = make_spec(f"only_{loss}", layers, (3, 4, 2), loss=loss)
        params = random_params(spec, seed=4)
        x, y = random_batch(spec, 8, seed=4)
        stepped, losses = [], []
        for b in (backend, reference):
            model = b.build(spec, params)
            b.train_epoch(
                model,
                b.stage(model, x, y),
                np.arange(8),
                lr=0.5,
                update=UpdateRule("sgd"),
                batch_size=8,
                sync_every=50,
                on_sync=lambda first, batch_losses, correct, seen=losses: seen.append(
                    batch_losses[0]
                ),
            )
            stepped.append(b.export_params(model))
        assert losses[0] == pytest.approx(losses[1], rel=1e-5), loss
        for name in params:
            np.testing.assert_allclose(stepped[0][name], stepped[1][name], rtol=1e-4, atol=1e-6)


def test_predict_after_training_runs_in_eval_mode(backend):
    """After a training epoch (dropout on), ``predict`` is the argmax of the eval-mode
    logits, the same on every call: a backend that leaves its network in training mode
    would predict through random dropout masks."""
    model = backend.build(DROPOUT_NET, random_params(DROPOUT_NET, seed=5), seed=1)
    x, y = random_batch(DROPOUT_NET, 40, seed=5)
    backend.train_epoch(
        model,
        backend.stage(model, x, y),
        np.arange(40),
        lr=0.01,
        update=UpdateRule("sgd"),
        batch_size=20,
        sync_every=50,
        on_sync=lambda *a: None,
    )
    staged = backend.stage(model, x)
    first = backend.predict(model, staged)
    second = backend.predict(model, staged)
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(first, np.argmax(backend.forward(model, x), axis=1))


# --------------------------------------------------------------------------- dropout and seeds


def test_dropout_is_inverted_seeded_and_off_at_inference(backend):
    spec = make_spec("drop", [Flatten(), Dense(10), Dropout(0.5)])
    params = random_params(spec, seed=12)
    x, _ = random_batch(spec, 200, seed=13)
    eval_logits = backend.forward(backend.build(spec, params), x)
    np.testing.assert_array_equal(backend.forward(backend.build(spec, params, seed=3), x),
                                  eval_logits)  # fmt: skip
    a = backend.build(spec, params, seed=3)
    train_a = backend.forward(a, x, training=True)
    train_b = backend.forward(backend.build(spec, params, seed=3), x, training=True)
    np.testing.assert_array_equal(train_a, train_b)  # same seed, same mask
    assert not np.array_equal(backend.forward(a, x, training=True), train_a)  # a new mask
    kept = train_a != 0  # each output is dropped (0) or kept and scaled by 1 / (1 - 0.5)
    # inference may run in chunks (numpy: 128 rows), so its GEMMs round in another order:
    # float32 rounding of sums of 784 terms, scaled by the largest logit
    scale = float(np.abs(eval_logits).max())
    np.testing.assert_allclose(train_a[kept], 2.0 * eval_logits[kept], rtol=1e-6, atol=1e-5 * scale)
    assert abs(kept.mean() - 0.5) < 0.05  # 2,000 draws: 4.5 standard deviations
    other = backend.forward(backend.build(spec, params, seed=4), x, training=True)
    assert not np.array_equal(other, train_a)


@pytest.fixture(scope="module")
def small_train():
    return load_split("train", limit=400)


def train_once(backend, train, seed, build_seed=None):
    model = backend.build(
        DROPOUT_NET, init_params(DROPOUT_NET, 0), seed=seed if build_seed is None else build_seed
    )
    history = backend.train(
        model, (train, None), Recipe(lr=0.05, epochs=2, batch_size=40, momentum=0.9), seed
    )
    return backend.export_params(model), history


def test_same_seed_same_training(backend, small_train):
    a, history = train_once(backend, small_train, seed=3)
    b, _ = train_once(backend, small_train, seed=3)
    c, _ = train_once(backend, small_train, seed=3, build_seed=4)  # other dropout masks
    start = init_params(DROPOUT_NET, 0)
    assert np.isfinite(history.final.loss)
    assert history.final.loss < history.epochs[0].loss  # it learns
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    assert any(not np.array_equal(a[n], start[n]) for n in a)
    assert any(not np.array_equal(a[n], c[n]) for n in a)


def test_diverging_learning_rate_raises(backend, small_train):
    spec = make_spec("mse_perceptron", [Flatten(), Dense(10)], loss="mse")
    model = backend.build(spec, init_params(spec, 0))
    with pytest.raises(Diverged, match="training diverged"):
        backend.train(model, (small_train, None), Recipe(lr=1e4, epochs=3, batch_size=20), 0)


# --------------------------------------------------------------------------- bad inputs, devices


def test_bad_inputs_are_clear_errors(backend):
    model = backend.build(DENSE, random_params(DENSE, seed=0))
    with pytest.raises(ValueError, match=r"spec 'dense_only' takes .*NHWC.*\(N, 3, 4, 2\)"):
        backend.forward(model, np.zeros((2, 4, 3, 2), np.float32))
    x = np.zeros((2, 3, 4, 2), np.float32)
    with pytest.raises(ValueError, match=r"labels must be in 0\.\.9, got 0\.\.10"):
        backend.loss_and_grads(model, x, np.array([0, 10]))
    with pytest.raises(ValueError, match="expected 2 integers"):
        backend.stage(model, x, np.array([1, 2, 3]))


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        ({"staged": "no labels"}, ValueError, "train_epoch needs data staged with labels"),
        ({"order": [0, 6]}, ValueError, "order must be a 1-D array of indices into the 6 samples"),
        ({"order": [-1, 0]}, ValueError, "order must be a 1-D array of indices into the 6"),
        ({"order": [[0, 1]]}, ValueError, "order must be a 1-D array of indices"),
        ({"order": list(range(6)) * 2}, ValueError, r"order \(at most 6 indices\)"),
        ({"batch_size": 0}, ValueError, "batch_size and sync_every must be positive: 6, 0, 50"),
        ({"batch_size": True}, ValueError, "batch_size and sync_every must be positive"),
        ({"batch_size": 2.0}, ValueError, "batch_size and sync_every must be positive"),
        ({"sync_every": 0}, ValueError, "batch_size and sync_every must be positive: 6, 3, 0"),
        ({"update": 0.9}, TypeError, r"update must be a mnist_nets.specs.UpdateRule"),
    ],
)
def test_train_epoch_arguments_are_checked_once_for_every_backend(backend, change, error, message):
    """The base class checks train_epoch's arguments before any backend runs a batch: the
    parameters are left untouched and ``on_sync`` is never called."""
    params = random_params(DENSE, seed=0)
    model = backend.build(DENSE, params)
    x, y = random_batch(DENSE, 6, seed=1)
    args = {
        "staged": backend.stage(model, x, y),
        "order": list(range(6)),
        "batch_size": 3,
        "sync_every": 50,
        "update": UpdateRule("sgd", 0.9),
    } | change
    if args["staged"] == "no labels":
        args["staged"] = backend.stage(model, x)
    calls = []
    with pytest.raises(error, match=message):
        backend.train_epoch(
            model,
            args["staged"],
            np.asarray(args["order"]),
            lr=0.1,
            update=args["update"],
            batch_size=args["batch_size"],
            sync_every=args["sync_every"],
            on_sync=lambda *a: calls.append(a),
        )
    assert calls == []
    after = backend.export_params(model)
    assert all(np.array_equal(after[name], params[name]) for name in params)


def test_missing_device_is_a_clear_error(backend):
    spec = get_spec("perceptron")
    with pytest.raises(DeviceError, match="unknown device 'tpu'"):
        backend.build(spec, init_params(spec), device="tpu")
    if "cuda" in backend.devices():
        pytest.skip("a CUDA GPU is visible")
    with pytest.raises(DeviceError, match=rf"'cuda' is not available to the {backend.name} "):
        backend.build(spec, init_params(spec), device="cuda")


def test_what_the_benchmarks_ask(backend):
    """Versions, thread settings, device sync and peak memory, without name checks."""
    versions = backend.versions()
    entry = FRAMEWORKS[NAMES.index(backend.name)]
    assert versions["numpy"] == np.__version__
    assert backend.name in versions or entry.libraries[0] in versions
    assert all(isinstance(v, str) and v for v in versions.values())
    threads = backend.thread_settings()
    assert all(isinstance(v, int | str) for v in threads.values())
    assert backend.device_name("cpu")
    backend.reset_device_peak("cpu")
    assert backend.device_peak("cpu") is None  # the CPU's memory is sampled by bench/
    model = backend.build(DENSE, random_params(DENSE, 0))
    backend.forward(model, random_batch(DENSE, 2, seed=0)[0])
    assert backend.synchronize("cpu") is None
