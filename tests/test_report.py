"""bench/report.py on small synthetic histories, against a temporary README and assets folder."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from bench import report, tables
from bench.history import load_runs, select
from bench.readme import BEGIN, END
from mnist_nets.specs import list_specs

FOLDER = "Linux-CPython-3.11-64bit"


def training_cell(model, framework, device="cpu", profile="standard", **overrides):
    """One training benchmark as pytest-benchmark stores it (only what the report reads)."""
    info = {
        "schema": 1,
        "kind": "training",
        "profile": profile,
        "profile_description": f"{profile} data",
        "model": model,
        "framework": framework,
        "device": device,
        "device_name": "Test CPU",
        "epochs": 2,
        "lr": 0.1,
        "momentum": 0.9,
        "lr_decay": 0.5,
        "batch_size": 128,
        "epoch_definition": "one pass over 60,000 images",
        "test_accuracy": 0.9234,
        "final_loss": 0.28,
        "per_epoch": [
            {
                "epoch": 1,
                "loss": 0.4,
                "train_accuracy": 0.88,
                "test_accuracy": 0.91,
                "seconds": 6.0,
                "eval_seconds": 0.1,
                "lr": 0.1,
            },
            {
                "epoch": 2,
                "loss": 0.28,
                "train_accuracy": 0.92,
                "test_accuracy": 0.9234,
                "seconds": 6.34,
                "eval_seconds": 0.1,
                "lr": 0.05,
            },
        ],
        "train_seconds": 12.34,
        "train_seconds_rounds": [12.34],
        "samples_per_second": 9724.5,
        "target_accuracy": 0.915,
        "target_reached": True,
        "time_to_target_seconds": 12.34,
        "target_epoch": 2,
        "achieved_gflops": 0.305,
        "fraction_of_peak": 0.0061,
        "peak_rss_increase_bytes": 50 * 2**20,
        "build_seconds": 0.01,
        "warmup_seconds": 0.5,
        "versions": {"numpy": "2.4.6"},
    }
    info.update(overrides)
    return {
        "group": None,
        "name": f"test_train[{model}-{framework}-{device}]",
        "fullname": f"bench/test_training.py::test_train[{model}-{framework}-{device}]",
        "params": {"model": model, "framework": framework, "device": device},
        "extra_info": info,
        "options": {},
        "stats": {"min": 13.0, "max": 13.0, "median": 13.0, "rounds": 1},
    }


def micro_cell(case, pass_, framework, rate, device="cpu", profile="standard"):
    return {
        "name": f"test_micro[{framework}-{device}-{pass_}-{case}]",
        "extra_info": {
            "kind": "micro",
            "profile": profile,
            "case": case,
            "pass": pass_,
            "framework": framework,
            "device": device,
            "batch_size": 128,
            "samples_per_second": rate,
        },
        "stats": {"median": 128 / rate},
    }


def write_run(results: Path, number: int, benchmarks, when="2026-01-01T10:00:00", gpu=None):
    path = results / FOLDER / f"{number:04d}_abc_20260101_100000.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "machine_info": {
            "node": "testhost",
            "cpu": {"brand_raw": "Test CPU"},
            "mnist_nets": {
                "cpu": "Test CPU",
                "cores": 2,
                "gpu": gpu,
                "versions": {"python": "3.11.7", "numpy": "2.4.6", "torch": "2.13.0"},
                "gemm_peaks": {"cpu": {"gflops": 50.0, "method": "numpy matmul"}},
            },
        },
        "commit_info": {},
        "benchmarks": benchmarks,
        "datetime": f"{when}+00:00",
        "version": "5.3.1",
    }
    path.write_text(json.dumps(data))
    return path


def readme_template() -> str:
    names = [f"network-{m}" for m in list_specs()] + [
        "single-neuron-finding",
        "tables-by-architecture",
        "tables-by-framework",
        "numpy-speed",
        "fastest-to-99",
        "machine",
        "overview-plots",
        "micro",
        "seed-profile",
        "numpy-speed-seed",
        "fashion-summary",
        "fashion-confusion",
        "fashion-by-architecture",
        "fashion-by-framework",
        "fashion-curves",
    ]
    body = "\n".join(f"## {n}\n\nProse.\n\n{BEGIN.format(n)}\n{END.format(n)}\n" for n in names)
    return "# Test README\n\nIntro kept as it is.\n\n" + body


@pytest.fixture
def ws(tmp_path):
    """A temporary README (from the template), results folder and assets folder."""
    readme = tmp_path / "README.md"
    readme.write_text(readme_template())
    (tmp_path / "results").mkdir()
    return SimpleNamespace(readme=readme, results=tmp_path / "results", assets=tmp_path / "assets")


def run_report(ws, *extra):
    return report.main(
        [
            "--readme",
            str(ws.readme),
            "--results",
            str(ws.results),
            "--assets",
            str(ws.assets),
            *extra,
        ]
    )


def block(text: str, name: str) -> str:
    return text.split(BEGIN.format(name) + "\n", 1)[1].split("\n" + END.format(name), 1)[0]


def table_cells(markdown: str) -> list[list[str]]:
    rows = [line for line in markdown.splitlines() if line.startswith("|")]
    return [[c.strip() for c in row.strip("|").split("|")] for row in rows if "---" not in row]


# --------------------------------------------------------------------------- tests


@pytest.fixture
def three_frameworks(monkeypatch):
    """The golden tables below are written for numpy, PyTorch and TensorFlow: pin the
    tables to those three, so that registering another backend does not change them."""
    monkeypatch.setattr(tables, "FRAMEWORKS", ("numpy", "torch", "tensorflow"))
    monkeypatch.setattr(tables, "GPU_FRAMEWORKS", ("torch", "tensorflow"))
    monkeypatch.setattr(tables, "OTHER_FRAMEWORKS", ("torch", "tensorflow"))


def test_golden_table_by_architecture(tmp_path, three_frameworks):
    write_run(
        tmp_path,
        1,
        [
            training_cell("perceptron", "numpy"),
            training_cell(
                "perceptron",
                "torch",
                test_accuracy=0.9012,
                train_seconds=150.0,
                train_seconds_rounds=[150.0, 140.0, 160.5],
                samples_per_second=800.0,
                target_reached=False,
                time_to_target_seconds=None,
                target_epoch=None,
                fraction_of_peak=0.123,
                momentum=0.0,
                lr_decay=1.0,
            ),
        ],
    )
    selection = select(load_runs(tmp_path))
    expected = """\
