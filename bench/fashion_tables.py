"""The README's Fashion-MNIST section (profile ``fashion``), from a :class:`Selection`.

Beside each network stands the nearest classifier class of Zalando's own benchmark
table (github.com/zalandoresearch/fashion-mnist, README "Benchmark": figures submitted
to them, which they say they have not tested), labelled as theirs.  The floors are the
specs' ``dataset_targets``; a floor is held when the mean over the seeds and every seed
reach it.  The confusion matrix is the best network's (highest mean accuracy over the
seeds of any CPU cell), summed over its seeds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bench.history import Cell, Selection
from bench.profiles import get_profile
from bench.tables import (
    LABELS,
    NOT_RUN,
    accuracy,
    device_rows,
    diverged,
    percent,
    table,
    train_time,
)
from mnist_nets.data import get_dataset
from mnist_nets.specs import get_spec

PROFILE = "fashion"
FASHION = get_profile(PROFILE)  # its dataset and its specs' recipes and floors come from it
DATASET = FASHION.dataset
ZALANDO = "https://github.com/zalandoresearch/fashion-mnist#benchmark"

# model -> the nearest rows of Zalando's benchmark table (classifier, test accuracy); that
# table has no linear classifier, so the linear networks stand beside its human figure.
HUMAN = (("human performance (crowd-sourced, 1,000 test images)", 0.835),)
ZALANDO_NEAREST: dict[str, tuple[tuple[str, float], ...]] = {
    "perceptron": HUMAN,
    "single_neuron": HUMAN,
    "single_neuron_ce": HUMAN,
    "dnn": (("MLP 256-128-64", 0.900),),
    "cnn": (
        ("2 conv layers with max pooling (Keras)", 0.876),
        ("2 conv layers with max pooling (TensorFlow), >300 epochs", 0.916),
        ("2 conv layers, <100K parameters", 0.925),
    ),
    "alexnet": (
        ("AlexNet with triplet loss", 0.899),
        ("3 conv + pooling and 2 FC + dropout", 0.926),
        ("VGG16, 26M parameters", 0.935),
    ),
}


def cells_of(selection: Selection, model: str) -> dict[tuple[str, str], Cell]:
    """(framework, device) -> the fashion cell of ``model``."""
    return {
        (k[2], k[3]): c for k, c in selection.training.items() if k[0] == PROFILE and k[1] == model
    }


def floor_held(info: dict[str, Any], floor: float | None) -> str:
    """Whether the mean over the seeds and every seed reach ``floor`` ("yes", or the miss)."""
    if floor is None:
        return "no floor"
    if diverged(info):
        return "no: diverged"
    accs = info.get("test_accuracy_rounds") or [info.get("test_accuracy")]
    if info["test_accuracy"] < floor:
        return f"no: mean {percent(info['test_accuracy'])}"
    low = min(a for a in accs if a is not None)
    if low < floor:
        return f"no: a seed at {percent(low)}"
    return "yes"


def summary(selection: Selection, models: Sequence[str]) -> str:
    """Our figures per network and framework (accuracy over the seeds, training time, the
    floor), then each network's best mean beside Zalando's nearest figures."""
    pairs = [(f, d) for f, d in device_rows(selection, PROFILE) if d == "cpu"]
    rows, beside = [], []
    for model in models:
        spec = FASHION.spec(get_spec(model))
        cells = cells_of(selection, model)
        floor = percent(spec.target_accuracy, 1) if spec.target_accuracy else "–"
        for framework, device in pairs:
            cell = cells.get((framework, device))
            label = LABELS.get(framework, framework)
            if cell is None:
                rows.append([model, label, NOT_RUN, NOT_RUN, floor, NOT_RUN])
                continue
            info = cell.info
            rows.append(
                [
                    model,
                    label,
                    "diverged" if diverged(info) else accuracy(info),
                    "–" if diverged(info) else train_time(info),
                    floor,
                    floor_held(info, spec.target_accuracy),
                ]
            )
        done = [c for c in cells.values() if not diverged(c.info)]
        best = max(done, key=lambda c: c.info["test_accuracy"], default=None)
        ours = (
            f"{percent(best.info['test_accuracy'])} "
            f"({LABELS.get(best.info['framework'], best.info['framework'])})"
            if best
            else NOT_RUN
        )
        theirs = "; ".join(
            f"{name}: {percent(acc, 1)}" for name, acc in ZALANDO_NEAREST.get(model, ())
        )
        beside.append([model, ours, theirs or "–"])
    runs = sorted({c.run.run_id for m in models for c in cells_of(selection, m).values()})
    where = (
        f"From stored run{'s' if len(runs) != 1 else ''} {', '.join(runs)} (profile `{PROFILE}`)."
        if runs
        else f"No stored `{PROFILE}` run yet: `make bench BENCH_PROFILE={PROFILE}` makes one."
    )
    ours_table = table(
        (
            "Network",
            "Framework",
            "Test accuracy (mean ± sd over the seeds, min)",
            "Training time (median, min-max)",
            "Floor",
            "Floor held (mean and every seed)",
        ),
        rows,
    )
    theirs_table = table(
        (
            "Network",
            "Ours: best mean over the seeds",
            f"Zalando's benchmark table, nearest classifiers ([theirs]({ZALANDO}))",
        ),
        beside,
    )
    return "\n\n".join([where, ours_table, theirs_table])


def best_cell(selection: Selection, models: Sequence[str]) -> Cell | None:
    """The CPU cell with the highest mean test accuracy that has a confusion matrix."""
    candidates = [
        c
        for m in models
        for (f, d), c in sorted(cells_of(selection, m).items())
        if d == "cpu" and not diverged(c.info) and c.info.get("confusion")
    ]
    return max(candidates, key=lambda c: c.info["test_accuracy"], default=None)


def confused_pairs(matrix: Sequence[Sequence[int]], names: Sequence[str], n: int = 6) -> str:
    """The ``n`` most frequent mistakes (true class -> predicted class) as a table."""
    totals = [sum(row) for row in matrix]
    mistakes = sorted(
        (
            (matrix[t][p], t, p)
            for t in range(len(matrix))
            for p in range(len(matrix))
            if t != p and matrix[t][p]
        ),
        key=lambda m: (-m[0], m[1], m[2]),
    )[:n]
    rows = [
        [names[t], names[p], f"{count:,}", percent(count / totals[t], 1)]
        for count, t, p in mistakes
    ]
    recall = [
        [names[t], percent(matrix[t][t] / totals[t], 1)] for t in range(len(matrix)) if totals[t]
    ]
    return (
        table(("True class", "Predicted as", "Images", "Share of the class"), rows)
        + "\n\n"
        + "Per class, the share predicted right: "
        + ", ".join(f"{name} {share}" for name, share in recall)
        + "."
    )


def class_names() -> tuple[str, ...]:
    return get_dataset(DATASET).classes


def confusion_text(cell: Cell | None, picture: str | None) -> str:
    """The confusion block: which network, the picture, the most frequent mistakes."""
    if cell is None:
        return f"Confusion matrix: {NOT_RUN} (no stored `{PROFILE}` run)."
    info = cell.info
    names = class_names()
    seeds = info.get("confusion_rounds") or 1
    lines = [
        f"The best network on Fashion-MNIST here: `{info['model']}` in "
        f"{LABELS.get(info['framework'], info['framework'])} ({info['device']}), "
        f"{accuracy(info)}; its confusion matrix on the 10,000 test images, summed over "
        f"{seeds} seed{'s' if seeds != 1 else ''} (each row: the true class, in % of its "
        "images).",
        "",
    ]
    if picture:
        lines += [f"![Confusion matrix of {info['model']} on Fashion-MNIST]({picture})", ""]
    lines += ["Its most frequent mistakes:", "", confused_pairs(info["confusion"], names)]
    return "\n".join(lines)
