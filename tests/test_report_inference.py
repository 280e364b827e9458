"""The report's inference figures (bench/reporting/inference.py): read from the stored
inference cells, one run a table, and the goal's verdict, on small made-up histories."""

from __future__ import annotations

import math

import pytest
from helpers import (
    block,
    edit_json,
    inference_cell,
    page,
    table_cells,
    training_cell,
    workspace,
    write_run,
)

from bench import report
from bench.reporting import inference, stats
from bench.reporting.pages import PAGES
from bench.reporting.selection import load_runs, select
from bench.reporting.summary import InferenceSummary, read_history
from mnist_nets.specs import list_specs


@pytest.fixture
def ws(tmp_path):
    return workspace(tmp_path)


def run_report(ws, *extra):
    return report.main([*ws.args, "--no-plots", *extra])


def cells_of(model, figures, device="cpu", **overrides):
    """A network's cells: engine -> (batch-1 p50 ms, batch-1 p99 ms, batch-1,000 images/s).
    A throughput cell's own p50 and p99 differ from the batch-1 ones on purpose."""
    out = []
    for engine, (p50, p99, rate) in figures.items():
        out.append(inference_cell(model, engine, "latency", p50, p99, device=device, **overrides))
        out.append(
            inference_cell(model, engine, "throughput", 1e6 / rate, 2e6 / rate, rate=rate,
                           device=device, **overrides)
        )  # fmt: skip
    return out


def stored_runs(results):
    """The reference machine's older run (dnn and cnn, with a training cell), its latest run
    with inference cells (dnn, cnn and perceptron), a later reference run without inference
    cells, another CPU machine's later inference run (never shown), and a GPU machine's."""
    write_run(
        results, 1,
        [training_cell("dnn", "numpy"),
         *cells_of("dnn", {"numpy": (9.0, 9.5, 10.0), "torch": (8.0, 8.5, 20.0)})],
        when="2026-01-01T10:00:00", cpu="Ref CPU",
    )  # fmt: skip
    write_run(
        results, 2,
        cells_of("dnn", {"numpy": (0.0312, 0.0871, 250_000.0), "torch": (0.0845, 0.312, 180_000.0),
                         "onnxruntime": (0.0401, 0.0952, 410_000.0)})
        + cells_of("cnn", {"numpy": (0.512, 1.25, 9_000.0), "torch": (0.301, 0.98, 15_500.0),
                           "onnxruntime": (0.123, 0.345, 31_000.0)})
        + cells_of("perceptron", {"numpy": (0.011, 0.02, 900_000.0)}),
        when="2026-01-02T10:00:00", cpu="Ref CPU",
    )  # fmt: skip
    write_run(results, 3, [training_cell("cnn", "numpy")], when="2026-01-03T10:00:00",
              cpu="Ref CPU")  # fmt: skip
    write_run(
        results, 4,
        cells_of("dnn", {"numpy": (0.001, 0.002, 9e6), "onnxruntime": (0.0005, 1.0, 9e6)}),
        when="2026-01-04T10:00:00", cpu="Big CPU", cores=128,
    )  # fmt: skip
    write_run(
        results, 5,
        cells_of("dnn", {"torch": (0.25, 0.5, 2_000_000.0),
                         "onnxruntime": (0.11, 0.2, 1_500_000.0)}, device="cuda", co_runner=True),
        when="2026-01-05T10:00:00", cpu="GPU host CPU", cores=16, gpu="Test GPU",
    )  # fmt: skip
    (results / "reference-machine.txt").write_text("Ref CPU\n")


