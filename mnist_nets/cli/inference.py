"""What ``evaluate`` and ``predict`` share to run a model in an inference engine: the
engine (a backend, or onnxruntime) and the session on the weights or exported model."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

from mnist_nets.cli.common import resolve_device


def load_engine(name: str):
    """The engine ``name``; TensorFlow's C++ start-up chatter is turned down first."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from mnist_nets.engines import get_engine

    return get_engine(name)


def is_model_file(path: str) -> bool:
    """Whether ``path`` looks like an exported model rather than weights: a regular file
    named ``*.onnx`` that is not a zip archive (weights are ``.npz``, a zip)."""
    p = Path(path)
    try:
        return p.suffix.lower() == ".onnx" and p.is_file() and not zipfile.is_zipfile(p)
    except OSError:
        return False


def read_model(path: str, engine_name: str):
    """``(spec, params, trained_on)`` from weights, or ``(None, None, None)`` for an
    exported model, which only an engine that reads model files can run (else a
    ParamsError saying which one to use).  Read before any framework is imported, so
    that bad weights fail fast."""
    from mnist_nets.engines import BY_NAME, EXTRA_ENGINES
    from mnist_nets.params import ParamsError, load_weights

    if is_model_file(path):
        if BY_NAME[engine_name].backend is not None:
            runners = ", ".join(e.name for e in EXTRA_ENGINES)
            raise ParamsError(
                f"{path}: an exported model, which the {engine_name} backend cannot run; "
                f"give --engine {runners}, or the weights (.npz) it was exported from"
            )
        return None, None, None
    return load_weights(path)


def open_session(path: str, weights, engine_name: str, device: str):
    """A session on ``weights`` (from :func:`read_model`) or, when those are None, on the
    exported model file ``path``; ``device`` as given on the command line."""
    engine = load_engine(engine_name)
    device = resolve_device(engine, device)
    spec, params, trained_on = weights
    if spec is None:
        return engine.load_file(path, device)
    return engine.load(spec, params, device, dataset=trained_on)


def batched(run, x: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """``run`` over ``x`` in batches, as float64 logits."""
    out = [run(x[i : i + batch_size]) for i in range(0, len(x), batch_size)]
    return np.concatenate(out).astype(np.float64)
