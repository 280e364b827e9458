"""What the commands share: exit codes, errors, argument types, loading a backend and
the data, and keeping stdout clean for ``--json``."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from pathlib import Path
from typing import Any

import numpy as np

from mnist_nets.backends import list_backends

PROG = "mnist-nets"
EXIT_DIVERGED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


class UsageError(ValueError):
    """A bad argument found after parsing (exit 2)."""


class Interrupted(Exception):
    """Ctrl-C, with a word on what was saved (exit 130)."""


class TrainingFailed(RuntimeError):
    """Training diverged (exit 1); the message says what was saved."""


def err(message: str) -> None:
    try:
        print(message, file=sys.stderr, flush=True)
    except OSError:  # stderr closed: nobody to tell
        pass


# --------------------------------------------------------------------------- argument types


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive finite number, got {text}")
    return value


def seed_arg(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if not 0 <= value < 2**31:
        raise argparse.ArgumentTypeError(f"must be in [0, 2**31), got {text}")
    return value


def frameworks_arg(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in list_backends()]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown framework(s) {', '.join(map(repr, unknown)) or repr(text)}; "
            f"choose from: {', '.join(list_backends())}"
        )
    return list(dict.fromkeys(names))


# --------------------------------------------------------------------------- shared helpers


def load_backend(name: str):
    """The backend ``name``; TensorFlow's C++ start-up chatter is turned down first."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from mnist_nets.backends import get_backend

    return get_backend(name)


def resolve_device(backend, device: str) -> str:
    """``auto``: the backend's GPU when it sees one, else the CPU; otherwise checked."""
    if device == "auto":
        gpus = [d for d in backend.devices() if d != "cpu"]
        return gpus[0] if gpus else "cpu"
    return backend.check_device(device)


def load_data(limit: int | None, test_limit: int | None):
    from mnist_nets.data import load_split

    test_limit = test_limit if test_limit is not None else limit
    return load_split("train", limit), load_split("test", test_limit)


def check_out(path: str | None) -> None:
    """Fail before training, not after the first epoch, when ``--out`` cannot be written."""
    if path is None:
        return
    out = Path(path)
    if out.is_dir():
        raise UsageError(f"--out {path}: is a directory; give a file name such as weights.npz")
    parent = out.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"--out {path}: cannot write in {parent}")


def batched_logits(backend, model, x: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """Eval-mode logits for ``x``, in batches."""
    out = [backend.forward(model, x[i : i + batch_size]) for i in range(0, len(x), batch_size)]
    return np.concatenate(out).astype(np.float64)


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits - logits.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


@contextmanager
def stdout_to_stderr(active: bool) -> Iterator[None]:
    """While active, anything written to stdout (by Python, or by a framework's C++ code
    to file descriptor 1) goes to stderr, so that ``--json`` leaves exactly one JSON
    object on stdout."""
    if not active:
        yield
        return
    sys.stdout.flush()
    try:
        saved: int | None = os.dup(1)
        os.dup2(2, 1)
    except OSError:  # no file descriptor 1 to redirect
        saved = None
    try:
        with redirect_stdout(sys.stderr):
            yield
    finally:
        if saved is not None:
            os.dup2(saved, 1)
            os.close(saved)


def print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2))


def pct(x: float) -> str:
    return f"{100 * x:.2f} %"
