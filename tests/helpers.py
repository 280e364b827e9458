"""What several test files share (imported as ``helpers``, as ``spec_strategies`` is; no
test module imports another): runners, stand-ins and fakes for the command line and the
backends, made-up benchmark histories as pytest-benchmark stores them, and a temporary set of
pages for the report."""

from __future__ import annotations

import errno
import json
import os
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import numpy_reference
import pytest

from mnist_nets.backends import get_backend
from mnist_nets.backends.base import Backend, batch_lrs
from mnist_nets.cli import main
from mnist_nets.data import Split
from mnist_nets.params import init_params
from mnist_nets.specs import ModelSpec, Recipe

# --------------------------------------------------------------------------- the CLI


def run(capsys, *args) -> tuple[int, str, str]:
    """``main(args)`` in this process: (exit code, stdout, stderr of this call alone);
    argparse's own exits (``--help``, its errors) come back as their exit codes."""
    capsys.readouterr()
    try:
        code = main([str(a) for a in args])
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def no_partial_files(directory: Path) -> bool:
    """No half-written file (a ``.part`` temporary) is left in ``directory``."""
    return not any(p.name.endswith(".part") for p in directory.iterdir())


def one_line(err: str) -> str:
    """The one line of a CLI error on stderr (no traceback, the program's name first)."""
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("mnist-nets"), lines[0]
    return lines[0]


def enospc(*_args, **_kwargs):
    """A stand-in for a write that finds the disk full."""
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


class FullStdout:
    """A stdout on a full disk: writing (or only flushing) fails."""

    def __init__(self, fail_write: bool, error: type[OSError] = OSError):
        self.fail_write, self.error, self.written = fail_write, error, []

    def write(self, text):
        if self.fail_write:
            raise self.error(errno.ENOSPC, "No space left on device")
        self.written.append(text)
        return len(text)

    def flush(self):
        raise self.error(errno.ENOSPC, "No space left on device")

    def fileno(self):
        raise OSError("no file descriptor")


# Bad command lines and the words of their one-line error (exit 2), run by test_cli.py in a
# subprocess and by test_cli_inprocess.py in this process; {tmp} is the test's tmp_path.
BAD_ARGS = [
    (["train", "--model", "lenet5"], "invalid choice: 'lenet5' (choose from 'perceptron'"),
    (["train", "--model", "cnn", "--framework", "caffe"], "'caffe' (choose from 'numpy', 'torch'"),
    (["train", "--model", "cnn", "--device", "tpu"], "invalid choice: 'tpu'"),
    (["train", "--model", "perceptron", "--device", "cuda", "--limit", "10"], "not available"),
    (["train", "--model", "cnn", "--epochs", "0"], "--epochs: must be a positive integer, got 0"),
    (["train", "--model", "cnn", "--epochs", "-2"], "--epochs: must be a positive integer"),
    (["train", "--model", "cnn", "--epochs", "two"], "--epochs: expected a positive integer"),
    (["train", "--model", "cnn", "--lr", "0"], "--lr: must be a positive finite number"),
    (["train", "--model", "cnn", "--lr", "-0.1"], "--lr: must be a positive finite number"),
    (["train", "--model", "cnn", "--lr", "inf"], "--lr: must be a positive finite number"),
    (["train", "--model", "cnn", "--batch-size", "0"], "--batch-size: must be a positive integer"),
    (["train", "--model", "cnn", "--limit", "-5"], "--limit: must be a positive integer"),
    (["train", "--model", "cnn", "--seed", "-1"], "--seed: must be in [0, 2**31)"),
    (["train", "--model", "perceptron", "--out", "{tmp}"], "is a directory"),
    (["train", "--epochs", "1"], "required: --model"),
    (["evaluate", "{tmp}/missing.npz"], "no such weights file"),
    (["evaluate", "{tmp}/garbage.npz"], "not a readable .npz weights file"),
    (["evaluate", "{tmp}/foreign.npz"], "not a mnist_nets weights file"),
    (["evaluate", "{tmp}/foreign.npz", "--framework", "caffe"], "invalid choice: 'caffe'"),
    (["predict", "{tmp}/missing.npz", "{tmp}/digit.png"], "no such weights file"),
    (["specs", "lenet5"], "unknown model 'lenet5'; choose one of: perceptron"),
    (["compare", "--model", "cnn", "--frameworks", "numpy,caffe"], "unknown framework(s) 'caffe'"),
    (["data", "fetch", "--data-dir", "{tmp}"], "checksum mismatch"),
    ([], "required: COMMAND"),
]


