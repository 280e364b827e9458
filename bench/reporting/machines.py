"""Machines: where the figures come from (docs/benchmarks.md), every machine side by side
(docs/machines.md) and the reference machine (docs/methodology.md)."""

from __future__ import annotations

from collections.abc import Sequence

from bench.reporting import format as fmt
from bench.reporting import stats
from bench.reporting.format import CO_RUNNER_MARK, NOT_RUN, label, table
from bench.reporting.networks import FRAMEWORKS
from bench.reporting.selection import REFERENCE_FILE, Selection, latest_cells, machines
from bench.reporting.summary import RunSummary
from mnist_nets.backends.registry import FRAMEWORKS as REGISTERED

# the library versions the machine lines quote, in the registry's order
VERSION_KEYS = ("python", *dict.fromkeys(lib for f in REGISTERED for lib in f.libraries))


def steadiness(run: RunSummary) -> str | None:
    """One line: how steady the machine was during a run (GEMM peaks, co-runners)."""
    steady = stats.steadiness(run)
    parts = []
    if steady.highest:
        ranges = ", ".join(f"{lib} {lo:,.0f}–{hi:,.0f}" for lib, lo, hi in steady.by_library)
        parts.append(
            f"float32 GEMM peak measured {steady.times} times (start, between rounds, end): "
            f"{ranges} GFLOP/s, the lowest {100 * steady.lowest / steady.highest:.0f} % of the "
            f'highest ({steady.highest:,.1f} GFLOP/s, the yardstick of "% of peak")'
        )
    if steady.cell_rounds is not None:
        busy = steady.busy_rounds
        parts.append(
            f"other processes used the CPU in {busy} of {steady.cell_rounds} cell-rounds"
            + (f" (cells marked {CO_RUNNER_MARK})" if busy else "")
        )
    return "; ".join(parts) if parts else None


def describe(machine) -> str:
    """"CPU AMD EPYC, 2 cores, 7.8 GiB memory; no GPU"."""
    text = f"CPU {machine.cpu or 'unknown'}"
    if machine.cores:
        text += f", {machine.cores} cores"
    if machine.memory_bytes:
        text += f", {fmt.gib(machine.memory_bytes)} memory"
    if not machine.gpu:
        return text + "; no GPU"
    many = (machine.gpu_count or 1) > 1
    return text + f"; GPU {f'{machine.gpu_count} × ' if many else ''}{machine.gpu}"


def run_line(run: RunSummary) -> str:
    info = run.info
    versions = dict(info.versions)
    libs = ", ".join(f"{name} {versions[name]}" for name in VERSION_KEYS if name in versions)
    peaks = "; ".join(
        f"float32 GEMM peak {g:,.1f} GFLOP/s on {device} ({method})"
        for device, g, method in info.gemm_peaks
    )
    what = sorted(
        {c.profile for c in run.training}
        | {f"{m.profile} micro" for m in run.micro}
        | {f"{i.profile} inference" for i in run.inference}
    )
    if run.data_load:
        dataset, seconds = run.data_load
        name = "Fashion-MNIST" if dataset == "fashion-mnist" else "MNIST"
        what.append(f"loading {name} {fmt.seconds(seconds)}")
    return (
        f"- `{info.run_id}` ({fmt.utc(info.datetime)}; {', '.join(what)}): "
        f"{describe(info.machine)}; {libs or 'versions not recorded'}"
        + (f"; malloc: {info.allocator}" if info.allocator else "")
        + (f"; numpy's BLAS: {info.blas}" if info.blas else "")
        + (f"; {peaks}" if peaks else "")
    )


def sources(selection: Selection, profile: str) -> str:
    """The runs the figures come from, each with its machine and steadiness."""
    runs = selection.run_summaries()
    if not runs:
        return f"No stored runs yet ({NOT_RUN}): `make bench` measures and stores them."
    lines = [f"Main tables: profile `{profile}`"]
    descriptions = {
        c.profile_description
        for c in selection.training.values()
        if c.profile == profile and c.profile_description
    }
    if descriptions:
        lines[0] += f" ({'; '.join(sorted(descriptions))})"
    lines[0] += (
        f"; reference machine: {selection.reference or 'none'}. "
        "The figures come from these stored runs (`bench/results/`):"
    )
    lines.append("")
    for run in runs:
        lines.append(run_line(run))
        steady = steadiness(run)
        if steady:
            lines.append(f"  - Steadiness: {steady}.")
    return "\n".join(lines)


