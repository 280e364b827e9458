"""docs/speedrun.md, "Fastest to 99 %": the cells of every time-to-target race (each spec
whose ``is_race``: ``speedrun``, ``speedrun2``), one table per race, per framework and device.

Time-to-99 % is training time only, read at the first test evaluation at or above the
target (the recipe evaluates ``evals_per_epoch`` times an epoch, off the clock), the median
over the seeds that reached it (bench/reporting/summary.py folds the rounds, one per seed),
and the epoch shown to that resolution.  Beside the measured rows stands the published
anchor, and below them the bound that the machine's measured float32 GEMM peak puts on one
epoch.  A cell stored with another net than today's spec (its parameter count differs)
says so in its row and is not judged against the targets.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from bench.reporting import stats
from bench.reporting.format import label
from bench.reporting.selection import Selection
from bench.reporting.summary import CellSummary
from mnist_nets.specs import ModelSpec, get_spec, race_specs

TRAIN_SAMPLES = 60_000
# the races' targets (a 2-core CPU, standard profile, >= 10 seeds)
MIN_SEEDS = 10
MEAN_TARGET, EVERY_SEED_TARGET = 0.990, 0.989
CPU_SECONDS_FASTEST, CPU_SECONDS_NUMPY = 2.5, 4.0
ANCHOR = (
    "| published: PyTorch, [tuomaso/train_mnist_fast](https://github.com/tuomaso/train_mnist_fast)"
    " | cuda (laptop GTX 1660 Ti) | 0.76 s (1 epoch) | 99.04 % mean over 30 seeds | – | – "
    "| (the anchor; not run here) |"
)


def epoch_digits(evals_per_epoch: int) -> int:
    """Decimals that show an evaluation's epoch: 1 for up to 10 evaluations an epoch
    (tenths), 2 for up to 100 (a twentieth is 0.05)."""
    return max(1, math.ceil(math.log10(evals_per_epoch)))


def _when(epochs: list[float], digits: int = 1) -> str:
    """`` (epoch 1.4)``, or over seeds that differ `` (epochs 1.3–1.6, median 1.3)``, with
    ``digits`` decimals."""
    if not epochs:
        return ""
    lo, hi = f"{min(epochs):.{digits}f}", f"{max(epochs):.{digits}f}"
    if lo == hi:
        return f" (epoch {lo})"
    return f" (epochs {lo}–{hi}, median {statistics.median(epochs):.{digits}f})"


def verdict(f: stats.RaceFigures, seconds_target: float | None) -> str:
    """Which of the targets this cell meets, each miss named with its figure."""
    misses = stats.race_misses(
        f,
        seconds_target,
        min_seeds=MIN_SEEDS,
        mean_target=MEAN_TARGET,
        every_seed_target=EVERY_SEED_TARGET,
    )
    words = {
        "seeds": lambda n: f"{n} seed{'s' if n != 1 else ''} < {MIN_SEEDS}",
        "mean": lambda t: f"mean < {_pct(t, 1)}",
        "seed": lambda t: f"a seed < {_pct(t, 1)}",
        "median": lambda t: f"median > {t:g} s",
    }
    return "met" if not misses else "missed: " + ", ".join(words[k](v) for k, v in misses)


def _earlier_net(cell: CellSummary, spec: ModelSpec) -> str:
    """`` (an earlier net: 215,194 parameters)`` for a cell stored with another net than
    ``spec`` (its stored parameter count differs), else ``""``."""
    stored = cell.param_count
    if stored is not None and stored != spec.param_count:
        return f" (an earlier net: {stored:,} parameters)"
    return ""


def _pct(x: float | None, digits: int = 2) -> str:
    return "–" if x is None else f"{x:.{digits}%}".replace("%", " %")


def sections(selection: Selection, profile: str, names: Sequence[str] | None = None) -> str:
    """The Markdown of the "Fastest to 99 %" block: a table for each race in ``names``
    (default: every registered race, :func:`mnist_nets.specs.race_specs`), each under its
    name."""
    names = race_specs() if names is None else names
    return "\n\n".join(
        f"**`{name}`**: {get_spec(name).description}\n\n"
        + section(selection, profile, get_spec(name))
        for name in names
    )


@dataclass(frozen=True)
class Race:
    """One race's stored cells, judged: each cell's race figures, which cells hold an
    earlier net (not judged), the fastest judged CPU framework and each cell's verdict."""

    cells: dict[tuple[str, str], CellSummary]  # (framework, device) -> cell
    figures: dict[tuple[str, str], stats.RaceFigures]
    earlier: dict[tuple[str, str], str]  # _earlier_net's note, "" for today's net
    fastest: str | None  # the judged CPU framework with the lowest median time

    def seconds_target(self, framework: str, device: str) -> float | None:
        """The time bound a cell is held to: the fastest CPU framework's, numpy's, none."""
        if device != "cpu":
            return None
        if framework == self.fastest:
            return CPU_SECONDS_FASTEST
        return CPU_SECONDS_NUMPY if framework == "numpy" else None

    def verdict(self, framework: str, device: str) -> str:
        return verdict(
            self.figures[(framework, device)], self.seconds_target(framework, device)
        )


def judge(selection: Selection, profile: str, spec: ModelSpec) -> Race:
    """The cells of race ``spec`` in ``profile``, with their figures and verdicts."""
    cells = {
        (k[2], k[3]): c
        for k, c in sorted(selection.training.items())
        if k[:2] == (profile, spec.name)
    }
    figures = {key: stats.race(c) for key, c in cells.items()}
    earlier = {key: _earlier_net(c, spec) for key, c in cells.items()}
    cpu = {f: s for (f, d), s in figures.items() if d == "cpu" and not earlier[(f, d)]}
    fastest = min(
        (f for f, s in cpu.items() if s.median_seconds is not None),
        key=lambda f: cpu[f].median_seconds,
        default=None,
    )
    return Race(cells, figures, earlier, fastest)


