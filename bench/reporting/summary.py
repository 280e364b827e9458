"""Reading a stored history once into frozen dataclasses: the only reader of ``extra_info``.

A history is one pytest-benchmark JSON file (``pytest bench --benchmark-autosave``). Each
of our benchmarks carries its figures in ``extra_info`` (``kind`` "training", "micro" or
"inference": bench/cell.py, bench/test_micro.py, bench/test_inference.py).
:func:`read_history` checks every figure the report uses and raises :class:`HistoryError`
naming the file, the benchmark and the field: truncated JSON, a missing field, a field of
the wrong type, a figure that is NaN, infinite or negative. A file none of whose
benchmarks carries our ``kind`` (another suite's run in the same folder) comes back as
:class:`ForeignRun`, to be skipped with a note; benchmarks of kinds the report does not
show (other than those three) are left out. An inference cell reads into an
:class:`InferenceSummary` (one model x engine x device x mode; its p99 cannot be below
its p50, a latency cell's batch is 1).

Rounds: a run stores each round of a training cell as its own benchmark entry (``round``
and ``seed``); :func:`_fold` turns them into one :class:`CellSummary`: the median training
time with every round's, the mean accuracy with sd and min, the median time to target,
samples/s, GFLOP/s and % of peak from the median time (against the run's highest GEMM
measurement), the confusion matrices summed.  A history from before rounds (one entry per
cell) reads as one entry whose own ``train_seconds_rounds`` hold its rounds.

Machine identity: the run's ``machine_info["mnist_nets"]`` block (CPU model, cores,
memory, GPU; bench/environment.py).  Histories written before that block held memory fall
back on pytest-benchmark's own ``machine_info`` (py-cpuinfo's ``brand_raw`` and
``count``); what neither recorded stays ``None``.
"""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

OURS = ("training", "micro", "inference")
INFERENCE_MODES = ("latency", "throughput")  # batch 1; a large batch


class HistoryError(ValueError):
    """A stored history that cannot be used; the message names the file (and field)."""


# --------------------------------------------------------------------------- dataclasses


@dataclass(frozen=True)
class Machine:
    """What a run ran on.  ``key`` groups runs into machines: the CPU model, the cores
    and the GPU (memory is shown, not compared: it was not recorded by older runs)."""

    cpu: str
    cores: int | None
    memory_bytes: int | None = None
    gpu: str | None = None
    gpu_count: int | None = None

    @property
    def key(self) -> str:
        text = self.cpu + (f", {self.cores} cores" if self.cores else "")
        if self.gpu:
            many = (self.gpu_count or 1) > 1
            text += f", {f'{self.gpu_count} × ' if many else ''}{self.gpu}"
        return text


@dataclass(frozen=True)
class GemmMeasurement:
    when: str  # "start", "before round 2", "end"
    library: str
    gflops: float


@dataclass(frozen=True)
class RunInfo:
    """One stored run, without its cells (each cell points back to it)."""

    path: Path
    run_id: str  # the file name without .json: "0003_<commit>_<date>_..."
    folder: str  # pytest-benchmark's machine folder
    datetime: str  # ISO 8601, UTC
    machine: Machine
    node: str | None = None
    versions: tuple[tuple[str, str], ...] = ()
    allocator: str | None = None
    blas: str | None = None  # numpy's BLAS: library, version, kernels, threads
    gemm_peaks: tuple[tuple[str, float, str], ...] = ()  # (device, GFLOP/s, method)
    gemm_measurements: tuple[GemmMeasurement, ...] = ()

    @property
    def number(self) -> str:
        return self.run_id.split("_", 1)[0]

    @property
    def peak_gflops(self) -> float | None:
        """The run's highest CPU GEMM measurement, else its stored CPU peak."""
        values = [m.gflops for m in self.gemm_measurements]
        if not values:
            values = [g for device, g, _ in self.gemm_peaks if device == "cpu"]
        return max(values) if values else None

    def sort_key(self) -> tuple[str, str, str]:
        return (self.datetime, self.number, self.run_id)


@dataclass(frozen=True)
class Recipe:
    epochs: int
    lr: float
    momentum: float = 0.0
    lr_decay: float = 1.0
    optimizer: str = "sgd"
    schedule: str | None = None
    batch_size: int | None = None
    evals_per_epoch: int = 1


