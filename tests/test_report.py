"""The report (bench/report.py, bench/reporting/) on small made-up histories, against a
temporary README, docs/ and assets folder; and on the committed histories."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import (
    FOLDER,
    block,
    edit_json,
    micro_cell,
    page,
    round_cells,
    table_cells,
    training_cell,
    workspace,
    write_run,
)

from bench import report
from bench.reporting import format as fmt
from bench.reporting import machines, networks, numpy_speed, stats
from bench.reporting.pages import BEGIN, END, PAGES
from bench.reporting.selection import load_runs, select
from bench.reporting.summary import CellSummary, HistoryError, Recipe, read_history
from mnist_nets.backends.registry import BY_NAME, NAMES, REFERENCE
from mnist_nets.specs import get_spec, list_specs


def selected(folder, **kwargs):
    return select(load_runs(folder).runs, **kwargs)


@pytest.fixture
def ws(tmp_path):
    return workspace(tmp_path)


def run_report(ws, *extra):
    return report.main([*ws.args, *extra])


# The golden tables below were written when the registry held its first three backends:
# the tables are pinned to those, so that registering another backend does not change them.
GOLDEN_FRAMEWORKS = NAMES[:3]


@pytest.fixture
def three_frameworks(monkeypatch):
    """The report's modules see only :data:`GOLDEN_FRAMEWORKS` (and, derived from them as
    the modules derive theirs from the registry, their GPU ones and those beside the
    reference)."""
    from bench.reporting import headline, micro

    for module in (networks, numpy_speed, machines, headline, micro):
        monkeypatch.setattr(module, "FRAMEWORKS", GOLDEN_FRAMEWORKS)
    gpu = tuple(f for f in GOLDEN_FRAMEWORKS if BY_NAME[f].gpu)
    monkeypatch.setattr(networks, "GPU_FRAMEWORKS", gpu)
    others = tuple(f for f in GOLDEN_FRAMEWORKS if f != REFERENCE)
    monkeypatch.setattr(numpy_speed, "OTHER_FRAMEWORKS", others)


# --------------------------------------------------------------------------- golden pages


def test_golden_table_by_architecture(tmp_path, three_frameworks):
    write_run(
        tmp_path,
        1,
        [
            training_cell("perceptron", "numpy"),
            training_cell(
                "perceptron", "torch", test_accuracy=0.9012, train_seconds=150.0,
                train_seconds_rounds=[150.0, 140.0, 160.5], test_accuracy_rounds=[0.9012] * 3,
                samples_per_second=800.0, target_reached=False, time_to_target_seconds=None,
                target_epoch=None, fraction_of_peak=0.123, momentum=0.0, lr_decay=1.0,
            ),
        ],
    )  # fmt: skip
    expected = """\
#### perceptron

| Framework | Accuracy | Training Time | Epochs | Learning Rate | Device | Samples/s | Time to target | % of peak |
|---|---|---|---|---|---|---|---|---|
| numpy | 92.34 % | 12.3 s | 2 | 0.1 (momentum 0.9, ×0.5/epoch) | cpu | 9,724 | 12.3 s (epoch 2) | 0.61 % |
| PyTorch | 90.12 % | 150 s (140 s–160 s, 3 rounds) | 2 | 0.1 | cpu | 800 | not reached (91.5 %) | 12 % |
| TensorFlow | not run | not run | not run | not run | cpu | not run | not run | not run |"""  # noqa: E501
    # no GPU run stored: no GPU rows at all
    assert networks.by_architecture(selected(tmp_path), ["perceptron"], "standard") == expected


def two_machines_and_a_gpu(results):
    """The fixture histories of the golden pages: the reference machine's run, a later run
    of another CPU machine (faster, different figures), a GPU machine's run, and a foreign
    pytest-benchmark run in the same folder."""
    write_run(
        results, 1,
        round_cells("dnn", "numpy", [10.0, 12.0, 11.0], [0.981, 0.983, 0.982])
        + round_cells("dnn", "torch", [14.0, 15.0, 16.0], [0.98, 0.98, 0.98]),
        when="2026-01-01T10:00:00", cpu="Ref CPU", memory_bytes=8 * 2**30,
    )  # fmt: skip
    write_run(
        results, 2,
        round_cells("dnn", "numpy", [5.0, 5.5, 6.0], [0.97, 0.97, 0.97])
        + round_cells("dnn", "torch", [4.0, 4.5, 5.0], [0.97, 0.97, 0.97]),
        when="2026-01-02T10:00:00", cpu="Big CPU", cores=128,
    )  # fmt: skip
    write_run(
        results, 3,
        round_cells("dnn", "torch", [1.0, 1.1, 1.2], [0.985, 0.985, 0.985], device="cuda",
                    device_peak_bytes=2**30),
        when="2026-01-03T10:00:00", cpu="GPU host CPU", cores=16, gpu="Test GPU",
    )  # fmt: skip
    foreign = results / FOLDER / "0004_def_20260104_100000.json"
    foreign.write_text(json.dumps({
        "machine_info": {"node": "x"}, "commit_info": {}, "datetime": "2026-01-04T10:00:00",
        "version": "5.3.1",
        "benchmarks": [{"name": "test_sort", "extra_info": {}, "stats": {"median": 1.0}}],
    }))  # fmt: skip
    (results / "reference-machine.txt").write_text("Ref CPU\n")
    return foreign


def test_golden_headline_from_two_machines_a_gpu_run_and_a_foreign_run(
    ws, three_frameworks, capsys
):
    foreign = two_machines_and_a_gpu(ws.results)
    assert run_report(ws, "--no-plots") == 0
    err = capsys.readouterr().err
    assert f"skipped {foreign}: not a mnist_nets run (none of its 1 benchmarks" in err
    expected = """\
Measured with the `standard` profile (the reference machine, Ref CPU, 2 cores: run 0001; GPU host CPU, 16 cores, Test GPU: run 0003; latest 2026-01-03 10:00 UTC). Accuracy: mean ± sd over the seeds, one per round; Training Time: median (min–max) of the rounds, training only; ⚠: another process used the CPU in a round.