#### perceptron

| Framework | Accuracy | Training Time | Epochs | Learning Rate | Device | Samples/s | Time to target | % of peak |
|---|---|---|---|---|---|---|---|---|
| numpy | 92.34 % | 12.3 s | 2 | 0.1 (momentum 0.9, ×0.5/epoch) | cpu | 9,724 | 12.3 s (epoch 2) | 0.61 % |
| PyTorch | 90.12 % | 150 s (140 s–160 s, 3 rounds) | 2 | 0.1 | cpu | 800 | not reached (91.5 %) | 12 % |"""  # noqa: E501
    # every other registered framework: a "not run" row on the CPU, "no GPU" on cuda
    for framework in tables.FRAMEWORKS[2:]:
        expected += (
            f"\n| {tables.LABELS[framework]} | not run | not run | not run | not run | cpu "
            "| not run | not run | not run |"
        )
    for framework in tables.GPU_FRAMEWORKS:
        expected += (
            f"\n| {tables.LABELS[framework]} | no GPU in the stored runs | not run | not run "
            "| not run | cuda | not run | not run | not run |"
        )
    assert tables.by_architecture(selection, ["perceptron"], "standard") == expected


def test_report_is_idempotent_and_check_passes(ws):
    write_run(ws.results, 1, [training_cell(m, "numpy") for m in ("perceptron", "cnn")])
    assert run_report(ws) == 0
    first = ws.readme.read_bytes()
    produced = {p: p.read_bytes() for p in ws.assets.rglob("*") if p.is_file()}
    assert ws.assets / "images" / "perceptron_curves.png" in produced
    assert ws.assets / "images" / "training_time.png" in produced
    assert {p.name for p in (ws.assets / "svg").iterdir()} == {f"{m}.svg" for m in list_specs()}
    assert first.startswith(b"# Test README\n\nIntro kept as it is.")

    assert run_report(ws) == 0  # the second run changes nothing, plots included
    assert ws.readme.read_bytes() == first
    assert {p: p.read_bytes() for p in ws.assets.rglob("*") if p.is_file()} == produced
    assert run_report(ws, "--check") == 0

    text = ws.readme.read_text()
    assert "92.34 %" in block(text, "network-perceptron")
    assert "![perceptron: training loss" in block(text, "network-perceptron")
    assert "curves: not run" in block(text, "network-dnn")
    assert "Test CPU, 2 cores; no GPU; python 3.11.7, numpy 2.4.6" in block(text, "machine")


def test_check_reports_stale_readme_and_assets_without_writing(ws, capsys):
    write_run(ws.results, 1, [training_cell("perceptron", "numpy")])
    assert run_report(ws, "--no-plots") == 0
    edited = ws.readme.read_text().replace("92.34 %", "99.99 %")
    ws.readme.write_text(edited)
    (ws.assets / "svg" / "cnn.svg").unlink()
    capsys.readouterr()
    assert run_report(ws, "--check", "--no-plots") == 1
    out = capsys.readouterr().out
    assert f"out of date: {ws.readme}" in out
    assert "cnn.svg" in out
    assert ws.readme.read_text() == edited  # --check writes nothing
    assert not (ws.assets / "svg" / "cnn.svg").exists()


def test_latest_run_wins_unless_a_run_is_chosen(ws):
    write_run(
        ws.results, 1, [training_cell("dnn", "torch", test_accuracy=0.5)], "2026-01-01T10:00:00"
    )
    write_run(
        ws.results, 2, [training_cell("dnn", "torch", test_accuracy=0.75)], "2026-01-02T10:00:00"
    )
    assert run_report(ws, "--no-plots") == 0
    assert "75.00 %" in block(ws.readme.read_text(), "tables-by-framework")
    assert run_report(ws, "--no-plots", "--run", "0001") == 0
    text = block(ws.readme.read_text(), "tables-by-framework")
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
    text = ws.readme.read_text()
    for name in ("tables-by-architecture", "tables-by-framework", "network-cnn"):
        for row in table_cells(block(text, name)):
            assert all(row), f"blank cell in {name}: {row}"
    arch = block(text, "tables-by-architecture").split("#### cnn", 1)[1].split("####", 1)[0]
    cells = {(r[0], r[5]): r for r in table_cells(arch)[1:]}
    assert cells[("PyTorch", "cuda")][1] == "92.34 %"
    assert cells[("TensorFlow", "cuda")][1] == "not run"  # a GPU was there: not run
    assert cells[("TensorFlow", "cpu")][1] == "not run"
    assert cells[("numpy", "cpu")][1] == "diverged"
    assert "Test GPU" in block(text, "machine")
    assert "1,024 MiB GPU" in block(text, "network-cnn")
    assert block(text, "micro") == "Micro-benchmarks: not run (profile `standard`)."
    assert block(text, "seed-profile").startswith("Seed profile: not run")


def test_no_histories_at_all(ws, capsys):
    ws.results.rmdir()
    assert run_report(ws, "--no-plots") == 2  # a results folder that does not exist
    assert "no such folder" in capsys.readouterr().err
    ws.results.mkdir()
    assert run_report(ws, "--no-plots") == 0
    text = ws.readme.read_text()
    assert "No stored runs yet" in block(text, "machine")
    arch = table_cells(block(text, "tables-by-architecture"))
    assert arch[1][1:5] == ["not run"] * 4
    assert arch[len(tables.FRAMEWORKS) + 1][1] == "no GPU in the stored runs"  # first GPU row


@pytest.mark.parametrize(
    "content, message",
    [
        ("", "empty benchmark history"),
        ("{not json", "not valid JSON"),
        ("[1, 2]", "a benchmark history is a JSON object"),
        ('{"benchmarks": [], "datetime": "x"}', "'machine_info' missing"),
        (
            '{"benchmarks": [{"name": "b", "extra_info": {"kind": "training"}}], '
            '"datetime": "x", "machine_info": {}}',
            "lacks profile, model, framework, device",
        ),
    ],
)
def test_malformed_history_names_the_file_and_leaves_readme(ws, capsys, content, message):
    write_run(ws.results, 1, [training_cell("perceptron", "numpy")])
    bad = ws.results / FOLDER / "0002_bad.json"
    bad.write_text(content)
    before = ws.readme.read_bytes()
    assert run_report(ws) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and message in err
    assert ws.readme.read_bytes() == before
    assert not ws.assets.exists()


def test_missing_markers_are_named(ws, capsys):
    text = readme_template().replace(BEGIN.format("micro") + "\n" + END.format("micro"), "")
    ws.readme.write_text(text)
    assert run_report(ws, "--no-plots") == 2
    assert "['micro']" in capsys.readouterr().err
    assert ws.readme.read_text() == text


def test_seed_and_micro_tables(ws):
    write_run(
        ws.results,
        1,
        [
            training_cell(
                "dnn",
                "numpy",
                profile="seed",
                epochs=100,
                lr=0.01,
                momentum=0.0,
                lr_decay=1.0,
                test_accuracy=0.8,
            ),
            micro_cell("layer:dense", "forward", "torch", 123456.7),
            micro_cell("model:cnn", "train_steps", "numpy", 900.0),
        ],
    )
    assert run_report(ws, "--no-plots") == 0
    text = ws.readme.read_text()
    seed = {(r[0], r[1]): r for r in table_cells(block(text, "seed-profile"))[1:]}
    assert seed[("dnn", "numpy")][2:6] == ["80.00 %", "12.3 s", "100", "0.01"]
    assert seed[("cnn", "numpy")][2] == "skipped: meant for a GPU"
    assert seed[("perceptron", "PyTorch")][2] == "not run"
    micro = {(":".join(r[0].split(":")[:2]), r[1]): r for r in table_cells(block(text, "micro"))}
    assert micro[("layer:dense", "forward")][2:5] == ["not run", "123,457", "not run"]
    assert all(all(row) for row in micro.values())
    assert micro[("model:cnn", "SGD steps")][2] == "900"


def test_real_readme_has_every_block():
    """The committed README carries every block the report writes (prose may change)."""
    text = (Path(report.ROOT) / "README.md").read_text(encoding="utf-8")
    names = readme_template()
    for name in [line.split()[2] for line in names.splitlines() if "mnist_nets:begin" in line]:
        assert BEGIN.format(name) in text and END.format(name) in text, name


def committed_results(tmp_path) -> Path:
    """bench/results/ as committed: a local, uncommitted run (smoke, custom or not) is left
    out, so that it cannot turn this test red.  Outside a git checkout, or in a copy git does not
    track: the folder itself."""
    import shutil
    import subprocess

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


def test_committed_readme_is_current(tmp_path):
    """README.md's tables and the diagrams match the committed histories in bench/results/
    (plots are left out: PNG bytes may differ between machines)."""
    results = committed_results(tmp_path)
    assert report.main(["--check", "--no-plots", "--results", str(results)]) == 0, (
        "README.md is out of date with bench/results/: run `python bench/report.py`"
    )


def test_numpy_speed_ratios_against_the_targets(tmp_path, three_frameworks):
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
    selection = select(load_runs(tmp_path))
    rows = table_cells(tables.numpy_speed(selection, list_specs(), "standard"))
    n = len(tables.FRAMEWORKS)  # a column per registered framework
    assert rows[0] == [
        "Architecture",
        *(tables.LABELS[f] for f in tables.FRAMEWORKS),
        "numpy ÷ faster framework (medians)",
        "numpy is",
        "Target",
        "Met",
    ]
    by_model = {row[0]: row for row in rows[1:]}
    one = tables.ONE_ROUND  # a single round decides nothing
    assert by_model["perceptron"][1 + n :] == ["0.50 (vs PyTorch)", one, "< 1", one]
    assert by_model["dnn"][1 + n :] == ["1.25 (vs PyTorch)", one, "< 0.9", one]
    assert by_model["cnn"][1 + n :] == ["1.50 (vs TensorFlow)", one, "≤ 1", one]
    assert by_model["single_neuron"][1:] == ["not run"] * (n + 2) + ["–", "–"]
    assert by_model["alexnet"][1 : n + 3] == ["not run"] * (n + 2)  # no other framework


def round_cells(model, framework, times, accuracies, **overrides):
    """A cell's rounds as a run stores them: one benchmark entry per round and seed."""
    out = []
    for r, (t, acc) in enumerate(zip(times, accuracies, strict=True), start=1):
        cell = training_cell(
            model,
            framework,
            round=r,
            seed=r - 1,
            train_seconds=t,
            train_seconds_rounds=[t],
            test_accuracy=acc,
            samples_trained=120_000,
            flops_training_per_sample=1_000_000,
            cpu_window={"other_cores": 0.9 if r == 2 and framework == "torch" else 0.0},
            co_runner=r == 2 and framework == "torch",
            training_memory={"training_memory_bytes": (r + 10) * 2**20},
            **overrides,
        )
        cell["name"] = cell["name"].replace("]", f"-r{r}]")
        out.append(cell)
    return out


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
    data = json.loads(path.read_text())
    data["mnist_nets"] = {
        "gemm_peak_measurements": [
            {"when": "start", "library": "numpy", "gflops": 100.0},
            {"when": "start", "library": "torch", "gflops": 80.0},
            {"when": "before round 2", "library": "numpy", "gflops": 50.0},
            {"when": "end", "library": "numpy", "gflops": 90.0},
        ]
    }
    path.write_text(json.dumps(data))
    selection = select(load_runs(tmp_path))
    info = selection.training[("standard", "dnn", "numpy", "cpu")].info
    assert info["train_seconds"] == 11.0 and info["train_seconds_rounds"] == [10.0, 12.0, 11.0]
    assert info["test_accuracy"] == pytest.approx(0.982)
    assert info["test_accuracy_sd"] == pytest.approx(0.001)
    assert info["test_accuracy_min"] == 0.981 and info["seeds"] == [0, 1, 2]
    assert info["samples_per_second"] == pytest.approx(120_000 / 11.0)
    # % of peak against the run's highest measurement (100), from the median time
    assert info["fraction_of_peak"] == pytest.approx(120_000 * 1e6 / 11.0 / 1e9 / 100.0)
    assert tables.accuracy(info) == "98.20 % ± 0.10 (min 98.10 %)"
    assert tables.train_time(info) == "11.0 s (10.0 s–12.0 s, 3 rounds)"
    torch = selection.training[("standard", "dnn", "torch", "cpu")].info
    assert torch["co_runner_rounds"] == [2] and tables.train_time(torch).endswith(" ⚠")
    assert tables.training_memory(info) == "11 MiB"  # round 1's probe

    models = ["perceptron", "dnn", "cnn"]
    rows = {
        r[0]: r[len(tables.FRAMEWORKS) - 3 :]
        for r in table_cells(tables.numpy_speed(selection, models, "standard"))
    }  # (the columns of frameworks beyond these three cut off)
    # torch's round 2 had a co-runner: every verdict against torch carries the mark
    assert rows["perceptron"][4:] == ["0.52 (vs PyTorch)", "faster ⚠", "< 1", "yes ⚠"]
    assert rows["dnn"][4:] == [
        "0.85 (vs PyTorch)",
        "tie ⚠",
        "< 0.9",
        "tie (the rounds straddle the target) ⚠",
    ]
    assert rows["cnn"][4:] == ["2.73 (vs PyTorch)", "slower ⚠", "≤ 1", "**no** ⚠"]

    (run,) = selection.runs()
    line = tables.steadiness(run)
    assert "numpy 50–100, torch 80–80 GFLOP/s, the lowest 50 % of the highest" in line
    assert "other processes used the CPU in 3 of 27 cell-rounds (cells marked ⚠)" in line


