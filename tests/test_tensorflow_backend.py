"""TensorFlow's own quirks: graphs shared between models of one network, the warm-up of
:meth:`stage`, its GPU error and versions.  The contract every backend keeps is in
test_backend_contract.py."""

from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from spec_strategies import make_spec, random_batch, random_params  # noqa: E402

from mnist_nets.backends import DeviceError, get_backend  # noqa: E402
from mnist_nets.specs import Dense, Dropout, Flatten, Recipe, ReLU, UpdateRule  # noqa: E402

RECIPE = Recipe(lr=0.1, epochs=1, batch_size=32)


@pytest.fixture(scope="module")
def backend():
    return get_backend("tensorflow")


DENSE = make_spec("dense", (Flatten(), Dense(16), ReLU(), Dense(10)), recipe=RECIPE)
DROPOUT_NET = make_spec(
    "dropout_net",
    (Flatten(), Dropout(0.2), Dense(32), ReLU(), Dropout(0.5), Dense(10)),
    recipe=RECIPE,
)


def run_epoch(backend, model, staged, order, *, lr, update, batch_size, sync_every=50):
    backend.train_epoch(
        model,
        staged,
        np.asarray(order),
        lr=lr,
        batch_size=batch_size,
        sync_every=sync_every,
        on_sync=lambda first, losses, correct: None,
        update=update,
    )


def test_models_of_one_network_share_graphs_not_variables(backend):
    """The compiled loop is traced once per network; each model trains its own variables."""
    spec = DROPOUT_NET
    params = random_params(spec, seed=14)
    x, y = random_batch(spec, 12, seed=15)
    a, b = backend.build(spec, params, seed=1), backend.build(spec, params, seed=1)
    staged_a, staged_b = backend.stage(a, x, y), backend.stage(b, x, y)
    run_epoch(
        backend, b, staged_b, np.arange(12), lr=0.1, batch_size=5, update=UpdateRule("sgd", 0.9)
    )
    for name, value in backend.export_params(a).items():
        np.testing.assert_array_equal(value, params[name], err_msg=f"a's {name} moved")
    run_epoch(
        backend, a, staged_a, np.arange(12), lr=0.1, batch_size=5, update=UpdateRule("sgd", 0.9)
    )
    after_a, after_b = backend.export_params(a), backend.export_params(b)
    assert any(not np.array_equal(after_b[n], params[n]) for n in params)
    for name in params:
        np.testing.assert_array_equal(after_a[name], after_b[name], err_msg=name)


def test_stage_warm_up_leaves_dropout_untouched(backend):
    spec = make_spec("drop", (Flatten(), Dense(10), Dropout(0.5)), recipe=RECIPE)
    params = random_params(spec, seed=12)
    x, y = random_batch(spec, 200, seed=13)
    a = backend.build(spec, params, seed=3)
    backend.stage(a, x, y)  # its warm-up step must leave the dropout generator as it was
    train_a = backend.forward(a, x, training=True)
    train_b = backend.forward(backend.build(spec, params, seed=3), x, training=True)
    np.testing.assert_array_equal(train_a, train_b)
    unseeded = backend.build(spec, params, seed=None)  # allowed after op determinism is on
    assert backend.forward(unseeded, x, training=True).shape == (200, 10)


def test_cuda_without_gpu_is_a_clear_device_error(backend):
    if tf.config.list_physical_devices("GPU"):
        pytest.skip("a GPU is visible")
    assert backend.devices() == ["cpu"]
    with pytest.raises(DeviceError, match=r"'cuda'.*no GPU.*Use device 'cpu'"):
        backend.build(DENSE, random_params(DENSE, 0), device="cuda")


def test_versions_and_thread_settings(backend):
    versions = backend.versions()
    assert versions["tensorflow"] == tf.__version__
    assert {"numpy", "keras", "tf_intra_op_threads", "tf_inter_op_threads"} <= set(versions)
    assert set(backend.thread_settings()) == {"tf_intra_op", "tf_inter_op"}
