"""The "Fastest to 99 %" page (bench/reporting/speedrun.py), from made-up cell summaries."""

from __future__ import annotations

import dataclasses

import pytest

from bench.reporting import speedrun as st
from bench.reporting import stats
from bench.reporting.format import label
from bench.reporting.selection import Selection
from bench.reporting.summary import CellSummary, Recipe
from mnist_nets.backends.registry import FRAMEWORKS
from mnist_nets.specs import get_spec, list_specs, race_specs

SPEC = get_spec("speedrun")
# the registered frameworks other than numpy (which has a time bound of its own), in order
OTHERS = [f.name for f in FRAMEWORKS if f.name != "numpy"]
# the spec with 10 evaluations an epoch (as before run 0020): epochs shown in tenths
TENTHS = dataclasses.replace(SPEC, recipe=dataclasses.replace(SPEC.recipe, evals_per_epoch=10))


def cell(framework, *, times_median, accuracies, reached, device="cpu", epoch=0.8,
         epochs=None, param_count=None, model="speedrun"):  # fmt: skip
    """A folded speedrun cell; ``epochs``: where each seed that made it reached 99 %."""
    if epochs is None:
        epochs = [epoch] * reached if epoch is not None else []
    return CellSummary(
        None, "standard", model, framework, device, Recipe(2, 0.01), len(accuracies),
        test_accuracy_rounds=tuple(accuracies),
        test_accuracy=sum(accuracies) / len(accuracies),
        target_reached_rounds=reached,
        time_to_target_seconds=times_median,
        target_epochs=tuple(sorted(epochs)),
        samples_per_second=7500.0,
        peak_gflops=100.0,
        param_count=param_count,
    )  # fmt: skip


def selection(*cells):
    return Selection({c.key: c for c in cells}, {})


def rows(markdown):
    return [
        [c.strip() for c in line.strip("|").split("|")]
        for line in markdown.splitlines()
        if line.startswith("| ") and not line.startswith("| framework")
    ]


def test_every_target_met_and_missed_is_named():
    good = [0.9905, 0.9901, 0.9912, 0.9899, 0.9903] * 2  # 10 seeds, mean 99.04 %
    fastest, numpy_bound = st.CPU_SECONDS_FASTEST, st.CPU_SECONDS_NUMPY
    assert len(good) == st.MIN_SEEDS
    first, second = OTHERS[:2]
    text = st.section(
        selection(
            cell(first, times_median=fastest - 0.1, accuracies=good, reached=8),
            cell("numpy", times_median=numpy_bound + 0.5, accuracies=good, reached=8),
            cell(second, times_median=fastest, accuracies=[0.9881, 0.99, 0.99], reached=2),
        ),
        "standard",
        SPEC,
    )
    table = {r[0]: r for r in rows(text)}
    assert SPEC.recipe.evals_per_epoch == 20  # so epochs to two decimals
    assert table[first][2] == f"{fastest - 0.1:.2f} s (epoch 0.80)"
    assert table[first][3] == "99.04 % ± 0.05 %, min 98.99 %"
    assert table[first][4] == "8 of 10"
    assert table[first][6] == "met"  # the fastest, within its bound
    assert table["numpy"][6] == f"missed: median > {numpy_bound:g} s"
    assert table[second][6] == (
        f"missed: 3 seeds < {st.MIN_SEEDS}, mean < 99.0 %, a seed < 98.9 %"
    )
    assert any(
        "tuomaso/train_mnist_fast" in r[0] and r[2] == "0.76 s (1 epoch)" for r in rows(text)
    )
    flops = SPEC.flops_training * 60_000
    assert f"{flops / 1e12:.2f} TFLOP" in text
    assert f"cannot take less than {flops / 100e9:.1f} s" in text


def test_no_stored_run_says_so():
    text = st.section(selection(), "standard", SPEC)
    assert "No stored `standard` run of `speedrun` yet" in text
    assert len(rows(text)) == 1  # the published anchor only


