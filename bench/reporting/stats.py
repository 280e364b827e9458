"""Statistics and verdicts over cell summaries: spreads, faster/tie/slower, targets.

No Markdown here: each function returns numbers or a verdict word that the page modules
write out.  A verdict is said only where the rounds settle it: two ranges of training
times that overlap are a tie, and one round decides nothing.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass

from bench.reporting.summary import CellSummary, GemmMeasurement, InferenceSummary, RunSummary

ONE_ROUND = "undecided (1 round)"


def rounds_of(cell: CellSummary) -> int:
    return len(cell.test_accuracy_rounds or cell.train_seconds_rounds or (1,))


def spread(cell: CellSummary) -> tuple[float, float]:
    """(min, max) of a cell's training time over its rounds."""
    rounds = cell.train_seconds_rounds or (cell.train_seconds,)
    return min(rounds), max(rounds)


def verdict(a: CellSummary, b: CellSummary) -> str:
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


def target_met(ref: CellSummary, other: CellSummary, bound: float, inclusive: bool) -> str:
    """Whether ``ref``'s time is below ``bound`` × ``other``'s: "yes", "no", "tie" (the
    rounds straddle the bound) or :data:`ONE_ROUND`."""
    if min(rounds_of(ref), rounds_of(other)) < 2:
        return ONE_ROUND
    lo, hi = spread(ref)
    o_lo, o_hi = spread(other)

    def below(x: float, y: float) -> bool:
        return x <= y if inclusive else x < y

    if below(hi, bound * o_lo):
        return "yes"
    if not below(lo, bound * o_hi):
        return "no"
    return "tie"


def ratio(a: CellSummary, b: CellSummary) -> float:
    """``a``'s median training time over ``b``'s."""
    return a.train_seconds / b.train_seconds


def fastest(cells: Iterable[CellSummary]) -> CellSummary | None:
    done = [c for c in cells if not c.failed and c.train_seconds is not None]
    return min(done, key=lambda c: c.train_seconds, default=None)


def most_accurate(cells: Iterable[CellSummary]) -> CellSummary | None:
    done = [c for c in cells if not c.failed]
    return max(done, key=lambda c: c.test_accuracy, default=None)


@dataclass(frozen=True)
class Floor:
    """A Fashion-MNIST floor against a cell: held, or why not."""

    held: bool
    reason: str  # "", "diverged", "mean", "seed"
    value: float | None = None


def floor_held(cell: CellSummary, floor: float) -> Floor:
    """Whether the mean over the seeds and every seed reach ``floor``."""
    if cell.failed:
        return Floor(False, "diverged")
    if cell.test_accuracy < floor:
        return Floor(False, "mean", cell.test_accuracy)
    low = min(cell.test_accuracy_rounds or (cell.test_accuracy,))
    if low < floor:
        return Floor(False, "seed", low)
    return Floor(True, "")


@dataclass(frozen=True)
class RaceFigures:
    """A speedrun cell's figures over its seeds."""

    rounds: int
    reached: int
    median_seconds: float | None
    mean: float | None
    sd: float | None
    low: float | None
    epochs: tuple[float, ...]


def race(cell: CellSummary) -> RaceFigures:
    accs = cell.test_accuracy_rounds or (
        (cell.test_accuracy,) if cell.test_accuracy is not None else ()
    )
    return RaceFigures(
        rounds=cell.rounds,
        reached=cell.target_reached_rounds,
        median_seconds=cell.time_to_target_seconds,
        mean=statistics.fmean(accs) if accs else None,
        sd=statistics.stdev(accs) if len(accs) > 1 else None,
        low=min(accs) if accs else None,
        epochs=cell.target_epochs,
    )


def race_misses(
    f: RaceFigures,
    seconds_target: float | None,
    *,
    min_seeds: int,
    mean_target: float,
    every_seed_target: float,
) -> list[tuple[str, float | int]]:
    """The race's targets this cell misses: ("seeds", n), ("mean", target), ("seed",
    target), ("median", seconds); empty when it meets them all."""
    misses: list[tuple[str, float | int]] = []
    if f.rounds < min_seeds:
        misses.append(("seeds", f.rounds))
    if f.mean is None or f.mean < mean_target:
        misses.append(("mean", mean_target))
    if f.low is None or f.low < every_seed_target:
        misses.append(("seed", every_seed_target))
    if seconds_target is not None and (
        f.median_seconds is None or f.median_seconds > seconds_target
    ):
        misses.append(("median", seconds_target))
    return misses


@dataclass(frozen=True)
class Steadiness:
    """How steady the machine was during a run."""

    highest: float | None  # the highest GEMM measurement: the yardstick of "% of peak"
    lowest: float | None
    by_library: tuple[tuple[str, float, float], ...]  # (library, lowest, highest)
    times: int  # how many times the peak was measured
    cell_rounds: int | None  # None: the run recorded no CPU windows
    busy_rounds: int


def steadiness(run: RunSummary) -> Steadiness:
    measurements: tuple[GemmMeasurement, ...] = run.info.gemm_measurements
    by_library: dict[str, list[float]] = {}
    for m in measurements:
        by_library.setdefault(m.library, []).append(m.gflops)
    windows = any(c.windows_recorded for c in run.training)
    return Steadiness(
        highest=max((m.gflops for m in measurements), default=None),
        lowest=min((m.gflops for m in measurements), default=None),
        by_library=tuple((lib, min(v), max(v)) for lib, v in sorted(by_library.items())),
        times=len({m.when for m in measurements}),
        cell_rounds=sum(rounds_of(c) for c in run.training) if windows else None,
        busy_rounds=sum(len(c.co_runner_rounds) for c in run.training),
    )


# --------------------------------------------------------------------------- inference

#: the engine whose batch-1 latency the inference goal is about
GOAL_ENGINE = "numpy"


def lowest_latency(cells: Iterable[InferenceSummary]) -> InferenceSummary | None:
    """The batch-1 ("latency") cell with the lowest median call time; on an exact tie the
    first in ``cells``' order."""
    return min((c for c in cells if c.mode == "latency"), key=lambda c: c.p50_ms, default=None)


@dataclass(frozen=True)
class LatencyGoal:
    """The inference goal on one network and device: does :data:`GOAL_ENGINE` have the
    lowest batch-1 p50 of every engine measured there?"""

    model: str
    device: str
    lowest: InferenceSummary  # the lowest batch-1 p50
    goal: InferenceSummary | None  # the goal engine's cell (None: not measured)
    engines: int  # how many engines have a batch-1 cell here

    @property
    def held(self) -> bool:
        return self.goal is not None and self.goal.p50_ms <= self.lowest.p50_ms

    @property
    def ratio(self) -> float | None:
        """The goal engine's p50 over the lowest (1.0 where it is the lowest)."""
        if self.goal is None or not self.lowest.p50_ms:
            return None
        return self.goal.p50_ms / self.lowest.p50_ms


def latency_goal(
    cells: Iterable[InferenceSummary], models: Iterable[str], device: str = "cpu"
) -> list[LatencyGoal]:
    """One :class:`LatencyGoal` per network of ``models`` with batch-1 cells on ``device``."""
    cells = [c for c in cells if c.mode == "latency" and c.device == device]
    out = []
    for model in models:
        mine = [c for c in cells if c.model == model]
        lowest = lowest_latency(mine)
        if lowest is None:
            continue
        goal = next((c for c in mine if c.engine == GOAL_ENGINE), None)
        out.append(LatencyGoal(model, device, lowest, goal, len(mine)))
    return out