@dataclass(frozen=True)
class Epoch:
    epoch: float
    loss: float
    test_accuracy: float | None


@dataclass(frozen=True)
class CellSummary:
    """One training cell of one run, its rounds folded."""

    run: RunInfo = field(compare=False, repr=False)
    profile: str
    model: str
    framework: str
    device: str
    recipe: Recipe
    rounds: int  # rounds folded, one seed each (1 for a history from before rounds)
    diverged: str | None = None
    dataset: str = "mnist"
    profile_description: str | None = None
    epoch_definition: str | None = None
    param_count: int | None = None
    flops_training_per_sample: float | None = None
    target_accuracy: float | None = None
    seeds: tuple[int | None, ...] = ()
    train_seconds: float | None = None  # median over the rounds
    train_seconds_rounds: tuple[float, ...] = ()
    test_accuracy: float | None = None  # mean over the rounds
    test_accuracy_rounds: tuple[float, ...] = ()
    test_accuracy_sd: float | None = None
    final_loss: float | None = None
    samples_per_second: float | None = None
    achieved_gflops: float | None = None
    fraction_of_peak: float | None = None
    peak_gflops: float | None = None
    co_runner_rounds: tuple[int, ...] = ()
    windows_recorded: bool = False  # whether the rounds recorded other processes' CPU use
    per_epoch_rounds: tuple[tuple[Epoch, ...], ...] = ()
    training_memory_bytes: int | None = None
    training_memory_probe: str = "absent"  # "measured", "failed" or "absent"
    device_peak_bytes: int | None = None
    build_seconds: float | None = None
    warmup_seconds: float | None = None
    stage_seconds: float | None = None
    data_load_seconds: float | None = None
    time_to_target_seconds: float | None = None
    target_reached_rounds: int = 0
    target_epochs: tuple[float, ...] = ()
    confusion: tuple[tuple[int, ...], ...] | None = None
    confusion_rounds: int = 0

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.profile, self.model, self.framework, self.device)

    @property
    def failed(self) -> bool:
        """Diverged in a round, or no accuracy to show."""
        return bool(self.diverged) or self.test_accuracy is None

    @property
    def per_epoch(self) -> tuple[Epoch, ...]:
        return self.per_epoch_rounds[0] if self.per_epoch_rounds else ()


@dataclass(frozen=True)
class MicroSummary:
    run: RunInfo = field(compare=False, repr=False)
    profile: str
    case: str
    pass_: str
    framework: str
    device: str
    batch_size: int | None
    samples_per_second: float | None

    @property
    def key(self) -> tuple[str, str, str, str, str]:
        return (self.profile, self.case, self.pass_, self.framework, self.device)


@dataclass(frozen=True)
class InferenceSummary:
    """One inference cell: a model x engine x device, at batch 1 (``mode`` "latency") or at
    a large batch ("throughput"); times of one call in milliseconds."""

    run: RunInfo = field(compare=False, repr=False)
    profile: str
    model: str
    engine: str
    device: str
    mode: str
    batch: int
    calls: int
    p50_ms: float
    p99_ms: float
    images_per_second: float | None
    mean_ms: float | None = None
    min_ms: float | None = None
    warmup_calls: int | None = None
    load_seconds: float | None = None
    first_call_seconds: float | None = None
    device_name: str | None = None
    engine_settings: tuple[tuple[str, str], ...] = ()  # (setting, value as text)
    versions: tuple[tuple[str, str], ...] = ()
    co_runner: bool = False

    @property
    def key(self) -> tuple[str, str, str, str, str]:
        return (self.profile, self.model, self.engine, self.device, self.mode)


@dataclass(frozen=True)
class RunSummary:
    info: RunInfo
    training: tuple[CellSummary, ...]
    micro: tuple[MicroSummary, ...]
    data_load: tuple[str, float] | None = None  # (dataset, seconds): the run's first load
    inference: tuple[InferenceSummary, ...] = ()

    @property
    def run_id(self) -> str:
        return self.info.run_id

    @property
    def machine(self) -> Machine:
        return self.info.machine

    def profiles(self) -> set[str]:
        return (
            {c.profile for c in self.training}
            | {m.profile for m in self.micro}
            | {i.profile for i in self.inference}
        )


@dataclass(frozen=True)
class ForeignRun:
    """A pytest-benchmark history with none of our benchmarks: skipped with a note."""

    path: Path
    benchmarks: int