def test_a_history_from_before_rounds_counts_one_seed():
    one = CellSummary(None, "standard", "speedrun", OTHERS[0], "cpu", Recipe(1, 0.01), 1,
                      test_accuracy=0.991, target_reached_rounds=1, time_to_target_seconds=9.0)
    s = stats.race(one)
    assert (s.rounds, s.reached, s.mean, s.sd) == (1, 1, 0.991, None)
    assert st.verdict(s, 8.0) == f"missed: 1 seed < {st.MIN_SEEDS}, median > 8 s"


def test_every_race_is_a_registered_spec_with_a_target_and_evaluations_within_epochs():
    races = race_specs()
    assert races == [n for n in list_specs() if get_spec(n).is_race]
    assert {"speedrun", "speedrun2"} <= set(races)
    assert not get_spec("cnn").is_race  # a target, but one evaluation an epoch
    assert not get_spec("single_neuron").is_race  # no target


@pytest.mark.parametrize("name", race_specs())
def test_the_standard_profile_runs_every_race_over_enough_seeds(name):
    from bench.profiles import get_profile

    standard = get_profile("standard")
    assert standard.rounds_for(name, standard.rounds) >= st.MIN_SEEDS
    many = st.MIN_SEEDS + 2
    assert standard.rounds_for(name, many) == many  # more rounds asked: more for it too
    assert standard.rounds_for("cnn", standard.rounds) == standard.rounds
    assert standard.most_rounds(standard.rounds) == max(standard.rounds, st.MIN_SEEDS)
    assert get_profile("smoke").rounds_for(name, 1) == 1
    assert get_profile("fashion").skip_reason(get_spec(name), "cpu") is not None


def test_the_block_has_a_table_for_every_race():
    text = st.sections(selection(), "standard")
    for name in race_specs():
        assert f"**`{name}`**" in text
        assert f"No stored `standard` run of `{name}` yet" in text
    assert text.count("| framework |") == len(race_specs())


def test_the_epoch_of_the_target_is_shown_in_tenths():
    """A fractional evaluation lands on a batch boundary (epoch 1.70213 for 1.7): the
    section shows the tenth the recipe evaluated at."""
    text = st.section(
        selection(
            cell(OTHERS[0], times_median=8.84, accuracies=[0.99] * 5, reached=5, epoch=1.70213)
        ),
        "standard",
        TENTHS,
    )
    assert {r[0]: r for r in rows(text)}[OTHERS[0]][2] == "8.84 s (epoch 1.7)"
    assert "first evaluation (10 an epoch, off the clock)" in text


def test_twenty_evaluations_an_epoch_show_the_epoch_in_twentieths():
    """With 20 evaluations an epoch of 235 batches, the 27th lands after batch 83 of the
    second epoch (1.353): shown as 1.35, which one decimal would round to 1.4."""
    assert [st.epoch_digits(k) for k in (1, 5, 10, 11, 20, 100, 101)] == [1, 1, 1, 2, 2, 2, 3]
    text = st.section(
        selection(cell(OTHERS[0], times_median=6.1, accuracies=[0.99] * 5, reached=5, epoch=1.353)),
        "standard",
        SPEC,
    )
    assert {r[0]: r for r in rows(text)}[OTHERS[0]][2] == "6.10 s (epoch 1.35)"
    assert "first evaluation (20 an epoch, off the clock)" in text


def test_a_cell_of_an_earlier_net_is_named_and_not_judged():
    """A cell stored with another net (its parameter count is not the spec's) is shown
    with that count, is not judged, and is not the fastest framework whose bound the
    others are read against."""
    old = cell(OTHERS[0], times_median=5.0, accuracies=[0.992] * 5, reached=5,
               param_count=SPEC.param_count + 1)
    now = cell("numpy", times_median=9.0, accuracies=[0.992] * 5, reached=5,
               param_count=SPEC.param_count)
    table = {r[0]: r for r in rows(st.section(selection(old, now), "standard", SPEC))}
    earlier = f"{OTHERS[0]} (an earlier net: {SPEC.param_count + 1:,} parameters)"
    assert table[earlier][6] == "not judged (another net)"
    # numpy is now the fastest, read against the fastest framework's bound
    assert table["numpy"][6] == (
        f"missed: 5 seeds < {st.MIN_SEEDS}, median > {st.CPU_SECONDS_FASTEST:g} s"
    )


