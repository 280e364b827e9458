"""The argument parser: every command, its options and their help."""

from __future__ import annotations

import argparse

from mnist_nets.backends import FRAMEWORKS, list_backends
from mnist_nets.backends.base import DTYPES
from mnist_nets.cli.common import (
    DEVICE_CHOICES,
    EXIT_USAGE,
    PROG,
    frameworks_arg,
    positive_float,
    positive_int,
    seed_arg,
)
from mnist_nets.cli.compare import cmd_compare
from mnist_nets.cli.evaluate import cmd_evaluate
from mnist_nets.cli.export import cmd_export
from mnist_nets.cli.info import cmd_data_fetch, cmd_specs
from mnist_nets.cli.predict import cmd_predict
from mnist_nets.cli.serve import cmd_serve, port_arg
from mnist_nets.cli.train import cmd_train
from mnist_nets.data import DATASETS
from mnist_nets.engines import list_engines
from mnist_nets.specs import list_specs


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


def _add_engine(p: argparse.ArgumentParser) -> None:
    """``--engine``: a backend, or an engine that only infers (onnxruntime), from the
    registry of engines; ``--framework``, the older name, is the same option (unlisted)."""
    p.add_argument(
        "--engine",
        dest="framework",
        default="numpy",
        choices=list_engines(),
        metavar="E",
        help=f"{', '.join(list_engines())} (default: numpy; --framework E is the same)",
    )
    p.add_argument(
        "--framework",
        dest="framework",
        default=argparse.SUPPRESS,
        choices=list_engines(),
        help=argparse.SUPPRESS,
    )


