"""Reading the stored benchmark histories (pytest-benchmark JSON) for the report.

A history is one file ``<storage>/<machine folder>/NNNN_<commit>_<date>[...].json`` as
``pytest bench --benchmark-autosave`` writes it.  Each of our benchmarks carries its
figures in ``extra_info`` (``kind`` "training" or "micro"; see bench/cell.py and
bench/test_micro.py); benchmarks of other kinds are ignored.

A *cell* is identified by its key: ``(profile, model, framework, device)`` for training,
``(profile, case, pass, framework, device)`` for micro-benchmarks.  By default the report
shows the latest stored run of each cell; ``run`` and ``machine`` narrow the runs first.

Rounds: a run stores each round of a training cell as its own benchmark entry (with
``round`` and ``seed`` in ``extra_info``).  :func:`fold_rounds` turns them into one cell
whose ``info`` holds the figures over the rounds: ``train_seconds`` is the median with
``train_seconds_rounds``, ``test_accuracy`` the mean with ``test_accuracy_sd``,
``test_accuracy_min`` and ``test_accuracy_rounds``, ``time_to_target_seconds`` the
median; samples/s, GFLOP/s and % of peak come from the median time, the latter against
the run's highest GEMM peak; ``confusion`` (profile ``fashion``) is summed over the
rounds.  Histories from before rounds (one entry per cell) read as one round.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TRAINING_KEYS = ("profile", "model", "framework", "device")
MICRO_KEYS = ("profile", "case", "pass", "framework", "device")


class HistoryError(ValueError):
    """A stored history that cannot be used; the message names the file."""


@dataclass(frozen=True)
class Run:
    """One stored history file."""

    path: Path
    run_id: str  # the file name without .json: "0003_<commit>_<date>_..."
    folder: str  # pytest-benchmark's machine folder: "Linux-CPython-3.11-64bit"
    datetime: str  # ISO 8601, UTC, as pytest-benchmark wrote it
    machine: dict[str, Any]  # our block ("mnist_nets") of machine_info, plus node
    cells: list[Cell] = field(default_factory=list, compare=False, repr=False)

    @property
    def number(self) -> str:
        return self.run_id.split("_", 1)[0]

    def sort_key(self) -> tuple[str, str, str]:
        return (self.datetime, self.number, self.run_id)

    def matches_machine(self, text: str) -> bool:
        text = text.lower()
        fields = [
            self.folder,
            str(self.machine.get("node") or ""),
            str(self.machine.get("cpu") or ""),
            str(self.machine.get("gpu") or ""),
        ]
        return any(text in f.lower() for f in fields)


@dataclass(frozen=True)
class Cell:
    kind: str  # "training" or "micro"
    key: tuple[str, ...]
    info: dict[str, Any]  # extra_info
    stats: dict[str, Any]  # pytest-benchmark's stats
    run: Run = field(compare=False, repr=False)


def history_files(folder: Path) -> list[Path]:
    """Every ``*.json`` under ``folder`` (any depth), in a stable order."""
    if not folder.exists():
        return []
    if not folder.is_dir():
        raise HistoryError(f"{folder}: not a directory of benchmark histories")
    return sorted(p for p in folder.rglob("*.json") if p.is_file())


def load_run(path: Path, root: Path | None = None) -> Run:
    """Read and check one history file; every problem raises :class:`HistoryError`."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise HistoryError(f"{path}: cannot read benchmark history: {exc}") from None
    if not text.strip():
        raise HistoryError(
            f"{path}: empty benchmark history (an interrupted or --benchmark-disable run?); "
            "delete it or re-run `pytest bench --benchmark-autosave`"
        )
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise HistoryError(f"{path}: not valid JSON ({exc}); delete or repair the file") from None
    if not isinstance(data, dict):
        raise HistoryError(
            f"{path}: a benchmark history is a JSON object, found {type(data).__name__}"
        )
    for key, kind in (("benchmarks", list), ("datetime", str), ("machine_info", dict)):
        if not isinstance(data.get(key), kind):
            raise HistoryError(
                f"{path}: not a pytest-benchmark history: {key!r} missing or not a {kind.__name__}"
            )
    info = data["machine_info"]
    machine = dict(info.get("mnist_nets") or {})
    machine.setdefault("node", info.get("node"))
    if not machine.get("cpu"):
        cpu = info.get("cpu") if isinstance(info.get("cpu"), dict) else {}
        machine["cpu"] = cpu.get("brand_raw") or info.get("processor") or "unknown CPU"
    folder = path.parent.name if root is None or path.parent != root else ""
    ours = data.get("mnist_nets") if isinstance(data.get("mnist_nets"), dict) else {}
    if isinstance(ours.get("gemm_peak_measurements"), list):
        machine["gemm_peak_measurements"] = ours["gemm_peak_measurements"]
    run = Run(path, path.stem, folder, data["datetime"], machine)
    cells = [_cell(path, i, bench, run) for i, bench in enumerate(data["benchmarks"])]
    run.cells.extend(fold_rounds([c for c in cells if c is not None], run))
    return run


