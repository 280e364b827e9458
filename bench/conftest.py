"""The benchmark suite's options, fixtures and pytest-benchmark hooks.

Options (each with an environment-variable fallback, so ``make bench`` can pass them too):

  --bench-profile smoke|standard|seed|fashion
                                       MNIST_NETS_BENCH_PROFILE (default standard; fashion:
                                       the standard matrix on Fashion-MNIST)
  --models a,b,...                     MNIST_NETS_BENCH_MODELS  (default: all registered)
  --rounds N                           MNIST_NETS_BENCH_ROUNDS  (default: the profile's,
                                       3 for standard and fashion, 1 for smoke
                                       and seed)
  --bench-seed S                       MNIST_NETS_BENCH_SEED    (default 0): round r trains
                                       seed S + r - 1

Rounds are interleaved: ``test_train`` is parametrised over the round, and the items
are reordered so that every selected cell runs round 1 before any cell runs round 2
(drift in the machine's speed then hits every framework alike).  Each round of a cell
is its own pytest-benchmark entry (``test_train[r2-dnn-torch-cpu]``, ``extra_info``
with ``round`` and ``seed``); the report (bench/reporting/summary.py) folds a run's rounds
of a cell into one.
Before round 1, between rounds and at the end the session measures the GEMM peak
(bench/peak.py) and stores every measurement in the history's ``mnist_nets`` block.
  --train-limit N, --test-limit N, --epochs N
                                       development runs on less; recorded as profile "custom"

plus the root conftest's --frameworks and --device.  Unless --benchmark-storage is
given, histories go to bench/results/ (committed: the README's figures come from there).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from bench.micro_specs import MICRO_PASSES, micro_cases
from bench.profiles import PROFILES, get_profile
from bench.progress import terminal_line_writer
from conftest import selected_devices, selected_frameworks, visible_gpus
from mnist_nets.specs import list_specs

RESULTS = Path(__file__).resolve().parent / "results"
_DEFAULT_STORAGE = "file://./.benchmarks"


def _env_int(name: str) -> int | None:
    value = os.environ.get(name)
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise pytest.UsageError(f"{name}={value!r}: expected an integer") from None


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mnist_nets benchmarks")
    group.addoption(
        "--bench-profile",
        default=os.environ.get("MNIST_NETS_BENCH_PROFILE") or "standard",
        choices=PROFILES,
        help="smoke (1,000 images, 1 epoch), standard (full data, spec recipes; default) "
        "or seed (the original full-batch recipe)",
    )
    group.addoption(
        "--models",
        default=os.environ.get("MNIST_NETS_BENCH_MODELS") or ",".join(list_specs()),
        help="comma-separated architectures (default: all registered)",
    )
    group.addoption(
        "--rounds",
        type=int,
        default=_env_int("MNIST_NETS_BENCH_ROUNDS"),
        help="interleaved rounds; round r trains seed S+r-1 in every cell (default: 3 for "
        "the standard profile, 1 for smoke and seed)",
    )
    group.addoption(
        "--bench-seed",
        type=int,
        default=_env_int("MNIST_NETS_BENCH_SEED") or 0,
        help="seed of the initial weights and data order (default 0)",
    )
    for name, what in (
        ("--train-limit", "training images"),
        ("--test-limit", "test images"),
        ("--epochs", "epochs"),
    ):
        group.addoption(
            name,
            type=int,
            default=None,
            help=f"use this many {what} (development; recorded as profile 'custom')",
        )


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    # Before pytest-benchmark (trylast) opens its storage: default to bench/results.
    if config.getoption("benchmark_storage", None) == _DEFAULT_STORAGE:
        config.option.benchmark_storage = f"file://{RESULTS}"
    rounds = config.getoption("--rounds")
    if rounds is not None and rounds < 1:
        raise pytest.UsageError("--rounds must be at least 1")
    from mnist_nets.machine import tune_allocator

    try:  # before any cell allocates: every framework runs with the same malloc
        tune_allocator()
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None


def bench_rounds(config: pytest.Config) -> int:
    """--rounds, or the profile's default."""
    rounds = config.getoption("--rounds")
    return rounds if rounds is not None else bench_profile(config).rounds


def bench_models(config: pytest.Config) -> list[str]:
    names = [n.strip() for n in config.getoption("--models").split(",") if n.strip()]
    unknown = [n for n in names if n not in list_specs()]
    if unknown:
        raise pytest.UsageError(f"--models: unknown {unknown}; choose from {list_specs()}")
    return names


def bench_profile(config: pytest.Config):
    return get_profile(
        config.getoption("--bench-profile"),
        train_limit=config.getoption("--train-limit"),
        test_limit=config.getoption("--test-limit"),
        epochs=config.getoption("--epochs"),
    )


