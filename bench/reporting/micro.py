"""docs/benchmarks.md's micro-benchmarks: images per second per layer and per model."""

from __future__ import annotations

from collections.abc import Sequence

from bench.reporting import format as fmt
from bench.reporting.format import NOT_RUN, label, table
from bench.reporting.networks import FRAMEWORKS, GPU_FRAMEWORKS
from bench.reporting.selection import Selection

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
    batches = sorted({c.batch_size for c in cells.values() if c.batch_size})
    parts = []
    for device in devices:
        frameworks = FRAMEWORKS if device == "cpu" else GPU_FRAMEWORKS
        rows = []
        for case in cases:
            for i, (pass_, pass_label) in enumerate(PASS_LABELS.items()):
                name = case
                if i == 0 and case in descriptions:
                    name += f": {descriptions[case]}"
                row = [name, pass_label]
                for framework in frameworks:
                    cell = cells.get((profile, case, pass_, framework, device))
                    row.append(NOT_RUN if cell is None else fmt.count(cell.samples_per_second))
                rows.append(row)
        header = ["Case", "Pass", *(label(f) for f in frameworks)]
        parts.append(f"On {device}:\n\n" + table(header, rows))
    intro = (
        "Images per second (median of the rounds) through batches of "
        + (", ".join(map(str, batches)) or "?")
        + " images: *forward* in inference mode, *forward + backward* with dropout off "
        "(both as the backend's `forward` and `loss_and_grads`), *SGD steps* as training "
        "runs them (`train_epoch` over 2 staged batches)."
    )
    return intro + "\n\n" + "\n\n".join(parts)
