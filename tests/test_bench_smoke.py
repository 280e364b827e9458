"""The benchmark harness end to end: the `smoke` profile on real MNIST, then the report.

Runs ``pytest bench --bench-profile smoke --rounds 2`` in a subprocess (two cheap
models, every installed framework, the CPU, the dense-layer micro-benchmarks) into a
temporary storage folder, then ``bench/report.py`` on that storage against a temporary
copy of the README and docs/: the cells run must show measured figures, the others "not
run", and the README's headline a row for each cell that ran and none for the others.
It also checks the rounds' interleaving and seeds, the GEMM peaks measured around the
rounds, and that every framework's training memory differs between the two models.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench import report
from bench.reporting.pages import BEGIN, END, PAGES
from conftest import framework_installed
from mnist_nets.backends.registry import FRAMEWORKS as REGISTERED
from mnist_nets.machine import numpy_blas

ROOT = Path(__file__).resolve().parents[1]
MODELS = ("perceptron", "dnn")
LABELS = {f.name: f.label for f in REGISTERED}


def block(text: str, name: str) -> str:
    return text.split(BEGIN.format(name) + "\n", 1)[1].split("\n" + END.format(name), 1)[0]


def rows(markdown: str) -> list[list[str]]:
    lines = [line for line in markdown.splitlines() if line.startswith("|") and "---" not in line]
    return [[c.strip() for c in line.strip("|").split("|")] for line in lines]


@pytest.mark.slow
def test_smoke_profile_end_to_end(tmp_path):
    frameworks = [f.name for f in REGISTERED if framework_installed(f.name)]
    storage = tmp_path / "results"
    command = [
        sys.executable,
        "-m",
        "pytest",
        "bench",
        "--bench-profile",
        "smoke",
        "--models",
        ",".join(MODELS),
        "--frameworks",
        ",".join(frameworks),
        "--device",
        "cpu",
        "--rounds",
        "2",
        "-k",
        "test_train or dense",
        "--benchmark-autosave",
        f"--benchmark-storage=file://{storage}",
        "-q",
        "-p",
        "no:cacheprovider",
    ]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "MPLBACKEND": "Agg"}
    done = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900, check=False
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    for model in MODELS:  # a line per epoch while the cells run (bench/progress.py)
        for framework in frameworks:
            for r in (1, 2):
                assert f"{model} / {framework} / cpu, round {r}: epoch 1/1, loss " in done.stdout

    (history,) = storage.rglob("*.json")
    data = json.loads(history.read_text())
    assert data["machine_info"]["mnist_nets"]["gemm_peaks"]["cpu"]["gflops"] > 0
    # the machine's identity, which the report groups runs by
    machine = data["machine_info"]["mnist_nets"]
    assert machine["cpu"] and machine["cores"] >= 1 and machine["memory_bytes"] > 2**28
    assert "gpu" in machine
    # the session tuned malloc before any cell (bench/conftest.py) and says so
    expected = "system default" if os.environ.get("MNIST_NETS_ALLOCATOR") == "system" else None
    allocator = data["machine_info"]["mnist_nets"]["allocator"]
    assert allocator == expected or allocator.startswith(("glibc: no mmap", "system default ("))
    blas = data["machine_info"]["mnist_nets"]["blas"]  # numpy's BLAS and its kernels
    assert blas.rsplit(", ", 1)[0] == numpy_blas().rsplit(", ", 1)[0], blas  # threads aside
    peaks = data["mnist_nets"]["gemm_peak_measurements"]
    assert [m["when"] for m in peaks if m["library"] == "numpy"] == [
        "start",
        "before round 2",
        "end",
    ]
    assert all(m["gflops"] > 0 for m in peaks)
    entries = [b for b in data["benchmarks"] if b["extra_info"]["kind"] == "training"]
    # interleaved: every cell's round 1 ran (and was stored) before any round 2
    order = [b["extra_info"]["round"] for b in entries]
    assert order == sorted(order) and set(order) == {1, 2}, order
    trained = {
        (b["extra_info"]["model"], b["extra_info"]["framework"], b["extra_info"]["round"]): b[
            "extra_info"
        ]
        for b in entries
    }
    assert set(trained) == {(m, f, r) for m in MODELS for f in frameworks for r in (1, 2)}
    for (_, _, r), info in trained.items():
        assert info["profile"] == "smoke" and info["train_samples"] == 1000
        assert info["seed"] == r - 1
        assert 0.0 < info["test_accuracy"] <= 1.0 and info["train_seconds"] > 0
        assert len(info["per_epoch"]) == info["epochs"] == 1
        assert info["warmup_seconds"] > 0 and info["peak_gflops"] > 0
        assert info["cpu_window"]["own_cores"] is not None
        assert info["test_accuracy"] == info["per_epoch"][-1]["test_accuracy"]
        assert info["samples_trained"] == 1000
        # GFLOP/s from the training FLOPs (forward + backward), not the forward FLOPs
        assert info["achieved_gflops"] == pytest.approx(
            info["flops_training_per_sample"] * 1000 / info["train_seconds"] / 1e9
        )
        assert info["flops_training_per_sample"] > info["flops_forward_per_sample"]
    # same seed, same data order, same initial weights: the frameworks agree closely
    for model in MODELS:
        for r in (1, 2):
            accuracies = [trained[(model, f, r)]["test_accuracy"] for f in frameworks]
            assert max(accuracies) - min(accuracies) <= 0.02, (model, r, accuracies)
    # training memory (round 1, fresh process) means the model: it differs between models
    for framework in frameworks:
        figures = [
            trained[(m, framework, 1)]["training_memory"]["training_memory_bytes"] for m in MODELS
        ]
        assert all(isinstance(b, int) and b > 0 for b in figures), (framework, figures)
        assert len(set(figures)) == len(MODELS), (framework, figures)

    readme, docs = tmp_path / "README.md", tmp_path / "docs"
    shutil.copy(ROOT / "README.md", readme)
    docs.mkdir()
    for name in PAGES:
        if name != "README.md":
            shutil.copy(ROOT / "docs" / name, docs / name)
    assets = tmp_path / "assets"
    args = ["--readme", str(readme), "--docs", str(docs), "--results", str(storage),
            "--assets", str(assets)]  # fmt: skip
    assert report.main([*args, "--profile", "smoke"]) == 0
    assert report.main([*args, "--profile", "smoke", "--check"]) == 0
    text = (docs / "benchmarks.md").read_text()
    assert f"; malloc: {allocator}; " in text  # under the tables, with the run's machine
    assert f"; numpy's BLAS: {blas}; " in text
    headline = rows(block(readme.read_text(), "headline"))
    assert {(r[0], r[1]) for r in headline[1:]} == {
        (m, LABELS[f]) for m in MODELS for f in frameworks
    }  # a row per cell that ran, none for a cell that did not

    by_architecture = block(text, "tables-by-architecture")
    for model in ("perceptron", "dnn", "cnn", "alexnet"):
        table = rows(by_architecture.split(f"#### {model}\n", 1)[1].split("####", 1)[0])
        cells = {(r[0], r[5]): r for r in table[1:]}
        for framework in frameworks:
            accuracy = cells[(LABELS[framework], "cpu")][1]
            if model in MODELS:
                # two seeds: "mean ± sd (min x %)"
                assert accuracy[0].isdigit() and " % ± " in accuracy, (model, framework, accuracy)
            else:
                assert accuracy == "not run", (model, framework)
    header, *body = rows(block(text, "micro"))
    micro = {(r[0].split(":")[1], r[1]): dict(zip(header, r, strict=True)) for r in body}
    for pass_ in ("forward", "forward + backward", "SGD steps"):
        for framework in frameworks:
            rate = micro[("dense", pass_)][LABELS[framework]]
            assert rate[0].isdigit(), (pass_, framework, rate)
        assert micro[("cnn", pass_)]["numpy"] == "not run"
    assert (assets / "images" / "perceptron_curves.png").is_file()
    assert not (assets / "images" / "cnn_curves.png").exists()