def test_seeds_that_reached_the_target_in_different_epochs_show_their_range_and_median():
    """The median time sits beside the median epoch and the range, not beside the latest
    epoch alone (which read "12.21 s (epoch 1.6)" where the middle seed took 1.4)."""
    info = cell("numpy", times_median=12.21, accuracies=[0.992] * 5, reached=5,
                epochs=[1.302128, 1.302128, 1.302128, 1.4, 1.6])
    same = cell(OTHERS[0], times_median=8.63, accuracies=[0.992] * 5, reached=5, epoch=1.4)
    unknown = cell(OTHERS[1], times_median=19.5, accuracies=[0.992] * 5, reached=5, epoch=None)
    table = {r[0]: r for r in rows(st.section(selection(info, same, unknown), "standard", TENTHS))}
    assert table["numpy"][2] == "12.21 s (epochs 1.3–1.6, median 1.3)"
    assert table[OTHERS[0]][2] == "8.63 s (epoch 1.4)"
    assert table[OTHERS[1]][2] == "19.50 s"  # (a stored cell without its epochs)


GOOD = [0.9905, 0.9901, 0.9912, 0.9899, 0.9903] * 2  # 10 seeds, mean 99.04 %


def test_the_readme_line_names_the_fastest_race_its_winner_and_numpy():
    """Of two races, the one whose fastest CPU framework has the lower median; a GPU cell
    and a cell of an earlier net are not the record."""
    assert len(OTHERS) >= 3, "the test needs three registered frameworks besides numpy"
    slow, winner, earlier = OTHERS[:3]
    cells = [
        cell(slow, times_median=3.0, accuracies=GOOD, reached=10),
        cell("numpy", times_median=5.0, accuracies=GOOD, reached=10),
        cell(slow, times_median=2.3, accuracies=GOOD, reached=10, model="speedrun2"),
        cell(winner, times_median=2.2, accuracies=GOOD, reached=10, model="speedrun2"),
        cell("numpy", times_median=4.4, accuracies=GOOD, reached=10, model="speedrun2"),
        cell(slow, times_median=0.5, accuracies=GOOD, reached=10, device="cuda"),
        cell(earlier, times_median=1.0, accuracies=GOOD, reached=10, model="speedrun2",
             param_count=1),
    ]
    record = st.cpu_record(selection(*cells), "standard")
    assert (record.model, record.fastest) == ("speedrun2", winner)
    assert set(record.figures) == {slow, winner, "numpy"}
    assert record.verdicts[winner] == "met"
    assert record.verdicts["numpy"] == f"missed: median > {st.CPU_SECONDS_NUMPY:g} s"
    assert record.verdicts[slow] == "met"  # neither the fastest nor numpy: no time bound
    line = st.readme_line(selection(*cells), "standard", "docs/speedrun.md")
    assert "`speedrun2`, median over 10 seeds" in line
    assert f"**{label(winner)} 2.20 s** (met: ≤ 2.5 s)" in line
    assert "numpy written by hand **4.40 s** (missed: median > 4 s: ≤ 4 s)" in line
    assert line.endswith("in [docs/speedrun.md](docs/speedrun.md).")


def test_the_readme_line_without_a_race_that_reached_the_target():
    never = cell(OTHERS[0], times_median=None, accuracies=[0.98] * 10, reached=0, epoch=None)
    for sel in (selection(), selection(never)):
        assert st.cpu_record(sel, "standard") is None
        assert st.readme_line(sel, "standard", "p.md") == (
            "Fastest to 99 %: no stored `standard` race has reached it yet; see [p.md](p.md)."
        )
