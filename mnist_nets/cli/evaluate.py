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
    from mnist_nets.params import ParamsError, load_params

    spec, params = load_params(args.weights)
    with stdout_to_stderr(args.json):
        backend = load_backend(args.framework)
        device = resolve_device(backend, args.device)
        _, test = load_data(None, args.limit)
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
        f"{escaped(spec.name)} weights from {escaped(args.weights)}, "
        f"evaluated in {args.framework} on {device}: "
        f"test accuracy {pct(accuracy)} ({correct:,} of {len(test):,})"
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
