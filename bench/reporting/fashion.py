"""docs/fashion-mnist.md (profile ``fashion``), from a :class:`Selection`.

Beside each network stands the nearest classifier class of Zalando's own benchmark
table (github.com/zalandoresearch/fashion-mnist, README "Benchmark": figures submitted
to them, which they say they have not tested), labelled as theirs.  The floors are the
specs' ``dataset_targets``; a floor is held when the mean over the seeds and every seed
reach it.  The confusion matrix is the best network's (highest mean accuracy over the
seeds of any CPU cell), summed over its seeds.
"""

from __future__ import annotations

from collections.abc import Sequence

from bench.profiles import get_profile
from bench.reporting import stats
from bench.reporting.format import NOT_RUN, accuracy, label, percent, table, train_time
from bench.reporting.networks import device_rows
from bench.reporting.selection import Selection
from bench.reporting.summary import CellSummary
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


def cells_of(selection: Selection, model: str) -> dict[tuple[str, str], CellSummary]:
    """(framework, device) -> the fashion cell of ``model``."""
    return {
        (k[2], k[3]): c for k, c in selection.training.items() if k[0] == PROFILE and k[1] == model
    }


def floor_held(cell: CellSummary, floor: float | None) -> str:
    """Whether the mean over the seeds and every seed reach ``floor`` ("yes", or the miss)."""
    if floor is None:
        return "no floor"
    held = stats.floor_held(cell, floor)
    if held.held:
        return "yes"
    if held.reason == "diverged":
        return "no: diverged"
    if held.reason == "mean":
        return f"no: mean {percent(held.value)}"
    return f"no: a seed at {percent(held.value)}"


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
            name = label(framework)
            if cell is None:
                rows.append([model, name, NOT_RUN, NOT_RUN, floor, NOT_RUN])
                continue
            rows.append(
                [
                    model,
                    name,
                    "diverged" if cell.failed else accuracy(cell),
                    "–" if cell.failed else train_time(cell),
                    floor,
                    floor_held(cell, spec.target_accuracy),
                ]
            )
        best = stats.most_accurate(cells.values())
        ours = f"{percent(best.test_accuracy)} ({label(best.framework)})" if best else NOT_RUN
        theirs = "; ".join(
            f"{name}: {percent(acc, 1)}" for name, acc in ZALANDO_NEAREST.get(model, ())
        )
        beside.append([model, ours, theirs or "–"])
    runs = sorted({c.run.number for m in models for c in cells_of(selection, m).values()})
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


def best_cell(selection: Selection, models: Sequence[str]) -> CellSummary | None:
    """The CPU cell with the highest mean test accuracy that has a confusion matrix."""
    return stats.most_accurate(
        c
        for m in models
        for (f, d), c in sorted(cells_of(selection, m).items())
        if d == "cpu" and c.confusion
    )


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


def confusion_text(cell: CellSummary | None, picture: str | None) -> str:
    """The confusion block: which network, the picture, the most frequent mistakes."""
    if cell is None:
        return f"Confusion matrix: {NOT_RUN} (no stored `{PROFILE}` run)."
    names = class_names()
    seeds = cell.confusion_rounds or 1
    lines = [
        f"The best network on Fashion-MNIST here: `{cell.model}` in "
        f"{label(cell.framework)} ({cell.device}), "
        f"{accuracy(cell)}; its confusion matrix on the 10,000 test images, summed over "
        f"{seeds} seed{'s' if seeds != 1 else ''} (each row: the true class, in % of its "
        "images).",
        "",
    ]
    if picture:
        lines += [f"![Confusion matrix of {cell.model} on Fashion-MNIST]({picture})", ""]
    lines += ["Its most frequent mistakes:", "", confused_pairs(cell.confusion, names)]
    return "\n".join(lines)
