"""``evaluate``: test accuracy and confusion matrix of saved weights (or of a model
exported by ``export``), in any engine: a backend, or onnxruntime.

The engine is given the raw test pixels, float32 ``(N, 28, 28)`` 0-255, which a backend
divides by 255 exactly as :func:`mnist_nets.data.load_split` does (so its accuracy is the
one training reported) and the ONNX graph divides in its first node."""

from __future__ import annotations

import argparse

import numpy as np

from mnist_nets.cli.common import (
    escaped,
    pct,
    print_json,
    stdout_to_stderr,
)
from mnist_nets.cli.inference import batched, open_session, read_model


def cmd_evaluate(args: argparse.Namespace) -> int:
    from mnist_nets.data import get_dataset, load_mnist
    from mnist_nets.params import ParamsError, check_dataset

    weights = read_model(args.weights, args.framework)
    if weights[0] is not None:  # a wrong --dataset fails before a framework is imported
        check_dataset(args.weights, weights[2], args.dataset)
    with stdout_to_stderr(args.json):
        session = open_session(args.weights, weights, args.framework, args.device)
        spec, device = session.spec, session.device
        dataset = check_dataset(args.weights, session.dataset, args.dataset)
        classes = get_dataset(dataset).classes
        images, labels = load_mnist("test", args.limit, dataset=dataset)
        with np.errstate(all="ignore"):  # overflow is told below
            logits = batched(session.run_pixels, images.astype(np.float32))
    if not np.all(np.isfinite(logits)):
        rows = int(np.count_nonzero(~np.isfinite(logits).all(axis=1)))
        raise ParamsError(
            f"{args.weights}: the outputs are NaN or infinite for {rows:,} of {len(labels):,} "
            "test images (weights too large, or from a diverged run?)"
        )
    predicted = logits.argmax(axis=1)
    confusion = np.zeros((10, 10), dtype=np.int64)
    np.add.at(confusion, (labels.astype(np.int64), predicted.astype(np.int64)), 1)
    correct = int(np.trace(confusion))
    accuracy = correct / len(labels)
    if args.json:
        print_json(
            {
                "weights": args.weights,
                "model": spec.name,
                "dataset": dataset,
                "framework": args.framework,
                "engine": args.framework,
                "device": device,
                "test_samples": len(labels),
                "correct": correct,
                "test_accuracy": accuracy,
                "classes": list(classes),
                "confusion": confusion.tolist(),
            }
        )
        return 0
    print(
        f"{escaped(spec.name)} weights from {escaped(args.weights)}, "
        f"evaluated on {get_dataset(dataset).title} in {args.framework} on {device}: "
        f"test accuracy {pct(accuracy)} ({correct:,} of {len(labels):,})"
    )
    what = "digit" if dataset == "mnist" else "class"
    print(f"confusion matrix (rows: true {what}, columns: predicted {what}):")
    width = max(5, len(f"{confusion.max():,}") + 1)
    if dataset != "mnist":  # the columns are numbered; the rows name the classes
        print("  " + ", ".join(f"{d} {name}" for d, name in enumerate(classes)))
    label = max(4, *(len(name) for name in classes))
    print(f"{'true':<{label}} " + "".join(f"{d:>{width}}" for d in range(10)) + "   recall")
    for d in range(10):
        total = confusion[d].sum()
        recall = f"{100 * confusion[d, d] / total:6.1f} %" if total else "      -"
        cells = "".join(f"{n:>{width},}" for n in confusion[d])
        print(f"{classes[d]:>{label}} {cells} {recall}")
    return 0