| Network | Framework | Accuracy | Training Time | Epochs | Learning Rate | Device |
|---|---|---|---|---|---|---|
| dnn | numpy | 98.20 % ± 0.10 | 11.0 s (10.0–12.0 s) | 2 | SGD 0.1, momentum 0.9, ×0.5/epoch | CPU |
| dnn | PyTorch | 98.00 % ± 0.00 | 15.0 s (14.0–16.0 s) ⚠ | 2 | SGD 0.1, momentum 0.9, ×0.5/epoch | CPU |
| dnn | PyTorch | 98.50 % ± 0.00 | 1.1 s (1.0–1.2 s) ⚠ | 2 | SGD 0.1, momentum 0.9, ×0.5/epoch | Test GPU |"""  # noqa: E501
    assert block(page(ws, "README.md"), "headline") == expected
    # the picture's link stands whether or not --no-plots drew it (as the curves' do)
    assert "](assets/images/accuracy_vs_time.png)" in page(ws, "README.md")
    # every machine under its own name, side by side, with its GEMM peak
    overview = {r[0]: r for r in table_cells(block(page(ws, "machines.md"), "machines"))[1:]}
    assert list(overview) == [
        "Ref CPU, 2 cores (reference)", "Big CPU, 128 cores", "GPU host CPU, 16 cores, Test GPU"
    ]  # fmt: skip
    assert overview["Ref CPU, 2 cores (reference)"][1:] == [
        "8.0 GiB", "1", "`0001` (2026-01-01)", "2026-01-01 10:00 UTC", "50", "–"
    ]  # fmt: skip
    side = block(page(ws, "machines.md"), "machines-side-by-side")
    assert "- **M2**: Big CPU, 128 cores" in side
    rows = {(r[0], r[1], r[2]): r[3:] for r in table_cells(side)[1:]}
    assert rows[("dnn", "numpy", "cpu")] == ["11.0 s, 98.20 %", "5.5 s, 97.00 %", "–"]
    assert rows[("dnn", "PyTorch", "cuda")] == ["–", "–", "1.1 s ⚠, 98.50 %"]
    assert "The reference machine now: **Ref CPU, 2 cores**" in page(ws, "methodology.md")


def test_a_later_run_from_another_machine_leaves_the_reference_tables_as_they_were(ws):
    write_run(ws.results, 1, round_cells("dnn", "numpy", [10.0, 12.0, 11.0], [0.98] * 3),
              cpu="Ref CPU")  # fmt: skip
    (ws.results / "reference-machine.txt").write_text("Ref CPU\n")
    assert run_report(ws, "--no-plots") == 0
    before = {name: page(ws, name) for name in PAGES if name != "machines.md"}
    # the other machine ran a cell the reference has (dnn) and one it has not (cnn)
    write_run(ws.results, 2, round_cells("dnn", "numpy", [1.0, 1.2, 1.1], [0.99] * 3)
              + round_cells("cnn", "numpy", [3.0, 3.2, 3.1], [0.99] * 3),
              when="2026-02-01T10:00:00", cpu="Big CPU", cores=128)  # fmt: skip
    assert run_report(ws, "--no-plots") == 0
    after = {name: page(ws, name) for name in PAGES if name != "machines.md"}
    assert after == before  # the README and every page but machines.md unchanged
    assert "Big CPU, 128 cores" in page(ws, "machines.md")
    assert "| cnn | numpy | cpu | – | 3.1 s, 99.00 % |" in page(ws, "machines.md")
    # without the reference file, the latest run's machine would be the reference
    (ws.results / "reference-machine.txt").unlink()
    assert run_report(ws, "--no-plots") == 0
    assert "Big CPU" in block(page(ws, "README.md"), "headline")


def test_the_reference_machine_is_changed_by_one_option(ws, capsys):
    two_machines_and_a_gpu(ws.results)
    assert run_report(ws, "--no-plots", "--reference-machine", "big") == 0
    assert (ws.results / "reference-machine.txt").read_text() == "Big CPU, 128 cores\n"
    text = block(page(ws, "README.md"), "headline")
    assert "the reference machine, Big CPU, 128 cores: run 0002" in text
    assert "| dnn | numpy | 97.00 % ± 0.00 | 5.5 s (5.0–6.0 s) |" in text
    assert run_report(ws, "--check", "--no-plots") == 0  # the file now names it
    # text that names no machine, or several: exit 2, nothing written, the machines listed
    for text, why in (("nowhere", "matches no stored machine"), ("CPU", "matches 3 machines")):
        capsys.readouterr()
        assert run_report(ws, "--no-plots", "--reference-machine", text) == 2
        err = capsys.readouterr().err
        assert why in err and "Ref CPU, 2 cores" in err and "Traceback" not in err
    assert (ws.results / "reference-machine.txt").read_text() == "Big CPU, 128 cores\n"
    (ws.results / "reference-machine.txt").write_text("Gone CPU\n")
    assert run_report(ws, "--no-plots") == 2
    assert "reference-machine.txt: reference machine 'Gone CPU'" in capsys.readouterr().err


def test_report_is_idempotent_and_check_passes(ws):
    write_run(ws.results, 1, [training_cell(m, "numpy") for m in ("perceptron", "cnn")])
    assert run_report(ws) == 0
    first = {name: page(ws, name) for name in PAGES}
    produced = {p: p.read_bytes() for p in ws.assets.rglob("*") if p.is_file()}
    images = ws.assets / "images"
    for name in ("perceptron_curves.png", "training_time.png", "accuracy_vs_time.png"):
        assert images / name in produced
    assert {p.name for p in (ws.assets / "svg").iterdir()} == {f"{m}.svg" for m in list_specs()}
    assert first["README.md"].startswith("# README.md\n\nIntro kept as it is.")

    assert run_report(ws) == 0  # the second run changes nothing, plots included
    assert {name: page(ws, name) for name in PAGES} == first
    assert {p: p.read_bytes() for p in ws.assets.rglob("*") if p.is_file()} == produced
    assert run_report(ws, "--check") == 0

    bench = first["benchmarks.md"]
    assert "92.34 %" in block(bench, "network-perceptron")
    assert "![perceptron: training loss" in block(bench, "network-perceptron")
    assert "](../assets/images/perceptron_curves.png)" in block(bench, "network-perceptron")
    assert "](assets/images/accuracy_vs_time.png)" in block(first["README.md"], "headline-plot")
    assert "curves: not run" in block(bench, "network-dnn")
    assert "CPU Test CPU, 2 cores; no GPU; python 3.11.7, numpy 2.4.6" in block(bench, "sources")


def test_check_reports_stale_pages_and_assets_without_writing(ws, capsys):
    write_run(ws.results, 1, [training_cell("perceptron", "numpy")])
    assert run_report(ws, "--no-plots") == 0
    bench = ws.docs / "benchmarks.md"
    edited = bench.read_text().replace("92.34 %", "99.99 %")
    bench.write_text(edited)
    (ws.assets / "svg" / "cnn.svg").unlink()
    capsys.readouterr()
    assert run_report(ws, "--check", "--no-plots") == 1
    out = capsys.readouterr().out
    assert f"out of date: {bench}" in out and "cnn.svg" in out
    assert f"out of date: {ws.readme}" not in out
    assert bench.read_text() == edited  # --check writes nothing
    assert not (ws.assets / "svg" / "cnn.svg").exists()


def test_latest_run_wins_unless_a_run_is_chosen(ws):
    write_run(ws.results, 1, [training_cell("dnn", "torch", test_accuracy=0.5)],
              "2026-01-01T10:00:00")  # fmt: skip
    write_run(ws.results, 2, [training_cell("dnn", "torch", test_accuracy=0.75)],
              "2026-01-02T10:00:00")  # fmt: skip
    assert run_report(ws, "--no-plots") == 0
    assert "75.00 %" in block(page(ws, "benchmarks.md"), "tables-by-framework")
    assert run_report(ws, "--no-plots", "--run", "0001") == 0
    text = block(page(ws, "benchmarks.md"), "tables-by-framework")
    assert "50.00 %" in text and "75.00 %" not in text
    assert run_report(ws, "--no-plots", "--run", "0009") == 2


def test_partial_and_missing_cells_never_blank(ws):
    write_run(
        ws.results,
        1,
        [
            training_cell("cnn", "torch", device="cuda", device_peak_bytes=2**30),
            training_cell("cnn", "numpy", diverged="training diverged: nan", test_accuracy=None),
        ],
        gpu="Test GPU",
    )
    assert run_report(ws, "--no-plots") == 0
    text = page(ws, "benchmarks.md")
    for name in ("tables-by-architecture", "tables-by-framework", "network-cnn"):
        for row in table_cells(block(text, name)):
            assert all(row), f"blank cell in {name}: {row}"
    arch = block(text, "tables-by-architecture").split("#### cnn", 1)[1].split("####", 1)[0]
    cells = {(r[0], r[5]): r for r in table_cells(arch)[1:]}
    assert cells[("PyTorch", "cuda")][1] == "92.34 %"
    assert cells[("TensorFlow", "cuda")][1] == "not run"  # a GPU was there: not run
    assert cells[("TensorFlow", "cpu")][1] == "not run"
    assert cells[("numpy", "cpu")][1] == "diverged"
    assert "Test GPU" in block(text, "sources")
    assert "1,024 MiB GPU" in block(text, "network-cnn")
    assert block(text, "micro") == "Micro-benchmarks: not run (profile `standard`)."
    assert block(text, "seed-profile").startswith("Seed profile: not run")
    headline = table_cells(block(page(ws, "README.md"), "headline"))
    assert [r[:3] for r in headline[1:]] == [["cnn", "numpy", "diverged"],
                                             ["cnn", "PyTorch", "92.34 %"]]  # fmt: skip
    assert headline[2][-1] == "Test GPU"


def test_no_histories_at_all(ws, capsys):
    ws.results.rmdir()
    assert run_report(ws, "--no-plots") == 2  # a results folder that does not exist
    assert "no such folder" in capsys.readouterr().err
    ws.results.mkdir()
    assert run_report(ws, "--no-plots") == 0
    assert "No stored runs yet" in block(page(ws, "benchmarks.md"), "sources")
    text = block(page(ws, "benchmarks.md"), "tables-by-architecture")
    arch = table_cells(text.split("#### single_neuron\n", 1)[0])
    assert arch[1][1:5] == ["not run"] * 4
    assert len(arch) == 1 + len(networks.FRAMEWORKS)  # a CPU row per framework, no GPU row
    assert block(page(ws, "README.md"), "headline").startswith("No stored `standard` run yet")


# --------------------------------------------------------------------------- bad histories


def _missing_accuracy(data):
    del data["benchmarks"][0]["extra_info"]["test_accuracy"]


def _text_epochs(data):
    data["benchmarks"][0]["extra_info"]["epochs"] = "two"


def _nan_time(data):
    data["benchmarks"][0]["extra_info"]["train_seconds"] = math.nan


def _negative_loss(data):
    data["benchmarks"][0]["extra_info"]["final_loss"] = -0.5


def _infinite_rate(data):
    data["benchmarks"][0]["extra_info"]["samples_per_second"] = math.inf


def _accuracy_above_one(data):
    data["benchmarks"][0]["extra_info"]["test_accuracy"] = 92.3


def _no_model(data):
    del data["benchmarks"][0]["extra_info"]["model"]


@pytest.mark.parametrize(
    "edit, message",
    [
        (_missing_accuracy, "field 'test_accuracy' is missing"),
        (_text_epochs, "field 'epochs' should be an integer, found str \"two\""),
        (_nan_time, "field 'train_seconds' is nan (not a finite number)"),
        (_negative_loss, "field 'final_loss' is negative (-0.5)"),
        (_infinite_rate, "field 'samples_per_second' is inf (not a finite number)"),
        (_accuracy_above_one, "field 'test_accuracy' is 92.3, above 1.0"),
        (_no_model, "field 'model' is missing"),
    ],
)
def test_a_bad_field_names_the_file_the_benchmark_and_the_field(ws, capsys, edit, message):
    write_run(ws.results, 1, [training_cell("perceptron", "numpy")])
    bad = write_run(ws.results, 2, [training_cell("dnn", "torch")])
    bad = bad.rename(bad.with_name("0002_bad.json"))
    edit_json(bad, edit)
    before = {name: page(ws, name) for name in PAGES}
    assert run_report(ws) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0] == (
        f"report: error: {bad}: benchmark 'test_train[dnn-torch-cpu]': {message}"
    )
    assert {name: page(ws, name) for name in PAGES} == before
    assert not ws.assets.exists()


@pytest.mark.parametrize(
    "content, message",
    [
        ("", "empty benchmark history"),
        ('{"machine_info": {}, "benchmarks": [{"name": "b", "ext', "not valid JSON"),
        ("[1, 2]", "a benchmark history is a JSON object"),
        ('{"benchmarks": [], "datetime": "x"}', "field 'machine_info' missing"),
    ],
)
def test_a_malformed_file_names_the_file_and_leaves_the_pages(ws, capsys, content, message):
    write_run(ws.results, 1, [training_cell("perceptron", "numpy")])
    bad = ws.results / FOLDER / "0002_bad.json"
    bad.write_text(content)
    before = {name: page(ws, name) for name in PAGES}
    assert run_report(ws) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and message in err and len(err.strip().splitlines()) == 1
    assert {name: page(ws, name) for name in PAGES} == before
    assert not ws.assets.exists()


def test_a_truncated_history_ends_in_one_line_and_exit_2_in_a_fresh_process(tmp_path):
    """As a user runs it: a copy of a real history cut in half, then the script."""
    ws = workspace(tmp_path)
    source = next(report.RESULTS.glob("*/0022_*.json"))
    cut = ws.results / FOLDER / source.name
    cut.parent.mkdir(parents=True)
    cut.write_bytes(source.read_bytes()[: source.stat().st_size // 2])
    result = subprocess.run(
        [sys.executable, str(Path(report.__file__)), *ws.args, "--no-plots"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.startswith(f"report: error: {cut}: not valid JSON")
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_a_cell_that_lacks_test_accuracy_is_named_not_a_plotting_error(ws, capsys):
    """A stored round without its accuracy once ended in matplotlib's "Data cannot be
    log-scaled"; now the reader stops first."""
    write_run(ws.results, 1, round_cells("dnn", "numpy", [1.0, 2.0], [0.9, None]))
    assert run_report(ws) == 2
    assert "test_train[dnn-numpy-cpu-r2]': field 'test_accuracy' is missing" in (
        capsys.readouterr().err
    )


