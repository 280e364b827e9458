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
"""

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

from mnist_nets.backends import BackendUnavailable, DeviceError, list_backends
from mnist_nets.data import DataError, cache_dir, mnist_files
from mnist_nets.images import ImageError
from mnist_nets.params import ParamsError
from mnist_nets.specs import SpecError, get_spec, list_specs

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


def _err(message: str) -> None:
    try:
        print(message, file=sys.stderr, flush=True)
    except OSError:  # stderr closed: nobody to tell
        pass


# --------------------------------------------------------------------------- argument types


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive finite number, got {text}")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if not 0 <= value < 2**31:
        raise argparse.ArgumentTypeError(f"must be in [0, 2**31), got {text}")
    return value


def _frameworks(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in list_backends()]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown framework(s) {', '.join(map(repr, unknown)) or repr(text)}; "
            f"choose from: {', '.join(list_backends())}"
        )
    return list(dict.fromkeys(names))


# --------------------------------------------------------------------------- shared helpers


def _load_backend(name: str):
    """The backend ``name``; TensorFlow's C++ start-up chatter is turned down first."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from mnist_nets.backends import get_backend

    return get_backend(name)


def _resolve_device(backend, device: str) -> str:
    """``auto``: the backend's GPU when it sees one, else the CPU; otherwise checked."""
    if device == "auto":
        gpus = [d for d in backend.devices() if d != "cpu"]
        return gpus[0] if gpus else "cpu"
    return backend.check_device(device)


def _load_data(limit: int | None, test_limit: int | None):
    from mnist_nets.data import load_split

    test_limit = test_limit if test_limit is not None else limit
    return load_split("train", limit), load_split("test", test_limit)


def _check_out(path: str | None) -> None:
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


def _logits(backend, model, x: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """Eval-mode logits for ``x``, in batches."""
    out = [backend.forward(model, x[i : i + batch_size]) for i in range(0, len(x), batch_size)]
    return np.concatenate(out).astype(np.float64)


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits - logits.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


@contextmanager
def _stdout_to_stderr(active: bool) -> Iterator[None]:
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


def _print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2))


def _pct(x: float) -> str:
    return f"{100 * x:.2f} %"


# --------------------------------------------------------------------------- data, specs


def cmd_data_fetch(args: argparse.Namespace) -> int:
    files = mnist_files(args.data_dir, log=_err)
    for name, path in files.items():
        print(f"{name}: {path}")
    print(f"MNIST verified (sha256); cache: {cache_dir()}", file=sys.stderr)
    return 0


def cmd_specs(args: argparse.Namespace) -> int:
    names = args.models or list_specs()
    specs = [get_spec(name) for name in names]
    if args.json:
        _print_json(
            [
                {
                    **spec.to_dict(),
                    "output_shapes": [list(s) for s in spec.output_shapes],
                    "param_count": spec.param_count,
                    "flops_forward": spec.flops_forward,
                    "flops_training": spec.flops_training,
                }
                for spec in specs
            ]
        )
        return 0
    for i, spec in enumerate(specs):
        if i:
            print()
        print(f"== {spec.name}: {spec.description}")
        print(spec.summary())
    return 0


# --------------------------------------------------------------------------- train