# --------------------------------------------------------------------------- checking


class _Fields:
    """Typed reads of one JSON object, each error naming the file, the benchmark and the field."""

    def __init__(self, data: dict[str, Any], where: str):
        self.data, self.where = data, where

    def fail(self, name: str, what: str) -> HistoryError:
        return HistoryError(f"{self.where}: field {name!r} {what}")

    def has(self, name: str) -> bool:
        return self.data.get(name) is not None

    def text(self, name: str, required: bool = True) -> str | None:
        value = self.data.get(name)
        if value is None and not required:
            return None
        if not isinstance(value, str):
            raise self.fail(name, _wanted(value, "a string"))
        return value

    def number(
        self, name: str, required: bool = False, *, at_most: float | None = None
    ) -> float | None:
        return _number(self.data.get(name), self, name, required, at_most)

    def integer(self, name: str, required: bool = False) -> int | None:
        value = self.data.get(name)
        if value is None and not required:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(name, _wanted(value, "an integer"))
        if value < 0:
            raise self.fail(name, f"is negative ({value})")
        return value

    def numbers(self, name: str, *, at_most: float | None = None) -> tuple[float, ...]:
        value = self.data.get(name)
        if value is None:
            return ()
        if not isinstance(value, list):
            raise self.fail(name, _wanted(value, "a list of numbers"))
        return tuple(_number(v, self, f"{name}[{i}]", True, at_most) for i, v in enumerate(value))

    def obj(self, name: str) -> dict[str, Any]:
        value = self.data.get(name)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(name, _wanted(value, "an object"))
        return value


def _wanted(value: Any, what: str) -> str:
    if value is None:
        return "is missing"
    return f"should be {what}, found {type(value).__name__} {json.dumps(value)[:40]}"


def _number(value: Any, fields: _Fields, name: str, required: bool, at_most: float | None):
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise fields.fail(name, _wanted(value, "a number"))
    if not math.isfinite(value):
        raise fields.fail(name, f"is {value} (not a finite number)")
    if value < 0:
        raise fields.fail(name, f"is negative ({value})")
    if at_most is not None and value > at_most:
        raise fields.fail(name, f"is {value}, above {at_most}")
    return float(value)


# --------------------------------------------------------------------------- reading


