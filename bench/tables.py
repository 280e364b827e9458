"""The README's generated Markdown: tables and text blocks, from a :class:`Selection`.

Every function here is pure (selection in, Markdown out), so the same histories always
give the same text.  A cell that was never measured says so ("not run", or for a GPU
row "no GPU in the stored runs" when no stored run had one): never blank, never a
number typed by hand.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from bench.history import Cell, Selection
from mnist_nets.backends.registry import FRAMEWORKS as REGISTERED
from mnist_nets.backends.registry import NAMES, REFERENCE, gpu_frameworks
from mnist_nets.specs import ModelSpec

FRAMEWORKS = NAMES
GPU_FRAMEWORKS = gpu_frameworks()
OTHER_FRAMEWORKS = tuple(f for f in FRAMEWORKS if f != REFERENCE)  # against numpy's speed
NOT_RUN = "not run"
NO_GPU = "no GPU in the stored runs"
SEED_CPU_SKIP = "skipped: meant for a GPU"
LABELS = {f.name: f.label for f in REGISTERED}
# the library versions the machine block quotes, in the registry's order
VERSION_KEYS = ("python", *dict.fromkeys(lib for f in REGISTERED for lib in f.libraries))

# --------------------------------------------------------------------------- numbers


def seconds(s: float | None) -> str:
    if s is None:
        return "–"
    if s < 1:
        return f"{s:.2g} s"
    if s < 100:
        return f"{s:.1f} s"
    return f"{s:,.0f} s"


def percent(fraction: float | None, digits: int = 2) -> str:
    if fraction is None:
        return "–"
    return f"{100 * fraction:.{digits}f} %"


def share(fraction: float | None) -> str:
    """A percentage of peak, two significant digits below 10 %."""
    if fraction is None:
        return "–"
    pct = 100 * fraction
    return f"{pct:.0f} %" if pct >= 10 else f"{pct:#.2g} %"


def count(value: float | None) -> str:
    return "–" if value is None else f"{value:,.0f}"


def size(nbytes: int | None) -> str:
    if nbytes is None:
        return "–"
    mib = nbytes / 2**20
    return f"{mib:,.0f} MiB" if mib >= 10 else f"{mib:.1f} MiB"


def learning_rate(info: dict[str, Any]) -> str:
    text = f"{info['lr']:g}"
    extras = []
    if info.get("momentum"):
        extras.append(f"momentum {info['momentum']:g}")
    if info.get("lr_decay", 1) != 1:
        extras.append(f"×{info['lr_decay']:g}/epoch")
    if info.get("optimizer") == "adam":
        extras.append("Adam")
    if info.get("schedule") == "one_cycle":
        extras.append("one-cycle")
    return text + (f" ({', '.join(extras)})" if extras else "")


CO_RUNNER_MARK = "⚠"


def rounds_of(info: dict[str, Any]) -> int:
    return len(info.get("test_accuracy_rounds") or info.get("train_seconds_rounds") or [1])


def co_runner_mark(info: dict[str, Any]) -> str:
    """ " ⚠" when another process used the CPU in one of the cell's rounds."""
    return f" {CO_RUNNER_MARK}" if info.get("co_runner_rounds") else ""


def train_time(info: dict[str, Any]) -> str:
    """Median training time; with several rounds, "median (min–max, n rounds)"; "⚠" when
    another process used the CPU during a round."""
    rounds = info.get("train_seconds_rounds") or []
    text = seconds(info.get("train_seconds"))
    if len(rounds) > 1:
        text += f" ({seconds(min(rounds))}–{seconds(max(rounds))}, {len(rounds)} rounds)"
    return text + co_runner_mark(info)


def accuracy(info: dict[str, Any]) -> str:
    """Test accuracy; over several seeds "mean ± sd (min x)", sd in percentage points."""
    values = info.get("test_accuracy_rounds") or []
    text = percent(info["test_accuracy"])
    if len(values) > 1 and info.get("test_accuracy_sd") is not None:
        text += f" ± {100 * info['test_accuracy_sd']:.2f} (min {percent(min(values))})"
    return text


def time_to_target(info: dict[str, Any]) -> str:
    target = info.get("target_accuracy")
    if target is None:
        return "no target"
    n = rounds_of(info)
    reached = info.get("target_reached_rounds", 0)  # (read only when not every round did)
    if info.get("target_reached"):
        text = seconds(info.get("time_to_target_seconds"))
        epoch = info.get("target_epoch")
        epoch = f"{epoch:g}" if isinstance(epoch, (int, float)) else epoch
        return text + f" (epoch {epoch})" if n == 1 else text + " (median)"
    if reached:
        return (
            f"{seconds(info.get('time_to_target_seconds'))} (median; reached in {reached} "
            f"of {n} rounds, {percent(target, 1)})"
        )
    return f"not reached ({percent(target, 1)})"


