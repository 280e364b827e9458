"""JAX's own quirks: compilation kept out of timed epochs, full float32 precision, no
memory preallocation, ties in max-pooling.  The contract every backend keeps is in
test_backend_contract.py."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

import numpy as np
import pytest

jax = pytest.importorskip("jax")
pytestmark = pytest.mark.jax

from spec_strategies import random_params  # noqa: E402

from mnist_nets.backends import get_backend  # noqa: E402
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
    UpdateRule,
)

SPEC = ModelSpec(
    "jax_small",
    (Conv2D(3, 3, padding=1), ReLU(), MaxPool2D(2), Flatten(), Dropout(0.3), Dense(10)),
    Recipe(lr=0.05, momentum=0.9, batch_size=64, epochs=2),
)


@pytest.fixture(scope="module")
def backend():
    return get_backend("jax")


class Compiles:
    """Counts XLA compilations while active (JAX's own monitoring events)."""

    EVENT = "/jax/core/compile/backend_compile_duration"

    def __init__(self):
        self.count = 0

    def _listener(self, event, duration, **kwargs):
        if event == self.EVENT:
            self.count += 1

    def __enter__(self):
        jax.monitoring.register_event_duration_secs_listener(self._listener)
        return self

    def __exit__(self, *exc):
        jax.monitoring.unregister_event_duration_listener(self._listener)


def test_compiles_is_able_to_see_a_compilation():
    with Compiles() as seen:
        jax.jit(lambda a: a * 3.5 + 1)(np.arange(7.0)).block_until_ready()
    assert seen.count >= 1


def test_no_compilation_inside_an_epoch(backend):
    """Staging compiles the step for the recipe's batch size; no epoch compiles again,
    the last, smaller batch (1000 = 15 x 64 + 40) and a new learning rate included."""
    train = load_split("train", limit=1000)
    model = backend.build(SPEC, init_params(SPEC, 0), seed=1)
    staged = backend.stage(model, train.x, train.y)
    epochs = []
    for epoch, lr in enumerate((0.05, 0.02)):
        seen = []
        with Compiles() as compiles:
            backend.train_epoch(
                model,
                staged,
                np.random.default_rng(epoch).permutation(1000),
                lr=lr,
                batch_size=64,
                sync_every=5,
                on_sync=lambda first, losses, correct, seen=seen: seen.append(len(losses)),
                update=UpdateRule("sgd", 0.9),
            )
        epochs.append(compiles.count)
        assert sum(seen) == 16
    assert epochs == [0, 0]


def test_matmuls_and_convolutions_ask_for_full_float32_precision():
    from mnist_nets.backends import jax_backend

    params = random_params(SPEC, seed=0)
    x = np.zeros((2, 28, 28, 1), np.float32)
    jaxpr = jax.make_jaxpr(lambda p, x: jax_backend.logits_of(SPEC, p, x))(params, x).jaxpr
    products = [
        e for e in jaxpr.eqns if e.primitive.name in ("conv_general_dilated", "dot_general")
    ]
    assert len(products) == 2  # the conv and the dense layer
    highest = jax.lax.Precision.HIGHEST
    for eqn in products:
        assert eqn.params["precision"] in (highest, (highest, highest)), eqn


def test_no_preallocation():
    env = {k: v for k, v in os.environ.items() if k != "XLA_PYTHON_CLIENT_PREALLOCATE"}
    code = (
        "import os, mnist_nets.backends.jax_backend\n"
        "print(os.environ['XLA_PYTHON_CLIENT_PREALLOCATE'])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "false"


def test_max_pool_gradient_goes_to_the_first_maximum(backend):
    """A 2x2 kernel that passes only its top-left pixel, over an image constant in its
    top-left 4x4: every pooling window ties, while the other kernel weights' gradients
    depend on which pixel of a window wins.  They agree with the numpy backend, which
    gives the gradient to the first maximum (as torch and TensorFlow do)."""
    spec = ModelSpec(
        "ties",
        (Conv2D(1, 2), MaxPool2D(2), Flatten(), Dense(10)),
        Recipe(lr=0.1, epochs=1),
        input_shape=(5, 5, 1),
    )
    params = random_params(spec, seed=2)
    params["conv1.weight"] = np.array([1, 0, 0, 0], np.float32).reshape(2, 2, 1, 1)
    x = np.random.default_rng(0).uniform(0, 1, (3, 5, 5, 1)).astype(np.float32)
    x[:, :4, :4] = 0.75
    y = np.array([1, 2, 3])
    numpy = get_backend("numpy")
    _, expected = numpy.loss_and_grads(numpy.build(spec, params, dtype=np.float64), x, y)
    _, grads = backend.loss_and_grads(backend.build(spec, params), x, y)
    for name in params:
        np.testing.assert_allclose(grads[name], expected[name], rtol=1e-5, atol=1e-7)


def test_versions(backend):
    import jaxlib

    versions = backend.versions()
    assert versions["jax"] == jax.__version__ and versions["jaxlib"] == jaxlib.__version__
    assert versions["matmul_precision"] == "highest"


def test_the_same_network_with_another_optimizer_compiles_its_step_at_stage(backend):
    """What stage compiled is keyed by the optimizer too: a spec with the same layers as one
    already staged (SGD), but an Adam recipe, gets its Adam step compiled when it is
    staged, not left for its first epoch."""
    train = load_split("train", limit=576)  # a size no other test stages
    jax.clear_caches()  # so that what earlier tests compiled counts for nothing
    sgd = backend.build(SPEC, init_params(SPEC, 0), seed=1)
    backend.stage(sgd, train.x, train.y)
    adam_spec = dataclasses.replace(SPEC, recipe=dataclasses.replace(SPEC.recipe, optimizer="adam"))
    model = backend.build(adam_spec, init_params(adam_spec, 0), seed=1)
    with Compiles() as compiles:
        backend.stage(model, train.x, train.y)
    assert compiles.count >= 1


def test_fit_compiles_nothing_inside_timed_epochs(backend):
    """Through the shared loop, with a batch size other than the recipe's: ``train``
    tells ``stage`` which step to compile, so neither timed epoch compiles (counted from
    each epoch's start to its last reported batch)."""
    train, test = load_split("train", limit=1000), load_split("test", limit=300)
    model = backend.build(SPEC, init_params(SPEC, 0), seed=2)
    jax.clear_caches()  # so the count does not depend on what ran earlier in this process

    with Compiles() as compiles:

        class Watch:
            def __init__(self):
                self.at_start, self.during = 0, []

            def epoch_start(self, epoch, epochs, batches):
                self.at_start = compiles.count

            def batches_done(self, done, mean_loss, samples_per_s):
                self.last = compiles.count

            def epoch_end(self, record):
                self.during.append(self.last - self.at_start)

        watch = Watch()
        history = backend.train(
            model,
            (train, test),
            Recipe(lr=0.05, epochs=2, batch_size=96, momentum=0.9),
            0,
            progress=watch,
        )
        assert compiles.count > 0  # the step for batches of 96 was compiled, in stage
    assert watch.during == [0, 0]
    assert history.final.test_accuracy > 0.5


_HLO_OF_A_CONV = (
    "import os, numpy as np\n"
    "from mnist_nets.backends import jax_backend as jb\n"
    "from mnist_nets.params import init_params\n"
    "from mnist_nets.specs import Conv2D, Dense, Flatten, ModelSpec, Recipe\n"
    "import jax\n"
    "spec = ModelSpec('c', (Conv2D(8, 3), Flatten(), Dense(10)), Recipe(lr=0.1, epochs=1))\n"
    "p = {k: jax.numpy.asarray(v) for k, v in init_params(spec, 0).items()}\n"
    "x = np.zeros((4, 28, 28, 1), np.float32)\n"
    "hlo = jax.jit(lambda p, x: jb.logits_of(spec, p, x)).lower(p, x).compile().as_text()\n"
    "print(os.environ['XLA_FLAGS'])\n"
    "print('ynn' if '__ynn_fusion' in hlo else 'eigen')\n"
)


@pytest.mark.parametrize("flags", [None, "--xla_cpu_enable_fast_math=false"])
def test_ynn_fusions_are_off_unless_the_caller_set_them(flags):
    """Imported with XLA_FLAGS unset or holding other flags, the backend adds an empty YNN
    fusion list, and a compiled convolution holds no YNNPACK fusion; a caller's own
    setting wins."""
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    if flags:
        env["XLA_FLAGS"] = flags
    out = subprocess.run(
        [sys.executable, "-c", _HLO_OF_A_CONV], env=env, capture_output=True, text=True, check=True
    )
    seen_flags, kernels = out.stdout.split("\n")[:2]
    ynn_off = "--xla_cpu_experimental_ynn_fusion_type="
    assert seen_flags.split() == [*([flags] if flags else []), ynn_off]
    assert kernels == "eigen"
    env["XLA_FLAGS"] = "--xla_cpu_experimental_ynn_fusion_type=LIBRARY_FUSION_TYPE_DOT"
    out = subprocess.run(
        [sys.executable, "-c", _HLO_OF_A_CONV], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.split("\n")[:2] == [env["XLA_FLAGS"], "ynn"]


@pytest.mark.parametrize("size, hw", [(2, 6), (2, 7), (3, 9), (3, 10)])
def test_mask_max_pool_is_xlas_reduce_window(size, hw):
    """_max_pool (a one-hot mask on each window's first maximum) against
    lax.reduce_window, forward and gradient, on small integers so that most windows tie
    (and an odd edge the pool drops), with -inf and +inf among them."""
    from mnist_nets.backends import jax_backend

    layer = MaxPool2D(size)
    rng = np.random.default_rng(size * 10 + hw)
    x = rng.integers(0, 3, (2, hw, hw, 3)).astype(np.float32)
    x[0, 0, 0, 0], x[1, 1, 0, 2] = -np.inf, np.inf
    weights = rng.standard_normal((2, hw // size, hw // size, 3)).astype(np.float32)

    def total(fn):
        return lambda x: jax.numpy.sum(fn(layer, None, {}, x, None, 0) * weights)

    ours = jax_backend._max_pool(layer, None, {}, x, None, 0)
    xla = jax_backend._max_pool_lax(layer, None, {}, x, None, 0)
    np.testing.assert_array_equal(ours, xla)
    g_ours = jax.grad(total(jax_backend._max_pool))(x)
    np.testing.assert_array_equal(g_ours, jax.grad(total(jax_backend._max_pool_lax))(x))
    assert np.count_nonzero(g_ours) == weights.size  # one pixel of each window