# --------------------------------------------------------------------------- training


class Scripted(Backend):
    """A stand-in backend for the training loop: reports the losses it is given; records the
    orders, learning rates, momentum and batch sizes it is asked for (``calls``) and the
    update rules (``updates``)."""

    name = "scripted"

    def __init__(self, losses_per_epoch, predict_seconds=0.0):
        self.losses_per_epoch = losses_per_epoch  # per call of train_epoch
        self.predict_seconds = predict_seconds
        self.calls = []
        self.updates = []

    def build(self, spec, params, device="cpu", seed=0, dtype="float32"):
        return None

    def forward(self, model, x, training=False):
        time.sleep(self.predict_seconds)
        logits = np.zeros((len(x), 10), np.float32)
        logits[:, 3] = 1.0  # always predicts 3
        return logits

    def activations(self, model, x):
        raise NotImplementedError

    def loss_and_grads(self, model, x, y):
        raise NotImplementedError

    def export_params(self, model):
        return {}

    def _train_epoch(self, model, staged, order, *, lr, update, batch_size, sync_every, on_sync):
        lrs = batch_lrs(lr, -(-len(order) // batch_size)).tolist()
        self.calls.append((order.copy(), lrs, update.momentum, batch_size))
        self.updates.append(update)
        losses = np.asarray(self.losses_per_epoch[len(self.calls) - 1], dtype=np.float64)
        for first in range(0, len(losses), sync_every):
            chunk = losses[first : first + sync_every]
            on_sync(first, chunk, np.full(len(chunk), 2.0))


def split(n):
    y = np.arange(n, dtype=np.uint8) % 10
    return Split(np.zeros((n, 28, 28, 1), np.float32), y)


# --------------------------------------------------------------------------- equivalence

RTOL_DEEP = 1e-4  # deep networks' gradients against numpy (tests/test_equivalence.py's docstring)


def assert_close(what: str, got, ref, rtol: float, scale: float | None = None) -> None:
    """``max|got - ref| <= rtol * scale``; ``scale`` defaults to ``max|ref|``."""
    got, ref = np.asarray(got, dtype=np.float64), np.asarray(ref, dtype=np.float64)
    assert got.shape == ref.shape, f"{what}: shape {got.shape} != {ref.shape}"
    if scale is None:
        scale = float(np.abs(ref).max()) if ref.size else 0.0
    err = float(np.abs(got - ref).max()) if ref.size else 0.0
    assert err <= rtol * scale + 1e-30, (
        f"{what}: max |error| {err:.3g} exceeds {rtol:g} x {scale:.3g} (the largest "
        "|reference| value compared against, see the module docstring)"
    )


def network_scale(values: dict) -> float:
    """The largest ``|value|`` over all of a network's gradients (or updates)."""
    return max(float(np.abs(value).max()) for value in values.values())


# --------------------------------------------------------------------------- the numpy backend

NUMPY = get_backend("numpy")
SMALL_RECIPE = Recipe(lr=0.1, epochs=1)
FD_EPS = 1e-6  # central differences' step in float64


def check_gradients(spec: ModelSpec, x: np.ndarray, y: np.ndarray, seed: int, per_param=8):
    """Compare ``loss_and_grads`` with central differences on up to ``per_param`` entries
    of every parameter (all of them when it has fewer)."""
    rng = np.random.default_rng(seed)
    params = init_params(spec, seed)
    for name in params:  # non-zero biases, so that bias gradients and ties are exercised
        params[name] = params[name] + rng.normal(0, 0.1, params[name].shape).astype(np.float32)
    model = NUMPY.build(spec, params, dtype=np.float64)
    loss, grads = NUMPY.loss_and_grads(model, x, y)
    assert list(grads) == list(spec.param_shapes)

    def loss_of(outputs):
        return numpy_reference.loss_of(outputs, y, spec.loss, spec.label_smoothing)

    assert loss == pytest.approx(loss_of(NUMPY.forward(model, x)), rel=1e-12)
    for name, p in model.params.items():  # views of the model's parameters: edit in place
        assert grads[name].shape == p.shape and grads[name].dtype == np.float64
        flat = p.reshape(-1)
        picks = np.arange(flat.size)
        if flat.size > per_param:
            picks = rng.choice(flat.size, per_param, replace=False)
        numeric = []
        for i in picks:
            saved = flat[i]
            flat[i] = saved + FD_EPS
            up = loss_of(NUMPY.forward(model, x))
            flat[i] = saved - FD_EPS
            down = loss_of(NUMPY.forward(model, x))
            flat[i] = saved
            numeric.append((up - down) / (2 * FD_EPS))
        analytic = grads[name].reshape(-1)[picks]
        scale = np.abs(grads[name]).max()
        np.testing.assert_allclose(
            analytic, numeric, rtol=1e-5, atol=1e-7 * (1 + scale), err_msg=f"{spec.name}: {name}"
        )


def inputs(shape, n, seed):
    rng = np.random.default_rng(seed)
    return rng.random((n, *shape)).astype(np.float32), rng.integers(0, 10, n)


def small_spec(name, shape, layers, loss="cross_entropy"):
    return ModelSpec(name, tuple(layers), SMALL_RECIPE, loss=loss, input_shape=shape)


def blas_keeps_equal_rows_equal(a_like: np.ndarray, n_cols: int, seed: int = 0) -> bool:
    """Whether numpy's BLAS gives bitwise equal output rows for equal input rows, in a
    product shaped and laid out like ``a_like @ (K, n_cols)``: every row of ``a`` the same
    random vector.  A conv layer's outputs at equal patches can be equal only if this
    holds.  OpenBLAS's AVX-512 kernels (SkylakeX) hold it at every product shape of these
    networks; its AVX2 kernels (Haswell, also chosen for Zen) do not: some rows' sums are
    grouped otherwise, 1 ulp apart (measured with ``OPENBLAS_CORETYPE=Haswell``)."""
    rng = np.random.default_rng(seed)
    a = np.empty_like(a_like)  # the same memory order (a transposed view stays one)
    a[...] = rng.normal(size=a.shape[1])
    b = rng.normal(size=(a.shape[1], n_cols)).astype(a.dtype)
    out = np.matmul(a, b)
    return bool(np.array_equal(out, np.broadcast_to(out[:1], out.shape)))


def poisoned(real_get):
    """``Buffers.get`` whose new arrays hold NaN (True for masks) where numpy's np.empty
    would hold whatever memory it got: a layer that reads a part of a buffer it never
    wrote then gives NaN instead of the zeros that fresh memory often happens to hold."""

    def get(self, name, shape, dtype=None, init=None):
        def poison(a):
            a.fill(True if a.dtype == np.bool_ else np.nan)
            if init is not None:
                init(a)

        return real_get(self, name, shape, dtype, poison)

    return get


def check_buffers_written_before_read(spec, x, y, monkeypatch, plain=False, check_model=None):
    """*Speed: reused buffers*: two training steps of the numpy backend (float64), on ``x``
    and on ``x`` reversed (the second reuses the first's buffers), give the same gradients
    with :func:`poisoned` fresh buffers as with plain ones, and finite ones.  ``plain``:
    through the model's plain layers; ``check_model(model)`` looks at each model first."""
    from mnist_nets.backends import get_backend
    from mnist_nets.backends import numpy_layers as nl
    from mnist_nets.params import init_params

    backend = get_backend("numpy")
    grads = []
    for get in (nl.Buffers.get, poisoned(nl.Buffers.get)):
        monkeypatch.setattr(nl.Buffers, "get", get)
        model = backend.build(spec, init_params(spec, 0), dtype=np.float64)
        if check_model is not None:
            check_model(model)
        trained = model.plain_layers if plain else None
        steps = []
        for rows in (x, x[::-1]):
            logits = model.forward(rows, True, trained)
            _, g = nl.LOSSES[spec.loss](logits, y)
            model.backward(g, trained)
            steps.append(model.flat_grad.copy())
        grads.append(steps)
    assert np.all(np.isfinite(grads[1]))
    np.testing.assert_array_equal(grads[1], grads[0])


# --------------------------------------------------------------------------- histories and pages

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
            {"epoch": 1, "loss": 0.4, "train_accuracy": 0.88, "test_accuracy": 0.91,
             "seconds": 6.0, "eval_seconds": 0.1, "lr": 0.1},
            {"epoch": 2, "loss": 0.28, "train_accuracy": 0.92, "test_accuracy": 0.9234,
             "seconds": 6.34, "eval_seconds": 0.1, "lr": 0.05},
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
    }  # fmt: skip
    info.update(overrides)
    return {
        "group": None,
        "name": f"test_train[{model}-{framework}-{device}]",
        "fullname": f"bench/test_training.py::test_train[{model}-{framework}-{device}]",
        "params": {"model": model, "framework": framework, "device": device},
        "extra_info": info,
        "options": {},
        "stats": {"min": 13.0, "max": 13.0, "mean": 13.0, "median": 13.0, "rounds": 1},
    }


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


def inference_cell(model, engine, mode, p50, p99, rate=None, device="cpu",
                   profile="standard", **overrides):  # fmt: skip
    """One inference benchmark (bench/test_inference.py) as pytest-benchmark stores it."""
    batch = 1 if mode == "latency" else 1000
    info = {
        "schema": 1,
        "kind": "inference",
        "profile": profile,
        "model": model,
        "engine": engine,
        "device": device,
        "device_name": "Test CPU" if device == "cpu" else f"CUDA GPU ({engine})",
        "mode": mode,
        "batch": batch,
        "calls": 1000 if mode == "latency" else 20,
        "warmup_calls": 50 if mode == "latency" else 1,
        "p50_ms": p50,
        "p99_ms": p99,
        "mean_ms": (p50 + p99) / 2,
        "min_ms": p50 / 2,
        "images_per_second": rate if rate is not None else batch / (p50 / 1e3),
        "load_seconds": 0.2,
        "first_call_seconds": 0.05,
        "engine_settings": {"mode": f"{engine} inference", "threads": 2},
        "versions": {engine: "1.0"},
        "cpu_window": {"other_cores": 0.0},
        "co_runner": False,
    }
    info.update(overrides)
    return {
        "group": f"inference-{profile}-{model}-{mode}",
        "name": f"test_inference[{model}-{engine}-{device}-{mode}]",
        "extra_info": info,
        "stats": {"median": p50 / 1e3},
    }


def write_run(
    results: Path,
    number: int,
    benchmarks,
    when="2026-01-01T10:00:00",
    gpu=None,
    cpu="Test CPU",
    cores=2,
    memory_bytes=None,
    folder=FOLDER,
):
    """A stored history ``NNNN_abc_20260101_100000.json`` of a machine."""
    path = results / folder / f"{number:04d}_abc_20260101_100000.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    ours = {
        "cpu": cpu,
        "cores": cores,
        "gpu": gpu,
        "versions": {"python": "3.11.7", "numpy": "2.4.6", "torch": "2.13.0"},
        "gemm_peaks": {"cpu": {"gflops": 50.0, "method": "numpy matmul"}},
    }
    if memory_bytes is not None:
        ours["memory_bytes"] = memory_bytes
    data = {
        "machine_info": {"node": "testhost", "cpu": {"brand_raw": cpu}, "mnist_nets": ours},
        "commit_info": {},
        "benchmarks": benchmarks,
        "datetime": f"{when}+00:00",
        "version": "5.3.1",
    }
    path.write_text(json.dumps(data))
    return path