def run_peak_gflops(machine: dict[str, Any]) -> float | None:
    """The run's highest measured GEMM peak (every measurement, every library)."""
    values = [
        m.get("gflops")
        for m in machine.get("gemm_peak_measurements") or []
        if isinstance(m, dict) and isinstance(m.get("gflops"), (int, float))
    ]
    return max(values) if values else None


def fold_rounds(cells: list[Cell], run: Run) -> list[Cell]:
    """One cell per key: a run's rounds of a training cell folded together (in order)."""
    groups: dict[tuple, list[Cell]] = {}
    for cell in cells:
        groups.setdefault((cell.kind, cell.key), []).append(cell)
    out = []
    for (kind, key), group in groups.items():
        if kind != "training":
            out.extend(group)
            continue
        group.sort(key=lambda c: c.info.get("round") or 0)
        out.append(Cell(kind, key, _fold_info([c.info for c in group], run), group[0].stats, run))
    return out


def _fold_info(infos: list[dict[str, Any]], run: Run) -> dict[str, Any]:
    first = dict(infos[0])
    if len(infos) == 1 and "round" not in first:  # a history from before rounds
        first.setdefault("test_accuracy_rounds", [first.get("test_accuracy")])
        first.setdefault("co_runner_rounds", [])
        first["rounds_folded"] = 1
        return first
    info = first
    info["rounds_folded"] = len(infos)
    info["seeds"] = [i.get("seed") for i in infos]
    info["co_runner_rounds"] = [i.get("round") for i in infos if i.get("co_runner")]
    info["other_cores_rounds"] = [(i.get("cpu_window") or {}).get("other_cores") for i in infos]
    info["per_epoch_rounds"] = [i.get("per_epoch") or [] for i in infos]
    done = [i for i in infos if not i.get("diverged") and i.get("test_accuracy") is not None]
    info["diverged"] = next((i["diverged"] for i in infos if i.get("diverged")), None)
    for key in ("peak_rss_increase_bytes", "device_peak_bytes"):
        values = [i[key] for i in infos if isinstance(i.get(key), int)]
        info[key] = max(values) if values else None
    if len(done) < len(infos) or not done:
        info["test_accuracy"] = None  # a diverged round: the cell says so
        return info
    times = [i["train_seconds"] for i in done]
    accuracies = [i["test_accuracy"] for i in done]
    median = statistics.median(times)
    info["train_seconds"] = median
    info["train_seconds_rounds"] = times
    info["wall_seconds_rounds"] = [w for i in done for w in i.get("wall_seconds_rounds") or []]
    info["test_accuracy"] = statistics.fmean(accuracies)
    info["test_accuracy_rounds"] = accuracies
    info["test_accuracy_sd"] = statistics.stdev(accuracies) if len(accuracies) > 1 else None
    info["test_accuracy_min"] = min(accuracies)
    info["final_loss"] = statistics.fmean(i["final_loss"] for i in done)
    info["eval_seconds"] = statistics.median(i.get("eval_seconds") or 0.0 for i in done)
    samples = info.get("samples_trained")
    if samples and median > 0:
        info["samples_per_second"] = samples / median
        flops = info.get("flops_training_per_sample")
        if flops:
            info["achieved_gflops"] = flops * samples / median / 1e9
    peak = run_peak_gflops(run.machine)
    if peak and info.get("achieved_gflops") and info.get("device") == "cpu":
        info["peak_gflops"] = peak
        info["fraction_of_peak"] = info["achieved_gflops"] / peak
    matrices = [i["confusion"] for i in done if isinstance(i.get("confusion"), list)]
    if matrices:  # summed over the seeds: each row holds rounds x the class's test images
        info["confusion"] = [
            [sum(m[t][p] for m in matrices) for p in range(len(matrices[0][t]))]
            for t in range(len(matrices[0]))
        ]
        info["confusion_rounds"] = len(matrices)
    if info.get("target_accuracy") is not None:
        reached = [i.get("time_to_target_seconds") for i in done if i.get("target_reached")]
        info["target_reached_rounds"] = len(reached)
        info["target_reached"] = len(reached) == len(done)
        info["time_to_target_seconds"] = statistics.median(reached) if reached else None
        epochs = [i.get("target_epoch") for i in done if i.get("target_reached")]
        info["target_epoch"] = max(epochs) if epochs else None
        info["target_epochs"] = sorted(e for e in epochs if isinstance(e, (int, float)))
    return info


