"""What tests/test_serve.py and tests/test_serve_browser.py share: weights trained once
per test session, and a live server on a free port in a thread of the test process."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

# a dnn trained in numpy on real MNIST for a few seconds: about 94 % on the test set,
# enough to read a mouse-drawn 7
TRAIN_IMAGES = 20_000
EPOCHS = 3


def trained_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The dnn's weights, trained on the first run in this session and kept in its
    temporary folder for the other test files."""
    path = tmp_path_factory.getbasetemp() / "serve-weights" / "dnn.npz"
    if path.exists():
        return path
    from mnist_nets.backends import get_backend
    from mnist_nets.cli.train import train_one
    from mnist_nets.data import load_split
    from mnist_nets.params import init_params, save_params
    from mnist_nets.specs import get_spec

    spec = get_spec("dnn")
    backend = get_backend("numpy")
    data = (load_split("train", TRAIN_IMAGES), load_split("test", 1000))
    model, history = train_one(
        spec, backend, "cpu", data, recipe=dataclasses.replace(spec.recipe, epochs=EPOCHS),
        seed=0, params=init_params(spec, 0), quiet=True,
    )  # fmt: skip
    assert history.epochs[-1].test_accuracy > 0.9, history.epochs[-1]
    path.parent.mkdir(exist_ok=True)
    save_params(path, spec, backend.export_params(model))
    return path


@contextmanager
def live_server(predictor, **app_options) -> Iterator[str]:
    """``mnist-nets serve``'s app and server for ``predictor``, running in a thread on a
    free port of 127.0.0.1; yields its URL (no trailing slash)."""
    from mnist_nets.serve.app import bind, create_app, make_server

    server = make_server(create_app(predictor, **app_options))
    sock = bind("127.0.0.1", 0)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(15)
        sock.close()