def spread(info: dict[str, Any]) -> tuple[float, float]:
    """(min, max) of a cell's training time over its rounds."""
    rounds = info.get("train_seconds_rounds") or [info["train_seconds"]]
    return min(rounds), max(rounds)


ONE_ROUND = "undecided (1 round)"


def verdict(a: dict[str, Any], b: dict[str, Any]) -> str:
    """ "faster" / "slower" (a against b) only where the rounds' ranges do not overlap."""
    if min(rounds_of(a), rounds_of(b)) < 2:
        return ONE_ROUND
    a_lo, a_hi = spread(a)
    b_lo, b_hi = spread(b)
    if a_hi < b_lo:
        return "faster"
    if a_lo > b_hi:
        return "slower"
    return "tie"


def table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


# --------------------------------------------------------------------------- rows


def device_rows(selection: Selection, profile: str) -> list[tuple[str, str]]:
    """(framework, device) rows: every framework on cpu, the GPU frameworks on cuda, and
    any other pair the stored runs hold."""
    rows = [(f, "cpu") for f in FRAMEWORKS] + [(f, "cuda") for f in GPU_FRAMEWORKS]
    for p, _, framework, device in sorted(selection.training):
        if p == profile and (framework, device) not in rows:
            rows.append((framework, device))
    return rows


def has_gpu(selection: Selection) -> bool:
    return any(key[-1] != "cpu" for key in [*selection.training, *selection.micro])


def missing(selection: Selection, device: str) -> str:
    return NO_GPU if device != "cpu" and not has_gpu(selection) else NOT_RUN


def not_run_cells(why: str, n: int) -> list[str]:
    """``n`` cells of a row never measured: the reason first, then "not run"."""
    return [why] + [NOT_RUN] * (n - 1)


def diverged(info: dict[str, Any]) -> bool:
    return bool(info.get("diverged")) or info.get("test_accuracy") is None


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


def main_metrics(cell: Cell | None, device: str, why_missing: str) -> list[str]:
    """The comparison tables' columns for one cell (Device included)."""
    if cell is None:
        cells = not_run_cells(why_missing, 7)
        return [*cells[:4], device, *cells[4:]]
    info = cell.info
    if diverged(info):
        return ["diverged", "–", str(info["epochs"]), learning_rate(info), device] + ["–"] * 3
    return [
        accuracy(info),
        train_time(info),
        str(info["epochs"]),
        learning_rate(info),
        device,
        count(info.get("samples_per_second")),
        time_to_target(info),
        share(info.get("fraction_of_peak")),
    ]


def by_architecture(selection: Selection, models: Sequence[str], profile: str) -> str:
    parts = []
    for model in models:
        rows = []
        for framework, device in device_rows(selection, profile):
            cell = selection.training.get((profile, model, framework, device))
            rows.append(
                [
                    LABELS.get(framework, framework),
                    *main_metrics(cell, device, missing(selection, device)),
                ]
            )
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
                rows.append([model, *main_metrics(cell, device, missing(selection, device))])
        parts.append(
            f"#### {LABELS.get(framework, framework)}\n\n"
            + table(("Architecture", *MAIN_COLUMNS), rows)
        )
    return "\n\n".join(parts)


# --------------------------------------------------------------------------- blocks

# The numpy backend's speed targets (project issue 12), checked on CPU cells measured in one
# run: numpy's training time against the faster framework's, below 1 on perceptron, below
# 0.90 on dnn, at most 1.00 on cnn and at most 1.20 on alexnet.
NUMPY_TARGETS = {  # model -> (as the table shows it, bound on the ratio, bound included)
    "perceptron": ("< 1", 1.0, False),
    "dnn": ("< 0.9", 0.9, False),
    "cnn": ("≤ 1", 1.0, True),
    "alexnet": ("≤ 1.2", 1.2, True),
}
# the seed profile's (100 full-batch steps): issue 12's target for the perceptron
SEED_NUMPY_TARGETS = {"perceptron": ("≤ 0.35", 0.35, True)}


