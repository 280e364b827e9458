"""The numpy backend's second half of each batch in a forked process
(``mnist_nets.backends.numpy_process``): the same numbers as on a thread, bit for bit; a
child that ends with its model; a child that dies, told in one line."""

from __future__ import annotations

import gc
import os
import signal
import time

import numpy as np
import pytest

from mnist_nets.backends import get_backend, numpy_process
from mnist_nets.backends import numpy_layers as nl
from mnist_nets.data import load_split
from mnist_nets.params import init_params
from mnist_nets.specs import get_spec
from mnist_nets.training import learning_rates

BACKEND = get_backend("numpy")

pytestmark = pytest.mark.skipif(not numpy_process.ENABLED, reason="forks on Linux only")


def _train(name: str, n: int, epochs: int, processes: bool, monkeypatch):
    """Train ``epochs`` epochs of spec ``name``'s own recipe on ``n`` real digits (seed 3),
    the second half of each batch in a process or on a thread: the model and its losses."""
    monkeypatch.setattr(numpy_process, "ENABLED", processes)
    spec = get_spec(name)
    recipe = spec.recipe
    data = load_split("train", n)
    model = BACKEND.build(spec, init_params(spec, 3), seed=3)
    staged = BACKEND.stage(model, data.x, data.y)
    losses: list[float] = []
    steps = -(-n // recipe.batch_size)
    lrs = learning_rates(recipe.with_epochs(epochs), steps)
    for epoch in range(epochs):
        BACKEND.train_epoch(
            model,
            staged,
            np.random.default_rng(epoch).permutation(n),
            lr=lrs[epoch],
            update=recipe.update_rule,
            batch_size=recipe.batch_size,
            sync_every=1,
            on_sync=lambda first, loss, correct: losses.extend(loss),
        )
    return model, losses


@pytest.mark.parametrize(("name", "n"), [("alexnet", 160), ("speedrun2", 640), ("cnn", 160)])
def test_a_process_trains_the_very_weights_a_thread_does(name, n, monkeypatch):
    """The child runs the same arithmetic on the same parameters as the thread would, so
    after two epochs (SGD with momentum and dropout for alexnet, Adam with its one-cycle
    for speedrun2) weights and losses are equal bit for bit.  A child reading a stale
    copy of the parameters, writing its gradient where the parent cannot see it, or
    drawing the dropout masks of another step would differ from the second step on."""
    threaded, thread_losses = _train(name, n, 2, False, monkeypatch)
    assert threaded._second is None
    forked, fork_losses = _train(name, n, 2, True, monkeypatch)
    assert forked._second is not None and forked._second.process.pid != os.getpid()
    assert forked._second.process.is_alive()
    np.testing.assert_array_equal(forked.flat, threaded.flat)
    assert fork_losses == thread_losses


@pytest.mark.parametrize("processes", [True, False])
@pytest.mark.parametrize(("name", "n"), [("speedrun2", 640), ("alexnet", 160)])
def test_a_model_trained_in_halves_evaluates_in_them(name, n, processes, monkeypatch):
    """After training in halves, inference runs in halves too (its rows split as the
    training batch's, the second half in the child or on the thread, one BLAS thread
    each): the logits are the plain one-piece forward's, in eval mode.  A half taken from
    the wrong rows, put back in the wrong place, or run with dropout on (alexnet) moves
    them."""
    model, _ = _train(name, n, 1, processes, monkeypatch)
    assert (model.aside is model._second) if processes else (model.aside is not None)
    x = BACKEND.stage(model, load_split("test", 700).x)[0]
    calls = []
    halves = nl.forward_in_halves
    monkeypatch.setattr(nl, "forward_in_halves", lambda *a: calls.append(1) or halves(*a))
    logits = BACKEND.forward(model, x)
    # 700 rows in near-equal chunks of at most the training batch
    assert len(calls) == -(-700 // model.spec.recipe.batch_size)
    parts = [model.forward(x[i : i + 100], False).copy() for i in range(0, 700, 100)]
    plain = np.concatenate(parts)
    # each row's sums are one pass's; only BLAS's blocking might change their rounding
    np.testing.assert_allclose(logits, plain, rtol=0, atol=1e-5 * np.abs(plain).max())
    np.testing.assert_array_equal(logits.argmax(1), plain.argmax(1))


def test_the_child_ends_with_its_model(monkeypatch):
    """Two models, each with its child: when the first model is collected, its child ends
    on its own (exit code 0), though the second child was forked while the first's pipe
    was open (it must close its copy of the parent's end, or the first child would wait
    for ever and be killed)."""
    first, _ = _train("cnn", 160, 1, True, monkeypatch)
    second, _ = _train("cnn", 160, 1, True, monkeypatch)
    procs = [first._second.process, second._second.process]
    assert all(p.is_alive() for p in procs)
    del first
    gc.collect()
    assert procs[0].exitcode == 0
    assert procs[1].is_alive()
    second._second.close()
    assert procs[1].exitcode == 0


def test_a_child_that_dies_is_told_in_one_line_and_the_next_epoch_starts_another(
    monkeypatch,
):
    model, _ = _train("cnn", 160, 1, True, monkeypatch)
    second = model._second
    os.kill(second.process.pid, signal.SIGKILL)
    second.process.join(5)
    data = load_split("train", 128)
    x, y = BACKEND.stage(model, data.x, data.y)
    with pytest.raises(numpy_process.SecondProcessError) as caught:
        nl.step_in_halves(model, x[:64], y[:64], second.submit)
    message = str(caught.value)
    assert "\n" not in message
    assert f"exit code {-signal.SIGKILL}" in message and "--batch-size" in message
    spec = get_spec("cnn")
    BACKEND.train_epoch(
        model,
        (x, y),
        np.arange(128),
        lr=spec.recipe.lr,
        update=spec.recipe.update_rule,
        batch_size=64,
        sync_every=1,
        on_sync=lambda *args: None,
    )
    assert model._second is not second and model._second.process.is_alive()


def test_an_error_in_the_child_comes_back_in_one_line(monkeypatch):
    model, _ = _train("cnn", 160, 1, True, monkeypatch)
    data = load_split("train", 64)
    x, y = BACKEND.stage(model, data.x, data.y)
    # labels that do not fit the logits fail inside the child's half
    bad = np.full_like(y, 99)
    with pytest.raises(numpy_process.SecondProcessError, match="second half failed: IndexError"):
        nl.step_in_halves(model, x, np.concatenate([y[:32], bad[32:]]), model._second.submit)
    assert model._second.process.is_alive()  # and it takes the next half
    start = time.perf_counter()
    nl.step_in_halves(model, x, y, model._second.submit)
    assert time.perf_counter() - start < 60


def test_shared_memory_is_seen_by_a_forked_child():
    """``shared_empty``: what the child writes, the parent reads (not a private copy)."""
    import multiprocessing
    import warnings

    a = numpy_process.shared_empty((3, 4), np.float32)
    a[...] = 1
    child = multiprocessing.get_context("fork").Process(target=a.fill, args=(7.0,))
    with warnings.catch_warnings():  # JAX, if an earlier test imported it, warns at a fork
        warnings.simplefilter("ignore")
        child.start()
    child.join(30)
    assert child.exitcode == 0
    np.testing.assert_array_equal(a, np.full((3, 4), 7, np.float32))


def test_without_a_process_the_thread_runs_the_second_half(monkeypatch):
    """Where no process can be forked (a limit on processes, no memory), training goes on
    with the second half on a thread, the same numbers, and says so once."""
    import errno

    def refuse(*args, **kwargs):
        raise OSError(errno.EAGAIN, "Resource temporarily unavailable")

    threaded, thread_losses = _train("cnn", 160, 1, False, monkeypatch)
    monkeypatch.setattr(numpy_process, "SecondProcess", refuse)
    with pytest.warns(RuntimeWarning, match="cannot start the process.*running it on a thread"):
        refused, losses = _train("cnn", 160, 1, True, monkeypatch)
    assert refused._second is None
    np.testing.assert_array_equal(refused.flat, threaded.flat)
    assert losses == thread_losses