def bench_devices(config: pytest.Config) -> list[str]:
    """The devices to parametrise over: the one named by --device, or with --device auto
    cpu and cuda always (a cuda cell is skipped with the reason when no GPU is visible)."""
    choice = config.getoption("--device")
    if choice in ("cpu", "cuda", "mps"):
        return [choice]
    return ["cpu", "cuda", *(["mps"] if "mps" in selected_devices(config) else [])]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    config = metafunc.config
    if "model" in metafunc.fixturenames:
        metafunc.parametrize("model", bench_models(config))
    if "framework" in metafunc.fixturenames:
        metafunc.parametrize("framework", selected_frameworks(config))
    if "device" in metafunc.fixturenames:
        metafunc.parametrize("device", bench_devices(config))
    if "case" in metafunc.fixturenames:
        metafunc.parametrize("case", micro_cases(bench_models(config)))
    if "pass_" in metafunc.fixturenames:
        metafunc.parametrize("pass_", MICRO_PASSES)
    if "bench_round" in metafunc.fixturenames:
        rounds = range(1, bench_profile(config).most_rounds(bench_rounds(config)) + 1)
        metafunc.parametrize("bench_round", rounds, ids=[f"r{r}" for r in rounds])


def item_round(item: pytest.Item) -> int:
    """The round of a training item (0 for items without one: micro-benchmarks)."""
    callspec = getattr(item, "callspec", None)
    return callspec.params.get("bench_round", 0) if callspec is not None else 0


def pytest_collection_modifyitems(session, config, items) -> None:
    """Interleave the rounds: every cell's round 1, then every cell's round 2, ...
    (a stable sort: within a round, the collection order)."""
    items.sort(key=item_round)


_STEADY = {"round": None, "any_training": False}


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Measure the GEMM peak before round 1 and between rounds (not inside any cell)."""
    r = item_round(item)
    if r == 0 or r == _STEADY["round"] or item.config.getoption("benchmark_disable", False):
        return
    from bench.peak import measure_cpu

    when = "start" if _STEADY["round"] is None else f"before round {r}"
    _STEADY["round"], _STEADY["any_training"] = r, True
    measured = measure_cpu(when)
    write = terminal_line_writer(item.config)
    write(
        f"  GEMM peak {when}: "
        + ", ".join(f"{m['library']} {m['gflops']:.0f} GFLOP/s" for m in measured)
    )


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def profile(pytestconfig):
    return bench_profile(pytestconfig)


@pytest.fixture(scope="session")
def rounds(pytestconfig) -> int:
    return bench_rounds(pytestconfig)


@pytest.fixture(scope="session")
def seed(pytestconfig) -> int:
    """The base seed: round r trains seed + r - 1."""
    return pytestconfig.getoption("--bench-seed")


@pytest.fixture(scope="session")
def bench_data(profile):
    """(train, test, seconds): the profile's splits (of its dataset) and the one-off time to
    load them."""
    from mnist_nets.data import load_split

    t0 = time.perf_counter()
    train = load_split("train", profile.train_limit, dataset=profile.dataset)
    test = load_split("test", profile.test_limit, dataset=profile.dataset)
    return train, test, time.perf_counter() - t0


@pytest.fixture
def backend_on(pytestconfig, framework, device):
    """The framework's backend, after skipping cells this machine or run cannot do."""
    from mnist_nets.backends import BackendUnavailable, DeviceError, get_backend

    if device != "cpu" and device not in visible_gpus():
        pytest.skip(f"no GPU visible: {device} not available (torch sees no {device} device)")
    try:
        backend = get_backend(framework)
    except BackendUnavailable as exc:
        pytest.skip(str(exc))
    except ModuleNotFoundError as exc:
        pytest.skip(f"the {framework} backend is not available yet ({exc})")
    try:
        backend.check_device(device)
    except DeviceError as exc:
        pytest.skip(str(exc))
    return backend


@pytest.fixture(scope="session")
def gemm_peak():
    """``gemm_peak(device)``: the device's float32 GEMM peak, measured once per session."""
    from bench.peak import gemm_peak as measure

    return measure


# --------------------------------------------------------------------------- hooks


def pytest_benchmark_update_machine_info(config, machine_info) -> None:
    """Store what the folder name does not say: CPU model, GPU, versions, GEMM peaks."""
    from bench.environment import machine_block

    machine_info["mnist_nets"] = machine_block()


def pytest_benchmark_update_json(config, benchmarks, output_json) -> None:
    from bench.peak import MEASUREMENTS, measure_cpu

    if _STEADY["any_training"] and not any(m["when"] == "end" for m in MEASUREMENTS):
        measure_cpu("end")
    output_json["mnist_nets"] = {
        "profile": config.getoption("--bench-profile"),
        "dataset": bench_profile(config).dataset,
        "rounds": bench_rounds(config),
        "gemm_peak_measurements": list(MEASUREMENTS),
        "report": "python bench/report.py turns these histories into README.md's tables",
    }