def _train_one(
    spec,
    backend,
    device: str,
    data,
    *,
    epochs: int,
    lr: float,
    batch_size: int,
    seed: int,
    params: dict,
    out: str | None = None,
    quiet: bool = False,
    label: str = "",
):
    """Build and train one model; returns ``(model, history)``.

    With ``out``, the weights are saved after every complete epoch (atomically, and
    only when finite).  A divergence raises :class:`TrainingFailed`, Ctrl-C
    :class:`Interrupted`, each saying which epoch's weights ``out`` holds.
    """
    from mnist_nets.params import save_params
    from mnist_nets.progress import BarProgress
    from mnist_nets.training import Diverged

    saved: list[int] = []

    def saved_note() -> str:
        if out is None:
            return ""
        if saved:
            return f"; {out} holds the weights of epoch {saved[-1]}, the last complete one"
        return f"; no weights were saved to {out}"

    def on_epoch_end(record, model) -> None:
        if out is None:
            return
        weights = backend.export_params(model)
        bad = [name for name, value in weights.items() if not np.all(np.isfinite(value))]
        if bad:
            raise TrainingFailed(
                f"training diverged: {', '.join(bad)} became NaN or infinite in epoch "
                f"{record.epoch} (learning rate {record.lr:g}); try a lower learning rate, "
                f"e.g. --lr {record.lr / 10:g}" + saved_note()
            )
        save_params(out, spec, weights)
        saved.append(record.epoch)

    model = backend.build(spec, params, device=device, seed=seed)
    r = spec.recipe
    progress = BarProgress(label=label, disable=quiet)
    try:
        history = backend.train(
            model,
            data,
            epochs,
            lr,
            batch_size,
            seed,
            momentum=r.momentum,
            lr_decay=r.lr_decay,
            progress=progress,
            on_epoch_end=on_epoch_end,
        )
    except Diverged as exc:
        where = f"{label}: " if label else ""
        raise TrainingFailed(f"{where}{exc}{saved_note()}") from None
    except KeyboardInterrupt:
        raise Interrupted("interrupted" + saved_note()) from None
    finally:
        progress.close()  # the bar ends where it stands, before main prints any message
    return model, history


def _recipe_values(spec, args: argparse.Namespace) -> tuple[int, float, int]:
    r = spec.recipe
    return (args.epochs or r.epochs, args.lr or r.lr, args.batch_size or r.batch_size)


def cmd_train(args: argparse.Namespace) -> int:
    spec = get_spec(args.model)
    epochs, lr, batch_size = _recipe_values(spec, args)
    _check_out(args.out)
    with _stdout_to_stderr(args.json):
        from mnist_nets.params import init_params

        backend = _load_backend(args.framework)
        device = _resolve_device(backend, args.device)
        train, test = _load_data(args.limit, args.test_limit)
        _, history = _train_one(
            spec,
            backend,
            device,
            (train, test),
            epochs=epochs,
            lr=lr,
            batch_size=batch_size,
            seed=args.seed,
            params=init_params(spec, args.seed),
            out=args.out,
            quiet=args.quiet,
        )
        device_name = backend.device_name(device)
        versions = backend.versions()
    final = history.final
    if args.json:
        _print_json(
            {
                "model": spec.name,
                "framework": args.framework,
                "device": device,
                "device_name": device_name,
                "epochs": epochs,
                "lr": lr,
                "batch_size": batch_size,
                "momentum": spec.recipe.momentum,
                "lr_decay": spec.recipe.lr_decay,
                "seed": args.seed,
                "train_samples": len(train),
                "test_samples": len(test),
                "train_seconds": history.train_seconds,
                "test_accuracy": final.test_accuracy,
                "history": history.to_dict()["epochs"],
                "weights": args.out,
                "versions": versions,
            }
        )
        return 0
    rate = sum(r.samples for r in history.epochs) / max(history.train_seconds, 1e-9)
    print(
        f"{spec.name} in {args.framework} on {device} ({device_name}): "
        f"{epochs} epoch{'s' if epochs > 1 else ''} of {len(train):,} training images, "
        f"lr {lr:g}, batch {batch_size}, seed {args.seed}"
    )
    print(
        f"test accuracy {_pct(final.test_accuracy)} on {len(test):,} test images; "
        f"trained in {history.train_seconds:.1f} s ({rate:,.0f} samples/s)"
    )
    if args.out:
        print(f"weights saved to {args.out}")
    return 0


# --------------------------------------------------------------------------- evaluate


