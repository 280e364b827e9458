"""``train``: one model in one framework, with a progress bar and epoch-wise checkpoints."""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np

from mnist_nets.cli.common import (
    Interrupted,
    SystemFault,
    TrainingFailed,
    check_out,
    load_backend,
    load_data,
    pct,
    print_json,
    resolve_device,
    stdout_to_stderr,
)
from mnist_nets.data import get_dataset
from mnist_nets.specs import get_spec


def train_one(
    spec,
    backend,
    device: str,
    data,
    *,
    recipe,
    seed: int,
    params: dict,
    out: str | None = None,
    out_existed: bool = False,
    quiet: bool = False,
    label: str = "",
    dataset: str = "mnist",
    dtype: str = "float32",
):
    """Build and train one model by ``recipe`` (the spec's, with the command line's
    overrides); returns ``(model, history)``.

    With ``out``, the weights are saved after every complete epoch (atomically, and
    only when finite).  A divergence raises :class:`TrainingFailed`, Ctrl-C
    :class:`Interrupted`, a failed save (a full disk...) :class:`SystemFault`, each
    saying exactly what ``out`` holds: this run's last complete epoch, the file that was
    there before this run (``out_existed``), or nothing (it does not exist).
    """
    from mnist_nets.machine import tune_allocator
    from mnist_nets.params import save_params
    from mnist_nets.progress import BarProgress
    from mnist_nets.training import Diverged

    tune_allocator()  # as the benchmarks do: a bad $MNIST_NETS_ALLOCATOR fails here
    saved: list[int] = []

    def holds() -> str:
        if saved:
            return f"{out} holds the weights of epoch {saved[-1]}, the last complete one"
        if out_existed:
            return f"{out} still holds the file that was there before this run"
        return f"{out} does not exist"

    def saved_note() -> str:
        if out is None:
            return ""
        if saved:
            return "; " + holds()
        return f"; no weights were saved to {out} by this run ({holds()})"

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
        try:
            save_params(out, spec, weights, dataset=dataset)
        except OSError as exc:
            raise SystemFault(
                f"cannot save the weights of epoch {record.epoch} to {out}: "
                f"{exc.strerror or exc}; nothing half-written remains and {holds()}; free "
                "space or choose another --out, then train again"
            ) from None
        saved.append(record.epoch)

    model = backend.build(spec, params, device=device, seed=seed, dtype=dtype)
    # a batch larger than the training set is the training set (and TensorFlow indexes
    # batches with int32: --batch-size 2**31 would fail inside it)
    recipe = dataclasses.replace(recipe, batch_size=min(recipe.batch_size, len(data[0])))
    progress = BarProgress(label=label, disable=quiet)
    try:
        history = backend.train(
            model, data, recipe, seed, progress=progress, on_epoch_end=on_epoch_end
        )
    except Diverged as exc:
        where = f"{label}: " if label else ""
        raise TrainingFailed(f"{where}{exc}{saved_note()}") from None
    except KeyboardInterrupt:
        raise Interrupted("interrupted" + saved_note()) from None
    finally:
        progress.close()  # the bar ends where it stands, before main prints any message
    return model, history


def run_recipe(spec, args: argparse.Namespace):
    """The spec's recipe with the command line's --epochs, --lr and --batch-size."""
    r = spec.recipe
    return dataclasses.replace(
        r.with_epochs(args.epochs or r.epochs),
        lr=args.lr or r.lr,
        batch_size=args.batch_size or r.batch_size,
    )


def cmd_train(args: argparse.Namespace) -> int:
    spec = get_spec(args.model).for_dataset(args.dataset)
    recipe = run_recipe(spec, args)
    epochs, lr, batch_size = recipe.epochs, recipe.lr, recipe.batch_size
    from mnist_nets.params import weights_file_size

    out_existed = check_out(args.out, force=args.force, size_hint=weights_file_size(spec))
    with stdout_to_stderr(args.json):
        from mnist_nets.params import init_params

        backend = load_backend(args.framework)
        device = resolve_device(backend, args.device)
        train, test = load_data(args.limit, args.test_limit, args.dataset)
        _, history = train_one(
            spec,
            backend,
            device,
            (train, test),
            recipe=recipe,
            seed=args.seed,
            params=init_params(spec, args.seed),
            out=args.out,
            out_existed=out_existed,
            quiet=args.quiet,
            dataset=args.dataset,
            dtype=args.dtype,
        )
        device_name = backend.device_name(device)
        versions = backend.versions()
    final = history.final
    target = spec.target_accuracy
    to_target = history.seconds_to_accuracy(target) if target is not None else None
    if args.json:
        print_json(
            {
                "model": spec.name,
                "dataset": args.dataset,
                "framework": args.framework,
                "device": device,
                "device_name": device_name,
                "epochs": epochs,
                "lr": lr,
                "batch_size": batch_size,
                "momentum": recipe.momentum,
                "lr_decay": recipe.lr_decay,
                "seed": args.seed,
                "dtype": args.dtype,
                "train_samples": len(train),
                "test_samples": len(test),
                "train_seconds": history.train_seconds,
                "test_accuracy": final.test_accuracy,
                "target_accuracy": spec.target_accuracy,
                "seconds_to_target": to_target,
                "history": history.to_dict()["epochs"],
                "evals": history.to_dict()["evals"],
                "weights": args.out,
                "versions": versions,
            }
        )
        return 0
    title = "" if args.dataset == "mnist" else get_dataset(args.dataset).title + " "
    rate = sum(r.samples for r in history.epochs) / max(history.train_seconds, 1e-9)
    print(
        f"{spec.name} in {args.framework} on {device} ({device_name}): "
        f"{epochs} epoch{'s' if epochs > 1 else ''} of {len(train):,} {title}training images, "
        f"lr {lr:g}, batch {batch_size}, seed {args.seed}"
        + ("" if args.dtype == "float32" else f", {args.dtype}")
    )
    print(
        f"test accuracy {pct(final.test_accuracy)} on {len(test):,} test images; "
        f"trained in {history.train_seconds:.1f} s ({rate:,.0f} samples/s)"
    )
    if target is not None and len(test):
        if to_target is None:
            print(f"target {pct(target)} not reached")
        else:
            print(
                f"reached {pct(target)} after {to_target:.2f} s of training "
                f"(epoch {history.epochs_to_accuracy(target):.2f}; evaluations excluded)"
            )
    if args.out:
        print(f"weights saved to {args.out}")
    return 0
