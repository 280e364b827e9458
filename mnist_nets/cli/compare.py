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
    weights: dict[str, dict[str, np.ndarray]] = {}
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
                dtype=args.dtype,
            )
            logits[name] = batched_logits(backend, model, test.x)
            weights[name] = backend.export_params(model)
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
    first = names[0]
    drift = {name: weight_difference(weights[name], weights[first]) for name in names[1:]}
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
                "dtype": args.dtype,
                "train_samples": len(train),
                "test_samples": len(test),
                "results": results,
                "max_abs_logit_diff": pairs,
                "weights_vs": first,
                "max_weight_diff": {
                    name: {"relative": rel, "parameter": where}
                    for name, (rel, where) in drift.items()
                },
            }
        )
        return 0
    print(
        f"{spec.name}: {epochs} epoch{'s' if epochs > 1 else ''} on {len(train):,} training "
        f"images (lr {lr:g}, batch {batch_size}, seed {args.seed}, {args.dtype}), the same "
        f"initial weights, data order and dropout masks in each framework; tested on "
        f"{len(test):,} images"
    )
    header = f"{'framework':<11} {'device':<6} {'test acc':>9} {'train s':>8} {'samples/s':>10}"
    print(header + f"  max |logit - {first}|  weights vs {first} (worst tensor)")
    for r in results:
        name = r["framework"]
        diff = np.max(np.abs(logits[name] - logits[first]))
        versus = "-" if name == first else f"{diff:<{len(first) + 16}.3g}"
        if name != first:
            rel, where = drift[name]
            versus += f"{rel:.2g} ({where})"
        print(
            f"{name:<11} {r['device']:<6} {pct(r['test_accuracy']):>9} "
            f"{r['train_seconds']:>8.2f} {r['samples_per_second']:>10,.0f}  " + versus
        )
    if len(pairs) > 1:
        print(
            "max |logit difference| by pair: "
            + ", ".join(f"{pair} {diff:.3g}" for pair, diff in pairs.items())
        )
    print(
        "weights: the largest |difference| in a tensor over that tensor's largest |value|. "
        + (
            "In float32 a unit within rounding of ReLU's kink or of a max-pool tie may take "
            "either side, and training amplifies it: --dtype float64 shows the frameworks "
            "agree (docs/conventions.md)"
            if args.dtype == "float32"
            else "In float64 they differ by rounding only"
        )
    )
    return 0


def weight_difference(got: dict, ref: dict) -> tuple[float, str]:
    """The largest ``max |got - ref| / max |ref|`` over the tensors, and that tensor's name."""
    worst = (0.0, "")
    for name, value in ref.items():
        scale = max(float(np.max(np.abs(value))), 1e-30)
        rel = float(np.max(np.abs(np.asarray(got[name], np.float64) - value))) / scale
        worst = max(worst, (rel, name))
    return worst