def cmd_evaluate(args: argparse.Namespace) -> int:
    from mnist_nets.params import load_params

    spec, params = load_params(args.weights)
    with _stdout_to_stderr(args.json):
        backend = _load_backend(args.framework)
        device = _resolve_device(backend, args.device)
        _, test = _load_data(None, args.limit)
        model = backend.build(spec, params, device=device)
        predicted = np.asarray(backend.predict(model, backend.stage(model, test.x)))
    confusion = np.zeros((10, 10), dtype=np.int64)
    np.add.at(confusion, (test.y.astype(np.int64), predicted.astype(np.int64)), 1)
    correct = int(np.trace(confusion))
    accuracy = correct / len(test)
    if args.json:
        _print_json(
            {
                "weights": args.weights,
                "model": spec.name,
                "framework": args.framework,
                "device": device,
                "test_samples": len(test),
                "correct": correct,
                "test_accuracy": accuracy,
                "confusion": confusion.tolist(),
            }
        )
        return 0
    print(
        f"{spec.name} weights from {args.weights}, evaluated in {args.framework} on {device}: "
        f"test accuracy {_pct(accuracy)} ({correct:,} of {len(test):,})"
    )
    print("confusion matrix (rows: true digit, columns: predicted digit):")
    width = max(5, len(f"{confusion.max():,}") + 1)
    print("true " + "".join(f"{d:>{width}}" for d in range(10)) + "   recall")
    for d in range(10):
        total = confusion[d].sum()
        recall = f"{100 * confusion[d, d] / total:6.1f} %" if total else "      -"
        cells = "".join(f"{n:>{width},}" for n in confusion[d])
        print(f"{d:>4} {cells} {recall}")
    return 0


# --------------------------------------------------------------------------- predict


def cmd_predict(args: argparse.Namespace) -> int:
    from mnist_nets.images import load_digit
    from mnist_nets.params import load_params

    spec, params = load_params(args.weights)
    x = np.stack([load_digit(path) for path in args.images])
    with _stdout_to_stderr(args.json):
        backend = _load_backend(args.framework)
        device = _resolve_device(backend, args.device)
        model = backend.build(spec, params, device=device)
        probs = _softmax(_logits(backend, model, x))
    digits = probs.argmax(axis=1)
    if args.json:
        _print_json(
            [
                {"image": path, "digit": int(d), "probabilities": [float(p) for p in row]}
                for path, d, row in zip(args.images, digits, probs, strict=True)
            ]
        )
        return 0
    name_width = max(5, *(len(p) for p in args.images))
    print(f"{'image':<{name_width}}  digit  " + "  ".join(f"{d:>5}" for d in range(10)))
    for path, d, row in zip(args.images, digits, probs, strict=True):
        cells = "  ".join(f"{p:5.3f}" for p in row)
        print(f"{path:<{name_width}}  {d:>5}  {cells}")
    return 0


# --------------------------------------------------------------------------- compare


