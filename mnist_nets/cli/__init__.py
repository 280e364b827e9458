"""Command line: ``python -m mnist_nets`` / ``mnist-nets``.

Commands: ``data fetch``, ``specs``, ``train``, ``evaluate``, ``predict``, ``compare``,
``export`` (weights as an ONNX model) and ``serve`` (the draw-a-digit page).

Exit codes (docs/cli.md says what each command guarantees about files):

* 0 success;
* 1 training diverged (loss, weights or outputs NaN or infinite);
* 2 bad input: an unknown model, framework or device, a bad number, a missing or
  malformed weights file or image, an ``--out`` that would replace a file that is not
  weights, MNIST unavailable or corrupt, a framework not installed or failing to import,
  a bad ``$MNIST_NETS_ALLOCATOR`` (see :func:`mnist_nets.machine.tune_allocator`);
* 3 the system refused a read or write: a full disk, permission denied, a read-only or
  special file system, an unwritable stdout, out of memory, the numpy backend's second
  process (the other half of each batch) killed;
* 4 an unexpected error (a bug: rerun with ``MNIST_NETS_DEBUG=1`` and report it);
* 130 interrupted (Ctrl-C; ``serve`` stops so); 141 stdout's reader went away
  (``| head``), silently.

Every error but 141 is told in one line on stderr, naming the file or thing at fault and
what to do.  Results go to stdout (with ``--json``: one JSON object and nothing else);
progress bars and messages go to stderr.  ``MNIST_NETS_DEBUG=1`` shows the traceback
behind an error.

``--limit K`` takes the first K training images *and* the first K test images (at
most 10,000), for quick runs; ``--test-limit`` sets the test set apart.

Importing this module imports neither torch nor TensorFlow: a framework is loaded
only when a command asks for its backend.

One module per command (``info``: data fetch and specs; ``train``, ``evaluate``,
``predict``, ``compare``), what they share in ``common``, the argument parser in
``parser``, and :func:`main` here.
"""

from __future__ import annotations

import os
import sys

from mnist_nets.backends import BackendUnavailable, DeviceError
from mnist_nets.backends.numpy_process import SecondProcessError
from mnist_nets.cli.common import (
    EXIT_BROKEN_PIPE,
    EXIT_DIVERGED,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_SYSTEM,
    EXIT_USAGE,
    PROG,
    Interrupted,
    SystemFault,
    TrainingFailed,
    UsageError,
    err,
    os_reason,
)
from mnist_nets.cli.parser import build_parser
from mnist_nets.data import DataError
from mnist_nets.images import ImageError
from mnist_nets.params import ParamsError
from mnist_nets.specs import SpecError

__all__ = ["main"]

_USAGE_ERRORS = (
    UsageError,
    SpecError,
    ParamsError,
    DataError,
    DeviceError,
    BackendUnavailable,
    ImageError,
    ValueError,
)


def _one_line(exc: BaseException, limit: int = 300) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _silence_stdout() -> None:
    """Point file descriptor 1 at /dev/null, so that the flush at exit cannot fail again."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):
        pass


class StdoutError(OSError):
    """Writing the results to stdout failed (a full disk, ``> /dev/full``, ...)."""


class _CheckedStdout:
    """sys.stdout, with a failed write or flush raised as :class:`StdoutError`."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise StdoutError(exc.errno, os_reason(exc)) from None

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise StdoutError(exc.errno, os_reason(exc)) from None

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


def main(argv: list[str] | None = None) -> int:
    real_stdout = sys.stdout
    if real_stdout is not None and not isinstance(real_stdout, _CheckedStdout):
        sys.stdout = _CheckedStdout(real_stdout)
    try:
        return _main(argv)
    finally:
        sys.stdout = real_stdout


def _main(argv: list[str] | None) -> int:
    debug = bool(os.environ.get("MNIST_NETS_DEBUG"))
    try:
        args = build_parser().parse_args(argv)
        code = args.func(args)
        if sys.stdout is not None:  # None under pythonw: print() writes nowhere
            sys.stdout.flush()  # a full or closed stdout fails here, while we can still say so
        return code
    except StdoutError as exc:
        if debug:
            raise
        err(
            f"{PROG}: error: cannot write the results to stdout: {exc.strerror}; "
            "send them to a writable place"
        )
        _silence_stdout()
        return EXIT_SYSTEM
    except Interrupted as exc:
        err(f"{PROG}: {exc}")
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        err(f"{PROG}: interrupted")
        return EXIT_INTERRUPTED
    except TrainingFailed as exc:
        if debug:
            raise
        err(f"{PROG}: error: {exc}")
        return EXIT_DIVERGED
    except _USAGE_ERRORS as exc:
        if debug:
            raise
        err(f"{PROG}: error: {exc}")
        return getattr(exc, "exit_code", EXIT_USAGE)
    except BrokenPipeError:  # `mnist-nets ... | head`
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except (SystemFault, SecondProcessError) as exc:
        if debug:
            raise
        err(f"{PROG}: error: {exc}")
        return EXIT_SYSTEM
    except OSError as exc:
        if debug:
            raise
        where = f"{exc.filename}: " if exc.filename is not None else ""
        err(
            f"{PROG}: error: {where}{os_reason(exc)} (errno {exc.errno}); free space or fix "
            "the permissions there, then run the command again"
        )
        return EXIT_SYSTEM
    except MemoryError:
        if debug:
            raise
        err(f"{PROG}: error: out of memory; try a smaller --batch-size or --limit")
        return EXIT_SYSTEM
    except Exception as exc:  # a bug: one line still, and the way to see more
        if debug:
            raise
        err(
            f"{PROG}: internal error: {type(exc).__name__}: {_one_line(exc)}; rerun with "
            "MNIST_NETS_DEBUG=1 for the traceback and report it"
        )
        return EXIT_INTERNAL
