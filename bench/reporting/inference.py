"""docs/inference.md's measured figures and README.md's line about them: batch-1 latency
(p50, p99) and batch-1,000 throughput of every engine on every network, from one run, and
the verdict on the goal that numpy written by hand has the lowest batch-1 latency."""

from __future__ import annotations

from collections.abc import Sequence

from bench.reporting import format as fmt
from bench.reporting import stats
from bench.reporting.format import CO_RUNNER_MARK, engine_label, table
from bench.reporting.selection import Selection
from bench.reporting.summary import InferenceSummary
from mnist_nets.engines import ENGINES

ENGINE_ORDER = tuple(e.name for e in ENGINES)


def _none_yet(profile: str) -> str:
    return (
        f"No stored `{profile}` run has inference cells yet: `make bench` measures them "
        "(bench/test_inference.py) and `python bench/report.py` writes their figures here."
    )


def shown(selection: Selection, profile: str) -> list[InferenceSummary]:
    """The selection's inference cells of ``profile``, in a stable order."""
    return sorted(
        (c for c in selection.inference.values() if c.profile == profile),
        key=lambda c: (c.model, _device_order(c.device), _engine_order(c.engine), c.mode),
    )


def _engine_order(engine: str) -> tuple[int, str]:
    if engine in ENGINE_ORDER:
        return (ENGINE_ORDER.index(engine), "")
    return (len(ENGINE_ORDER), engine)  # an engine no longer registered: last, by name


def _device_order(device: str) -> tuple[bool, str]:
    return (device != "cpu", device)


def _device(cell: InferenceSummary) -> str:
    """The Device column: "CPU", or the GPU as the run's machine names it (one name for
    every engine's rows: the engines' own device names differ)."""
    if cell.device == "cpu":
        return "CPU"
    return cell.run.machine.gpu or cell.device_name or cell.device


def _mark(cell: InferenceSummary | None) -> str:
    return f" {CO_RUNNER_MARK}" if cell is not None and cell.co_runner else ""


def _sources(cells: list[InferenceSummary], selection: Selection) -> str:
    """Each run the cells come from, its machine, time and the devices it gives: "run
    `0023` (the reference machine, AMD EPYC, 2 cores; 2026-12-07 05:00 UTC): CPU rows"."""
    runs: dict[str, tuple] = {}
    for cell in cells:
        devices = runs.setdefault(cell.run.run_id, (cell.run, []))[1]
        if _device(cell) not in devices:
            devices.append(_device(cell))
    parts = []
    for run, devices in sorted(runs.values(), key=lambda rd: rd[0].sort_key()):
        key = run.machine.key
        where = f"the reference machine, {key}" if key == selection.reference else key
        parts.append(
            f"run `{run.number}` ({where}; {fmt.utc(run.datetime)}): {', '.join(devices)} rows"
        )
    return "; ".join(parts)


def _calls(cells: list[InferenceSummary]) -> str:
    counts = sorted({c.calls for c in cells if c.mode == "latency"})
    warm = sorted({c.warmup_calls for c in cells if c.mode == "latency" and c.warmup_calls})
    text = " or ".join(f"{n:,}" for n in counts) + " calls"
    if warm:
        text += " after " + " or ".join(f"{n:,}" for n in warm) + " untimed warm-up calls"
    return text


def _batches(cells: list[InferenceSummary]) -> list[int]:
    return sorted({c.batch for c in cells if c.mode == "throughput"})


def tables(selection: Selection, models: Sequence[str], profile: str) -> str:
    """Per network a table engine x (batch-1 p50, p99, large-batch images/s), the runs
    named above, the engines' settings once below."""
    cells = shown(selection, profile)
    if not cells:
        return _none_yet(profile)
    batches = _batches(cells)
    big = f"Batch-{batches[0]:,} images/s" if len(batches) == 1 else "Large-batch images/s"
    lowest = {
        (g.model, g.device): g.lowest
        for device in sorted({c.device for c in cells}, key=_device_order)
        for g in stats.latency_goal(cells, models, device)
    }
    lines = [
        f"Profile `{profile}`; {_sources(cells, selection)}. Batch 1: median (p50) and 99th "
        f"percentile (p99) of one call's time over {_calls(cells)}, each on the next test "
        "image; "
        + (f"batch {batches[0]:,}" if len(batches) == 1 else "a large batch")
        + ": images per second from the median call. The lowest batch-1 p50 of each "
        f"network and device is in bold; {CO_RUNNER_MARK}: another process used the CPU "
        "during the cell.",
    ]
    known = set(models)
    for model in [*models, *sorted({c.model for c in cells} - known)]:
        mine = [c for c in cells if c.model == model]
        if not mine:
            continue
        by_key = {(c.engine, c.device, c.mode): c for c in mine}
        rows = []
        pairs = dict.fromkeys((c.engine, c.device) for c in mine)
        for engine, device in sorted(
            pairs, key=lambda p: (_device_order(p[1]), _engine_order(p[0]))
        ):
            lat = by_key.get((engine, device, "latency"))
            thr = by_key.get((engine, device, "throughput"))
            p50 = fmt.milliseconds(lat.p50_ms) if lat else "–"
            if lat is not None and lowest.get((model, device)) is lat:
                p50 = f"**{p50}**"
            rate = "–"
            if thr is not None:
                rate = fmt.count(thr.images_per_second)
                if len(batches) > 1:
                    rate += f" (batch {thr.batch:,})"
            rows.append(
                [
                    engine_label(engine),
                    _device(lat or thr),
                    p50 + _mark(lat),
                    (fmt.milliseconds(lat.p99_ms) if lat else "–") + _mark(lat),
                    rate + _mark(thr),
                ]
            )
        header = ("Engine", "Device", "Batch-1 p50", "Batch-1 p99", big)
        lines += ["", f"#### {model}", "", table(header, rows)]
    lines += ["", settings(cells)]
    missing = [m for m in models if not any(c.model == m for c in cells)]
    if missing:
        lines += ["", f"No inference cells stored for: {', '.join(missing)}."]
    return "\n".join(lines)