def test_missing_markers_are_named(ws, capsys):
    micro_page = ws.docs / "benchmarks.md"
    text = micro_page.read_text().replace(BEGIN.format("micro") + "\n" + END.format("micro"), "")
    micro_page.write_text(text)
    assert run_report(ws, "--no-plots") == 2
    assert "benchmarks.md: no markers for generated block(s) ['micro']" in (
        capsys.readouterr().err
    )
    assert micro_page.read_text() == text
    micro_page.write_text(text + BEGIN.format("micro") + "\n" + END.format("micro") + "\n")
    (ws.docs / "speedrun.md").unlink()
    assert run_report(ws, "--no-plots") == 2
    assert "speedrun.md: no such page" in capsys.readouterr().err


def test_pytest_benchmark_compare_reads_the_stored_histories(tmp_path):
    """pytest-benchmark's own `compare` still works on the stored files (run outside the
    repository's root, whose conftest.py its command line would load)."""
    files = sorted(report.RESULTS.glob("*/002[12]_*.json"))
    cli = Path(sys.executable).with_name("pytest-benchmark")
    if not cli.exists():
        pytest.skip("pytest-benchmark's command line is not installed beside this Python")
    result = subprocess.run(
        [str(cli), "compare", *map(str, files)], capture_output=True, text=True, cwd=tmp_path,
        timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert "test_train[speedrun-numpy-cpu-r1]" in result.stdout


# --------------------------------------------------------------------------- summaries


def test_rounds_fold_into_median_range_mean_sd_and_verdicts(tmp_path):
    benchmarks = (
        round_cells("perceptron", "numpy", [1.0, 1.1, 1.2], [0.92, 0.92, 0.92])
        + round_cells("perceptron", "torch", [2.0, 2.1, 2.2], [0.92, 0.92, 0.92])
        + round_cells("perceptron", "tensorflow", [3.0, 3.1, 3.2], [0.92, 0.92, 0.92])
        + round_cells("dnn", "numpy", [10.0, 12.0, 11.0], [0.981, 0.983, 0.982])
        + round_cells("dnn", "torch", [11.5, 13.0, 14.0], [0.981, 0.983, 0.985])  # overlaps
        + round_cells("dnn", "tensorflow", [20.0, 21.0, 22.0], [0.98, 0.98, 0.98])
        + round_cells("cnn", "numpy", [30.0, 31.0, 29.0], [0.99, 0.99, 0.99])
        + round_cells("cnn", "torch", [10.0, 11.0, 12.0], [0.99, 0.99, 0.99])
        + round_cells("cnn", "tensorflow", [25.0, 26.0, 27.0], [0.99, 0.99, 0.99])
    )
    path = write_run(tmp_path, 1, benchmarks)
    edit_json(path, lambda data: data.update(mnist_nets={"gemm_peak_measurements": [
        {"when": "start", "library": "numpy", "gflops": 100.0},
        {"when": "start", "library": "torch", "gflops": 80.0},
        {"when": "before round 2", "library": "numpy", "gflops": 50.0},
        {"when": "end", "library": "numpy", "gflops": 90.0},
    ]}))  # fmt: skip
    selection = selected(tmp_path)
    cell = selection.training[("standard", "dnn", "numpy", "cpu")]
    assert cell.train_seconds == 11.0 and cell.train_seconds_rounds == (10.0, 12.0, 11.0)
    assert cell.test_accuracy == pytest.approx(0.982)
    assert cell.test_accuracy_sd == pytest.approx(0.001)
    assert min(cell.test_accuracy_rounds) == 0.981 and cell.seeds == (0, 1, 2)
    assert cell.samples_per_second == pytest.approx(120_000 / 11.0)
    # % of peak against the run's highest measurement (100), from the median time
    assert cell.fraction_of_peak == pytest.approx(120_000 * 1e6 / 11.0 / 1e9 / 100.0)
    assert fmt.accuracy(cell) == "98.20 % ± 0.10 (min 98.10 %)"
    assert fmt.train_time(cell) == "11.0 s (10.0 s–12.0 s, 3 rounds)"
    torch = selection.training[("standard", "dnn", "torch", "cpu")]
    assert torch.co_runner_rounds == (2,) and fmt.train_time(torch).endswith(" ⚠")
    assert networks.training_memory(cell) == "11 MiB"  # round 1's probe

    models = ["perceptron", "dnn", "cnn"]
    rows = {
        r[0]: r[len(networks.FRAMEWORKS) - 3 :]
        for r in table_cells(numpy_speed.numpy_speed(selection, models, "standard", TARGETS))
    }  # (the columns of frameworks beyond these three cut off)
    # torch's round 2 had a co-runner: every verdict against torch carries the mark
    assert rows["perceptron"][4:] == ["0.52 (vs PyTorch)", "faster ⚠", "< 1", "yes ⚠"]
    assert rows["dnn"][4:] == [
        "0.85 (vs PyTorch)", "tie ⚠", "< 0.9", "tie (the rounds straddle the target) ⚠"
    ]  # fmt: skip
    assert rows["cnn"][4:] == ["2.73 (vs PyTorch)", "slower ⚠", "≤ 1", "**no** ⚠"]

    (run,) = selection.run_summaries()
    line = machines.steadiness(run)
    assert "numpy 50–100, torch 80–80 GFLOP/s, the lowest 50 % of the highest" in line
    assert "other processes used the CPU in 3 of 27 cell-rounds (cells marked ⚠)" in line


def test_old_histories_keep_their_machine_from_pytest_benchmarks_machine_info(tmp_path):
    path = write_run(tmp_path, 1, [training_cell("dnn", "numpy")])

    def strip(data):
        data["machine_info"] = {"node": "old", "cpu": {"brand_raw": "Old CPU", "count": 4}}

    edit_json(path, strip)
    run = read_history(path)
    assert (run.machine.cpu, run.machine.cores, run.machine.memory_bytes) == ("Old CPU", 4, None)
    assert run.machine.key == "Old CPU, 4 cores" and run.machine.gpu is None


def test_every_committed_history_reads_with_a_machine():
    histories = load_runs(report.RESULTS)
    assert len(histories.runs) >= 22 and not histories.foreign
    assert {r.machine.key for r in histories.runs} >= {
        "AMD EPYC, 2 cores", "Intel(R) Xeon(R) Processor, 2 cores"
    }  # fmt: skip


def test_the_merged_cell_keeps_the_epoch_of_every_seed_that_reached_the_target():
    """Folded rounds keep each seed's epoch, not just the latest; checked on a stored run
    against its own per-round entries."""
    path = next(report.RESULTS.glob("*/0016_*.json"))
    raw = json.loads(path.read_text())["benchmarks"]
    folded = [c for c in read_history(path).training if c.model == "speedrun"]
    assert len(folded) == 4  # one cell per framework of the run, its 5 rounds folded
    for cell in folded:
        prefix = f"test_train[speedrun-{cell.framework}-cpu-r"
        epochs = sorted(
            b["extra_info"]["target_epoch"] for b in raw if b["name"].startswith(prefix)
        )
        assert len(epochs) == 5 and list(cell.target_epochs) == epochs


def test_a_summary_is_frozen():
    cell = CellSummary(None, "standard", "dnn", "numpy", "cpu", Recipe(1, 0.1), 1)
    with pytest.raises(AttributeError):
        cell.test_accuracy = 1.0  # type: ignore[misc]


def test_no_module_outside_the_reader_reads_extra_info():
    """Only bench/reporting/summary.py knows extra_info's string keys."""
    folder = Path(report.__file__).parent / "reporting"
    for path in [*folder.glob("*.py"), Path(report.__file__)]:
        if path.name == "summary.py":
            continue
        text = path.read_text()
        assert "extra_info" not in text.replace('``extra_info``', ""), path
        assert ".info[" not in text and ".info.get(" not in text, path


# --------------------------------------------------------------------------- the tables


def test_seed_and_micro_tables(ws, three_frameworks):
    write_run(
        ws.results,
        1,
        [
            training_cell("dnn", "numpy", profile="seed", epochs=100, lr=0.01, momentum=0.0,
                          lr_decay=1.0, test_accuracy=0.8),
            micro_cell("layer:dense", "forward", "torch", 123456.7),
            micro_cell("model:cnn", "train_steps", "numpy", 900.0),
        ],
    )  # fmt: skip
    assert run_report(ws, "--no-plots") == 0
    text = page(ws, "benchmarks.md")
    seed = {(r[0], r[1]): r for r in table_cells(block(text, "seed-profile"))[1:]}
    assert seed[("dnn", "numpy")][2:6] == ["80.00 %", "12.3 s", "100", "0.01"]
    assert seed[("cnn", "numpy")][2] == "skipped: meant for a GPU"
    assert seed[("perceptron", "PyTorch")][2] == "not run"
    micro = {(":".join(r[0].split(":")[:2]), r[1]): r for r in table_cells(block(text, "micro"))}
    assert micro[("layer:dense", "forward")][2:5] == ["not run", "123,457", "not run"]
    assert all(all(row) for row in micro.values())
    assert micro[("model:cnn", "SGD steps")][2] == "900"


def test_the_seed_profile_has_its_own_numpy_speed_target(ws):
    benchmarks = (
        round_cells("perceptron", "numpy", [3.0, 3.2, 3.1], [0.78] * 3, profile="seed")
        + round_cells("perceptron", "tensorflow", [10.0, 10.5, 11.0], [0.78] * 3, profile="seed")
        + round_cells("dnn", "numpy", [50.0, 52.0, 51.0], [0.6] * 3, profile="seed")
        + round_cells("dnn", "tensorflow", [40.0, 41.0, 42.0], [0.6] * 3, profile="seed")
        + round_cells("perceptron", "numpy", [9.0, 9.1, 9.2], [0.92] * 3)
        + round_cells("perceptron", "tensorflow", [10.0, 10.1, 10.2], [0.92] * 3)
    )
    write_run(ws.results, 1, benchmarks)
    assert run_report(ws, "--no-plots") == 0
    text = page(ws, "numpy-vs-frameworks.md")
    rows = {r[0]: r for r in table_cells(block(text, "numpy-speed-seed"))}
    assert "cnn" not in rows and "alexnet" not in rows  # the seed profile skips them on a CPU
    assert rows["perceptron"][-4:] == ["0.30 (vs TensorFlow)", "faster", "≤ 0.82", "yes"]
    assert rows["dnn"][-4:] == ["1.24 (vs TensorFlow)", "slower", "–", "–"]
    standard = {r[0]: r for r in table_cells(block(text, "numpy-speed"))}
    assert standard["perceptron"][-4:-2] == ["0.90 (vs TensorFlow)", "faster"]


def test_numpy_speed_ratios_against_the_targets(tmp_path):
    times = {
        "perceptron": {"numpy": 1.0, "torch": 2.0, "tensorflow": 3.0},  # 0.50: met
        "dnn": {"numpy": 5.0, "torch": 4.0, "tensorflow": 6.0},  # 1.25: not met
        "cnn": {"numpy": 15.0, "torch": 12.0, "tensorflow": 10.0},  # 1.50: met (bound kept)
    }
    benchmarks = [
        training_cell(model, framework, train_seconds=t, train_seconds_rounds=[t])
        for model, by_framework in times.items()
        for framework, t in by_framework.items()
    ]
    write_run(tmp_path, 1, benchmarks)
    write_run(tmp_path, 2, [training_cell("alexnet", "numpy")])
    rows = table_cells(
        numpy_speed.numpy_speed(selected(tmp_path), list_specs(), "standard", TARGETS)
    )
    n = len(networks.FRAMEWORKS)  # a column per registered framework
    assert rows[0] == [
        "Architecture", *(fmt.LABELS[f] for f in networks.FRAMEWORKS),
        "numpy ÷ faster framework (medians)", "numpy is", "Target", "Met",
    ]  # fmt: skip
    by_model = {row[0]: row for row in rows[1:]}
    one = stats.ONE_ROUND  # a single round decides nothing
    assert by_model["perceptron"][1 + n :] == ["0.50 (vs PyTorch)", one, "< 1", one]
    assert by_model["dnn"][1 + n :] == ["1.25 (vs PyTorch)", one, "< 0.9", one]
    assert by_model["cnn"][1 + n :] == ["1.50 (vs TensorFlow)", one, "≤ 1", one]
    assert by_model["single_neuron"][1:] == ["not run"] * (n + 2) + ["–", "–"]
    assert by_model["alexnet"][1 : n + 3] == ["not run"] * (n + 2)  # no other framework


def test_numpy_speed_notes_cells_from_two_different_runs(tmp_path):
    first, rest = networks.FRAMEWORKS[:2], networks.FRAMEWORKS[2:]
    write_run(tmp_path, 1, [training_cell("dnn", f, train_seconds=2.0) for f in first])
    write_run(tmp_path, 2, [*[training_cell("dnn", f, train_seconds=4.0) for f in rest],
                            *[training_cell("perceptron", f, train_seconds=1.0)
                              for f in networks.FRAMEWORKS]])  # fmt: skip
    rows = {r[0]: r for r in table_cells(
        numpy_speed.numpy_speed(selected(tmp_path), list_specs(), "standard"))[1:]}  # fmt: skip
    one = stats.ONE_ROUND
    assert rows["dnn"][-1] == f"{one} (cells from different runs)"  # 2 runs are enough
    assert rows["perceptron"][-1] == one  # one run: no note
    assert rows["perceptron"][1 + len(networks.FRAMEWORKS)] == "1.00 (vs PyTorch)"


# Targets of every kind of bound (strict, bound included), fixed here so that the tests hold
# numpy_speed's mechanism whatever targets bench/reporting/numpy_speed.py sets.
TARGETS = {
    "perceptron": ("< 1", 1.0, False),
    "dnn": ("< 0.9", 0.9, False),
    "cnn": ("≤ 1", 1.0, True),
    "alexnet": ("≤ 1.2", 1.2, True),
}


def numpy_speed_met(tmp_path, times: dict, rounds: int) -> dict:
    """The "Met" column of numpy_speed over made-up cells: model -> (numpy's time, every
    other framework's time), each cell with ``rounds`` equal rounds."""
    cells = []
    for model, (numpy_t, other_t) in times.items():
        for f in networks.FRAMEWORKS:
            t = numpy_t if f == "numpy" else other_t
            for c in round_cells(model, f, [t] * rounds, [0.9] * rounds):
                c["extra_info"]["co_runner"] = False  # no ⚠ beside the verdict
                cells.append(c)
    write_run(tmp_path, 1, cells)
    rows = table_cells(
        numpy_speed.numpy_speed(selected(tmp_path), list(times), "standard", TARGETS)
    )
    return {r[0]: r[-1] for r in rows[1:]}


def test_numpy_speed_target_on_its_bound_is_met_only_when_the_bound_is_included(tmp_path):
    met = numpy_speed_met(
        tmp_path,
        {
            "cnn": (10.0, 10.0),  # ratio 1.00 against "≤ 1": met
            "perceptron": (10.0, 10.0),  # ratio 1.00 against "< 1": not met
            "dnn": (9.0, 10.0),  # ratio 0.90 against "< 0.9": not met
            "alexnet": (12.0, 10.0),  # ratio 1.20 against "≤ 1.2": met
            "single_neuron": (1.0, 2.0),  # no target
        },
        rounds=2,  # two rounds decide
    )
    assert met == {"cnn": "yes", "perceptron": "**no**", "dnn": "**no**", "alexnet": "yes",
                   "single_neuron": "–"}  # fmt: skip


def test_numpy_speed_needs_two_rounds_of_each_to_decide(tmp_path):
    assert numpy_speed_met(tmp_path, {"cnn": (5.0, 10.0)}, rounds=1) == {"cnn": stats.ONE_ROUND}
    (tmp_path / "2").mkdir()
    assert numpy_speed_met(tmp_path / "2", {"cnn": (5.0, 10.0)}, rounds=2) == {"cnn": "yes"}


def test_single_neuron_finding_golden(tmp_path, three_frameworks):
    accuracies = {"perceptron": 0.9235, "single_neuron": 0.2116, "single_neuron_ce": 0.3877}
    write_run(
        tmp_path,
        1,
        [training_cell(model, "numpy", test_accuracy=acc) for model, acc in accuracies.items()]
        + [training_cell("single_neuron", "torch", test_accuracy=0.25)],
    )
    expected = """\
| Framework | Device | perceptron (784 → 10) | single_neuron (784 → 1 → 10, MSE) | single_neuron_ce (784 → 1 → 10, cross-entropy) |
|---|---|---|---|---|
| numpy | cpu | 92.35 % | 21.16 % | 38.77 % |
| PyTorch | cpu | not run | 25.00 % | not run |
| TensorFlow | cpu | not run | not run | not run |

Measured (profile `standard`, best of the frameworks): one hidden neuron reaches at most 25.00 % test accuracy under MSE and 38.77 % under cross-entropy; ten output perceptrons reach 92.35 %."""  # noqa: E501
    assert networks.single_neuron_finding(selected(tmp_path), "standard") == expected
    # without every column measured, no summary sentence claims a figure
    write_run(tmp_path, 2, [training_cell("single_neuron_ce", "numpy", test_accuracy=0.5)])
    only_ce = selected(tmp_path, run="0002")
    assert "Measured" not in networks.single_neuron_finding(only_ce, "standard")


def test_single_neuron_finding_takes_the_best_framework(tmp_path):
    write_run(tmp_path, 1, [
        training_cell("perceptron", "numpy", test_accuracy=0.92),
        training_cell("perceptron", "torch", test_accuracy=0.90),
        training_cell("single_neuron", "numpy", test_accuracy=0.2),
        training_cell("single_neuron_ce", "numpy", test_accuracy=0.3),
        training_cell("single_neuron_ce", "torch", diverged="nan", test_accuracy=None),
        training_cell("perceptron", "mxnet", device="tpu", test_accuracy=0.5),  # the last row
    ])  # fmt: skip
    text = networks.single_neuron_finding(selected(tmp_path), "standard")
    rows = {(r[0], r[1]): r[2:] for r in table_cells(text)[1:]}
    assert rows[("PyTorch", "cpu")] == ["90.00 %", "not run", "diverged"]
    assert rows[("mxnet", "tpu")] == ["50.00 %", "not run", "not run"]
    assert text.endswith(
        "one hidden neuron reaches at most 20.00 % test accuracy under MSE and 30.00 % under "
        "cross-entropy; ten output perceptrons reach 92.00 %.")  # fmt: skip


def test_number_formats_at_their_boundaries():
    assert fmt.seconds(None) == "–"
    assert fmt.seconds(0.123) == "0.12 s"
    assert fmt.seconds(1.0) == "1.0 s" and fmt.seconds(0.99) == "0.99 s"
    assert fmt.seconds(99.94) == "99.9 s" and fmt.seconds(100.0) == "100 s"
    assert fmt.seconds(12345.6) == "12,346 s"
    assert fmt.percent(None) == "–"
    assert fmt.percent(0.92346) == "92.35 %" and fmt.percent(0.92346, 1) == "92.3 %"
    assert fmt.share(None) == "–"
    assert fmt.share(0.1) == "10 %" and fmt.share(0.099) == "9.9 %"
    assert fmt.share(0.0123) == "1.2 %" and fmt.share(0.5) == "50 %"
    assert fmt.share(0.105) == "10 %"
    assert fmt.count(None) == "–" and fmt.count(12345.4) == "12,345"
    assert fmt.size(None) == "–"
    assert fmt.size(10 * 2**20) == "10 MiB" and fmt.size(10.5 * 2**20) == "10 MiB"
    assert fmt.size(9.96 * 2**20) == "10.0 MiB" and fmt.size(2**19) == "0.5 MiB"
    assert fmt.size(2048 * 2**20) == "2,048 MiB"
    assert fmt.gib(None) == "–" and fmt.gib(3 * 2**29) == "1.5 GiB"
    assert fmt.table(["a", "b"], [["1", "2"]]) == "| a | b |\n|---|---|\n| 1 | 2 |"


def cell_of(**fields) -> CellSummary:
    """A summary made by hand: figures as the reader would fold them."""
    recipe = fields.pop("recipe", Recipe(2, 0.1))
    rounds = fields.pop("rounds", len(fields.get("test_accuracy_rounds", ())) or 1)
    return CellSummary(None, "standard", "dnn", "numpy", "cpu", recipe, rounds, **fields)


def test_learning_rate_time_and_target_texts():
    assert fmt.learning_rate(Recipe(1, 0.1)) == "0.1"
    assert fmt.learning_rate(Recipe(1, 0.05, momentum=0.9)) == "0.05 (momentum 0.9)"
    assert fmt.learning_rate(Recipe(1, 0.05, lr_decay=0.5)) == "0.05 (×0.5/epoch)"
    assert fmt.learning_rate(Recipe(1, 0.05, momentum=0.9, lr_decay=0.8)) == (
        "0.05 (momentum 0.9, ×0.8/epoch)")  # fmt: skip
    assert fmt.learning_rate(Recipe(1, 0.01, optimizer="adam", schedule="one_cycle")) == (
        "0.01 (Adam, one-cycle)")  # fmt: skip
    assert fmt.train_time(cell_of(train_seconds=2.0)) == "2.0 s"
    assert fmt.train_time(cell_of(train_seconds=2.0, train_seconds_rounds=(2.0,))) == "2.0 s"
    assert fmt.train_time(cell_of(train_seconds=2.0, train_seconds_rounds=(3.0, 1.5, 2.0))) == (
        "2.0 s (1.5 s–3.0 s, 3 rounds)")  # fmt: skip
    assert networks.time_to_target(cell_of()) == "no target"
    one = dict(target_accuracy=0.9, test_accuracy_rounds=(0.95,))
    assert networks.time_to_target(cell_of(
        **one, target_reached_rounds=1, time_to_target_seconds=5.0, target_epochs=(2.0,))) == (
        "5.0 s (epoch 2)")  # fmt: skip
    assert networks.time_to_target(cell_of(
        **one, target_reached_rounds=1, time_to_target_seconds=4.0, target_epochs=(1.5,))) == (
        "4.0 s (epoch 1.5)")  # fmt: skip
    assert networks.time_to_target(cell_of(target_accuracy=0.985)) == "not reached (98.5 %)"
    three = dict(target_accuracy=0.9, test_accuracy_rounds=(0.95, 0.95, 0.95),
                 time_to_target_seconds=5.0)  # fmt: skip
    assert networks.time_to_target(cell_of(**three, target_reached_rounds=3)) == "5.0 s (median)"
    assert networks.time_to_target(cell_of(**three, target_reached_rounds=2)) == (
        "5.0 s (median; reached in 2 of 3 rounds, 90.0 %)")  # fmt: skip


def test_spread_and_verdict_at_their_boundaries():
    assert stats.spread(cell_of(train_seconds=2.0)) == (2.0, 2.0)  # no per-round figures
    assert stats.spread(cell_of(train_seconds=2.0, train_seconds_rounds=(3.0, 1.0, 2.0))) == (
        1.0, 3.0)  # fmt: skip

    def cell(*rounds):
        return cell_of(train_seconds=sorted(rounds)[len(rounds) // 2],
                       train_seconds_rounds=tuple(rounds))  # fmt: skip

    fast, slow = cell(1.0, 1.5), cell(2.0, 3.0)
    assert stats.verdict(fast, slow) == "faster"  # two rounds each are enough
    assert stats.verdict(slow, fast) == "slower"
    assert stats.verdict(cell(1.0), slow) == stats.ONE_ROUND
    assert stats.verdict(fast, cell(3.0)) == stats.ONE_ROUND
    assert stats.verdict(fast, cell_of(train_seconds=3.0)) == stats.ONE_ROUND
    # ranges that touch at one point overlap: a tie either way round
    touching = cell(1.0, 2.0)
    assert stats.verdict(touching, slow) == "tie" and stats.verdict(slow, touching) == "tie"
    assert stats.verdict(cell(1.0, 1.999), slow) == "faster"
    assert stats.verdict(slow, cell(1.0, 1.999)) == "slower"
    assert stats.verdict(cell(1.0, 2.5), slow) == "tie"


def test_accuracy_shows_a_spread_only_over_several_rounds():
    one = cell_of(test_accuracy=0.9876, test_accuracy_rounds=(0.9876,), test_accuracy_sd=None)
    assert fmt.accuracy(one) == "98.76 %"
    many = cell_of(test_accuracy=0.98, test_accuracy_rounds=(0.97, 0.99), test_accuracy_sd=0.01)
    assert fmt.accuracy(many) == "98.00 % ± 1.00 (min 97.00 %)"
    assert fmt.accuracy(many, with_min=False) == "98.00 % ± 1.00"


def test_rows_gpu_and_unregistered_frameworks(tmp_path):
    # "mxnet" stands for a framework with stored cells but no registry entry
    write_run(tmp_path, 1, [training_cell("dnn", "numpy"),
                            training_cell("dnn", "mxnet", device="tpu"),
                            training_cell("dnn", "torch", device="mps", profile="smoke")])
    selection = selected(tmp_path)
    assert networks.device_rows(selection, "standard") == [
        *[(f, "cpu") for f in networks.FRAMEWORKS],
        *[(f, "cuda") for f in networks.GPU_FRAMEWORKS],
        ("mxnet", "tpu"),
    ]
    assert selection.has_gpu()
    write_run(tmp_path / "cpu", 1, [training_cell("dnn", "numpy")])
    cpu_only = selected(tmp_path / "cpu")
    assert not cpu_only.has_gpu()
    assert networks.device_rows(cpu_only, "standard") == [(f, "cpu") for f in networks.FRAMEWORKS]
    assert fmt.not_run_cells("why", 3) == ["why", "not run", "not run"]


def test_by_framework_rows_and_missing_cells(tmp_path):
    write_run(tmp_path, 1, [training_cell("dnn", "numpy"),
                            training_cell("dnn", "mxnet", device="tpu")])  # unregistered
    text = networks.by_framework(selected(tmp_path), ["dnn", "cnn"], "standard")
    assert table_cells(text.split("#### mxnet\n", 1)[1])[1][:2] == ["dnn", "92.34 %"]
    numpy_rows = table_cells(text.split("#### numpy\n", 1)[1].split("####", 1)[0])
    assert numpy_rows[2][:2] == ["cnn", "not run"]


def test_by_architecture_rows_of_a_diverged_and_an_unregistered_cell(tmp_path):
    write_run(tmp_path, 1, [training_cell("dnn", "numpy", diverged="nan", test_accuracy=None),
                            training_cell("dnn", "mxnet", device="tpu")])  # fmt: skip
    rows = table_cells(networks.by_architecture(selected(tmp_path), ["dnn"], "standard"))
    assert rows[1] == ["numpy", "diverged", "–", "2", "0.1 (momentum 0.9, ×0.5/epoch)", "cpu",
                       "–", "–", "–"]  # fmt: skip
    assert rows[-1][:3] == ["mxnet", "92.34 %", "12.3 s"] and rows[-1][5] == "tpu"


def test_training_memory_cells_when_not_measured(tmp_path):
    """No probe in the run, a probe that failed, a probe's figure: each says which, the GPU
    figure beside the host's."""
    failed = {"training_memory_bytes": None, "error": "timed out after 600 s"}
    write_run(tmp_path, 1, [
        training_cell("dnn", "numpy"),
        training_cell("dnn", "torch", training_memory=failed),
        training_cell("dnn", "torch", device="cuda", device_peak_bytes=2**30,
                      training_memory={"training_memory_bytes": 12 * 2**20}),
        training_cell("dnn", "tensorflow", device="cuda", device_peak_bytes=2**30,
                      training_memory=failed),
    ], gpu="Test GPU")  # fmt: skip
    text = networks.network(get_spec("dnn"), selected(tmp_path), "standard", "d.svg", None)
    rows = table_cells(text.split("one-off costs", 1)[1])
    column = rows[0].index("Training memory")
    memory = {(r[0], r[1]): r[column] for r in rows[1:]}
    assert memory[("numpy", "cpu")] == "not measured in this run"
    assert memory[("PyTorch", "cpu")] == "not measured (probe failed)"
    assert memory[("PyTorch", "cuda")] == "1,024 MiB GPU, 12 MiB host"
    assert memory[("TensorFlow", "cuda")] == "1,024 MiB GPU, not measured (probe failed) host"


def _fake_spec(**recipe):
    from types import SimpleNamespace

    from mnist_nets.specs import Recipe as SpecRecipe

    return SimpleNamespace(
        name="dnn", description="A test net.", param_count=1234, loss="cross_entropy",
        label_smoothing=0.0,
        flops_forward=1_225_001, flops_training=2_225_001,  # 1.23 and 2.23 MFLOPs, rounded up
        target_accuracy=0.9, recipe=SpecRecipe(**{"lr": 0.1, "epochs": 1, **recipe}))


def test_network_block_of_one_epoch_with_odd_cells(tmp_path):
    write_run(tmp_path, 1, [
        training_cell("dnn", "numpy", epochs=1, device_peak_bytes=2**30, achieved_gflops=None),
        training_cell("dnn", "torch", epochs=3, diverged="nan", test_accuracy=None),
        training_cell("dnn", "mxnet", device="tpu"),
    ])  # fmt: skip
    text = networks.network(_fake_spec(), selected(tmp_path), "standard", "d.svg", None)
    assert text.split("\n")[:8] == [
        "A test net. **1,234 parameters**; 1.23 MFLOPs per image forward, 2.23 MFLOPs per image "
        "per training step; loss: softmax cross-entropy. Recipe: SGD, lr 0.1, batch 128, "
        "1 epoch; target test accuracy 90.0 %.",
        "",
        "![dnn: layers, output shapes and parameters](d.svg)",
        "",
        "Loss and accuracy curves: not run (profile `standard`).",
        "",
        "Measured (profile `standard`):",
        "",
    ]
    measured, costs = text.split("one-off costs", 1)
    rows = {(r[0], r[1]): r[2:] for r in table_cells(measured)[1:]}
    cost = {(r[0], r[1]): r[2:] for r in table_cells(costs)[1:]}
    # a CPU cell's device peak is not GPU memory; the GFLOP/s come from the stored figures
    assert rows[("numpy", "cpu")] == ["92.34 %", "12.3 s", "9,724", "–", "0.61 %"]
    assert cost[("numpy", "cpu")] == ["0.2800", "not measured in this run", "0.01 s + 0.5 s + –"]
    assert rows[("PyTorch", "cpu")] == ["diverged"] + ["–"] * 4
    assert cost[("PyTorch", "cpu")] == ["–"] * 3
    assert rows[("mxnet", "tpu")][:2] == ["92.34 %", "12.3 s"]
    assert cost[("mxnet", "tpu")][0] == "0.2800"
    assert text.endswith("The benchmark trained 1, 2, 3 of the recipe's 1 epochs "
                         "(see [methodology](methodology.md)).")  # fmt: skip


def test_micro_on_two_devices_without_batch_sizes(tmp_path):
    from bench.reporting import micro

    cells = [micro_cell("c", "forward", "numpy", 100.0),
             micro_cell("c", "forward", "torch", 200.0, device="cuda")]  # fmt: skip
    for c in cells:
        del c["extra_info"]["batch_size"]
    write_run(tmp_path, 1, cells)
    text = micro.micro(selected(tmp_path), "standard", ["c"], {"c": "a case"})

    def device_table(frameworks, rate):
        rows = [[f"c{': a case' if i == 0 else ''}", label,
                 *(rate if (i, n) == (0, 0) else "not run" for n, _ in enumerate(frameworks))]
                for i, label in enumerate(micro.PASS_LABELS.values())]  # fmt: skip
        return fmt.table(["Case", "Pass", *(fmt.LABELS[f] for f in frameworks)], rows)

    assert text == (
        "Images per second (median of the rounds) through batches of ? images: *forward* in "
        "inference mode, *forward + backward* with dropout off (both as the backend's "
        "`forward` and `loss_and_grads`), *SGD steps* as training runs them (`train_epoch` "
        "over 2 staged batches).\n\n"
        "On cpu:\n\n" + device_table(networks.FRAMEWORKS, "100") + "\n\n"
        "On cuda:\n\n" + device_table(networks.GPU_FRAMEWORKS, "200")
    )


def test_seed_profile_rows_and_its_absence(tmp_path):
    assert networks.seed_profile(select([]), ["perceptron"]) == (
        "Seed profile: not run (`make bench BENCH_PROFILE=seed`, best on a machine with a GPU)."
    )
    write_run(tmp_path, 1, [
        training_cell("perceptron", "numpy", profile="seed", diverged="nan", test_accuracy=None),
        training_cell("perceptron", "torch", device="cuda", profile="seed"),
    ], gpu="Fancy GPU")  # fmt: skip
    rows = table_cells(networks.seed_profile(selected(tmp_path), ["perceptron"]))[1:]
    assert rows[0] == ["perceptron", "numpy", "diverged", "–", "2",
                       "0.1 (momentum 0.9, ×0.5/epoch)", "cpu"]  # fmt: skip
    cuda = [r for r in rows if r[-1] == "cuda"]
    assert [r[1] for r in cuda] == [fmt.LABELS[f] for f in networks.GPU_FRAMEWORKS]
    assert cuda[0][2:4] == ["92.34 %", "12.3 s"]


def test_machine_lines_name_everything_the_run_stored(tmp_path):
    path = write_run(tmp_path, 1, [
        training_cell("dnn", "numpy", profile_description="b data"),
        training_cell("dnn", "torch", profile_description="a data", dataset="fashion-mnist",
                      data_load_seconds=2.5),
    ], gpu="Fancy GPU", memory_bytes=16 * 2**30)  # fmt: skip

    def peaks(data):
        data["machine_info"]["mnist_nets"]["gemm_peaks"] = {
            "cpu": {"gflops": 1234.56, "method": "numpy matmul"},
            "cuda": {"gflops": 9876.5},  # no method stored
            "tpu": {"gflops": None},  # no figure: left out
            "x": 3.0,  # not a measurement: left out
        }

    edit_json(path, peaks)
    assert machines.sources(selected(tmp_path), "standard") == (
        "Main tables: profile `standard` (a data; b data); reference machine: Test CPU, "
        "2 cores, Fancy GPU. The figures come from these stored runs (`bench/results/`):\n\n"
        "- `0001_abc_20260101_100000` (2026-01-01 10:00 UTC; standard, loading Fashion-MNIST "
        "2.5 s): CPU Test CPU, 2 cores, 16.0 GiB memory; GPU Fancy GPU; python 3.11.7, "
        "numpy 2.4.6, torch 2.13.0; float32 GEMM peak 1,234.6 GFLOP/s on cpu (numpy matmul); "
        "float32 GEMM peak 9,876.5 GFLOP/s on cuda ()"
    )


def test_machine_line_of_a_run_that_stored_little(tmp_path):
    path = write_run(tmp_path, 2, [
        training_cell("dnn", "numpy", data_load_seconds=0.25),  # MNIST: loaded first
        training_cell("dnn", "torch", dataset="fashion-mnist", data_load_seconds=3.0),
    ])  # fmt: skip

    def little(data):
        data["machine_info"] = {"node": "n"}

    edit_json(path, little)
    selection = selected(tmp_path)
    lines = machines.sources(selection, "standard").split("\n")
    assert lines[2:] == [
        "- `0002_abc_20260101_100000` (2026-01-01 10:00 UTC; standard, loading MNIST 0.25 s): "
        "CPU unknown CPU; no GPU; versions not recorded"
    ]
    assert machines.steadiness(selection.run_summaries()[0]) is None  # nothing measured


# --------------------------------------------------------------------------- the real pages


def test_real_pages_have_every_block():
    """The committed README and docs/ carry every block the report writes."""
    for name, blocks in PAGES.items():
        path = report.ROOT / ("README.md" if name == "README.md" else f"docs/{name}")
        text = path.read_text(encoding="utf-8")
        for b in blocks():
            assert BEGIN.format(b) in text and END.format(b) in text, (name, b)


def test_readme_is_a_front_page():
    """At most 250 lines, the headline table within the first 80, no never-run rows."""
    lines = (report.ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 250
    first = "\n".join(lines[:80])
    assert BEGIN.format("headline") in first and "| Network | Framework | Accuracy |" in first
    assert "not run" not in "\n".join(lines) and "no GPU in the stored runs" not in first


def committed_results(tmp_path) -> Path:
    """bench/results/ as committed: a local, uncommitted run (smoke, custom or not) is left
    out, so that it cannot turn this test red.  Outside a git checkout, or in a copy git does not
    track: the folder itself."""
    import shutil

    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--", "bench/results"],
            cwd=report.ROOT, capture_output=True, check=True,
        ).stdout.decode().split("\0")  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return report.RESULTS
    if not any(listed):  # a copy inside an ignored folder, as mutmut's mutants/
        return report.RESULTS
    copy = tmp_path / "results"
    for name in filter(None, listed):
        target = copy / Path(name).relative_to("bench/results")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(report.ROOT / name, target)
    return copy


def test_committed_pages_are_current(tmp_path):
    """README.md, docs/ and the diagrams match the committed histories in bench/results/
    (plots are left out: PNG bytes may differ between machines)."""
    results = committed_results(tmp_path)
    assert report.main(["--check", "--no-plots", "--results", str(results)]) == 0, (
        "README.md or docs/ is out of date with bench/results/: run `python bench/report.py`"
    )


def test_reading_a_history_error_is_a_value_error():
    assert issubclass(HistoryError, ValueError)


def test_cells_of_a_kind_the_report_does_not_show_are_left_out(ws, capsys):
    """Benchmarks of another kind of ours (one a later suite adds, say) beside the training
    cells, or alone in a run: no error, no note of a foreign run, no figure."""
    other = {"name": "test_profile[dnn-numpy-cpu]", "stats": {"median": 0.1},
             "extra_info": {"kind": "profiling", "model": "dnn", "latency": "fast"}}  # fmt: skip
    write_run(ws.results, 1, [training_cell("dnn", "numpy"), other])
    write_run(ws.results, 2, [other], when="2026-01-02T10:00:00")
    assert run_report(ws, "--no-plots") == 0
    assert "not a mnist_nets run" not in capsys.readouterr().err
    rows = table_cells(block(page(ws, "README.md"), "headline"))
    assert [r[:3] for r in rows[1:]] == [["dnn", "numpy", "92.34 %"]]


def _slugs(text: str) -> set[str]:
    """GitHub's anchors of a page's headings (lower case, punctuation dropped, spaces to -)."""
    out, fenced = set(), False
    for line in text.splitlines():
        fenced ^= line.startswith("```")
        heading = None if fenced else re.match(r"#+ (.*)", line)
        if heading:
            out.add(re.sub(r"[^\w\- ]", "", heading.group(1).strip().lower()).replace(" ", "-"))
    return out


def test_pictures_load_and_anchors_exist_on_every_page():
    """Every picture a page shows exists, and every link to a heading finds it (rendered
    as GitHub does)."""
    pages = [report.ROOT / "README.md", *sorted((report.ROOT / "docs").glob("*.md"))]
    for path in pages:
        text = path.read_text(encoding="utf-8")
        for picture in re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", text):
            assert (path.parent / picture).is_file(), (path.name, picture)
        for href in re.findall(r"\]\(([^)\s]+)\)", text):
            target, _, anchor = href.partition("#")
            if href.startswith("http") or not anchor:
                continue
            target_path = path.parent / target if target else path
            if target_path.is_file():
                assert anchor in _slugs(target_path.read_text(encoding="utf-8")), (path.name, href)


def test_the_machine_block_a_run_stores_reads_back_as_its_identity(tmp_path):
    """What the benchmark session stores (bench/environment.py) is what the report groups
    runs by: CPU model, cores, memory and GPU."""
    from bench.environment import machine_block

    block_ = machine_block()
    path = write_run(tmp_path, 1, [training_cell("dnn", "numpy")])
    edit_json(path, lambda data: data["machine_info"].update(mnist_nets=block_))
    machine = read_history(path).machine
    assert (machine.cpu, machine.cores, machine.gpu) == (
        block_["cpu"], block_["cores"], block_["gpu"]
    )  # fmt: skip
    assert machine.memory_bytes == block_["memory_bytes"] > 2**28
    assert machine.key.startswith(f"{block_['cpu']}, {block_['cores']} cores")
