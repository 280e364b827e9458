"""The Fashion-MNIST benchmark (profile ``fashion``): its profile, the confusion matrix of a
round, how the rounds fold, and docs/fashion-mnist.md, on made-up histories."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import block, page, round_cells, table_cells, workspace, write_run

from bench import report
from bench.cell import TrainingCell, confusion_matrix
from bench.profiles import get_profile
from bench.reporting import fashion
from bench.reporting.selection import load_runs, select
from mnist_nets.backends import get_backend
from mnist_nets.data import Split
from mnist_nets.specs import get_spec


def test_the_fashion_profile_trains_fashion_mnist_with_its_floors():
    fashion = get_profile("fashion")
    assert fashion.dataset == "fashion-mnist" and get_profile("standard").dataset == "mnist"
    assert fashion.rounds >= 3 and fashion.confusion and not fashion.run_micro
    cnn = fashion.spec(get_spec("cnn"))
    assert cnn.target_accuracy == 0.91 and get_spec("cnn").target_accuracy == 0.99
    # the Fashion-MNIST recipe (not the MNIST one, not capped: a one-cycle needs its anneal)
    for name in ("dnn", "cnn", "alexnet"):
        fashion_recipe = dict(get_spec(name).dataset_recipes)["fashion-mnist"]
        assert fashion.recipe(get_spec(name)) == fashion_recipe != get_spec(name).recipe
    assert fashion.recipe(get_spec("alexnet")).schedule == "one_cycle"
    assert fashion.skip_reason(get_spec("speedrun"), "cpu").startswith("fashion profile:")
    assert fashion.skip_reason(get_spec("alexnet"), "cpu") is None
    assert get_profile("standard").skip_reason(get_spec("speedrun"), "cpu") is None


def test_confusion_matrix_counts_true_rows_and_predicted_columns():
    labels = np.array([0, 0, 1, 9, 9, 9], np.uint8)
    predicted = np.array([0, 1, 1, 9, 0, 9])
    m = confusion_matrix(labels, predicted)
    assert len(m) == 10 and all(len(row) == 10 for row in m)
    assert m[0][0] == 1 and m[0][1] == 1 and m[1][1] == 1 and m[9][9] == 2 and m[9][0] == 1
    assert sum(map(sum, m)) == 6 and [sum(r) for r in m][9] == 3


def test_a_fashion_round_stores_its_confusion_matrix(monkeypatch):
    """A round of a profile with ``confusion`` predicts the test set after training; its
    matrix's rows sum to each class's images and its diagonal is the accuracy."""
    rng = np.random.default_rng(0)
    train = Split(rng.random((64, 28, 28, 1), dtype=np.float32), rng.integers(0, 10, 64, np.uint8))
    test = Split(rng.random((50, 28, 28, 1), dtype=np.float32), rng.integers(0, 10, 50, np.uint8))
    profile = get_profile("fashion")
    spec = profile.spec(get_spec("perceptron")).with_recipe(epochs=1, batch_size=32)
    cell = TrainingCell(spec, spec.recipe, profile, get_backend("numpy"), "cpu", train, test)
    args, _ = cell.setup()
    cell.run(*args)
    info = {**cell.static_info(), **cell.results_info(None)}
    m = np.array(info["confusion"])
    assert info["dataset"] == "fashion-mnist"
    assert m.sum(axis=1).tolist() == np.bincount(test.y, minlength=10).tolist()
    assert np.trace(m) / 50 == pytest.approx(info["test_accuracy"])
    standard = TrainingCell(
        spec, spec.recipe, get_profile("standard"), get_backend("numpy"), "cpu", train, test
    )
    args, _ = standard.setup()
    standard.run(*args)
    assert "confusion" not in standard.results_info(None)


def fashion_rounds(model, framework, accuracies, matrix):
    cells = round_cells(model, framework, [5.0, 6.0, 7.0][: len(accuracies)], accuracies)
    for c in cells:
        c["extra_info"].update(profile="fashion", dataset="fashion-mnist", confusion=matrix)
        c["extra_info"]["target_accuracy"] = (
            get_spec(model).for_dataset("fashion-mnist").target_accuracy
        )
    return cells


def matrix_with(mistakes):
    m = [[1000 if t == p else 0 for p in range(10)] for t in range(10)]
    for (t, p), n in mistakes.items():
        m[t][p] += n
        m[t][t] -= n
    return m


def test_fashion_section_floors_zalando_and_confusion(tmp_path):
    shirt_as_tshirt = matrix_with({(6, 0): 150, (4, 2): 90, (2, 4): 40})
    benchmarks = (
        fashion_rounds("perceptron", "numpy", [0.84, 0.842, 0.838], matrix_with({}))
        + fashion_rounds("perceptron", "torch", [0.84, 0.833, 0.85], matrix_with({}))
        + fashion_rounds("cnn", "numpy", [0.905, 0.90, 0.91], matrix_with({}))
        + fashion_rounds("cnn", "torch", [0.915, 0.912, 0.918], shirt_as_tshirt)
    )
    results = tmp_path / "results"
    write_run(results, 1, benchmarks)
    selection = select(load_runs(results).runs)
    folded = selection.training[("fashion", "cnn", "torch", "cpu")]
    assert folded.confusion_rounds == 3
    assert folded.confusion[6][0] == 450 and sum(folded.confusion[6]) == 3000

    text = fashion.summary(selection, ["perceptron", "cnn"])
    rows = {(r[0], r[1]): r for r in table_cells(text)}
    assert rows[("perceptron", "numpy")][4:] == ["83.5 %", "yes"]
    assert rows[("perceptron", "PyTorch")][5] == "no: a seed at 83.30 %"  # mean 84.1 %
    assert rows[("cnn", "numpy")][5] == "no: mean 90.50 %"
    assert rows[("cnn", "PyTorch")][5] == "yes"
    assert rows[("cnn", "JAX")][2:4] == ["not run", "not run"]
    beside = {r[0]: r for r in table_cells(text) if len(r) == 3}
    assert beside["cnn"][1] == "91.50 % (PyTorch)"
    assert "2 conv layers, <100K parameters: 92.5 %" in beside["cnn"][2]
    assert "From stored run 0001 (profile `fashion`)." in text

    best = fashion.best_cell(selection, ["perceptron", "cnn"])
    assert best.model == "cnn" and best.framework == "torch"
    mistakes = table_cells(fashion.confused_pairs(folded.confusion, fashion.class_names()))
    assert mistakes[1:4] == [
        ["Shirt", "T-shirt/top", "450", "15.0 %"],
        ["Coat", "Pullover", "270", "9.0 %"],
        ["Pullover", "Coat", "120", "4.0 %"],
    ]


def test_report_writes_the_fashion_page_and_its_pictures(tmp_path):
    ws = workspace(tmp_path)
    results = ws.results
    write_run(
        results, 1, fashion_rounds("cnn", "numpy", [0.92, 0.93, 0.925], matrix_with({(6, 0): 5}))
    )
    assert report.main(ws.args) == 0
    text = page(ws, "fashion-mnist.md")
    assert "`cnn` in numpy (cpu), 92.50 % ± 0.50 (min 92.00 %)" in block(text, "fashion-confusion")
    assert (tmp_path / "assets" / "images" / "fashion_confusion.png").stat().st_size > 1000
    assert (tmp_path / "assets" / "images" / "fashion_cnn_curves.png").is_file()
    assert "fashion_cnn_curves.png" in block(text, "fashion-curves")
    assert "#### cnn" in block(text, "fashion-by-architecture")
    assert "](../assets/images/fashion_confusion.png)" in block(text, "fashion-confusion")
    # the standard tables are not fed by the fashion run
    assert "92.50" not in block(page(ws, "benchmarks.md"), "tables-by-architecture")
    assert "92.50" not in page(ws, "README.md")
    assert report.main([*ws.args, "--check"]) == 0
    data = json.loads(next(results.rglob("*.json")).read_text())
    assert data["benchmarks"][0]["extra_info"]["dataset"] == "fashion-mnist"