def numpy_speed(
    selection: Selection, models: Sequence[str], profile: str, targets=NUMPY_TARGETS
) -> str:
    """numpy's training time against the fastest of the other frameworks, on the CPU
    (among those with a cell: a framework with none shows "not run").

    The ratio is of the medians; "faster"/"slower" and the target's "yes"/"no" are said
    only where the rounds' ranges settle it (numpy's whole range beside the framework's
    whole range, scaled by the bound), "tie" otherwise."""
    rows = []
    for model in models:
        cells = {f: selection.training.get((profile, model, f, "cpu")) for f in FRAMEWORKS}
        target_text, bound, inclusive = targets.get(model, ("–", None, False))
        measured = {f: c for f, c in cells.items() if c is not None and not diverged(c.info)}
        others = [f for f in OTHER_FRAMEWORKS if f in measured]
        if REFERENCE not in measured or not others:
            rows.append([model, *not_run_cells(NOT_RUN, len(FRAMEWORKS) + 2), target_text, "–"])
            continue
        infos = {f: c.info for f, c in measured.items()}
        times = {f: i["train_seconds"] for f, i in infos.items()}
        fastest = min(others, key=times.__getitem__)
        ratio = times[REFERENCE] / times[fastest]
        if bound is None:
            met = "–"
        elif min(rounds_of(infos[REFERENCE]), rounds_of(infos[fastest])) < 2:
            met = ONE_ROUND
        else:
            lo, hi = spread(infos[REFERENCE])
            f_lo, f_hi = spread(infos[fastest])
            below = (lambda x, y: x <= y) if inclusive else (lambda x, y: x < y)
            if below(hi, bound * f_lo):
                met = "yes"
            elif not below(lo, bound * f_hi):
                met = "**no**"
            else:
                met = "tie (the rounds straddle the target)"
        if len({c.run.run_id for c in measured.values()}) > 1:
            met += " (cells from different runs)"
        rows.append(
            [
                model,
                *(train_time(infos[f]) if f in infos else NOT_RUN for f in FRAMEWORKS),
                f"{ratio:.2f} (vs {LABELS[fastest]})",
                verdict(infos[REFERENCE], infos[fastest])
                + (co_runner_mark(infos[REFERENCE]) or co_runner_mark(infos[fastest])),
                target_text,
                met + (co_runner_mark(infos[REFERENCE]) or co_runner_mark(infos[fastest])),
            ]
        )
    return table(
        (
            "Architecture",
            *(LABELS[f] for f in FRAMEWORKS),
            "numpy ÷ faster framework (medians)",
            "numpy is",
            "Target",
            "Met",
        ),
        rows,
    )


def steadiness(run: Any) -> str | None:
    """One line: how steady the machine was during a run (GEMM peaks, co-runners)."""
    measurements = run.machine.get("gemm_peak_measurements") or []
    parts = []
    if measurements:
        highest = max(m["gflops"] for m in measurements)
        lowest = min(m["gflops"] for m in measurements)
        by_library = {}
        for m in measurements:
            by_library.setdefault(m["library"], []).append(m["gflops"])
        ranges = ", ".join(
            f"{lib} {min(v):,.0f}–{max(v):,.0f}" for lib, v in sorted(by_library.items())
        )
        times = len({m["when"] for m in measurements})
        parts.append(
            f"float32 GEMM peak measured {times} times (start, between rounds, end): "
            f"{ranges} GFLOP/s, the lowest {100 * lowest / highest:.0f} % of the highest "
            f'({highest:,.1f} GFLOP/s, the yardstick of "% of peak")'
        )
    training = [c for c in run.cells if c.kind == "training"]
    cell_rounds = sum(rounds_of(c.info) for c in training)
    busy = sum(len(c.info.get("co_runner_rounds") or []) for c in training)
    if any("cpu_window" in c.info for c in training):
        parts.append(
            f"other processes used the CPU in {busy} of {cell_rounds} cell-rounds"
            + (f" (cells marked {CO_RUNNER_MARK})" if busy else "")
        )
    return "; ".join(parts) if parts else None