FIGURES = """\
Profile `standard`; run `0002` (the reference machine, Ref CPU, 2 cores; 2026-01-02 10:00 UTC): CPU rows; run `0005` (GPU host CPU, 16 cores, Test GPU; 2026-01-05 10:00 UTC): Test GPU rows. Batch 1: median (p50) and 99th percentile (p99) of one call's time over 1,000 calls after 50 untimed warm-up calls, each on the next test image; batch 1,000: images per second from the median call. The lowest batch-1 p50 of each network and device is in bold; ⚠: another process used the CPU during the cell.

#### perceptron

| Engine | Device | Batch-1 p50 | Batch-1 p99 | Batch-1,000 images/s |
|---|---|---|---|---|
| numpy | CPU | **0.011 ms** | 0.02 ms | 900,000 |

#### dnn

| Engine | Device | Batch-1 p50 | Batch-1 p99 | Batch-1,000 images/s |
|---|---|---|---|---|
| numpy | CPU | **0.0312 ms** | 0.0871 ms | 250,000 |
| PyTorch | CPU | 0.0845 ms | 0.312 ms | 180,000 |
| onnxruntime | CPU | 0.0401 ms | 0.0952 ms | 410,000 |
| PyTorch | Test GPU | 0.25 ms ⚠ | 0.5 ms ⚠ | 2,000,000 ⚠ |
| onnxruntime | Test GPU | **0.11 ms** ⚠ | 0.2 ms ⚠ | 1,500,000 ⚠ |

#### cnn

| Engine | Device | Batch-1 p50 | Batch-1 p99 | Batch-1,000 images/s |
|---|---|---|---|---|
| numpy | CPU | 0.512 ms | 1.25 ms | 9,000 |
| PyTorch | CPU | 0.301 ms | 0.98 ms | 15,500 |
| onnxruntime | CPU | **0.123 ms** | 0.345 ms | 31,000 |

How each engine ran (the settings and versions its cells stored):

- **numpy**: mode: numpy inference; threads: 2 (numpy 1.0)
- **PyTorch**: mode: torch inference; threads: 2 (torch 1.0)
- **onnxruntime**: mode: onnxruntime inference; threads: 2 (onnxruntime 1.0)"""  # noqa: E501

GOAL = """\
The goal: numpy written by hand has the lowest batch-1 latency (p50) of every engine on every network, on the CPU: met on 2 of 3 networks.

| Network | Lowest batch-1 p50 | numpy p50 | numpy ÷ lowest | Engines | Goal |
|---|---|---|---|---|---|
| perceptron | numpy, 0.011 ms | 0.011 ms | 1.00 × | 1 | met |
| dnn | numpy, 0.0312 ms | 0.0312 ms | 1.00 × | 3 | met |
| cnn | onnxruntime, 0.123 ms | 0.512 ms | 4.16 × | 3 | not met: onnxruntime lower |

GPU rows are outside the goal: numpy runs on the CPU only."""  # noqa: E501

LINE = (
    "Inference, batch-1 p50 on the reference machine's CPU: numpy lowest on 2 of 3 networks "
    "(onnxruntime lowest on cnn); per engine and network in "
    "[docs/inference.md](docs/inference.md)."
)


@pytest.fixture
def models(monkeypatch):
    """Three networks, in the registry's order, so the golden text names no other."""
    shown = [m for m in list_specs() if m in ("perceptron", "dnn", "cnn")]
    assert shown == ["perceptron", "dnn", "cnn"]
    monkeypatch.setattr("bench.reporting.pages.list_specs", lambda: shown)
    return shown


def test_golden_inference_figures_goal_and_readme_line(ws, models):
    stored_runs(ws.results)
    assert run_report(ws) == 0
    text = page(ws, "inference.md")
    assert block(text, "inference-figures") == FIGURES
    assert block(text, "inference-goal") == GOAL
    assert block(page(ws, "README.md"), "inference-line") == LINE
    # the run with inference cells is named among the sources of the figures
    assert "`0002_abc_20260101_100000` (2026-01-02 10:00 UTC; standard inference)" in page(
        ws, "benchmarks.md"
    )
    assert run_report(ws, "--check") == 0


def test_no_run_with_inference_cells_says_so_in_one_sentence(ws, models):
    write_run(ws.results, 1, [training_cell("dnn", "numpy")])
    assert run_report(ws) == 0
    for name, blocks in PAGES.items():
        if name not in ("inference.md", "README.md"):
            continue
        for b in blocks():
            if b.startswith("inference"):
                text = block(page(ws, name), b)
                assert "no stored" in text.lower() and "inference cells yet" in text, text
                assert "\n" not in text and "|" not in text and "not run" not in text
    assert run_report(ws, "--check") == 0


def test_only_the_latest_run_with_inference_cells_is_shown(ws, models):
    """A later reference run with cells of dnn only replaces the whole table set: the
    older run's cnn cells are not mixed in, and the page says which networks have none."""
    stored_runs(ws.results)
    write_run(
        ws.results, 6,
        cells_of("dnn", {"numpy": (0.05, 0.06, 100.0), "torch": (0.04, 0.09, 200.0)}),
        when="2026-01-06T10:00:00", cpu="Ref CPU",
    )  # fmt: skip
    assert run_report(ws) == 0
    figures = block(page(ws, "inference.md"), "inference-figures")
    assert "run `0006`" in figures and "run `0002`" not in figures
    assert "#### cnn" not in figures
    assert "No inference cells stored for: perceptron, cnn." in figures
    rows = {(r[0], r[1]): r[2:] for r in table_cells(figures) if r[0] != "Engine"}
    assert rows[("numpy", "CPU")] == ["0.05 ms", "0.06 ms", "100"]
    assert rows[("PyTorch", "CPU")] == ["**0.04 ms**", "0.09 ms", "200"]
    # the GPU rows still come from the GPU machine's run
    assert rows[("onnxruntime", "Test GPU")][0] == "**0.11 ms** ⚠"
    assert block(page(ws, "README.md"), "inference-line").startswith(
        "Inference, batch-1 p50 on the reference machine's CPU: numpy lowest on 0 of 1 "
        "networks (PyTorch lowest on dnn)"
    )


