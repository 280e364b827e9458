"""README.md's headline: one row per network x framework (x device where it ran), with
the original project's columns, and the sentence naming the machine and the runs."""

from __future__ import annotations

from collections.abc import Sequence

from bench.reporting import format as fmt
from bench.reporting.format import label, table
from bench.reporting.networks import FRAMEWORKS
from bench.reporting.selection import Selection
from bench.reporting.summary import CellSummary

COLUMNS = ("Network", "Framework", "Accuracy", "Training Time", "Epochs", "Learning Rate",
           "Device")  # fmt: skip
NO_GPU = (
    "No GPU run is stored yet: `make bench` on a machine with a CUDA GPU adds its GPU rows "
    "here, beside the reference machine's CPU rows."
)


def _time(cell: CellSummary) -> str:
    rounds = cell.train_seconds_rounds
    text = fmt.seconds(cell.train_seconds)
    if len(rounds) > 1:
        text += f" ({fmt.seconds(min(rounds)).removesuffix(' s')}–{fmt.seconds(max(rounds))})"
    return text + fmt.co_runner_mark(cell)


def _recipe(cell: CellSummary) -> str:
    r = cell.recipe
    text = "Adam" if r.optimizer == "adam" else "SGD"
    text += f" {r.lr:g}"
    if r.momentum:
        text += f", momentum {r.momentum:g}"
    if r.lr_decay != 1:
        text += f", ×{r.lr_decay:g}/epoch"
    if r.schedule == "one_cycle":
        text += ", one-cycle"
    return text


def _device(cell: CellSummary) -> str:
    if cell.device == "cpu":
        return "CPU"
    return cell.run.machine.gpu or cell.device


def _cells(selection: Selection, models: Sequence[str], profile: str) -> list[CellSummary]:
    devices = sorted({k[3] for k in selection.training}, key=lambda d: (d != "cpu", d))
    frameworks = FRAMEWORKS + tuple(sorted({k[2] for k in selection.training} - set(FRAMEWORKS)))
    return [
        selection.training[key]
        for model in models
        for device in devices
        for framework in frameworks
        if (key := (profile, model, framework, device)) in selection.training
    ]


def headline(selection: Selection, models: Sequence[str], profile: str) -> str:
    cells = _cells(selection, models, profile)
    if not cells:
        return (
            f"No stored `{profile}` run yet: `make bench` measures every cell and "
            "`python bench/report.py` fills this table."
        )
    rows = []
    for cell in cells:
        if cell.failed:
            figures = ["diverged", "–"]
        else:
            figures = [fmt.accuracy(cell, with_min=False), _time(cell)]
        rows.append(
            [cell.model, label(cell.framework), *figures, str(cell.recipe.epochs),
             _recipe(cell), _device(cell)]
        )  # fmt: skip
    runs: dict[str, list[str]] = {}
    for cell in cells:
        where = cell.run.machine.key
        numbers = runs.setdefault(where, [])
        if cell.run.number not in numbers:
            numbers.append(cell.run.number)
    sources = "; ".join(
        f"{'the reference machine, ' if key == selection.reference else ''}{key}: "
        f"run{'s' if len(numbers) > 1 else ''} {', '.join(sorted(numbers))}"
        for key, numbers in runs.items()
    )
    latest = max(cells, key=lambda c: c.run.sort_key()).run
    lines = [
        f"Measured with the `{profile}` profile ({sources}; latest {fmt.utc(latest.datetime)}). "
        "Accuracy: mean ± sd over the seeds, one per round; Training Time: median "
        f"(min–max) of the rounds, training only; {fmt.CO_RUNNER_MARK}: another process "
        "used the CPU in a round.",
        "",
        table(COLUMNS, rows),
    ]
    if not any(c.device != "cpu" for c in cells):
        lines += ["", NO_GPU]
    return "\n".join(lines)