def _cell(path: Path, i: int, bench: Any, run: Run) -> Cell | None:
    if not isinstance(bench, dict):
        raise HistoryError(f"{path}: benchmark #{i} is not a JSON object")
    name = bench.get("name", f"#{i}")
    extra = bench.get("extra_info")
    if not isinstance(extra, dict):
        raise HistoryError(f"{path}: benchmark {name!r} has no extra_info object")
    kind = extra.get("kind")
    if kind not in ("training", "micro"):
        return None  # not one of ours
    keys = TRAINING_KEYS if kind == "training" else MICRO_KEYS
    missing = [k for k in keys if not isinstance(extra.get(k), str)]
    if missing:
        raise HistoryError(
            f"{path}: benchmark {name!r} ({kind}) lacks {', '.join(missing)} in extra_info"
        )
    stats = bench.get("stats") if isinstance(bench.get("stats"), dict) else {}
    return Cell(kind, tuple(extra[k] for k in keys), extra, stats, run)


def load_runs(folder: Path) -> list[Run]:
    """All stored runs under ``folder``, oldest first."""
    runs = [load_run(p, folder) for p in history_files(folder)]
    return sorted(runs, key=Run.sort_key)


@dataclass
class Selection:
    """The cells the report shows: the latest of each key among the chosen runs."""

    training: dict[tuple[str, ...], Cell]
    micro: dict[tuple[str, ...], Cell]

    def runs(self) -> list[Run]:
        seen: dict[str, Run] = {}
        for cell in [*self.training.values(), *self.micro.values()]:
            seen.setdefault(cell.run.run_id, cell.run)
        return sorted(seen.values(), key=Run.sort_key)


def select(runs: list[Run], *, run: str | None = None, machine: str | None = None) -> Selection:
    """The latest cell of each key, from the runs ``run`` and ``machine`` allow.

    ``run``: a run number ("0003") or a file name (with or without ".json");
    ``machine``: text found in the CPU or GPU name, the host name or the machine folder.
    """
    chosen = list(runs)
    if run is not None:
        wanted = run.removesuffix(".json")
        chosen = [r for r in chosen if wanted in (r.run_id, r.number)]
        if not chosen:
            raise HistoryError(
                f"no stored run matches --run {run!r}; stored: "
                + (", ".join(r.run_id for r in runs) or "none")
            )
    if machine is not None:
        chosen = [r for r in chosen if r.matches_machine(machine)]
        if not chosen:
            raise HistoryError(f"no stored run matches --machine {machine!r}")
    training: dict[tuple[str, ...], Cell] = {}
    micro: dict[tuple[str, ...], Cell] = {}
    for r in sorted(chosen, key=Run.sort_key):  # later runs overwrite earlier ones
        for cell in r.cells:
            (training if cell.kind == "training" else micro)[cell.key] = cell
    return Selection(training, micro)
