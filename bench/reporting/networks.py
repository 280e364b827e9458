"""docs/benchmarks.md: one block per network, the comparison tables, the seed profile.

Pure functions, selection in and Markdown out.  A cell never measured says "not run";
GPU rows appear only where a stored run has a GPU cell.
"""

from __future__ import annotations

from collections.abc import Sequence

from bench.reporting import format as fmt
from bench.reporting.format import NOT_RUN, label, not_run_cells, table
from bench.reporting.selection import Selection
from bench.reporting.summary import CellSummary
from mnist_nets.backends.registry import NAMES, gpu_frameworks
from mnist_nets.specs import ModelSpec

FRAMEWORKS = NAMES
GPU_FRAMEWORKS = gpu_frameworks()
SEED_CPU_SKIP = "skipped: meant for a GPU"

MAIN_COLUMNS = (
    "Accuracy",
    "Training Time",
    "Epochs",
    "Learning Rate",
    "Device",
    "Samples/s",
    "Time to target",
    "% of peak",
)


def device_rows(selection: Selection, profile: str) -> list[tuple[str, str]]:
    """(framework, device) rows: every framework on cpu, the GPU frameworks on cuda when a
    stored run has a GPU cell, and any other pair the stored runs hold."""
    rows = [(f, "cpu") for f in FRAMEWORKS]
    if selection.has_gpu():
        rows += [(f, "cuda") for f in GPU_FRAMEWORKS]
    for p, _, framework, device in sorted(selection.training):
        if p == profile and (framework, device) not in rows:
            rows.append((framework, device))
    return rows


def time_to_target(cell: CellSummary) -> str:
    target = cell.target_accuracy
    if target is None:
        return "no target"
    n = cell.rounds
    reached = cell.target_reached_rounds
    if reached and reached >= n:
        text = fmt.seconds(cell.time_to_target_seconds)
        if n == 1 and cell.target_epochs:
            return text + f" (epoch {cell.target_epochs[0]:g})"
        return text + (" (median)" if n > 1 else "")
    if reached:
        return (
            f"{fmt.seconds(cell.time_to_target_seconds)} (median; reached in {reached} "
            f"of {n} rounds, {fmt.percent(target, 1)})"
        )
    return f"not reached ({fmt.percent(target, 1)})"


def main_metrics(cell: CellSummary | None, device: str) -> list[str]:
    """The comparison tables' columns for one cell (Device included)."""
    if cell is None:
        cells = not_run_cells(NOT_RUN, 7)
        return [*cells[:4], device, *cells[4:]]
    if cell.failed:
        return ["diverged", "–", str(cell.recipe.epochs), fmt.learning_rate(cell.recipe), device]
    return [
        fmt.accuracy(cell),
        fmt.train_time(cell),
        str(cell.recipe.epochs),
        fmt.learning_rate(cell.recipe),
        device,
        fmt.count(cell.samples_per_second),
        time_to_target(cell),
        fmt.share(cell.fraction_of_peak),
    ]


def _pad(row: list[str], n: int) -> list[str]:
    return row + ["–"] * (n - len(row))


def by_architecture(selection: Selection, models: Sequence[str], profile: str) -> str:
    parts = []
    for model in models:
        rows = []
        for framework, device in device_rows(selection, profile):
            cell = selection.training.get((profile, model, framework, device))
            rows.append(_pad([label(framework), *main_metrics(cell, device)], 9))
        parts.append(f"#### {model}\n\n" + table(("Framework", *MAIN_COLUMNS), rows))
    return "\n\n".join(parts)


def by_framework(selection: Selection, models: Sequence[str], profile: str) -> str:
    parts = []
    pairs = device_rows(selection, profile)
    for framework in FRAMEWORKS + tuple(sorted({f for f, _ in pairs} - set(FRAMEWORKS))):
        rows = []
        for device in [d for f, d in pairs if f == framework]:
            for model in models:
                cell = selection.training.get((profile, model, framework, device))
                rows.append(_pad([model, *main_metrics(cell, device)], 9))
        parts.append(
            f"#### {label(framework)}\n\n" + table(("Architecture", *MAIN_COLUMNS), rows)
        )
    return "\n\n".join(parts)