def section(selection: Selection, profile: str, spec: ModelSpec) -> str:
    """The Markdown of one race's table in the "Fastest to 99 %" block."""
    model = spec.name
    race = judge(selection, profile, spec)
    cells = race.cells
    target = spec.target_accuracy or 0.99
    flops_epoch = spec.flops_training * TRAIN_SAMPLES
    r = spec.recipe
    digits = epoch_digits(r.evals_per_epoch)
    lines = [
        f"Recipe: {r.describe()}; target {_pct(target, 0)} test accuracy; time is training only, "
        f"read at the first evaluation ({r.evals_per_epoch} an epoch, off the clock) at or "
        f"above the target; one round per seed. Profile `{profile}`.",
        "",
    ]
    header = [
        "framework",
        "device",
        "median time to 99 %",
        "accuracy (mean ± sd, min)",
        "seeds that reached 99 %",
        "samples/s",
        "targets",
    ]
    rows: list[Sequence[str]] = []
    for (framework, device), s in race.figures.items():
        median = s.median_seconds
        when = _when(list(s.epochs), digits)
        note = race.earlier[(framework, device)]
        rate = cells[(framework, device)].samples_per_second
        rows.append(
            [
                framework + note,
                device,
                "not reached" if median is None else f"{median:.2f} s{when}",
                f"{_pct(s.mean)} ± {_pct(s.sd, 2) if s.sd is not None else '–'}, "
                f"min {_pct(s.low)}",
                f"{s.reached} of {s.rounds}",
                "–" if rate is None else f"{rate:,.0f}",
                "not judged (another net)" if note else race.verdict(framework, device),
            ]
        )
    if not rows:
        lines.append(f"No stored `{profile}` run of `{model}` yet: `make bench` makes one.")
        lines.append("")
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join("---" for _ in header) + "|")
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    lines.append(ANCHOR)
    peaks = [
        c.peak_gflops
        for (f, d), c in cells.items()
        if d == "cpu" and not race.earlier[(f, d)] and c.peak_gflops
    ]
    bound = (
        f" At this machine's measured float32 GEMM peak ({max(peaks):.0f} GFLOP/s) one "
        f"epoch cannot take less than {flops_epoch / max(peaks) / 1e9:.1f} s."
        if peaks
        else ""
    )
    lines += [
        "",
        f"What bounds it: one epoch of `{model}` costs {flops_epoch / 1e12:.2f} TFLOP of "
        f"training ({spec.flops_training / 1e6:.2f} MFLOP per image).{bound} CPU targets: "
        f"mean ≥ {_pct(MEAN_TARGET, 1)} and every seed ≥ {_pct(EVERY_SEED_TARGET, 1)} "
        "in every "
        f"framework over ≥ {MIN_SEEDS} seeds; median time to 99 % ≤ "
        f"{CPU_SECONDS_FASTEST:g} s for the fastest framework, ≤ {CPU_SECONDS_NUMPY:g} s for "
        "numpy.",
    ]
    return "\n".join(lines)


@dataclass(frozen=True)
class Record:
    """The fastest CPU race: its spec, the framework that won it, every CPU framework's
    race figures (judged ones only: cells of an earlier net are left out) and each one's
    verdict against its targets."""

    model: str
    fastest: str
    figures: dict[str, stats.RaceFigures]
    verdicts: dict[str, str]


def cpu_record(selection: Selection, profile: str, names: Sequence[str] | None = None):
    """The race (of ``names``, default every registered one) whose fastest CPU framework
    has the lowest median time to the target, as a :class:`Record`; None when no race has
    a CPU cell that reached it."""
    best: Record | None = None
    for name in race_specs() if names is None else names:
        race = judge(selection, profile, get_spec(name))
        if race.fastest is None:
            continue
        judged = [f for (f, d) in race.figures if d == "cpu" and not race.earlier[(f, d)]]
        record = Record(
            name,
            race.fastest,
            {f: race.figures[(f, "cpu")] for f in judged},
            {f: race.verdict(f, "cpu") for f in judged},
        )
        if best is None or (
            record.figures[record.fastest].median_seconds
            < best.figures[best.fastest].median_seconds
        ):
            best = record
    return best


def readme_line(selection: Selection, profile: str, page: str) -> str:
    """One line for the README: the CPU record, numpy's time in the same race, the targets
    each meets, and the page with the rest."""
    link = f"[{page}]({page})"
    record = cpu_record(selection, profile)
    if record is None:
        return f"Fastest to 99 %: no stored `{profile}` race has reached it yet; see {link}."
    fig = record.figures
    parts = [
        f"**{label(record.fastest)} {fig[record.fastest].median_seconds:.2f} s** "
        f"({record.verdicts[record.fastest]}: ≤ {CPU_SECONDS_FASTEST:g} s)"
    ]
    if record.fastest != "numpy" and "numpy" in fig:
        seconds = fig["numpy"].median_seconds
        parts.append(
            "numpy written by hand "
            + ("did not reach it" if seconds is None else f"**{seconds:.2f} s**")
            + f" ({record.verdicts['numpy']}: ≤ {CPU_SECONDS_NUMPY:g} s)"
        )
    seeds = max(s.rounds for s in fig.values())
    return (
        f"Fastest to 99 % test accuracy on the reference machine's 2-core CPU, `{record.model}`, "
        f"median over {seeds} seeds, training time only: " + "; ".join(parts)
        + f". Every framework, and what was tried, in {link}."
    )