def test_one_chosen_run_shows_its_own_cells(ws, models):
    stored_runs(ws.results)
    assert run_report(ws, "--run", "0004") == 0
    figures = block(page(ws, "inference.md"), "inference-figures")
    assert "run `0004` (the reference machine, Big CPU, 128 cores" in figures
    assert "Test GPU" not in figures
    assert "met on 0 of 1 networks" in block(page(ws, "inference.md"), "inference-goal")


def test_the_reader_keeps_every_figure_of_its_mode(tmp_path):
    path = write_run(tmp_path, 1, cells_of("dnn", {"numpy": (0.03, 0.09, 250_000.0)}))
    run = read_history(path)
    assert run.training == () and run.profiles() == {"standard"}
    latency, throughput = sorted(run.inference, key=lambda c: c.mode)
    assert (latency.mode, latency.batch, latency.calls) == ("latency", 1, 1000)
    assert (latency.p50_ms, latency.p99_ms) == (0.03, 0.09)
    assert latency.images_per_second == pytest.approx(1 / 0.03e-3)
    assert (throughput.mode, throughput.batch, throughput.images_per_second) == (
        "throughput", 1000, 250_000.0
    )  # fmt: skip
    assert (throughput.p50_ms, throughput.p99_ms) == (4.0, 8.0)
    assert latency.engine_settings == (("mode", "numpy inference"), ("threads", "2"))
    assert latency.versions == (("numpy", "1.0"),)
    assert latency.key == ("standard", "dnn", "numpy", "cpu", "latency")
    with pytest.raises(AttributeError):
        latency.p50_ms = 1.0  # type: ignore[misc]


def test_the_goal_at_its_boundaries(tmp_path):
    runs = []
    for i, (numpy_p50, other_p50) in enumerate([(0.1, 0.1), (0.1, 0.0999), (0.1, 0.2)]):
        path = write_run(tmp_path / str(i), 1, cells_of("dnn", {
            "numpy": (numpy_p50, 1.0, 1.0), "onnxruntime": (other_p50, 1.0, 1.0)
        }))  # fmt: skip
        runs.append(read_history(path))
    verdicts = [stats.latency_goal(r.inference, ["dnn", "cnn"]) for r in runs]
    assert [len(v) for v in verdicts] == [1, 1, 1]  # cnn has no cell: no verdict
    assert [v[0].held for v in verdicts] == [True, False, True]  # a tie counts as lowest
    assert verdicts[1][0].lowest.engine == "onnxruntime"
    assert verdicts[1][0].ratio == pytest.approx(0.1 / 0.0999)
    # without a numpy cell: undecided, and never "met"
    path = write_run(tmp_path / "x", 1, cells_of("dnn", {"torch": (0.1, 1.0, 1.0)}))
    (v,) = stats.latency_goal(read_history(path).inference, ["dnn"])
    assert v.goal is None and not v.held and v.ratio is None
    # a GPU device has its own verdict, apart from the CPU's
    path = write_run(tmp_path / "g", 1, cells_of("dnn", {"torch": (0.1, 1.0, 1.0)}, device="cuda"))
    assert stats.latency_goal(read_history(path).inference, ["dnn"]) == []


def test_a_table_of_mixed_batches_and_a_missing_half(tmp_path):
    write_run(tmp_path, 1, [
        inference_cell("dnn", "numpy", "latency", 0.02, 0.03),
        inference_cell("dnn", "torch", "throughput", 5.0, 6.0, rate=200_000.0),
        inference_cell("dnn", "onnxruntime", "throughput", 5.0, 6.0, rate=64_000.0, batch=64),
        inference_cell("dnn", "custom", "latency", 0.01, 0.05, engine_settings={}, versions={}),
    ])  # fmt: skip
    selection = select(load_runs(tmp_path).runs)
    text = inference.tables(selection, ["dnn"], "standard")
    rows = table_cells(text)
    assert rows[0][-1] == "Large-batch images/s"
    assert rows[1:] == [
        ["numpy", "CPU", "0.02 ms", "0.03 ms", "–"],
        ["PyTorch", "CPU", "–", "–", "200,000 (batch 1,000)"],
        ["onnxruntime", "CPU", "–", "–", "64,000 (batch 64)"],
        ["custom", "CPU", "**0.01 ms**", "0.05 ms", "–"],
    ]
    assert "- **custom**: no settings stored" in text


