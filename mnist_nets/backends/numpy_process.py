"""*Speed: the second half in a process of its own.*  The numpy backend runs a
convolutional network's training batch as two halves side by side
(:func:`numpy_layers.step_in_halves`).  On two threads of one Python process the halves
wait for each other's interpreter lock between numpy calls: a ``speedrun2`` step of 256
images took 1.42-1.45x the time of one half of 128 alone, where two processes, each
running one half, took 1.16-1.21x (``cnn`` 1.10-1.13 against 1.04-1.05, ``alexnet`` 1.10
against 1.00; 2-core AMD EPYC, one BLAS thread each, docs/numpy-vs-frameworks.md).

So the second half runs in a child process, forked from the model's process once the model
exists.  Nothing else changes: the child computes the same arithmetic on the same
parameters as the thread would, so the results are the same bit for bit.

What the two processes share, in memory mapped into both (``shared_empty``):

* the parameters (``NumpyModel.flat``): the parent updates them in place, and the child's
  layers, views of the same pages, read the new values at the next step;
* the gradient of the second half (``model.twin.flat_grad``): the child writes it, the
  parent adds it to its own;
* the rows of the second half (``SecondProcess.x``), which the parent copies in.

A pipe carries the rest each step, one message each way: which function to run on the
half, its small arguments (the learning rate folded into the gradient, the dropout step,
the labels), and back the half's ``(loss, correct)``.  A model that trains in halves also
evaluates in them (:func:`numpy_layers.forward_in_halves`): then the message asks for the
half's logits, and they come back on the pipe.

Only the Linux ``fork`` start method is used: the child starts as a copy of the model with
nothing to import or build, in a few milliseconds.  (Other systems keep the thread.)  The
child ignores Ctrl-C and ends when the pipe closes: when the model is collected, when the
parent exits or when it is killed.
"""

from __future__ import annotations

import gc
import mmap
import multiprocessing
import signal
import sys
import warnings
import weakref

import numpy as np

# Whether step_in_halves runs its second half in a forked process (else on a thread).
# Forking a process whose other threads hold locks is safe here because the child only
# runs numpy code on its own copy of the model; on macOS, system libraries are not fork-safe.
ENABLED = sys.platform.startswith("linux")


def shared_empty(shape, dtype) -> np.ndarray:
    """An uninitialised array in anonymous shared memory: a child forked after it is made
    sees the parent's writes to it and the parent the child's (pages are not copied on
    write, as the rest of a forked process's memory is)."""
    dtype = np.dtype(dtype)
    count = int(np.prod(shape, dtype=np.int64))
    buf = mmap.mmap(-1, max(count * dtype.itemsize, 1))  # MAP_SHARED | MAP_ANONYMOUS
    return np.frombuffer(buf, dtype, count).reshape(shape)


class SecondProcessError(RuntimeError):
    """The child running the second half of each batch failed or is gone."""


class SecondProcess:
    """A forked child that runs the second half of each training batch of ``model`` for
    :func:`numpy_layers.step_in_halves`: ``submit`` has the signature of an executor's
    (it returns something whose ``result()`` is the half's ``(loss, correct)``), so it
    stands in for the thread pool's."""

    def __init__(self, model, rows: int):
        self.rows = rows  # the most rows a half may have
        self.x = shared_empty((rows, *model.spec.input_shape), model.dtype)
        twin = model.twin  # made before the fork: its gradient vector is shared
        # The child keeps the parent's BLAS settings: train_epoch forks it while BLAS is
        # held to one thread, so that each half has one core (limiting the child's threads
        # itself, by threadpoolctl, took longer than a training step).
        ctx = multiprocessing.get_context("fork")
        self.conn, there = ctx.Pipe()
        # the child closes its copies of the parent's ends of every pipe, its own among
        # them: a pipe's reader sees its end only once no process holds the other end
        parents_ends = [self.conn, *(other.conn for other in _LIVE)]
        self.process = ctx.Process(
            target=_serve,
            args=(model, twin, there, self.x, parents_ends),
            daemon=True,
            name="numpy-half",
        )
        # The objects alive now are frozen for the fork, as Python's docs advise for a fork
        # without exec: a full collection in the child then leaves them alone instead of
        # writing into (so copying) every page of the parent's heap that holds one.  The
        # parent's own collector takes them back at once.
        gc.freeze()
        try:
            with warnings.catch_warnings():  # JAX, if imported, warns at any fork
                warnings.simplefilter("ignore")
                self.process.start()
        finally:
            gc.unfreeze()
        there.close()
        self._stop = weakref.finalize(self, _stop, self.conn, self.process)
        _LIVE.add(self)

    def submit(self, half_step, side, x, y, n, errors, first_row) -> SecondProcess:
        """Start the half ``half_step(model, *args, side, x, y, n, errors, first_row)`` in
        the child, ``half_step`` being a ``functools.partial`` of a module function whose
        first argument is the model (the child puts its copy there, and its twin for
        ``side``)."""
        rows = len(x)
        if rows > self.rows:
            raise ValueError(f"a half of {rows} rows does not fit the {self.rows} shared rows")
        self.x[:rows] = x
        model, *args = half_step.args
        message = (half_step.func, args, rows, y, n, errors, first_row, model.dropout_step)
        try:
            self.conn.send(message)
        except (BrokenPipeError, OSError) as e:
            raise self._gone() from e
        return self

    def result(self):
        """The half's ``(loss, correct)``, once the child has filled its gradient."""
        try:
            status, value = self.conn.recv()
        except (EOFError, OSError) as e:
            raise self._gone() from e
        if status != "ok":
            raise SecondProcessError(f"the numpy backend's second half failed: {value}")
        return value

    def _gone(self) -> SecondProcessError:
        self.process.join(1)
        return SecondProcessError(
            "the numpy backend's second process (the other half of each batch) ended with "
            f"exit code {self.process.exitcode}; if memory ran out, train with a smaller "
            "--batch-size"
        )

    def close(self) -> None:
        self._stop()


def _stop(conn, process) -> None:
    conn.close()  # the child's recv() then ends, and the child with it
    process.join(5)
    if process.is_alive():
        process.kill()
        process.join()


# The second processes of the models alive in this process.
_LIVE: weakref.WeakSet[SecondProcess] = weakref.WeakSet()


def _serve(model, twin, conn, x, parents_ends) -> None:
    """The child: for each message, one half through the twin's layers, then its result."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and ends us
    for end in parents_ends:
        end.close()
    while True:
        try:
            func, args, rows, y, n, errors, first_row, dropout_step = conn.recv()
        except (EOFError, OSError):
            return
        model.dropout_step = dropout_step  # this batch's dropout masks
        try:
            out = func(model, *args, twin, x[:rows], y, n, errors, first_row)
        except Exception as e:  # reported by the parent's result(), in one line
            conn.send(("error", f"{type(e).__name__}: {e}"))
        else:
            conn.send(("ok", out))
