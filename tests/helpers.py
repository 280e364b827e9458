"""What several test files share: stand-ins, fakes and runners (imported as ``helpers``,
as ``spec_strategies`` is; no test module imports another)."""

from __future__ import annotations

import errno
import os
import time

import numpy as np

from mnist_nets.backends.base import Backend, batch_lrs
from mnist_nets.cli import main
from mnist_nets.data import Split

# --------------------------------------------------------------------------- the CLI


def run(capsys, *args) -> tuple[int, str, str]:
    """``main(args)`` in this process: (exit code, stdout, stderr of this call alone);
    argparse's own exits (``--help``, its errors) come back as their exit codes."""
    capsys.readouterr()
    try:
        code = main([str(a) for a in args])
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def one_line(err: str) -> str:
    """The one line of a CLI error on stderr (no traceback, the program's name first)."""
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("mnist-nets"), lines[0]
    return lines[0]


def enospc(*_args, **_kwargs):
    """A stand-in for a write that finds the disk full."""
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


class FullStdout:
    """A stdout on a full disk: writing (or only flushing) fails."""

    def __init__(self, fail_write: bool, error: type[OSError] = OSError):
        self.fail_write, self.error, self.written = fail_write, error, []

    def write(self, text):
        if self.fail_write:
            raise self.error(errno.ENOSPC, "No space left on device")
        self.written.append(text)
        return len(text)

    def flush(self):
        raise self.error(errno.ENOSPC, "No space left on device")

    def fileno(self):
        raise OSError("no file descriptor")


# Bad command lines and the words of their one-line error (exit 2), run by test_cli.py in a
# subprocess and by test_cli_inprocess.py in this process; {tmp} is the test's tmp_path.
BAD_ARGS = [
    (["train", "--model", "lenet5"], "invalid choice: 'lenet5' (choose from 'perceptron'"),
    (["train", "--model", "cnn", "--framework", "caffe"], "'caffe' (choose from 'numpy', 'torch'"),
    (["train", "--model", "cnn", "--device", "tpu"], "invalid choice: 'tpu'"),
    (["train", "--model", "perceptron", "--device", "cuda", "--limit", "10"], "not available"),
    (["train", "--model", "cnn", "--epochs", "0"], "--epochs: must be a positive integer, got 0"),
    (["train", "--model", "cnn", "--epochs", "-2"], "--epochs: must be a positive integer"),
    (["train", "--model", "cnn", "--epochs", "two"], "--epochs: expected a positive integer"),
    (["train", "--model", "cnn", "--lr", "0"], "--lr: must be a positive finite number"),
    (["train", "--model", "cnn", "--lr", "-0.1"], "--lr: must be a positive finite number"),
    (["train", "--model", "cnn", "--lr", "inf"], "--lr: must be a positive finite number"),
    (["train", "--model", "cnn", "--batch-size", "0"], "--batch-size: must be a positive integer"),
    (["train", "--model", "cnn", "--limit", "-5"], "--limit: must be a positive integer"),
    (["train", "--model", "cnn", "--seed", "-1"], "--seed: must be in [0, 2**31)"),
    (["train", "--model", "perceptron", "--out", "{tmp}"], "is a directory"),
    (["train", "--epochs", "1"], "required: --model"),
    (["evaluate", "{tmp}/missing.npz"], "no such weights file"),
    (["evaluate", "{tmp}/garbage.npz"], "not a readable .npz weights file"),
    (["evaluate", "{tmp}/foreign.npz"], "not a mnist_nets weights file"),
    (["evaluate", "{tmp}/foreign.npz", "--framework", "caffe"], "invalid choice: 'caffe'"),
    (["predict", "{tmp}/missing.npz", "{tmp}/digit.png"], "no such weights file"),
    (["specs", "lenet5"], "unknown model 'lenet5'; choose one of: perceptron"),
    (["compare", "--model", "cnn", "--frameworks", "numpy,caffe"], "unknown framework(s) 'caffe'"),
    (["data", "fetch", "--data-dir", "{tmp}"], "checksum mismatch"),
    ([], "required: COMMAND"),
]


# --------------------------------------------------------------------------- training


class Scripted(Backend):
    """A stand-in backend for the training loop: reports the losses it is given; records the
    orders, learning rates, momentum and batch sizes it is asked for (``calls``) and the
    update rules (``updates``)."""

    name = "scripted"

    def __init__(self, losses_per_epoch, predict_seconds=0.0):
        self.losses_per_epoch = losses_per_epoch  # per call of train_epoch
        self.predict_seconds = predict_seconds
        self.calls = []
        self.updates = []

    def build(self, spec, params, device="cpu", seed=0):
        return None

    def forward(self, model, x, training=False):
        time.sleep(self.predict_seconds)
        logits = np.zeros((len(x), 10), np.float32)
        logits[:, 3] = 1.0  # always predicts 3
        return logits

    def activations(self, model, x):
        raise NotImplementedError

    def loss_and_grads(self, model, x, y):
        raise NotImplementedError

    def export_params(self, model):
        return {}

    def _train_epoch(self, model, staged, order, *, lr, update, batch_size, sync_every, on_sync):
        lrs = batch_lrs(lr, -(-len(order) // batch_size)).tolist()
        self.calls.append((order.copy(), lrs, update.momentum, batch_size))
        self.updates.append(update)
        losses = np.asarray(self.losses_per_epoch[len(self.calls) - 1], dtype=np.float64)
        for first in range(0, len(losses), sync_every):
            chunk = losses[first : first + sync_every]
            on_sync(first, chunk, np.full(len(chunk), 2.0))


def split(n):
    y = np.arange(n, dtype=np.uint8) % 10
    return Split(np.zeros((n, 28, 28, 1), np.float32), y)