def machine(selection: Selection, profile: str) -> str:
    runs = selection.runs()
    if not runs:
        return f"No stored runs yet ({NOT_RUN}): `make bench` measures and stores them."
    lines = [f"Main tables: profile `{profile}`"]
    descriptions = {
        c.info.get("profile_description")
        for c in selection.training.values()
        if c.key[0] == profile and c.info.get("profile_description")
    }
    if descriptions:
        lines[0] += f" ({'; '.join(sorted(descriptions))})"
    lines[0] += ". The figures come from these stored runs (`bench/results/`):"
    lines.append("")
    for run in runs:
        m = run.machine
        versions = m.get("versions") or {}
        libs = ", ".join(f"{name} {versions[name]}" for name in VERSION_KEYS if name in versions)
        cores = f", {m['cores']} cores" if m.get("cores") else ""
        gpu = f"GPU {m['gpu']}" if m.get("gpu") else "no GPU"
        peaks = m.get("gemm_peaks") or {}
        peak_text = "; ".join(
            f"float32 GEMM peak {v['gflops']:,.1f} GFLOP/s on {dev} ({v.get('method', '')})"
            for dev, v in sorted(peaks.items())
            if isinstance(v, dict) and v.get("gflops")
        )
        what = sorted({c.key[0] + (" micro" if c.kind == "micro" else "") for c in run.cells})
        loaded = [c.info for c in run.cells if c.info.get("data_load_seconds")]
        if loaded:
            name = "Fashion-MNIST" if loaded[0].get("dataset") == "fashion-mnist" else "MNIST"
            what.append(f"loading {name} {seconds(loaded[0]['data_load_seconds'])}")
        lines.append(
            f"- `{run.run_id}` ({run.datetime[:16].replace('T', ' ')} UTC; "
            f"{', '.join(what)}): CPU {m.get('cpu', 'unknown')}{cores}; {gpu}; "
            f"{libs or 'versions not recorded'}"
            + (f"; malloc: {m['allocator']}" if m.get("allocator") else "")
            + (f"; {peak_text}" if peak_text else "")
        )
        steady = steadiness(run)
        if steady:
            lines.append(f"  - Steadiness: {steady}.")
    return "\n".join(lines)


def network(
    spec: ModelSpec,
    selection: Selection,
    profile: str,
    diagram: str,
    curves: str | None,
) -> str:
    """One network's generated block: what it is, diagram, curves and measured figures."""
    r = spec.recipe
    if r.optimizer == "adam":
        recipe = f"Adam, lr {r.lr:g}, betas ({r.betas[0]:g}, {r.betas[1]:g})"
    else:
        recipe = f"SGD, lr {r.lr:g}"
    if r.momentum:
        recipe += f", momentum {r.momentum:g}"
    if r.schedule == "one_cycle":
        recipe += f", one-cycle schedule (warm-up {r.warmup * 100:g} % of the steps)"
    recipe += f", batch {r.batch_size}, {r.epochs} epoch{'s' if r.epochs != 1 else ''}"
    if r.lr_decay != 1:
        recipe += f", lr ×{r.lr_decay:g} per epoch"
    if not r.shuffle:
        recipe += ", no shuffling"
    target = (
        f"target test accuracy {percent(spec.target_accuracy, 1)}"
        if spec.target_accuracy is not None
        else "no target accuracy"
    )
    loss = {"cross_entropy": "softmax cross-entropy", "mse": "mean squared error"}[spec.loss]
    lines = [
        f"{spec.description} **{spec.param_count:,} parameters**; "
        f"{spec.flops_forward / 1e6:.3g} MFLOPs per image forward, "
        f"{spec.flops_training / 1e6:.3g} MFLOPs per image per training step; loss: {loss}. "
        f"Recipe: {recipe}; {target}.",
        "",
        f"![{spec.name}: layers, output shapes and parameters]({diagram})",
        "",
    ]
    if curves:
        lines += [f"![{spec.name}: training loss and test accuracy per epoch]({curves})", ""]
    else:
        lines += [f"Loss and accuracy curves: {NOT_RUN} (profile `{profile}`).", ""]
    rows = []
    epoch_text = None
    for framework, device in device_rows(selection, profile):
        cell = selection.training.get((profile, spec.name, framework, device))
        label = LABELS.get(framework, framework)
        if cell is None:
            rows.append([label, device, *not_run_cells(missing(selection, device), 8)])
            continue
        info = cell.info
        epoch_text = epoch_text or info.get("epoch_definition")
        memory = training_memory(info)
        mem = info.get("device_peak_bytes") if device != "cpu" else None
        if mem is not None:
            memory = f"{size(mem)} GPU, {memory} host"
        one_off = [
            info.get("build_seconds"),
            info.get("warmup_seconds"),
            info.get("stage_and_overhead_seconds"),
        ]
        if diverged(info):
            rows.append([label, device, "diverged"] + ["–"] * 7)
            continue
        rows.append(
            [
                label,
                device,
                accuracy(info),
                f"{info['final_loss']:.4f}",
                train_time(info),
                count(info.get("samples_per_second")),
                "–" if info.get("achieved_gflops") is None else f"{info['achieved_gflops']:.3g}",
                share(info.get("fraction_of_peak")),
                memory,
                " + ".join(seconds(s) for s in one_off),
            ]
        )
    lines += [f"Measured (profile `{profile}`):", ""]
    lines.append(
        table(
            (
                "Framework",
                "Device",
                "Test accuracy",
                "Final loss",
                "Training time",
                "Samples/s",
                "GFLOP/s",
                "% of peak",
                "Training memory",
                "Build + warm-up + staging",
            ),
            rows,
        )
    )
    if epoch_text:
        lines += ["", f"An epoch here: {epoch_text}."]
    bench_epochs = {
        c.info.get("epochs")
        for k, c in selection.training.items()
        if k[0] == profile and k[1] == spec.name
    }
    if bench_epochs and bench_epochs != {r.epochs}:
        trained = ", ".join(str(e) for e in sorted(e for e in bench_epochs if e is not None))
        lines += [
            "",
            f"The benchmark trained {trained} of the recipe's {r.epochs} epochs "
            "(see *How the benchmarks run*).",
        ]
    return "\n".join(lines)