def cmd_compare(args: argparse.Namespace) -> int:
    from mnist_nets.params import init_params

    spec = get_spec(args.model)
    epochs, lr, batch_size = _recipe_values(spec, args)
    explicit = args.frameworks is not None
    frameworks = args.frameworks or list_backends()
    results: list[dict[str, Any]] = []
    logits: dict[str, np.ndarray] = {}
    with _stdout_to_stderr(args.json):
        train, test = _load_data(args.limit, args.test_limit)
        params = init_params(spec, args.seed)
        for name in frameworks:
            try:
                backend = _load_backend(name)
            except BackendUnavailable as exc:
                if explicit:
                    raise
                _err(f"{PROG}: skipping {name}: {exc}")
                continue
            device = _resolve_device(backend, args.device)
            model, history = _train_one(
                spec,
                backend,
                device,
                (train, test),
                epochs=epochs,
                lr=lr,
                batch_size=batch_size,
                seed=args.seed,
                params=params,
                quiet=args.quiet,
                label=name,
            )
            logits[name] = _logits(backend, model, test.x)
            results.append(
                {
                    "framework": name,
                    "device": device,
                    "device_name": backend.device_name(device),
                    "test_accuracy": history.final.test_accuracy,
                    "train_seconds": history.train_seconds,
                    "samples_per_second": sum(r.samples for r in history.epochs)
                    / max(history.train_seconds, 1e-9),
                    "history": history.to_dict()["epochs"],
                }
            )
    if not results:
        raise UsageError("no framework could be loaded; install one (see requirements.txt)")
    names = list(logits)
    pairs = {
        f"{a} vs {b}": float(np.max(np.abs(logits[a] - logits[b])))
        for i, a in enumerate(names)
        for b in names[i + 1 :]
    }
    if args.json:
        _print_json(
            {
                "model": spec.name,
                "epochs": epochs,
                "lr": lr,
                "batch_size": batch_size,
                "seed": args.seed,
                "train_samples": len(train),
                "test_samples": len(test),
                "results": results,
                "max_abs_logit_diff": pairs,
            }
        )
        return 0
    print(
        f"{spec.name}: {epochs} epoch{'s' if epochs > 1 else ''} on {len(train):,} training "
        f"images (lr {lr:g}, batch {batch_size}, seed {args.seed}), the same initial weights "
        f"and data order in each framework; tested on {len(test):,} images"
    )
    first = names[0]
    header = f"{'framework':<11} {'device':<6} {'test acc':>9} {'train s':>8} {'samples/s':>10}"
    print(header + f"  max |logit - {first}|")
    for r in results:
        diff = np.max(np.abs(logits[r["framework"]] - logits[first]))
        print(
            f"{r['framework']:<11} {r['device']:<6} {_pct(r['test_accuracy']):>9} "
            f"{r['train_seconds']:>8.2f} {r['samples_per_second']:>10,.0f}  "
            + ("-" if r["framework"] == first else f"{diff:.3g}")
        )
    if len(pairs) > 1:
        print(
            "max |logit difference| by pair: "
            + ", ".join(f"{pair} {diff:.3g}" for pair, diff in pairs.items())
        )
    if spec.has_dropout:
        print(
            "note: this network has dropout, whose masks each framework draws from its own "
            "random generator, so the runs differ by more than rounding"
        )
    return 0


# --------------------------------------------------------------------------- parser


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors told in one line (and exit code 2)."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _add_framework(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--framework",
        default="numpy",
        choices=list_backends(),
        metavar="F",
        help=f"{', '.join(list_backends())} (default: numpy)",
    )


def _add_device(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--device",
        default="auto",
        choices=DEVICE_CHOICES,
        metavar="D",
        help="auto (default: a GPU when the framework sees one, else the CPU), cpu, cuda, mps",
    )