def training_memory(cell: CellSummary) -> str:
    """The memory training the model costs, measured in a fresh process (bench/memprobe.py);
    runs from before that measurement say so."""
    if cell.training_memory_probe == "absent":
        return "not measured in this run"
    if cell.training_memory_probe == "failed":
        return "not measured (probe failed)"
    return fmt.size(cell.training_memory_bytes)


def _recipe_text(spec: ModelSpec) -> str:
    r = spec.recipe
    if r.optimizer == "adam":
        recipe = f"Adam, lr {r.lr:g}, betas ({r.betas[0]:g}, {r.betas[1]:g})"
    else:
        recipe = f"SGD, lr {r.lr:g}"
    if r.momentum:
        recipe += f", momentum {r.momentum:g}"
    if r.schedule == "one_cycle":
        recipe += f", one-cycle schedule (warm-up {r.warmup * 100:g} % of the steps)"
        if r.cycle_epochs is not None:
            recipe += f" over the first {r.cycle_epochs:g} epochs"
    recipe += f", batch {r.batch_size}, {r.epochs} epoch{'s' if r.epochs != 1 else ''}"
    if r.lr_decay != 1:
        recipe += f", lr ×{r.lr_decay:g} per epoch"
    if not r.shuffle:
        recipe += ", no shuffling"
    return recipe


NETWORK_COLUMNS = (
    "Framework",
    "Device",
    "Test accuracy",
    "Training time",
    "Samples/s",
    "GFLOP/s",
    "% of peak",
)
COST_COLUMNS = ("Framework", "Device", "Final loss", "Training memory",
                "One-off: build + warm-up + staging")  # fmt: skip


def network(
    spec: ModelSpec, selection: Selection, profile: str, diagram: str, curves: str | None
) -> str:
    """One network's generated block: what it is, diagram, curves and measured figures."""
    target = (
        f"target test accuracy {fmt.percent(spec.target_accuracy, 1)}"
        if spec.target_accuracy is not None
        else "no target accuracy"
    )
    loss = {"cross_entropy": "softmax cross-entropy", "mse": "mean squared error"}[spec.loss]
    if spec.label_smoothing:
        loss += f" with label smoothing {spec.label_smoothing:g}"
    lines = [
        f"{spec.description} **{spec.param_count:,} parameters**; "
        f"{spec.flops_forward / 1e6:.3g} MFLOPs per image forward, "
        f"{spec.flops_training / 1e6:.3g} MFLOPs per image per training step; loss: {loss}. "
        f"Recipe: {_recipe_text(spec)}; {target}.",
        "",
        f"![{spec.name}: layers, output shapes and parameters]({diagram})",
        "",
    ]
    if curves:
        lines += [f"![{spec.name}: training loss and test accuracy per epoch]({curves})", ""]
    else:
        lines += [f"Loss and accuracy curves: {NOT_RUN} (profile `{profile}`).", ""]
    rows, costs = [], []
    epoch_text = None
    for framework, device in device_rows(selection, profile):
        cell = selection.training.get((profile, spec.name, framework, device))
        name = label(framework)
        if cell is None:
            rows.append([name, device, *not_run_cells(NOT_RUN, 5)])
            costs.append([name, device, *not_run_cells(NOT_RUN, 3)])
            continue
        epoch_text = epoch_text or cell.epoch_definition
        if cell.failed:
            rows.append([name, device, "diverged"] + ["–"] * 4)
            costs.append([name, device] + ["–"] * 3)
            continue
        memory = training_memory(cell)
        if device != "cpu" and cell.device_peak_bytes is not None:
            memory = f"{fmt.size(cell.device_peak_bytes)} GPU, {memory} host"
        one_off = (cell.build_seconds, cell.warmup_seconds, cell.stage_seconds)
        rows.append(
            [
                name,
                device,
                fmt.accuracy(cell),
                fmt.train_time(cell),
                fmt.count(cell.samples_per_second),
                "–" if cell.achieved_gflops is None else f"{cell.achieved_gflops:.3g}",
                fmt.share(cell.fraction_of_peak),
            ]
        )
        costs.append(
            [
                name,
                device,
                f"{cell.final_loss:.4f}",
                memory,
                " + ".join(fmt.seconds(s) for s in one_off),
            ]
        )
    lines += [
        f"Measured (profile `{profile}`):",
        "",
        table(NETWORK_COLUMNS, rows),
        "",
        "Final loss, the memory training takes, and the one-off costs kept out of the "
        "training time:",
        "",
        table(COST_COLUMNS, costs),
    ]
    if epoch_text:
        lines += ["", f"An epoch here: {epoch_text}."]
    trained = {
        c.recipe.epochs
        for k, c in selection.training.items()
        if k[0] == profile and k[1] == spec.name
    }
    if trained and trained != {spec.recipe.epochs}:
        lines += [
            "",
            f"The benchmark trained {', '.join(str(e) for e in sorted(trained))} of the "
            f"recipe's {spec.recipe.epochs} epochs (see [methodology](methodology.md)).",
        ]
    return "\n".join(lines)