def test_settings_that_differ_between_cells_are_each_stated(tmp_path):
    write_run(tmp_path, 1, cells_of("dnn", {"torch": (0.1, 0.2, 10.0)})
              + cells_of("cnn", {"torch": (0.1, 0.2, 10.0)}, engine_settings={"threads": 1}))
    text = inference.settings(list(select(load_runs(tmp_path).runs).inference.values()))
    assert "- **PyTorch** (CPU: dnn): mode: torch inference; threads: 2 (torch 1.0)" in text
    assert "- **PyTorch** (CPU: cnn): threads: 1 (torch 1.0)" in text


def test_milliseconds_at_their_boundaries():
    from bench.reporting.format import milliseconds

    assert [milliseconds(v) for v in (None, 0.0123, 4.561, 123.4, 999.4, 999.6, 12345.0)] == [
        "–", "0.0123 ms", "4.56 ms", "123 ms", "999 ms", "1,000 ms", "12,345 ms"
    ]  # fmt: skip


# --------------------------------------------------------------------------- bad cells


def _edit(field, value):
    def edit(data):
        extra = data["benchmarks"][0]["extra_info"]
        if value is KeyError:
            del extra[field]
        else:
            extra[field] = value

    return edit


@pytest.mark.parametrize(
    "edit, message",
    [
        (_edit("p50_ms", KeyError), "field 'p50_ms' is missing"),
        (_edit("p99_ms", "fast"), "field 'p99_ms' should be a number, found str \"fast\""),
        (_edit("p50_ms", math.nan), "field 'p50_ms' is nan (not a finite number)"),
        (_edit("p99_ms", -1.0), "field 'p99_ms' is negative (-1.0)"),
        (_edit("p99_ms", 0.01), "field 'p99_ms' is 0.01, below p50_ms 0.03"),
        (_edit("calls", 1.5), "field 'calls' should be an integer, found float 1.5"),
        (_edit("calls", 0), "field 'calls' is 0: no call was timed"),
        (_edit("batch", 8), "field 'batch' is 8, not a batch of a latency cell"),
        (_edit("mode", "sprint"), "field 'mode' is 'sprint', not one of latency, throughput"),
        (_edit("engine", KeyError), "field 'engine' is missing"),
        (_edit("engine_settings", "fast"), "field 'engine_settings' should be an object"),
        (_edit("engine_settings", {"x": {"y": 1}}), "field 'engine_settings.x' should be a string"),
        (_edit("co_runner", "yes"), "field 'co_runner' should be a boolean"),
        (_edit("load_seconds", math.inf), "field 'load_seconds' is inf (not a finite number)"),
    ],
)
def test_a_bad_inference_cell_names_the_file_and_the_field(ws, capsys, edit, message):
    write_run(ws.results, 1, [training_cell("dnn", "numpy")])
    bad = write_run(ws.results, 2, cells_of("dnn", {"numpy": (0.03, 0.09, 250_000.0)}))
    bad = bad.rename(bad.with_name("0002_bad.json"))
    edit_json(bad, edit)
    before = {name: page(ws, name) for name in PAGES}
    assert run_report(ws) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith(
        f"report: error: {bad}: benchmark 'test_inference[dnn-numpy-cpu-latency]': {message}"
    ), err[0]
    assert {name: page(ws, name) for name in PAGES} == before


def test_a_throughput_cell_must_have_its_images_per_second(tmp_path):
    path = write_run(tmp_path, 1, cells_of("dnn", {"numpy": (0.03, 0.09, 250_000.0)}))
    edit_json(path, _edit_second("images_per_second", None))
    with pytest.raises(ValueError, match="throughput]': field 'images_per_second' is missing"):
        read_history(path)


def _edit_second(field, value):
    def edit(data):
        data["benchmarks"][1]["extra_info"][field] = value

    return edit


def test_an_inference_summary_is_what_the_section_reads():
    """The section module reads the dataclass, never a stored field name."""
    text = (report.ROOT / "bench" / "reporting" / "inference.py").read_text()
    assert "extra_info" not in text and InferenceSummary.__name__ in text