def training_memory(info: dict[str, Any]) -> str:
    """The memory training the model costs, measured in a fresh process (bench/memprobe.py);
    runs from before that measurement say so instead of showing the in-session figure."""
    probe = info.get("training_memory")
    if not isinstance(probe, dict):
        return "not measured in this run"
    if probe.get("training_memory_bytes") is None:
        return "not measured (probe failed)"
    return size(probe["training_memory_bytes"])


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
        row = [LABELS.get(framework, framework), device]
        for model in SINGLE_NEURON_COLUMNS:
            cell = selection.training.get((profile, model, framework, device))
            if cell is None:
                row.append(missing(selection, device))
            elif diverged(cell.info):
                row.append("diverged")
            else:
                acc = cell.info["test_accuracy"]
                best[model] = max(best.get(model, 0.0), acc)
                row.append(accuracy(cell.info))
        rows.append(row)
    text = table(("Framework", "Device", *SINGLE_NEURON_COLUMNS.values()), rows)
    if len(best) == len(SINGLE_NEURON_COLUMNS):
        text += (
            f"\n\nMeasured (profile `{profile}`, best of the frameworks): one hidden neuron "
            f"reaches at most {percent(best['single_neuron'])} test accuracy under MSE and "
            f"{percent(best['single_neuron_ce'])} under cross-entropy; ten output perceptrons "
            f"reach {percent(best['perceptron'])}."
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
                label = LABELS.get(framework, framework)
                if cell is None:
                    conv = model in ("cnn", "alexnet")
                    why = SEED_CPU_SKIP if device == "cpu" and conv else NOT_RUN
                    rows.append([model, label, *not_run_cells(why, 4), device])
                    continue
                info = cell.info
                rows.append(
                    [model, label]
                    + (
                        ["diverged", "–"]
                        if diverged(info)
                        else [percent(info["test_accuracy"]), train_time(info)]
                    )
                    + [str(info["epochs"]), learning_rate(info), device]
                )
    return table(
        (
            "Architecture",
            "Framework",
            "Accuracy",
            "Training Time",
            "Epochs",
            "Learning Rate",
            "Device",
        ),
        rows,
    )


PASS_LABELS = {
    "forward": "forward",
    "loss_and_grads": "forward + backward",
    "train_steps": "SGD steps",
    "full_batch": "full-batch SGD step",
}


def micro(
    selection: Selection, profile: str, cases: Sequence[str], descriptions: dict[str, str]
) -> str:
    cells = {k: c for k, c in selection.micro.items() if k[0] == profile}
    if not cells:
        return f"Micro-benchmarks: {NOT_RUN} (profile `{profile}`)."
    devices = ["cpu", *sorted({k[4] for k in cells} - {"cpu"})]
    batches = sorted({c.info["batch_size"] for c in cells.values() if c.info.get("batch_size")})
    parts = []
    for device in devices:
        frameworks = FRAMEWORKS if device == "cpu" else GPU_FRAMEWORKS
        rows = []
        for case in cases:
            for i, (pass_, label) in enumerate(PASS_LABELS.items()):
                name = case
                if i == 0 and case in descriptions:
                    name += f": {descriptions[case]}"
                row = [name, label]
                for framework in frameworks:
                    cell = cells.get((profile, case, pass_, framework, device))
                    row.append(
                        NOT_RUN if cell is None else count(cell.info.get("samples_per_second"))
                    )
                rows.append(row)
        header = ["Case", "Pass", *(LABELS[f] for f in frameworks)]
        parts.append(f"On {device}:\n\n" + table(header, rows))
    intro = (
        "Images per second (median of the rounds) through batches of "
        + (", ".join(map(str, batches)) or "?")
        + " images: *forward* in inference mode, *forward + backward* with dropout off "
        "(both as the backend's `forward` and `loss_and_grads`), *SGD steps* as training "
        "runs them (`train_epoch` over 2 staged batches)."
    )
    return intro + "\n\n" + "\n\n".join(parts)