# The single-neuron finding's columns: model -> column heading.
SINGLE_NEURON_COLUMNS = {
    "perceptron": "perceptron (784 → 10)",
    "single_neuron": "single_neuron (784 → 1 → 10, MSE)",
    "single_neuron_ce": "single_neuron_ce (784 → 1 → 10, cross-entropy)",
}


def single_neuron_finding(selection: Selection, profile: str) -> str:
    """The perceptron against the literal one-neuron reading of the original README,
    trained with its squared error and with cross-entropy."""
    rows = []
    best: dict[str, float] = {}
    for framework, device in device_rows(selection, profile):
        row = [label(framework), device]
        for model in SINGLE_NEURON_COLUMNS:
            cell = selection.training.get((profile, model, framework, device))
            if cell is None:
                row.append(NOT_RUN)
            elif cell.failed:
                row.append("diverged")
            else:
                best[model] = max(best.get(model, 0.0), cell.test_accuracy)
                row.append(fmt.accuracy(cell))
        rows.append(row)
    text = table(("Framework", "Device", *SINGLE_NEURON_COLUMNS.values()), rows)
    if len(best) == len(SINGLE_NEURON_COLUMNS):
        text += (
            f"\n\nMeasured (profile `{profile}`, best of the frameworks): one hidden neuron "
            f"reaches at most {fmt.percent(best['single_neuron'])} test accuracy under MSE and "
            f"{fmt.percent(best['single_neuron_ce'])} under cross-entropy; ten output "
            f"perceptrons reach {fmt.percent(best['perceptron'])}."
        )
    return text


def seed_profile(selection: Selection, models: Sequence[str]) -> str:
    cells = {k: c for k, c in selection.training.items() if k[0] == "seed"}
    if not cells:
        return (
            f"Seed profile: {NOT_RUN} (`make bench BENCH_PROFILE=seed`, "
            "best on a machine with a GPU)."
        )
    devices = ["cpu", *sorted({k[3] for k in cells} - {"cpu"})]
    rows = []
    for model in models:
        for device in devices:
            for framework in FRAMEWORKS if device == "cpu" else GPU_FRAMEWORKS:
                cell = cells.get(("seed", model, framework, device))
                name = label(framework)
                if cell is None:
                    conv = model in ("cnn", "alexnet")
                    why = SEED_CPU_SKIP if device == "cpu" and conv else NOT_RUN
                    rows.append([model, name, *not_run_cells(why, 4), device])
                    continue
                figures = (
                    ["diverged", "–"]
                    if cell.failed
                    else [fmt.percent(cell.test_accuracy), fmt.train_time(cell)]
                )
                rows.append(
                    [model, name, *figures, str(cell.recipe.epochs),
                     fmt.learning_rate(cell.recipe), device]
                )  # fmt: skip
    return table(
        ("Architecture", "Framework", "Accuracy", "Training Time", "Epochs", "Learning Rate",
         "Device"),
        rows,
    )  # fmt: skip
