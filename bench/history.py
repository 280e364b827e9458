"""Reading the stored benchmark histories (pytest-benchmark JSON) for the report.

A history is one file ``<storage>/<machine folder>/NNNN_<commit>_<date>[...].json`` as
``pytest bench --benchmark-autosave`` writes it.  Each of our benchmarks carries its
figures in ``extra_info`` (``kind`` "training" or "micro"; see bench/cell.py and
bench/test_micro.py); benchmarks of other kinds are ignored.

A *cell* is identified by its key: ``(profile, model, framework, device)`` for training,
``(profile, case, pass, framework, device)`` for micro-benchmarks.  By default the report
shows the latest stored run of each cell; ``run`` and ``machine`` narrow the runs first.
"""

from __future__ import annotations

import json
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
    run = Run(path, path.stem, folder, data["datetime"], machine)
    for i, bench in enumerate(data["benchmarks"]):
        cell = _cell(path, i, bench, run)
        if cell is not None:
            run.cells.append(cell)
    return run


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