def read_json(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise HistoryError(f"{path}: cannot read benchmark history: {exc}") from None
    if not text.strip():
        raise HistoryError(
            f"{path}: empty benchmark history (an interrupted or --benchmark-disable run?); "
            "delete it or re-run `make bench`"
        )
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise HistoryError(
            f"{path}: not valid JSON ({exc}; truncated?); delete or repair the file"
        ) from None
    if not isinstance(data, dict):
        raise HistoryError(
            f"{path}: a benchmark history is a JSON object, found {type(data).__name__}"
        )
    for key, kind in (("benchmarks", list), ("datetime", str), ("machine_info", dict)):
        if not isinstance(data.get(key), kind):
            raise HistoryError(
                f"{path}: not a pytest-benchmark history: field {key!r} missing or not a "
                f"{kind.__name__}"
            )
    return data


def read_history(path: Path, root: Path | None = None) -> RunSummary | ForeignRun:
    """Read and check one history file; every problem raises :class:`HistoryError`."""
    data = read_json(path)
    benchmarks = data["benchmarks"]
    ours, kinds = [], 0
    for i, bench in enumerate(benchmarks):
        extra = bench.get("extra_info") if isinstance(bench, dict) else None
        if isinstance(extra, dict) and isinstance(extra.get("kind"), str):
            kinds += 1  # one of this suite's (a kind this report does not show is left out)
            if extra["kind"] in OURS:
                name = bench.get("name") if isinstance(bench.get("name"), str) else f"#{i}"
                ours.append((name, extra))
    if not kinds:
        return ForeignRun(path, len(benchmarks))
    info = _run_info(path, root, data)
    rounds: dict[tuple, list[tuple[str, _Fields]]] = {}
    micro, inference = [], []
    for name, extra in ours:
        fields = _Fields(extra, f"{path}: benchmark {name!r}")
        if extra["kind"] == "micro":
            micro.append(_micro(fields, info))
            continue
        if extra["kind"] == "inference":
            inference.append(_inference(fields, info))
            continue
        key = tuple(fields.text(k) for k in ("profile", "model", "framework", "device"))
        rounds.setdefault(key, []).append((name, fields))
    training = tuple(_fold(group, info) for group in rounds.values())
    loads = [
        (c.dataset, c.data_load_seconds) for c in training if c.data_load_seconds is not None
    ]
    return RunSummary(
        info, training, tuple(micro), loads[0] if loads else None, tuple(inference)
    )


def _run_info(path: Path, root: Path | None, data: dict[str, Any]) -> RunInfo:
    where = f"{path}: machine_info"
    machine_info = _Fields(data["machine_info"], where)
    block = _Fields(machine_info.obj("mnist_nets"), f"{where}.mnist_nets")
    cpu_block = machine_info.obj("cpu")
    cpu = (
        block.text("cpu", required=False)
        or (cpu_block.get("brand_raw") if isinstance(cpu_block.get("brand_raw"), str) else None)
        or (data["machine_info"].get("processor") or None)
        or "unknown CPU"
    )
    cores = block.integer("cores")
    if cores is None and isinstance(cpu_block.get("count"), int):
        cores = cpu_block["count"]
    gpu = block.text("gpu", required=False)
    machine = Machine(
        cpu=cpu,
        cores=cores,
        memory_bytes=block.integer("memory_bytes"),
        gpu=gpu,
        gpu_count=block.integer("gpu_count") if gpu else None,
    )
    versions = block.obj("versions")
    peaks = []
    for device, peak in sorted(block.obj("gemm_peaks").items()):
        if isinstance(peak, dict):
            p = _Fields(peak, f"{where}.mnist_nets.gemm_peaks.{device}")
            gflops = p.number("gflops")
            if gflops:
                peaks.append((device, gflops, p.text("method", required=False) or ""))
    top = _Fields(data.get("mnist_nets") if isinstance(data.get("mnist_nets"), dict) else {},
                  f"{path}: mnist_nets")
    measured = top.data.get("gemm_peak_measurements") or []
    if not isinstance(measured, list):
        raise top.fail("gemm_peak_measurements", _wanted(measured, "a list"))
    measurements = []
    for i, m in enumerate(measured):
        if not isinstance(m, dict):
            raise top.fail(f"gemm_peak_measurements[{i}]", _wanted(m, "an object"))
        f = _Fields(m, f"{path}: mnist_nets.gemm_peak_measurements[{i}]")
        measurements.append(
            GemmMeasurement(f.text("when"), f.text("library"), f.number("gflops", True))
        )
    node = data["machine_info"].get("node")
    return RunInfo(
        path=path,
        run_id=path.stem,
        folder=path.parent.name if root is None or path.parent != root else "",
        datetime=data["datetime"],
        machine=machine,
        node=node if isinstance(node, str) else None,
        versions=tuple((k, str(v)) for k, v in versions.items() if isinstance(v, (str, int))),
        allocator=block.text("allocator", required=False),
        blas=block.text("blas", required=False),
        gemm_peaks=tuple(peaks),
        gemm_measurements=tuple(measurements),
    )


def _micro(fields: _Fields, run: RunInfo) -> MicroSummary:
    return MicroSummary(
        run=run,
        profile=fields.text("profile"),
        case=fields.text("case"),
        pass_=fields.text("pass"),
        framework=fields.text("framework"),
        device=fields.text("device"),
        batch_size=fields.integer("batch_size"),
        samples_per_second=fields.number("samples_per_second"),
    )


def _settings(f: _Fields, name: str) -> tuple[tuple[str, str], ...]:
    """An object of settings or versions as (key, text) pairs: each value a string, a
    number, a boolean or a list of strings (joined by ", ")."""
    out = []
    for key, value in f.obj(name).items():
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            text = ", ".join(value)
        elif isinstance(value, (str, int, float, bool)):
            text = str(value)
        else:
            raise f.fail(f"{name}.{key}", _wanted(value, "a string, a number or a list of strings"))
        out.append((str(key), text))
    return tuple(out)


def _inference(f: _Fields, run: RunInfo) -> InferenceSummary:
    mode = f.text("mode")
    if mode not in INFERENCE_MODES:
        raise f.fail("mode", f"is {mode!r}, not one of {', '.join(INFERENCE_MODES)}")
    batch = f.integer("batch", required=True)
    if batch < 1 or (mode == "latency" and batch != 1):
        raise f.fail("batch", f"is {batch}, not a batch of a {mode} cell")
    calls = f.integer("calls", required=True)
    if calls < 1:
        raise f.fail("calls", "is 0: no call was timed")
    p50 = f.number("p50_ms", required=True)
    p99 = f.number("p99_ms", required=True)
    if p99 < p50:
        raise f.fail("p99_ms", f"is {p99}, below p50_ms {p50}")
    co_runner = f.data.get("co_runner")
    if co_runner is not None and not isinstance(co_runner, bool):
        raise f.fail("co_runner", _wanted(co_runner, "a boolean"))
    return InferenceSummary(
        run=run,
        profile=f.text("profile"),
        model=f.text("model"),
        engine=f.text("engine"),
        device=f.text("device"),
        mode=mode,
        batch=batch,
        calls=calls,
        p50_ms=p50,
        p99_ms=p99,
        # batch / median: absent only where the median call took no measurable time
        images_per_second=f.number("images_per_second", required=mode == "throughput"),
        mean_ms=f.number("mean_ms"),
        min_ms=f.number("min_ms"),
        warmup_calls=f.integer("warmup_calls"),
        load_seconds=f.number("load_seconds"),
        first_call_seconds=f.number("first_call_seconds"),
        device_name=f.text("device_name", required=False),
        engine_settings=_settings(f, "engine_settings"),
        versions=_settings(f, "versions"),
        co_runner=bool(co_runner),
    )


def _recipe(f: _Fields) -> Recipe:
    return Recipe(
        epochs=f.integer("epochs", required=True),
        lr=f.number("lr", required=True),
        momentum=f.number("momentum") or 0.0,
        lr_decay=f.number("lr_decay") if f.has("lr_decay") else 1.0,
        optimizer=f.text("optimizer", required=False) or "sgd",
        schedule=f.text("schedule", required=False),
        batch_size=f.integer("batch_size"),
        evals_per_epoch=f.integer("evals_per_epoch") or 1,
    )


def _epochs(f: _Fields) -> tuple[Epoch, ...]:
    value = f.data.get("per_epoch")
    if value is None:
        return ()
    if not isinstance(value, list):
        raise f.fail("per_epoch", _wanted(value, "a list"))
    out = []
    for i, e in enumerate(value):
        if not isinstance(e, dict):
            raise f.fail(f"per_epoch[{i}]", _wanted(e, "an object"))
        ef = _Fields(e, f"{f.where}: per_epoch[{i}]")
        out.append(
            Epoch(
                ef.number("epoch", True),
                ef.number("loss", True),
                ef.number("test_accuracy", at_most=1.0),
            )
        )
    return tuple(out)


def _confusion(f: _Fields) -> tuple[tuple[int, ...], ...] | None:
    value = f.data.get("confusion")
    if value is None:
        return None
    if not isinstance(value, list) or not all(
        isinstance(row, list)
        and len(row) == len(value)
        and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in row)
        for row in value
    ):
        raise f.fail("confusion", "should be a square matrix of counts (integers >= 0)")
    return tuple(tuple(row) for row in value)


