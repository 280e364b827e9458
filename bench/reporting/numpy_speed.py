"""docs/numpy-vs-frameworks.md: numpy's training time against the faster framework's.

The numpy backend's speed targets, checked on CPU cells: numpy's training time against
the faster framework's, below 1 on perceptron, below 0.90 on dnn, at most 1.00 on cnn
and at most 1.20 on alexnet; the seed profile's own bound on the perceptron.
"""

from __future__ import annotations

from collections.abc import Sequence

from bench.reporting import format as fmt
from bench.reporting import stats
from bench.reporting.format import NOT_RUN, label, not_run_cells, table
from bench.reporting.networks import FRAMEWORKS
from bench.reporting.selection import Selection
from mnist_nets.backends.registry import REFERENCE
from mnist_nets.specs import race_specs

OTHER_FRAMEWORKS = tuple(f for f in FRAMEWORKS if f != REFERENCE)
NUMPY_TARGETS = {  # model -> (as the table shows it, bound on the ratio, bound included)
    "perceptron": ("< 1", 1.0, False),
    "dnn": ("≤ 1", 1.0, True),
    "cnn": ("≤ 0.9", 0.9, True),
    "alexnet": ("≤ 0.9", 0.9, True),
    # every time-to-target race (speedrun, speedrun2)
    **{name: ("≤ 1.2", 1.2, True) for name in race_specs()},
}
# the full-batch perceptron: no slower, relative to the faster framework, than it has been
SEED_NUMPY_TARGETS = {"perceptron": ("≤ 0.82", 0.82, True)}
MET_TEXT = {"yes": "yes", "no": "**no**", "tie": "tie (the rounds straddle the target)"}


def numpy_speed(
    selection: Selection, models: Sequence[str], profile: str, targets=NUMPY_TARGETS
) -> str:
    """numpy's training time against the fastest of the other frameworks, on the CPU.

    The ratio is of the medians; "faster"/"slower" and the target's "yes"/"no" are said
    only where the rounds' ranges settle it, "tie" otherwise."""
    rows = []
    for model in models:
        cells = {f: selection.training.get((profile, model, f, "cpu")) for f in FRAMEWORKS}
        target_text, bound, inclusive = targets.get(model, ("–", None, False))
        measured = {f: c for f, c in cells.items() if c is not None and not c.failed}
        others = [measured[f] for f in OTHER_FRAMEWORKS if f in measured]
        if REFERENCE not in measured or not others:
            rows.append([model, *not_run_cells(NOT_RUN, len(FRAMEWORKS) + 2), target_text, "–"])
            continue
        ref = measured[REFERENCE]
        fastest = stats.fastest(others)
        ratio = stats.ratio(ref, fastest)
        met = "–" if bound is None else stats.target_met(ref, fastest, bound, inclusive)
        met = MET_TEXT.get(met, met)
        if len({c.run.run_id for c in measured.values()}) > 1:
            met += " (cells from different runs)"
        mark = fmt.co_runner_mark(ref, fastest)
        rows.append(
            [
                model,
                *(fmt.train_time(measured[f]) if f in measured else NOT_RUN for f in FRAMEWORKS),
                f"{ratio:.2f} (vs {label(fastest.framework)})",
                stats.verdict(ref, fastest) + mark,
                target_text,
                met + mark,
            ]
        )
    return table(
        (
            "Architecture",
            *(label(f) for f in FRAMEWORKS),
            "numpy ÷ faster framework (medians)",
            "numpy is",
            "Target",
            "Met",
        ),
        rows,
    )
