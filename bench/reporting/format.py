"""Numbers as the pages show them: seconds, percentages, sizes, learning rates, tables.

No statistics here (bench/reporting/stats.py computes, this module only writes).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from bench.reporting.summary import CellSummary, Recipe
from mnist_nets.backends.registry import FRAMEWORKS as REGISTERED
from mnist_nets.engines import ENGINES

LABELS = {f.name: f.label for f in REGISTERED}
ENGINE_LABELS = {e.name: e.label for e in ENGINES}
NOT_RUN = "not run"
CO_RUNNER_MARK = "⚠"


def label(framework: str) -> str:
    return LABELS.get(framework, framework)


def engine_label(engine: str) -> str:
    return ENGINE_LABELS.get(engine, engine)


def milliseconds(ms: float | None) -> str:
    """Three significant digits ("0.0123 ms", "4.56 ms", "123 ms"), whole ones from 1,000."""
    if ms is None:
        return "–"
    if ms >= 999.5:  # where three significant digits would turn into an exponent
        return f"{ms:,.0f} ms"
    return f"{ms:.3g} ms"


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


def size(nbytes: float | None) -> str:
    if nbytes is None:
        return "–"
    mib = nbytes / 2**20
    return f"{mib:,.0f} MiB" if mib >= 10 else f"{mib:.1f} MiB"


def gib(nbytes: int | None) -> str:
    return "–" if nbytes is None else f"{nbytes / 2**30:.1f} GiB"


def learning_rate(recipe: Recipe) -> str:
    """The rate with what changes it: "0.1 (momentum 0.9, ×0.5/epoch)", "0.01 (Adam, one-cycle)"."""
    extras = []
    if recipe.momentum:
        extras.append(f"momentum {recipe.momentum:g}")
    if recipe.lr_decay != 1:
        extras.append(f"×{recipe.lr_decay:g}/epoch")
    if recipe.optimizer == "adam":
        extras.append("Adam")
    if recipe.schedule == "one_cycle":
        extras.append("one-cycle")
    return f"{recipe.lr:g}" + (f" ({', '.join(extras)})" if extras else "")


def co_runner_mark(*cells: CellSummary) -> str:
    """ " ⚠" when another process used the CPU in a round of any of ``cells``."""
    return f" {CO_RUNNER_MARK}" if any(c.co_runner_rounds for c in cells) else ""


def train_time(cell: CellSummary) -> str:
    """Median training time; with several rounds "median (min–max, n rounds)"; "⚠" when
    another process used the CPU during a round."""
    rounds = cell.train_seconds_rounds
    text = seconds(cell.train_seconds)
    if len(rounds) > 1:
        text += f" ({seconds(min(rounds))}–{seconds(max(rounds))}, {len(rounds)} rounds)"
    return text + co_runner_mark(cell)


def accuracy(cell: CellSummary, with_min: bool = True) -> str:
    """Test accuracy; over several seeds "mean ± sd (min x)", sd in percentage points."""
    values = cell.test_accuracy_rounds
    text = percent(cell.test_accuracy)
    if len(values) > 1 and cell.test_accuracy_sd is not None:
        text += f" ± {100 * cell.test_accuracy_sd:.2f}"
        if with_min:
            text += f" (min {percent(min(values))})"
    return text


def table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def not_run_cells(why: str, n: int) -> list[str]:
    """``n`` cells of a row never measured: the reason first, then "not run"."""
    return [why] + [NOT_RUN] * (n - 1)


def utc(datetime: str) -> str:
    """"2026-12-03 23:36 UTC" from pytest-benchmark's ISO time."""
    return datetime[:16].replace("T", " ") + " UTC"
