"""``compare``: one model trained in every framework from the same start, side by side."""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from mnist_nets.backends import BackendUnavailable, list_backends
from mnist_nets.cli.common import (
    PROG,
    UsageError,
    batched_logits,
    err,
    load_backend,
    load_data,
    pct,
    print_json,
    resolve_device,
    stdout_to_stderr,
)
from mnist_nets.cli.train import run_recipe, train_one
from mnist_nets.specs import get_spec


def cmd_compare(args: argparse.Namespace) -> int:
    from mnist_nets.params import init_params

    spec = get_spec(args.model).for_dataset(args.dataset)
    recipe = run_recipe(spec, args)
    epochs, lr, batch_size = recipe.epochs, recipe.lr, recipe.batch_size
    explicit = args.frameworks is not None
    frameworks = args.frameworks or list_backends()
    results: list[dict[str, Any]] = []
    logits: dict[str, np.ndarray] = {}
    with stdout_to_stderr(args.json):
        # every framework is loaded before any trains: one that fails to load is
        # skipped (an error when named in --frameworks) before time is spent on the others
        backends = {}
        for name in frameworks:
            try:
                backends[name] = load_backend(name)
            except BackendUnavailable as exc:
                if explicit:
                    raise
                err(f"{PROG}: skipping {name}: {exc}")
        if not backends:
            raise UsageError("no framework could be loaded; install one (see requirements.txt)")
        train, test = load_data(args.limit, args.test_limit, args.dataset)
        params = init_params(spec, args.seed)
        for name, backend in backends.items():
            device = resolve_device(backend, args.device)
            model, history = train_one(
                spec,
                backend,
                device,
                (train, test),
                recipe=recipe,
                seed=args.seed,
                params=params,
                quiet=args.quiet,
                label=name,
            )
            logits[name] = batched_logits(backend, model, test.x)
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
    names = list(logits)
    pairs = {
        f"{a} vs {b}": float(np.max(np.abs(logits[a] - logits[b])))
        for i, a in enumerate(names)
        for b in names[i + 1 :]
    }
    if args.json:
        print_json(
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
            f"{r['framework']:<11} {r['device']:<6} {pct(r['test_accuracy']):>9} "
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
