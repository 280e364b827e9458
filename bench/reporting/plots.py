"""The pages' plots, drawn with matplotlib (Agg) into PNG bytes.

The same cells always give the same bytes: fixed size and DPI, no timestamp or
software tag in the PNG metadata (``metadata={"Software": None}``), sorted inputs.

Spread over the rounds: the curves show the mean over the seeds with a band from the
lowest to the highest round, the training-time bars the median with min-max error
bars, the throughput points the median with the min-max of the rounds as error bars.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence

from bench.reporting.format import label, seconds
from bench.reporting.summary import CellSummary as Cell
from mnist_nets.backends.registry import FRAMEWORKS

COLORS = {f.name: f.color for f in FRAMEWORKS}
MARKERS = {f.name: f.marker for f in FRAMEWORKS}
DEVICE_STYLE = {"cpu": "-", "cuda": "--", "mps": ":"}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    plt.rcParams.update(
        {
            "figure.dpi": 100,
            "savefig.dpi": 100,
            "font.size": 9,
            "axes.grid": True,
            "grid.alpha": 0.3,
        }
    )
    return plt


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    import matplotlib.pyplot as plt

    plt.close(fig)
    return buf.getvalue()


def _order(cell: Cell) -> tuple:
    """numpy, PyTorch, TensorFlow; CPU before GPU."""
    framework, device = cell.framework, cell.device
    rank = list(COLORS).index(framework) if framework in COLORS else len(COLORS)
    return (device != "cpu", device, rank, framework, cell.model)


def _pad_flat(ax, floor: float | None = None, ceiling: float | None = None) -> None:
    """Give a nearly flat series a visible y-range instead of an offset axis, kept within
    ``[floor, ceiling]`` (a loss is never negative, an accuracy never above 100 %)."""
    low, high = ax.get_ylim()
    middle = (low + high) / 2
    half = max(high - low, abs(middle) * 0.02, 1e-3) / 2
    low, high = middle - half, middle + half
    if floor is not None and low < floor:
        low, high = floor, max(high, floor + 2 * half)
    if ceiling is not None and high > ceiling:
        low, high = min(low, ceiling - 2 * half), ceiling
    ax.set_ylim(low, high)
    ax.ticklabel_format(axis="y", useOffset=False, style="plain")


def _label(cell: Cell) -> str:
    return f"{label(cell.framework)} ({cell.device})"


def curves(model: str, cells: Sequence[Cell]) -> bytes:
    """Training loss and test accuracy per epoch, one line per framework and device."""
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(9, 3.4))
    for cell in sorted(cells, key=_order):
        epochs = cell.per_epoch
        if not epochs:
            continue
        x = [e.epoch for e in epochs]
        color = COLORS.get(cell.framework, "gray")
        runs = [r for r in cell.per_epoch_rounds if len(r) == len(epochs)]
        loss = [e.loss for e in epochs]
        acc = [100 * e.test_accuracy if e.test_accuracy is not None else math.nan for e in epochs]
        if len(runs) > 1:  # mean over the seeds, band from the lowest to the highest
            loss_rounds = [[r[k].loss for r in runs] for k in range(len(x))]
            acc_rounds = [
                [100 * (r[k].test_accuracy or math.nan) for r in runs] for k in range(len(x))
            ]
            loss = [sum(v) / len(v) for v in loss_rounds]
            acc = [sum(v) / len(v) for v in acc_rounds]
            for ax, values in ((ax_loss, loss_rounds), (ax_acc, acc_rounds)):
                ax.fill_between(
                    x, [min(v) for v in values], [max(v) for v in values], color=color, alpha=0.15
                )
        style = {
            "color": color,
            "linestyle": DEVICE_STYLE.get(cell.device, "-"),
            "marker": MARKERS.get(cell.framework, "o"),
            "markersize": 4,
            "label": _label(cell),
        }
        ax_loss.plot(x, loss, **style)
        ax_acc.plot(x, acc, **style)
    ax_loss.set(title=f"{model}: training loss", xlabel="epoch", ylabel="mean loss per image")
    ax_acc.set(title=f"{model}: test accuracy", xlabel="epoch", ylabel="accuracy (%)")
    epochs_seen = sorted({e.epoch for c in cells for e in c.per_epoch})
    for ax, floor, ceiling in ((ax_loss, 0.0, None), (ax_acc, None, 100.0)):
        if 0 < len(epochs_seen) <= 12:
            ax.set_xticks(epochs_seen)
            ax.set_xlim(epochs_seen[0] - 0.5, epochs_seen[-1] + 0.5)
        else:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        _pad_flat(ax, floor, ceiling)
    ax_acc.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return _png(fig)


def training_time(models: Sequence[str], cells: Sequence[Cell]) -> bytes:
    """Training time per cell: one group of bars per architecture, log scale."""
    plt = _pyplot()
    series = list(dict.fromkeys((c.framework, c.device) for c in sorted(cells, key=_order)))
    by_key = {(c.model, c.framework, c.device): c for c in cells}
    fig, ax = plt.subplots(figsize=(9, 0.9 + 0.55 * len(models) * max(1, len(series)) / 3))
    height = 0.8 / max(1, len(series))
    for j, (framework, device) in enumerate(series):
        ys, widths, low, high = [], [], [], []
        for i, model in enumerate(models):
            cell = by_key.get((model, framework, device))
            if cell is None or cell.failed or not cell.train_seconds:
                continue
            ys.append(i + (j - (len(series) - 1) / 2) * height)
            median = cell.train_seconds
            rounds = cell.train_seconds_rounds or (median,)
            widths.append(median)
            low.append(median - min(rounds))
            high.append(max(rounds) - median)
        bars = ax.barh(
            ys,
            widths,
            xerr=[low, high] if ys else None,
            error_kw={"elinewidth": 0.8, "capsize": 2},
            height=height,
            color=COLORS.get(framework, "gray"),
            hatch="//" if device != "cpu" else None,
            label=f"{label(framework)} ({device})",
        )
        ax.bar_label(bars, labels=[seconds(w) for w in widths], padding=2, fontsize=7)
    ax.set_yticks(range(len(models)), list(models))
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set(title="Training time per cell (median, min-max of rounds; log scale)", xlabel="seconds")
    ax.margins(x=0.15)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    return _png(fig)


def throughput_vs_peak(cells: Sequence[Cell]) -> bytes:
    """Training throughput against the fraction of the device's float32 GEMM peak."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    seen: set[tuple[str, str]] = set()
    for cell in sorted(cells, key=_order):
        fraction, rate = cell.fraction_of_peak, cell.samples_per_second
        if cell.failed or not fraction or not rate:
            continue
        fd = (cell.framework, cell.device)
        color = COLORS.get(fd[0], "gray")
        rounds = cell.train_seconds_rounds
        if len(rounds) > 1 and cell.train_seconds:
            # a faster round: more images per second and a higher % of peak, alike
            scale = [cell.train_seconds / max(rounds), cell.train_seconds / min(rounds)]
            ax.errorbar(
                100 * fraction,
                rate,
                xerr=[[100 * fraction * (1 - scale[0])], [100 * fraction * (scale[1] - 1)]],
                yerr=[[rate * (1 - scale[0])], [rate * (scale[1] - 1)]],
                color=color,
                elinewidth=0.8,
                capsize=2,
                linestyle="none",
            )
        ax.scatter(
            100 * fraction,
            rate,
            marker=MARKERS.get(fd[0], "o"),
            facecolors=color if fd[1] == "cpu" else "none",
            edgecolors=color,
            label=None if fd in seen else f"{label(fd[0])} ({fd[1]})",
        )
        seen.add(fd)
        ax.annotate(
            cell.model,
            (100 * fraction, rate),
            fontsize=7,
            xytext=(3, 3),
            textcoords="offset points",
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set(
        title="Throughput against the measured float32 GEMM peak",
        xlabel="% of peak (achieved training GFLOP/s / GEMM GFLOP/s)",
        ylabel="training images per second",
    )
    if seen:
        ax.legend(fontsize=8)
    fig.tight_layout()
    return _png(fig)


def accuracy_vs_time(cells: Sequence[Cell]) -> bytes:
    """Test accuracy (mean over the seeds) against training time (median, min-max of the
    rounds), every cell: one colour and marker per framework, hollow on a GPU.  The y axis
    is the test error on a log scale, labelled as accuracy, so that 98 % and 99 % stand
    apart as far as 20 % and 60 %; each network is named once, beside its fastest cell."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.8))
    seen: set[tuple[str, str]] = set()
    fastest: dict[str, Cell] = {}
    done = [c for c in sorted(cells, key=_order) if not c.failed and c.train_seconds]
    for cell in done:
        fd = (cell.framework, cell.device)
        color = COLORS.get(fd[0], "gray")
        rounds = cell.train_seconds_rounds or (cell.train_seconds,)
        error = 100 * (1 - cell.test_accuracy)
        ax.errorbar(
            cell.train_seconds,
            error,
            xerr=[[cell.train_seconds - min(rounds)], [max(rounds) - cell.train_seconds]],
            color=color,
            elinewidth=0.8,
            capsize=2,
            linestyle="none",
        )
        ax.scatter(
            cell.train_seconds,
            error,
            marker=MARKERS.get(fd[0], "o"),
            facecolors=color if fd[1] == "cpu" else "none",
            edgecolors=color,
            label=None if fd in seen else _label(cell),
            zorder=3,
        )
        seen.add(fd)
        if cell.model not in fastest or cell.train_seconds < fastest[cell.model].train_seconds:
            fastest[cell.model] = cell
    for model, cell in fastest.items():
        ax.annotate(
            model, (cell.train_seconds, 100 * (1 - cell.test_accuracy)), fontsize=8,
            xytext=(0, 6), textcoords="offset points", ha="center", va="bottom",
        )  # fmt: skip
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.invert_yaxis()  # better is up
    bottom, top = ax.get_ylim()  # inverted: the larger error at the bottom
    ax.set_ylim(max(bottom, top) * 1.3, min(bottom, top) / 1.6)  # room for the names above
    errors = [e for e in (0.5, 1, 2, 5, 10, 20, 50, 80)]
    ax.yaxis.set_major_locator(FixedLocator(errors))
    ax.yaxis.set_minor_locator(NullLocator())
    ax.yaxis.set_major_formatter(FuncFormatter(lambda e, _pos: f"{100 - e:g} %"))
    ax.set(
        title="Test accuracy against training time, every cell",
        xlabel="training time, median of the rounds with their min-max (s, log scale)",
        ylabel="test accuracy, mean of the seeds (error on a log scale)",
    )
    ax.margins(x=0.12)
    if seen:
        ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return _png(fig)


def confusion(title: str, matrix: Sequence[Sequence[int]], names: Sequence[str]) -> bytes:
    """A confusion matrix as a heat map: rows the true class, columns the predicted one,
    each cell the share of the row's images (in %), written in the cell."""
    plt = _pyplot()
    totals = [sum(row) or 1 for row in matrix]
    shares = [[100 * v / t for v in row] for row, t in zip(matrix, totals, strict=True)]
    n = len(matrix)
    fig, ax = plt.subplots(figsize=(7.2, 6.2))
    image = ax.imshow(shares, cmap="Blues", vmin=0, vmax=100)
    ax.grid(False)
    for t in range(n):
        for p in range(n):
            value = shares[t][p]
            if value >= 0.05:
                ax.text(
                    p,
                    t,
                    f"{value:.1f}",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if value > 50 else "black",
                )
    ax.set_xticks(range(n), names, rotation=45, ha="right")
    ax.set_yticks(range(n), names)
    ax.set(title=title, xlabel="predicted class", ylabel="true class")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="% of the true class")
    fig.tight_layout()
    return _png(fig)
