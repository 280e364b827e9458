"""What the commands share: exit codes, errors, argument types, loading a backend and
the data, and keeping stdout clean for ``--json``."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from pathlib import Path
from typing import Any

import numpy as np

from mnist_nets.backends import list_backends

PROG = "mnist-nets"
EXIT_DIVERGED = 1
EXIT_USAGE = 2
EXIT_SYSTEM = 3  # the system refused a read or write: disk full, permission denied, ...
EXIT_INTERNAL = 4  # an unexpected error: a bug
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # stdout's reader went away (`| head`): 128 + SIGPIPE, as a shell says
DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


class UsageError(ValueError):
    """A bad argument found after parsing (exit 2)."""


class Interrupted(Exception):
    """Ctrl-C, with a word on what was saved (exit 130)."""


class TrainingFailed(RuntimeError):
    """Training diverged (exit 1); the message says what was saved."""


class SystemFault(RuntimeError):
    """The system refused a read or write (exit 3); the message names the file and the fix."""


def escaped(text: str) -> str:
    """``text`` with control characters (escape codes, newlines) shown as escapes."""
    return text if text.isprintable() else ascii(text)[1:-1]


def os_reason(exc: OSError) -> str:
    return exc.strerror or str(exc) or type(exc).__name__


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


def load_data(limit: int | None, test_limit: int | None, dataset: str = "mnist"):
    from mnist_nets.data import load_split

    test_limit = test_limit if test_limit is not None else limit
    return (
        load_split("train", limit, dataset=dataset),
        load_split("test", test_limit, dataset=dataset),
    )


def check_out(path: str | None, *, force: bool = False, size_hint: int = 0) -> bool:
    """Fail before training, not after the first epoch, when ``--out`` cannot be written.

    Refused: a folder; a file that is not weights saved by this program (a symlink, a
    FIFO, notes.md, ...) unless ``force``; a file in MNIST's cache or data folder; a
    name too long for the file system; a folder where no file can be created (tried by
    creating and removing a temporary file there); a file system with less than
    ``size_hint`` bytes free.  Returns whether ``path`` exists now.
    """
    if path is None:
        return False
    from mnist_nets.data import cache_dir
    from mnist_nets.fileio import temp_name_prefix
    from mnist_nets.params import is_weights_file

    out = Path(path)
    too_long = [p for p in out.parts if len(os.fsencode(p)) > _NAME_MAX]
    if too_long:
        raise UsageError(
            f"--out {path}: a name in it is {len(os.fsencode(too_long[0])):,} bytes long, file "
            f"systems allow {_NAME_MAX}; choose a shorter name"
        )
    try:
        if out.is_dir():
            raise UsageError(f"--out {path}: is a directory; give a file name such as weights.npz")
        exists = out.is_symlink() or out.exists()
        envs = [os.environ.get(v) for v in ("MNIST_NETS_DATA", "MNIST_NETS_FASHION_DATA")]
        real = out.resolve()
        for folder in [cache_dir(), *(Path(env) for env in envs if env)]:
            if real.parent.is_relative_to(folder.resolve()):
                raise UsageError(
                    f"--out {path}: is inside MNIST's folder {folder}; save weights elsewhere"
                )
        if exists and not force and not is_weights_file(out):
            kind = (
                "a symbolic link"
                if out.is_symlink()
                else "not a regular file"
                if not out.is_file()
                else "not a weights file saved by mnist-nets"
            )
            raise UsageError(
                f"--out {path}: exists and is {kind}; refusing to replace it: choose another "
                "name, or add --force to replace it"
            )
        parent = out.parent
        while not parent.exists():
            parent = parent.parent
        if not parent.is_dir():
            raise UsageError(f"--out {path}: {parent} is not a folder")
        # can a file be created there? (os.access says yes for /proc and /sys as root)
        fd, tmp = tempfile.mkstemp(prefix=temp_name_prefix(out), suffix=".part", dir=parent)
        os.close(fd)
        os.unlink(tmp)
        if size_hint:
            st = os.statvfs(parent)
            free = st.f_bavail * st.f_frsize
            if free < size_hint:  # free is whole blocks, so this is "fewer blocks than needed"
                raise SystemFault(
                    f"--out {path}: {free:,} bytes free on the file system of {parent}, the "
                    f"weights need about {size_hint:,}; free space or choose another place"
                )
    except OSError as exc:
        raise SystemFault(
            f"--out {path}: cannot create a file in {out.parent}: {os_reason(exc)}; "
            "choose a writable place"
        ) from None
    return exists


_NAME_MAX = 255  # bytes in one file name (NAME_MAX on Linux, macOS, Windows)


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
    if sys.stdout is not None:
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
    """One JSON object on stdout; NaN and infinities are refused (they are not JSON)."""
    print(json.dumps(obj, indent=2, allow_nan=False))


def pct(x: float) -> str:
    return f"{100 * x:.2f} %"
