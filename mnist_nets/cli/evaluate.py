"""``evaluate``: test accuracy and confusion matrix of saved weights, in any framework."""

from __future__ import annotations

import argparse

import numpy as np

from mnist_nets.cli.common import (
    batched_logits,
    escaped,
    load_backend,
    load_data,
    pct,
    print_json,
    resolve_device,
    stdout_to_stderr,
)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from mnist_nets.data import get_dataset
    from mnist_nets.params import ParamsError, check_dataset, load_weights

    spec, params, trained_on = load_weights(args.weights)
    dataset = check_dataset(args.weights, trained_on, args.dataset)
    classes = get_dataset(dataset).classes
    with stdout_to_stderr(args.json):
        backend = load_backend(args.framework)
        device = resolve_device(backend, args.device)
        _, test = load_data(None, args.limit, dataset)
        model = backend.build(spec, params, device=device)
        with np.errstate(all="ignore"):  # overflow is told below
            logits = batched_logits(backend, model, test.x)
    if not np.all(np.isfinite(logits)):
        rows = int(np.count_nonzero(~np.isfinite(logits).all(axis=1)))
        raise ParamsError(
            f"{args.weights}: the outputs are NaN or infinite for {rows:,} of {len(test):,} "
            "test images (weights too large, or from a diverged run?)"
        )
    predicted = logits.argmax(axis=1)
    confusion = np.zeros((10, 10), dtype=np.int64)
    np.add.at(confusion, (test.y.astype(np.int64), predicted.astype(np.int64)), 1)
    correct = int(np.trace(confusion))
    accuracy = correct / len(test)
    if args.json:
        print_json(
            {
                "weights": args.weights,
                "model": spec.name,
                "dataset": dataset,
                "framework": args.framework,
                "device": device,
                "test_samples": len(test),
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
        f"test accuracy {pct(accuracy)} ({correct:,} of {len(test):,})"
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