def _add_run_options(p: argparse.ArgumentParser, *, framework: bool) -> None:
    """The options of a training run (train, compare)."""
    p.add_argument(
        "--model", required=True, choices=list_specs(), metavar="M", help=", ".join(list_specs())
    )
    if framework:
        _add_framework(p)
    _add_device(p)
    recipe = "default: the model's recipe, see `mnist-nets specs`"
    p.add_argument("--epochs", type=_positive_int, metavar="N", help=f"epochs ({recipe})")
    p.add_argument("--lr", type=_positive_float, metavar="X", help=f"learning rate ({recipe})")
    p.add_argument("--batch-size", type=_positive_int, metavar="B", help=f"batch size ({recipe})")
    p.add_argument(
        "--limit",
        type=_positive_int,
        metavar="K",
        help="train on the first K training images and test on the first K test images "
        "(default: all 60,000 and 10,000)",
    )
    p.add_argument(
        "--test-limit",
        type=_positive_int,
        metavar="K",
        help="test on the first K test images (default: as --limit, or all 10,000)",
    )
    p.add_argument(
        "--seed",
        type=_seed,
        default=0,
        metavar="S",
        help="fixes the initial weights and the data order (default: 0)",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--json", action="store_true", help="print one JSON object on stdout, nothing else"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="The classic MNIST networks in numpy, PyTorch and TensorFlow.",
        epilog="Exit codes: 0 ok, 1 training diverged, 2 bad input, 130 interrupted. "
        "Results go to stdout, progress and messages to stderr.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    data = sub.add_parser("data", help="the MNIST files")
    data_sub = data.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    fetch = data_sub.add_parser("fetch", help="fetch and verify MNIST into the cache")
    fetch.add_argument("--data-dir", help="a directory holding the IDX files (raw or .gz)")
    fetch.set_defaults(func=cmd_data_fetch)

    specs = sub.add_parser("specs", help="the architectures: layers, shapes, parameters, FLOPs")
    specs.add_argument("models", nargs="*", metavar="M", help=", ".join(list_specs()))
    specs.add_argument("--json", action="store_true", help="print the specs as JSON")
    specs.set_defaults(func=cmd_specs)

    train = sub.add_parser(
        "train",
        help="train a model on MNIST",
        description="Train a model on MNIST from init_params(spec, seed) with the model's "
        "recipe (SGD with momentum, learning-rate decay), showing a progress bar on stderr.",
    )
    _add_run_options(train, framework=True)
    train.add_argument(
        "--out",
        metavar="FILE",
        help="save the weights (.npz) after every complete epoch; the file is always whole",
    )
    train.set_defaults(func=cmd_train)

    evaluate = sub.add_parser(
        "evaluate",
        help="test accuracy and confusion matrix of saved weights",
        description="Test accuracy and confusion matrix of weights saved by `train --out`, "
        "in any framework.",
    )
    evaluate.add_argument("weights", help="a .npz file saved by `train --out`")
    _add_framework(evaluate)
    _add_device(evaluate)
    evaluate.add_argument(
        "--limit", type=_positive_int, metavar="K", help="the first K test images only"
    )
    evaluate.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    evaluate.set_defaults(func=cmd_evaluate)

    predict = sub.add_parser(
        "predict",
        help="classify pictures of digits (PNG, JPEG, ...)",
        description="The digit and the class probabilities (softmax of the outputs) for each "
        "image, made MNIST-like first: grayscale, inverted when the background is light, "
        "the digit scaled into 20x20 and centred by its centre of mass in 28x28.",
    )
    predict.add_argument("weights", help="a .npz file saved by `train --out`")
    predict.add_argument("images", nargs="+", metavar="IMAGE")
    _add_framework(predict)
    _add_device(predict)
    predict.add_argument("--json", action="store_true", help="print JSON on stdout")
    predict.set_defaults(func=cmd_predict)

    compare = sub.add_parser(
        "compare",
        help="train one model in every framework from the same start and compare",
        description="Train one model in each framework from the same initial weights and "
        "data order; print accuracies, times and the largest logit differences.",
    )
    _add_run_options(compare, framework=False)
    compare.add_argument(
        "--frameworks",
        type=_frameworks,
        metavar="F,F",
        help=f"comma-separated (default: every installed one of {', '.join(list_backends())})",
    )
    compare.set_defaults(func=cmd_compare)
    return parser


# --------------------------------------------------------------------------- main

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
        _err(f"{PROG}: {exc}")
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        _err(f"{PROG}: interrupted")
        return EXIT_INTERRUPTED
    except TrainingFailed as exc:
        if os.environ.get("MNIST_NETS_DEBUG"):
            raise
        _err(f"{PROG}: error: {exc}")
        return EXIT_DIVERGED
    except _USAGE_ERRORS as exc:
        if os.environ.get("MNIST_NETS_DEBUG"):
            raise
        _err(f"{PROG}: error: {exc}")
        return EXIT_USAGE
    except BrokenPipeError:  # `mnist-nets ... | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