def _fold(group: list[tuple[str, _Fields]], run: RunInfo) -> CellSummary:
    """One cell from its rounds (in round order)."""
    group = sorted(group, key=lambda g: g[1].integer("round") or 0)
    first = group[0][1]
    old = len(group) == 1 and not first.has("round")  # a history from before rounds
    done, failed = [], None
    for _, f in group:
        diverged = f.text("diverged", required=False)
        if diverged:
            failed = failed or diverged
            continue
        # a finished round must have these; None counts as missing
        f.number("test_accuracy", True, at_most=1.0)
        f.number("train_seconds", True)
        f.number("final_loss", True)
        done.append(f)
    probe = first.obj("training_memory")
    probe_state, probe_bytes = "absent", None
    if "training_memory" in first.data and first.data["training_memory"] is not None:
        pf = _Fields(probe, f"{first.where}: training_memory")
        probe_bytes = pf.integer("training_memory_bytes")
        probe_state = "measured" if probe_bytes is not None else "failed"
    recipe = _recipe(first)
    common: dict[str, Any] = dict(
        run=run,
        profile=first.text("profile"),
        model=first.text("model"),
        framework=first.text("framework"),
        device=first.text("device"),
        recipe=recipe,
        rounds=len(group),
        dataset=first.text("dataset", required=False) or "mnist",
        profile_description=first.text("profile_description", required=False),
        epoch_definition=first.text("epoch_definition", required=False),
        param_count=first.integer("param_count"),
        flops_training_per_sample=first.number("flops_training_per_sample"),
        target_accuracy=first.number("target_accuracy", at_most=1.0),
        seeds=tuple(f.integer("seed") for _, f in group),
        co_runner_rounds=tuple(
            f.integer("round") or 1 for _, f in group if f.data.get("co_runner")
        ),
        windows_recorded=any(f.has("cpu_window") for _, f in group),
        per_epoch_rounds=tuple(_epochs(f) for _, f in group),
        training_memory_bytes=probe_bytes,
        training_memory_probe=probe_state,
        device_peak_bytes=_most(f.integer("device_peak_bytes") for _, f in group),
        build_seconds=first.number("build_seconds"),
        warmup_seconds=first.number("warmup_seconds"),
        stage_seconds=first.number("stage_and_overhead_seconds"),
        data_load_seconds=first.number("data_load_seconds"),
    )
    if failed or not done:
        return CellSummary(**common, diverged=failed or "no round finished")
    if old:
        times = first.numbers("train_seconds_rounds") or (first.number("train_seconds"),)
        accuracies = first.numbers("test_accuracy_rounds", at_most=1.0) or (
            first.number("test_accuracy"),
        )
        median = first.number("train_seconds")
        mean = first.number("test_accuracy")
        reached = [first.number("time_to_target_seconds")] if first.data.get(
            "target_reached"
        ) else []
        epochs = [first.number("target_epoch")] if reached and _is_number(
            first.data.get("target_epoch")
        ) else []
        reached_count = 1 if reached else 0  # its rounds repeated one seed
    else:
        times = tuple(f.number("train_seconds") for f in done)
        accuracies = tuple(f.number("test_accuracy") for f in done)
        median = statistics.median(times)
        mean = statistics.fmean(accuracies)
        reached = [f.number("time_to_target_seconds") for f in done if f.data.get("target_reached")]
        epochs = [
            f.number("target_epoch")
            for f in done
            if f.data.get("target_reached") and _is_number(f.data.get("target_epoch"))
        ]
        reached_count = len(reached)
    samples = first.number("samples_trained")
    rate = samples / median if samples and median else first.number("samples_per_second")
    flops = first.number("flops_training_per_sample")
    achieved = (
        flops * samples / median / 1e9 if flops and samples and median
        else first.number("achieved_gflops")
    )
    peak = run.peak_gflops if not old else (first.number("peak_gflops") or run.peak_gflops)
    fraction = None
    if old and first.has("fraction_of_peak"):  # as that run computed it
        fraction = first.number("fraction_of_peak")
    elif achieved and peak and common["device"] == "cpu":
        fraction = achieved / peak
    matrices = [m for m in (_confusion(f) for f in done) if m is not None]
    confusion = None
    if matrices:  # summed over the seeds: each row holds rounds x the class's test images
        n = len(matrices[0])
        if any(len(m) != n for m in matrices):
            raise first.fail("confusion", "has a different size in another round")
        confusion = tuple(
            tuple(sum(m[t][p] for m in matrices) for p in range(n)) for t in range(n)
        )
    return CellSummary(
        **common,
        train_seconds=median,
        train_seconds_rounds=tuple(times),
        test_accuracy=mean,
        test_accuracy_rounds=tuple(accuracies),
        # a history from before rounds repeated one seed: no spread over seeds to show
        test_accuracy_sd=statistics.stdev(accuracies) if len(accuracies) > 1 and not old else None,
        final_loss=statistics.fmean(f.number("final_loss") for f in done),
        samples_per_second=rate,
        achieved_gflops=achieved,
        fraction_of_peak=fraction,
        peak_gflops=peak if common["device"] == "cpu" else None,
        time_to_target_seconds=statistics.median(r for r in reached if r is not None)
        if [r for r in reached if r is not None]
        else None,
        target_reached_rounds=reached_count,
        target_epochs=tuple(sorted(e for e in epochs if e is not None)),
        confusion=confusion,
        confusion_rounds=len(matrices),
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _most(values) -> int | None:
    present = [v for v in values if v is not None]
    return max(present) if present else None
