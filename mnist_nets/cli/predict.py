"""``predict``: the digit and class probabilities for pictures of digits."""

from __future__ import annotations

import argparse

import numpy as np

from mnist_nets.cli.common import (
    batched_logits,
    load_backend,
    print_json,
    resolve_device,
    softmax,
    stdout_to_stderr,
)


def cmd_predict(args: argparse.Namespace) -> int:
    from mnist_nets.images import load_digit
    from mnist_nets.params import load_params

    spec, params = load_params(args.weights)
    x = np.stack([load_digit(path) for path in args.images])
    with stdout_to_stderr(args.json):
        backend = load_backend(args.framework)
        device = resolve_device(backend, args.device)
        model = backend.build(spec, params, device=device)
        probs = softmax(batched_logits(backend, model, x))
    digits = probs.argmax(axis=1)
    if args.json:
        print_json(
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