def _add_dataset(p: argparse.ArgumentParser, default: str | None = "mnist") -> None:
    p.add_argument(
        "--dataset",
        default=default,
        choices=list(DATASETS),
        metavar="DS",
        help="mnist or fashion-mnist (default: "
        + ("mnist" if default else "the one the weights were trained on")
        + ")",
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
    _add_dataset(p)
    _add_device(p)
    recipe = "default: the model's recipe, see `mnist-nets specs`"
    p.add_argument("--epochs", type=positive_int, metavar="N", help=f"epochs ({recipe})")
    p.add_argument("--lr", type=positive_float, metavar="X", help=f"learning rate ({recipe})")
    p.add_argument("--batch-size", type=positive_int, metavar="B", help=f"batch size ({recipe})")
    p.add_argument(
        "--limit",
        type=positive_int,
        metavar="K",
        help="train on the first K training images and test on the first K test images "
        "(default: all 60,000 and 10,000)",
    )
    p.add_argument(
        "--test-limit",
        type=positive_int,
        metavar="K",
        help="test on the first K test images (default: as --limit, or all 10,000)",
    )
    p.add_argument(
        "--seed",
        type=seed_arg,
        default=0,
        metavar="S",
        help="fixes the initial weights and the data order (default: 0)",
    )
    p.add_argument(
        "--dtype",
        choices=DTYPES,
        default="float32",
        metavar="P",
        help=f"{' or '.join(DTYPES)}: the precision of the arithmetic (default: float32). "
        "float64 shows that the "
        "frameworks compute the same function: in float32 a unit within rounding of ReLU's "
        "kink may take either side, and training amplifies that (docs/conventions.md). "
        "Weights are saved as float32 either way",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--json", action="store_true", help="print one JSON object on stdout, nothing else"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="The classic MNIST networks in "
        + ", ".join(f.label for f in FRAMEWORKS)
        + ".",
        epilog="Exit codes: 0 ok, 1 training diverged, 2 bad input, 3 a file or stream could "
        "not be read or written (disk full, permission denied), 4 internal error, 130 "
        "interrupted, 141 stdout closed. "
        "Results go to stdout, progress and messages to stderr.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    data = sub.add_parser("data", help="the MNIST and Fashion-MNIST files")
    data_sub = data.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    fetch = data_sub.add_parser(
        "fetch", help="fetch and verify MNIST (or Fashion-MNIST) into the cache"
    )
    fetch.add_argument("--data-dir", help="a directory holding the IDX files (raw or .gz)")
    _add_dataset(fetch)
    fetch.set_defaults(func=cmd_data_fetch)

    specs = sub.add_parser("specs", help="the architectures: layers, shapes, parameters, FLOPs")
    specs.add_argument("models", nargs="*", metavar="M", help=", ".join(list_specs()))
    specs.add_argument("--json", action="store_true", help="print the specs as JSON")
    specs.set_defaults(func=cmd_specs)

    train = sub.add_parser(
        "train",
        help="train a model on MNIST",
        description="Train a model on MNIST (or Fashion-MNIST) from init_params(spec, seed) "
        "with the model's recipe (its optimizer, learning-rate schedule, epochs and batch "
        "size), showing a progress bar on stderr.",
    )
    _add_run_options(train, framework=True)
    train.add_argument(
        "--out",
        metavar="FILE",
        help="save the weights (.npz) after every complete epoch; the file is always whole. "
        "An existing FILE is replaced only when it holds weights saved by mnist-nets",
    )
    train.add_argument(
        "--force",
        action="store_true",
        help="let --out replace an existing file that is not a weights file (or a link)",
    )
    train.set_defaults(func=cmd_train)

    evaluate = sub.add_parser(
        "evaluate",
        help="test accuracy and confusion matrix of saved weights",
        description="Test accuracy and confusion matrix of weights saved by `train --out`, "
        "in any framework.",
    )
    evaluate.add_argument(
        "weights",
        help="a .npz file saved by `train --out`, or (--engine onnxruntime) a "
        ".onnx file saved by `export`",
    )
    _add_engine(evaluate)
    _add_dataset(evaluate, default=None)
    _add_device(evaluate)
    evaluate.add_argument(
        "--limit", type=positive_int, metavar="K", help="the first K test images only"
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
    predict.add_argument(
        "weights",
        help="a .npz file saved by `train --out`, or (--engine onnxruntime) a "
        ".onnx file saved by `export`",
    )
    predict.add_argument("images", nargs="+", metavar="IMAGE")
    _add_engine(predict)
    _add_dataset(predict, default=None)
    _add_device(predict)
    predict.add_argument("--json", action="store_true", help="print JSON on stdout")
    predict.set_defaults(func=cmd_predict)

    # -- export (mnist_nets/cli/export.py) ------------------------------------------
    export = sub.add_parser(
        "export",
        help="saved weights as an ONNX model (runs in onnxruntime and other ONNX runtimes)",
        description="Write the network of weights saved by `train --out` as an ONNX model, "
        "built from the spec (opset 17; input 'pixels' float32 (N, 28, 28) raw pixel values "
        "0-255, scaled inside the graph; output 'logits' float32 (N, 10); dropout left "
        "out). docs/inference.md says how the graph is laid out.",
    )
    export.add_argument("weights", help="a .npz file saved by `train --out`")
    export.add_argument(
        "--format", default="onnx", choices=("onnx",), metavar="FMT", help="onnx (the default)"
    )
    export.add_argument("--out", required=True, metavar="FILE", help="the model file to write")
    export.add_argument(
        "--force",
        action="store_true",
        help="let --out replace an existing file that is not a model exported by mnist-nets",
    )
    export.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    export.set_defaults(func=cmd_export)

    compare = sub.add_parser(
        "compare",
        help="train one model in every framework from the same start and compare",
        description="Train one model in each framework from the same initial weights and "
        "data order; print accuracies, times and the largest logit differences.",
    )
    _add_run_options(compare, framework=False)
    compare.add_argument(
        "--frameworks",
        type=frameworks_arg,
        metavar="F,F",
        help=f"comma-separated (default: every installed one of {', '.join(list_backends())})",
    )
    compare.set_defaults(func=cmd_compare)

    serve = sub.add_parser(
        "serve",
        help="a local page to draw a digit on, where every framework predicts it",
        description="Serve a page where you draw a digit (mouse or touch) and see the 28x28 "
        "image the networks get (made MNIST-like as by `predict`) and every framework's "
        "ten probabilities and time, with the same weights; and its HTTP API, POST "
        '/api/predict with a PNG or JSON {"pixels": 28x28 values 0-255} (docs/serve.md). '
        "Ctrl-C stops it (exit code 130).",
    )
    serve.add_argument(
        "--weights",
        metavar="FILE",
        help="a .npz file saved by `train --out` (without it, serve says how to get one and "
        "exits with code 2)",
    )
    serve.add_argument(
        "--host", default="127.0.0.1", help="the address to listen on (default: 127.0.0.1)"
    )
    serve.add_argument(
        "--port", type=port_arg, default=8000, metavar="N", help="default: 8000; 0: any free one"
    )
    serve.add_argument(
        "--frameworks",
        type=frameworks_arg,
        metavar="F,F",
        help=f"comma-separated (default: every installed one of {', '.join(list_backends())})",
    )
    _add_device(serve)
    serve.set_defaults(func=cmd_serve)
    return parser
