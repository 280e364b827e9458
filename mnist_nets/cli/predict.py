"""``predict``: the digit (or Fashion-MNIST class) and class probabilities for pictures.

Each image stands alone: one that cannot be read, holds no digit, or gives NaN or
infinite outputs is reported on its own line on stderr (and, with ``--json``, as an
entry with an ``"error"``), while the others are still predicted; the exit code is then
2.
"""

from __future__ import annotations

import argparse

import numpy as np

from mnist_nets.cli.common import (
    EXIT_USAGE,
    PROG,
    err,
    escaped,
    print_json,
    softmax,
    stdout_to_stderr,
)
from mnist_nets.cli.inference import batched, open_session, read_model


def cmd_predict(args: argparse.Namespace) -> int:
    from mnist_nets.data import get_dataset
    from mnist_nets.images import ImageError, load_digit
    from mnist_nets.params import check_dataset

    weights = read_model(args.weights, args.framework)
    session = None
    if weights[0] is not None:
        dataset = check_dataset(args.weights, weights[2], args.dataset)
    else:  # an exported model: its dataset is in the file
        with stdout_to_stderr(args.json):
            session = open_session(args.weights, weights, args.framework, args.device)
        dataset = check_dataset(args.weights, session.dataset, args.dataset)
    classes = get_dataset(dataset).classes
    errors: dict[int, str] = {}
    inputs: dict[int, np.ndarray] = {}
    for i, path in enumerate(args.images):
        try:
            inputs[i] = load_digit(path, fashion=dataset == "fashion-mnist")
        except ImageError as exc:
            errors[i] = str(exc)
    probs: dict[int, np.ndarray] = {}
    if inputs:
        with stdout_to_stderr(args.json):
            if session is None:
                session = open_session(args.weights, weights, args.framework, args.device)
            with np.errstate(all="ignore"):  # overflow is told below, per image
                logits = batched(session.run, np.stack(list(inputs.values())))
        for i, row in zip(inputs, logits, strict=True):
            if np.all(np.isfinite(row)):
                probs[i] = softmax(row[None])[0]
            else:
                errors[i] = (
                    f"{args.images[i]}: the outputs of the weights in {args.weights} are NaN "
                    "or infinite for this image (weights too large, or from a diverged run?)"
                )
    for i in sorted(errors):
        err(f"{PROG}: error: {escaped(errors[i])}")
    if args.json:
        print_json(
            [
                {"image": path, "error": errors[i]}
                if i in errors
                else {
                    "image": path,
                    **(
                        {"digit": int(probs[i].argmax())}
                        if dataset == "mnist"
                        else {"class": classes[int(probs[i].argmax())]}
                    ),
                    "probabilities": [float(p) for p in probs[i]],
                }
                for i, path in enumerate(args.images)
            ]
        )
        return EXIT_USAGE if errors else 0
    if probs:
        shown = [escaped(args.images[i]) for i in probs]
        name_width = max(5, *(len(p) for p in shown))
        what = "digit" if dataset == "mnist" else "class"
        width = max(len(what), *(len(c) for c in classes))
        if dataset != "mnist":  # the probability columns are numbered
            print("  " + ", ".join(f"{d} {name}" for d, name in enumerate(classes)))
        print(
            f"{'image':<{name_width}}  {what:>{width}}  " + "  ".join(f"{d:>5}" for d in range(10))
        )
        for name, row in zip(shown, probs.values(), strict=True):
            cells = "  ".join(f"{p:5.3f}" for p in row)
            print(f"{name:<{name_width}}  {classes[int(row.argmax())]:>{width}}  {cells}")
    return EXIT_USAGE if errors else 0