def reference(selection: Selection) -> str:
    """The methodology page's line naming the reference machine."""
    if selection.reference is None:
        return "No stored runs yet: the first machine to store a run becomes the reference."
    return (
        f"The reference machine now: **{selection.reference}** (named in "
        f"`bench/results/{REFERENCE_FILE}`)."
    )


def _latest(runs: list[RunSummary], profile: str):
    training, _ = latest_cells(runs)
    return {k: c for k, c in training.items() if k[0] == profile}


def overview(selection: Selection, profile: str) -> str:
    """One row per machine: what it is, its runs, its measured GEMM peaks."""
    groups = machines(selection.all_runs)
    if not groups:
        return f"No stored runs yet ({NOT_RUN})."
    rows = []
    for key, runs in groups.items():
        latest = runs[-1]
        shown = [r for r in runs if profile in r.profiles()]
        cpu_peaks = [r.info.peak_gflops for r in runs if r.info.peak_gflops]
        gpu_peaks = [g for r in runs for d, g, _ in r.info.gemm_peaks if d != "cpu"]
        memory = next((r.machine.memory_bytes for r in reversed(runs) if r.machine.memory_bytes),
                      None)
        rows.append(
            [
                key + (" (reference)" if key == selection.reference else ""),
                fmt.gib(memory),
                str(len(runs)),
                f"`{shown[-1].info.number}` ({shown[-1].info.datetime[:10]})" if shown else "–",
                f"{fmt.utc(latest.info.datetime)}",
                f"{cpu_peaks[-1]:,.0f}" if cpu_peaks else "–",
                f"{max(gpu_peaks):,.0f}" if gpu_peaks else "–",
            ]
        )
    return table(
        (
            "Machine (CPU, cores, GPU)",
            "Memory",
            "Runs stored",
            f"Latest `{profile}` run",
            "Latest run",
            "CPU GEMM peak, latest run (GFLOP/s)",
            "GPU GEMM peak (GFLOP/s)",
        ),
        rows,
    )


def side_by_side(selection: Selection, models: Sequence[str], profile: str) -> str:
    """Training time (median) and accuracy of each cell, one column per machine: each
    machine's latest stored cell of the profile."""
    groups = machines(selection.all_runs)
    cells = {key: _latest(runs, profile) for key, runs in groups.items()}
    cells = {k: v for k, v in cells.items() if v}
    if not cells:
        return f"No stored `{profile}` run on any machine ({NOT_RUN})."
    names = list(cells)
    devices = sorted({k[3] for v in cells.values() for k in v}, key=lambda d: (d != "cpu", d))
    rows = []
    for model in models:
        for device in devices:
            for framework in FRAMEWORKS:
                row = [model, label(framework), device]
                found = False
                for name in names:
                    cell = cells[name].get((profile, model, framework, device))
                    if cell is None:
                        row.append("–")
                    elif cell.failed:
                        row.append("diverged")
                        found = True
                    else:
                        row.append(
                            f"{fmt.seconds(cell.train_seconds)}{fmt.co_runner_mark(cell)}, "
                            f"{fmt.percent(cell.test_accuracy)}"
                        )
                        found = True
                if found:
                    rows.append(row)
    legend = "\n".join(f"- **M{i + 1}**: {name}" for i, name in enumerate(names))
    header = ("Network", "Framework", "Device", *(f"M{i + 1}" for i in range(len(names))))
    return (
        "Median training time and mean test accuracy of each machine's latest cell "
        f"(profile `{profile}`; – where that machine has no such cell):\n\n"
        + legend
        + "\n\n"
        + table(header, rows)
    )