def test_single_neuron_finding_golden(tmp_path, three_frameworks):
    accuracies = {"perceptron": 0.9235, "single_neuron": 0.2116, "single_neuron_ce": 0.3877}
    write_run(
        tmp_path,
        1,
        [training_cell(model, "numpy", test_accuracy=acc) for model, acc in accuracies.items()]
        + [training_cell("single_neuron", "torch", test_accuracy=0.25)],
    )
    selection = select(load_runs(tmp_path))
    expected = """\
| Framework | Device | perceptron (784 → 10) | single_neuron (784 → 1 → 10, MSE) | single_neuron_ce (784 → 1 → 10, cross-entropy) |
|---|---|---|---|---|
| numpy | cpu | 92.35 % | 21.16 % | 38.77 % |
| PyTorch | cpu | not run | 25.00 % | not run |"""  # noqa: E501
    for framework in tables.FRAMEWORKS[2:]:  # every other registered framework
        expected += f"\n| {tables.LABELS[framework]} | cpu | not run | not run | not run |"
    no_gpu = " | ".join(["no GPU in the stored runs"] * 3)
    for framework in tables.GPU_FRAMEWORKS:
        expected += f"\n| {tables.LABELS[framework]} | cuda | {no_gpu} |"
    expected += """

Measured (profile `standard`, best of the frameworks): one hidden neuron reaches at most 25.00 % test accuracy under MSE and 38.77 % under cross-entropy; ten output perceptrons reach 92.35 %."""  # noqa: E501
    assert tables.single_neuron_finding(selection, "standard") == expected

    # without every column measured, no summary sentence claims a figure
    write_run(tmp_path, 2, [training_cell("single_neuron_ce", "numpy", test_accuracy=0.5)])
    only_ce = select(load_runs(tmp_path), run="0002")
    assert "Measured" not in tables.single_neuron_finding(only_ce, "standard")


def test_the_seed_profile_has_its_own_numpy_speed_target(ws):
    """The seed profile's numpy-against-the-frameworks block reads the seed cells and its
    own bound (0.35 on the perceptron), not the standard profile's."""
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
    rows = {r[0]: r for r in table_cells(block(ws.readme.read_text(), "numpy-speed-seed"))}
    assert "cnn" not in rows and "alexnet" not in rows  # the seed profile skips them on a CPU
    assert rows["perceptron"][-4:] == ["0.30 (vs TensorFlow)", "faster", "≤ 0.35", "yes"]
    assert rows["dnn"][-4:] == ["1.24 (vs TensorFlow)", "slower", "–", "–"]
    standard = {r[0]: r for r in table_cells(block(ws.readme.read_text(), "numpy-speed"))}
    assert standard["perceptron"][-4:-2] == ["0.90 (vs TensorFlow)", "faster"]
