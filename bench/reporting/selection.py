"""Which stored cells a page shows: the reference machine's, plus GPU cells from anywhere.

Many machines can each run ``make bench`` and commit their histories into
``bench/results/``; the report merges them.  The README and docs/ show one **reference
machine**, named in :data:`REFERENCE_FILE` (inside the results folder) and changed with
``python bench/report.py --reference-machine TEXT``: every CPU cell comes from its runs
(the latest stored run of each cell).  A cell on another device (a GPU) comes from the
latest run of any machine that has it, the reference machine's first; so a GPU run from
another machine adds its GPU rows and leaves the reference CPU rows as they were.  Every
machine's own latest cells stand side by side in docs/machines.md.

Inference cells are shown a run at a time, not a cell at a time: for each profile and
device, every inference cell of the latest run that has any (the reference machine's for
the CPU; for another device, the reference machine's latest such run, else any machine's),
so that one table's figures were measured side by side.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from bench.reporting.summary import (
    CellSummary,
    ForeignRun,
    HistoryError,
    InferenceSummary,
    Machine,
    MicroSummary,
    RunInfo,
    RunSummary,
    read_history,
)

REFERENCE_FILE = "reference-machine.txt"


def history_files(folder: Path) -> list[Path]:
    """Every ``*.json`` under ``folder`` (any depth), in a stable order."""
    if not folder.exists():
        return []
    if not folder.is_dir():
        raise HistoryError(f"{folder}: not a directory of benchmark histories")
    return sorted(p for p in folder.rglob("*.json") if p.is_file())


@dataclass(frozen=True)
class Histories:
    runs: tuple[RunSummary, ...]  # oldest first
    foreign: tuple[ForeignRun, ...] = ()


def load_runs(folder: Path) -> Histories:
    """All stored runs under ``folder``, oldest first; other suites' runs set apart."""
    runs, foreign = [], []
    for path in history_files(folder):
        run = read_history(path, folder)
        (foreign if isinstance(run, ForeignRun) else runs).append(run)
    runs.sort(key=lambda r: r.info.sort_key())
    return Histories(tuple(runs), tuple(foreign))


def machines(runs: Iterable[RunSummary]) -> dict[str, list[RunSummary]]:
    """Machine key -> its runs (oldest first), machines in the order of their latest run."""
    by_key: dict[str, list[RunSummary]] = {}
    for run in sorted(runs, key=lambda r: r.info.sort_key()):
        by_key.setdefault(run.machine.key, []).append(run)
    return dict(sorted(by_key.items(), key=lambda kv: kv[1][-1].info.sort_key()))


def latest_machine(runs: list[RunSummary]) -> Machine:
    """The machine of the latest run (the newest memory figure it recorded kept)."""
    return runs[-1].machine


def find_machine(runs: Iterable[RunSummary], text: str, where: str) -> str:
    """The one machine key that ``text`` names (the key itself, or text found in exactly
    one key, the case ignored); else a :class:`HistoryError` listing the machines."""
    keys = list(machines(runs))
    if text in keys:
        return text
    found = [k for k in keys if text.lower() in k.lower()]
    if len(found) == 1:
        return found[0]
    stored = "; ".join(keys) or "none"
    what = "matches no stored machine" if not found else f"matches {len(found)} machines"
    raise HistoryError(
        f"{where}: reference machine {text!r} {what} (stored: {stored}); "
        "choose one with `python bench/report.py --reference-machine TEXT`"
    )


def read_reference(results: Path) -> str | None:
    path = results / REFERENCE_FILE
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise HistoryError(f"{path}: cannot read the reference machine: {exc}") from None
    return text or None


@dataclass
class Selection:
    """The cells the pages show: the latest of each key among the chosen runs."""

    training: dict[tuple[str, ...], CellSummary]
    micro: dict[tuple[str, ...], MicroSummary]
    reference: str | None = None  # the reference machine's key
    all_runs: tuple[RunSummary, ...] = field(default=(), repr=False)
    inference: dict[tuple[str, ...], InferenceSummary] = field(default_factory=dict)

    def runs(self) -> list[RunInfo]:
        seen: dict[str, RunInfo] = {}
        for cell in [*self.training.values(), *self.micro.values(), *self.inference.values()]:
            seen.setdefault(cell.run.run_id, cell.run)
        return sorted(seen.values(), key=RunInfo.sort_key)

    def run_summaries(self) -> list[RunSummary]:
        ids = {r.run_id for r in self.runs()}
        return [r for r in self.all_runs if r.run_id in ids]

    def has_gpu(self) -> bool:
        """Whether a training or micro cell ran on a GPU (the training tables' GPU rows;
        the inference tables show only the rows they have)."""
        return any(key[-1] != "cpu" for key in [*self.training, *self.micro])


def latest_cells(runs: Iterable[RunSummary]) -> tuple[dict, dict]:
    """(training, micro): the latest cell of each key over ``runs``."""
    training: dict[tuple[str, ...], CellSummary] = {}
    micro: dict[tuple[str, ...], MicroSummary] = {}
    for r in sorted(runs, key=lambda r: r.info.sort_key()):  # later runs overwrite
        for cell in r.training:
            training[cell.key] = cell
        for m in r.micro:
            micro[m.key] = m
    return training, micro


def latest_inference(runs: Iterable[RunSummary]) -> dict[tuple[str, ...], InferenceSummary]:
    """For each (profile, device): every inference cell of the latest run that has any."""
    chosen: dict[tuple[str, str], list[InferenceSummary]] = {}
    for r in sorted(runs, key=lambda r: r.info.sort_key()):  # a later run replaces a group
        groups: dict[tuple[str, str], list[InferenceSummary]] = {}
        for cell in r.inference:
            groups.setdefault((cell.profile, cell.device), []).append(cell)
        chosen.update(groups)
    return {cell.key: cell for cells in chosen.values() for cell in cells}


def select(
    runs: Iterable[RunSummary], *, run: str | None = None, reference: str | None = None
) -> Selection:
    """The cells to show.  ``run``: one stored run only (its number "0003" or file name).
    ``reference``: the reference machine's key (None: the machine of the latest run)."""
    runs = list(runs)
    if run is not None:
        wanted = run.removesuffix(".json")
        chosen = [r for r in runs if wanted in (r.run_id, r.info.number)]
        if not chosen:
            raise HistoryError(
                f"no stored run matches --run {run!r}; stored: "
                + (", ".join(r.run_id for r in runs) or "none")
            )
        training, micro = latest_cells(chosen)
        return Selection(
            training, micro, chosen[0].machine.key, tuple(runs), latest_inference(chosen)
        )
    if not runs:
        return Selection({}, {}, None, ())
    groups = machines(runs)
    if reference is None:
        reference = list(groups)[-1]
    home = groups.get(reference, [])
    training, micro = latest_cells(home)
    # other devices: the latest cell of any machine where the reference has none
    others = [r for r in runs if r.machine.key != reference]
    away_training, away_micro = latest_cells(others)
    for key, cell in away_training.items():
        if key[-1] != "cpu" and key not in training:
            training[key] = cell
    for key, m in away_micro.items():
        if key[-1] != "cpu" and key not in micro:
            micro[key] = m
    inference = latest_inference(home)
    home_groups = {(c.profile, c.device) for c in inference.values()}
    for key, cell in latest_inference(others).items():
        if cell.device != "cpu" and (cell.profile, cell.device) not in home_groups:
            inference[key] = cell
    return Selection(training, micro, reference, tuple(runs), inference)
