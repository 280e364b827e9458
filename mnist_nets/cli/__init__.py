"""Command line: ``python -m mnist_nets`` / ``mnist-nets``.

Commands: ``data fetch``, ``specs``, ``train``, ``evaluate``, ``predict``, ``compare``.

Exit codes: 0 success; 1 training diverged (loss NaN or infinite); 2 bad input (an
unknown model, framework or device, a bad number, a missing or malformed weights
file or image, MNIST unavailable), told in one line on stderr; 130 interrupted
(Ctrl-C).  Results go to stdout (with ``--json``: one JSON object and nothing else);
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
from mnist_nets.cli.common import (
    EXIT_DIVERGED,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    PROG,
    Interrupted,
    TrainingFailed,
    UsageError,
    err,
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


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return args.func(args)
    except Interrupted as exc:
        err(f"{PROG}: {exc}")
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        err(f"{PROG}: interrupted")
        return EXIT_INTERRUPTED
    except TrainingFailed as exc:
        if os.environ.get("MNIST_NETS_DEBUG"):
            raise
        err(f"{PROG}: error: {exc}")
        return EXIT_DIVERGED
    except _USAGE_ERRORS as exc:
        if os.environ.get("MNIST_NETS_DEBUG"):
            raise
        err(f"{PROG}: error: {exc}")
        return EXIT_USAGE
    except BrokenPipeError:  # `mnist-nets ... | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