def settings(cells: list[InferenceSummary]) -> str:
    """The engines' settings as the cells stored them, once per engine (once per variant
    where cells of one engine ran with different settings)."""
    lines = ["How each engine ran (the settings and versions its cells stored):", ""]
    engines = sorted({c.engine for c in cells}, key=_engine_order)
    for engine in engines:
        variants: dict[tuple, list[InferenceSummary]] = {}
        for c in cells:
            if c.engine == engine:
                variants.setdefault((c.engine_settings, c.versions), []).append(c)
        for (setting, versions), of_variant in variants.items():
            name = f"**{engine_label(engine)}**"
            if len(variants) > 1:
                devices = ", ".join(dict.fromkeys(_device(c) for c in of_variant))
                networks = ", ".join(dict.fromkeys(c.model for c in of_variant))
                name += f" ({devices}: {networks})"
            text = "; ".join(f"{k}: {v}" for k, v in setting) or "no settings stored"
            if versions:
                text += " (" + ", ".join(f"{k} {v}" for k, v in versions) + ")"
            lines.append(f"- {name}: {text}")
    return "\n".join(lines)


def goal(selection: Selection, models: Sequence[str], profile: str) -> str:
    """The goal's verdict network by network, on the CPU cells shown."""
    cells = shown(selection, profile)
    what = (
        f"The goal: {engine_label(stats.GOAL_ENGINE)} written by hand has the lowest batch-1 "
        "latency (p50) of every engine on every network"
    )
    if not cells:
        return f"{what}: undecided, no stored `{profile}` run has inference cells yet."
    verdicts = stats.latency_goal(cells, models, "cpu")
    if not verdicts:
        return f"{what}: undecided, the stored inference cells have no batch-1 cell on the CPU."
    held = [v for v in verdicts if v.held]
    goal_name = engine_label(stats.GOAL_ENGINE)
    rows = []
    for v in verdicts:
        if v.goal is None:
            result = f"undecided ({goal_name} not measured)"
        elif v.held:
            result = "met"
        else:
            result = f"not met: {engine_label(v.lowest.engine)} lower"
        rows.append(
            [
                v.model,
                f"{engine_label(v.lowest.engine)}, {fmt.milliseconds(v.lowest.p50_ms)}"
                + _mark(v.lowest),
                (fmt.milliseconds(v.goal.p50_ms) + _mark(v.goal)) if v.goal else "–",
                f"{v.ratio:.2f} ×" if v.ratio is not None else "–",
                str(v.engines),
                result,
            ]
        )
    header = ("Network", "Lowest batch-1 p50", f"{goal_name} p50", f"{goal_name} ÷ lowest",
              "Engines", "Goal")  # fmt: skip
    lines = [
        f"{what}, on the CPU: met on {len(held)} of {len(verdicts)} networks.",
        "",
        table(header, rows),
    ]
    if any(c.device != "cpu" for c in cells):
        lines += ["", f"GPU rows are outside the goal: {goal_name} runs on the CPU only."]
    return "\n".join(lines)


def readme_line(selection: Selection, models: Sequence[str], profile: str, page: str) -> str:
    """One line for the README: the goal's count, the engines lowest elsewhere, the page."""
    cells = shown(selection, profile)
    link = f"[{page}]({page})"
    if not cells:
        return (
            "Inference (batch-1 latency and batch-1,000 throughput of every engine): no "
            f"stored run has inference cells yet; {link} says how they are measured."
        )
    verdicts = stats.latency_goal(cells, models, "cpu")
    goal_name = engine_label(stats.GOAL_ENGINE)
    if not verdicts:
        return f"Inference: no batch-1 cell on the CPU stored yet; figures in {link}."
    held = sum(v.held for v in verdicts)
    others: dict[str, list[str]] = {}
    for v in verdicts:
        if v.goal is None:
            others.setdefault(f"{goal_name} not measured", []).append(v.model)
        elif not v.held:
            others.setdefault(f"{engine_label(v.lowest.engine)} lowest", []).append(v.model)
    rest = "; ".join(f"{what} on {', '.join(names)}" for what, names in others.items())
    return (
        f"Inference, batch-1 p50 on the reference machine's CPU: {goal_name} lowest on "
        f"{held} of {len(verdicts)} networks" + (f" ({rest})" if rest else "")
        + f"; per engine and network in {link}."
    )