def edit_json(path: Path, edit) -> None:
    """Rewrite a stored history through ``edit(data)``."""
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


# --------------------------------------------------------------------------- pages

BEGIN = "<!-- mnist_nets:begin {} -->"
END = "<!-- mnist_nets:end {} -->"


def page_template(title: str, names) -> str:
    body = "\n".join(f"## {n}\n\nProse.\n\n{BEGIN.format(n)}\n{END.format(n)}\n" for n in names)
    return f"# {title}\n\nIntro kept as it is.\n\n" + body


def workspace(tmp_path: Path) -> SimpleNamespace:
    """A temporary README and docs/ (every generated page, from templates), results folder
    and assets folder, with the report's arguments for them."""
    from bench.reporting.pages import PAGES

    readme, docs = tmp_path / "README.md", tmp_path / "docs"
    docs.mkdir()
    for name, blocks in PAGES.items():
        page = readme if name == "README.md" else docs / name
        page.write_text(page_template(name, blocks()))
    results, assets = tmp_path / "results", tmp_path / "assets"
    results.mkdir()
    args = ["--readme", str(readme), "--docs", str(docs), "--results", str(results),
            "--assets", str(assets)]  # fmt: skip
    return SimpleNamespace(readme=readme, docs=docs, results=results, assets=assets, args=args)


def page(ws, name: str) -> str:
    return (ws.readme if name == "README.md" else ws.docs / name).read_text()


def block(text: str, name: str) -> str:
    return text.split(BEGIN.format(name) + "\n", 1)[1].split("\n" + END.format(name), 1)[0]


def table_cells(markdown: str) -> list[list[str]]:
    rows = [line for line in markdown.splitlines() if line.startswith("|")]
    return [[c.strip() for c in row.strip("|").split("|")] for row in rows if "---" not in row]
