"""The command line in this process: ``mnist_nets.cli.main(argv)`` with stdout and stderr
captured.

``test_cli.py`` runs the command line as users do, in a subprocess; this file calls the
same entry point in-process, so that every line the commands run is seen by the tests
that check it (mutation testing traces calls only in its own process, see
tests/MUTATION.md), and it checks what the subprocess tests leave loose: each exit code
with its exact one-line message, the argument types at their boundaries, ``--out``'s
checks, and the exact shape of every command's output.
"""

from __future__ import annotations

import argparse
import dataclasses
import errno
import json
import os
import re
import sys
from pathlib import Path

import helpers
import numpy as np
import pytest
from helpers import BAD_ARGS, FullStdout, enospc, one_line
from PIL import Image

import mnist_nets.cli as cli
from mnist_nets.backends import FRAMEWORKS as FRAMEWORKS_REGISTERED
from mnist_nets.backends import get_backend, list_backends
from mnist_nets.cli import common, inference
from mnist_nets.cli.common import (
    Interrupted,
    SystemFault,
    TrainingFailed,
    UsageError,
    check_out,
    frameworks_arg,
    positive_float,
    positive_int,
    seed_arg,
)
from mnist_nets.data import cache_dir, load_mnist
from mnist_nets.engines import get_engine, list_engines
from mnist_nets.fileio import temp_name_prefix
from mnist_nets.images import load_digit
from mnist_nets.params import ParamsError, init_params, load_params, save_params
from mnist_nets.specs import get_spec, list_specs

LIMIT = 600


def run(argv: list, capsys) -> tuple[int, str, str]:
    """``main(argv)`` in this process: (exit code, stdout, stderr)."""
    return helpers.run(capsys, *argv)


# --------------------------------------------------------------------------- exit codes


@pytest.mark.parametrize("args, message", BAD_ARGS, ids=[" ".join(a) for a, _ in BAD_ARGS])
def test_bad_input_is_one_line_and_exit_2(args, message, tmp_path, capsys):
    (tmp_path / "garbage.npz").write_bytes(b"PK\x03\x04 not really a zip")
    np.savez(tmp_path / "foreign.npz", weights=np.zeros(3))
    (tmp_path / "train-images-idx3-ubyte").write_bytes(b"\0\0\x08\x03 corrupt")
    code, out, err = run([a.replace("{tmp}", str(tmp_path)) for a in args], capsys)
    line = one_line(err)
    assert (code, out) == (2, "")
    assert line.startswith("mnist-nets") and message in line


class _ExitThree(ValueError):
    exit_code = 3


HINT = "free space or fix the permissions there, then run the command again"
CASES = [
    (TrainingFailed("diverged at epoch 2"), 1, "mnist-nets: error: diverged at epoch 2"),
    (UsageError("no such model"), 2, "mnist-nets: error: no such model"),
    (ValueError("bad value"), 2, "mnist-nets: error: bad value"),
    (ParamsError("w.npz: unreadable", exit_code=3), 3, "mnist-nets: error: w.npz: unreadable"),
    (_ExitThree("refused"), 3, "mnist-nets: error: refused"),
    (SystemFault("disk full; free space"), 3, "mnist-nets: error: disk full; free space"),
    (
        OSError(errno.ENOSPC, "No space left on device", "/x/w.npz"),
        3,
        f"mnist-nets: error: /x/w.npz: No space left on device (errno 28); {HINT}",
    ),
    (
        OSError(errno.EACCES, "Permission denied"),
        3,
        f"mnist-nets: error: Permission denied (errno 13); {HINT}",
    ),
    (MemoryError(), 3, "mnist-nets: error: out of memory; try a smaller --batch-size or --limit"),
    (Interrupted("interrupted; w.npz holds 2"), 130, "mnist-nets: interrupted; w.npz holds 2"),
    (KeyboardInterrupt(), 130, "mnist-nets: interrupted"),
    (
        RuntimeError("it broke\n   here"),
        4,
        "mnist-nets: internal error: RuntimeError: it broke here; rerun with "
        "MNIST_NETS_DEBUG=1 for the traceback and report it",
    ),
    (
        RuntimeError("y" * 300),  # 300 characters: whole
        4,
        "mnist-nets: internal error: RuntimeError: " + "y" * 300 + "; rerun with "
        "MNIST_NETS_DEBUG=1 for the traceback and report it",
    ),
    (
        KeyError("x" * 400),
        4,
        "mnist-nets: internal error: KeyError: '" + "x" * 296 + "...; rerun with "
        "MNIST_NETS_DEBUG=1 for the traceback and report it",
    ),
]


def _raising(exc: BaseException, monkeypatch):
    def command(args):
        raise exc

    monkeypatch.setattr(cli, "build_parser", lambda: _FakeParser(command))


class _FakeParser:
    def __init__(self, command):
        self.command = command

    def parse_args(self, argv):
        return argparse.Namespace(func=self.command)


@pytest.mark.parametrize(
    "exc, code, message", CASES, ids=[f"{type(c[0]).__name__}-{c[1]}" for c in CASES]
)
def test_each_failure_has_its_exit_code_and_one_line(exc, code, message, monkeypatch, capsys):
    monkeypatch.delenv("MNIST_NETS_DEBUG", raising=False)
    _raising(exc, monkeypatch)
    got, out, err = run([], capsys)
    assert (got, out, err) == (code, "", message + "\n")


@pytest.mark.parametrize(
    "exc", [c[0] for c in CASES if c[1] not in (130,)], ids=lambda e: type(e).__name__
)
def test_debug_shows_the_exception_itself(exc, monkeypatch, capsys):
    monkeypatch.setenv("MNIST_NETS_DEBUG", "1")
    _raising(exc, monkeypatch)
    with pytest.raises(type(exc)):
        cli.main([])
    assert capsys.readouterr().err == ""


def test_a_closed_pipe_is_silent_exit_141(monkeypatch, capsys):
    _raising(BrokenPipeError(errno.EPIPE, "Broken pipe"), monkeypatch)
    assert run([], capsys) == (141, "", "")


@pytest.mark.parametrize("fail_write", [True, False], ids=["write", "flush"])
def test_an_unwritable_stdout_is_exit_3(fail_write, monkeypatch, capsys):
    monkeypatch.delenv("MNIST_NETS_DEBUG", raising=False)
    stdout = FullStdout(fail_write)
    monkeypatch.setattr(sys, "stdout", stdout)

    def command(args):
        print("results")
        return 0

    monkeypatch.setattr(cli, "build_parser", lambda: _FakeParser(command))
    assert cli.main([]) == 3
    assert sys.stdout is stdout  # main puts the stream it found back
    assert capsys.readouterr().err == (
        "mnist-nets: error: cannot write the results to stdout: No space left on device; "
        "send them to a writable place\n"
    )
    monkeypatch.setenv("MNIST_NETS_DEBUG", "1")
    with pytest.raises(cli.StdoutError):
        cli.main([])


def test_a_pipe_closed_while_writing_is_exit_141(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdout", FullStdout(True, BrokenPipeError))
    monkeypatch.setattr(cli, "build_parser", lambda: _FakeParser(lambda a: print("x") or 0))
    assert cli.main([]) == 141
    assert capsys.readouterr().err == ""


def test_a_closed_pipe_points_stdout_at_dev_null(tmp_path, monkeypatch):
    """After a closed pipe, file descriptor 1 goes to /dev/null, so that Python's flush at
    exit cannot fail again (here a file stands in for the pipe)."""
    target = tmp_path / "stdout"
    with open(target, "wb") as f:

        class Stdout:
            def fileno(self):
                return f.fileno()

        monkeypatch.setattr(sys, "stdout", Stdout())
        cli._silence_stdout()
        os.write(f.fileno(), b"lost")
    assert target.read_bytes() == b""


def test_the_command_s_code_is_returned_and_stdout_restored(monkeypatch, capsys):
    before = sys.stdout
    monkeypatch.setattr(cli, "build_parser", lambda: _FakeParser(lambda a: print("ok") or 7))
    assert run([], capsys) == (7, "ok\n", "")
    assert sys.stdout is before


# --------------------------------------------------------------------------- argument types


def test_argument_types_at_their_boundaries():
    assert positive_int("1") == 1 and positive_int(" 12 ") == 12
    for text, message in [
        ("0", "must be a positive integer, got 0"),
        ("-3", "must be a positive integer, got -3"),
        ("1.5", "expected a positive integer, got '1.5'"),
    ]:
        with pytest.raises(argparse.ArgumentTypeError, match=re.escape(message) + "$"):
            positive_int(text)
    assert positive_float("1e-300") == 1e-300 and positive_float("2") == 2.0
    for text, message in [
        ("0", "must be a positive finite number, got 0"),
        ("-1", "must be a positive finite number, got -1"),
        ("nan", "must be a positive finite number, got nan"),
        ("inf", "must be a positive finite number, got inf"),
        ("x", "expected a positive number, got 'x'"),
    ]:
        with pytest.raises(argparse.ArgumentTypeError, match=re.escape(message) + "$"):
            positive_float(text)
    assert seed_arg("0") == 0 and seed_arg(str(2**31 - 1)) == 2**31 - 1
    for text, message in [
        ("-1", "must be in [0, 2**31), got -1"),
        (str(2**31), f"must be in [0, 2**31), got {2**31}"),
        ("one", "expected an integer, got 'one'"),
    ]:
        with pytest.raises(argparse.ArgumentTypeError, match=re.escape(message) + "$"):
            seed_arg(text)


def test_frameworks_argument():
    assert frameworks_arg(" numpy , numpy,") == ["numpy"]
    names = list_backends()[::-1]  # any order the user gives is kept
    assert frameworks_arg(",".join(names)) == names
    with pytest.raises(argparse.ArgumentTypeError) as info:
        frameworks_arg("numpy,caffe,mxnet")
    assert str(info.value) == (
        f"unknown framework(s) 'caffe', 'mxnet'; choose from: {', '.join(list_backends())}"
    )
    with pytest.raises(argparse.ArgumentTypeError, match=r"^unknown framework\(s\) ' , '; "):
        frameworks_arg(" , ")


def test_helpers():
    assert common.escaped("plain name.npz") == "plain name.npz"
    assert common.escaped("a\x1b[2Jb\n") == "a\\x1b[2Jb\\n"
    assert common.os_reason(OSError(2, "No such file")) == "No such file"
    assert common.os_reason(OSError("just text")) == "just text"
    assert common.os_reason(OSError()) == "OSError"
    assert common.pct(0.98765) == "98.77 %" and common.pct(1) == "100.00 %"
    p = common.softmax(np.array([[0.0, np.log(3.0)], [1000.0, 1000.0]]))
    np.testing.assert_allclose(p, [[0.25, 0.75], [0.5, 0.5]], rtol=1e-12)


def test_batched_logits_covers_every_row_in_order():
    calls = []

    class Backend:
        def forward(self, model, x):
            calls.append(len(x))
            return x[:, :2].astype(np.float32) * model

    x = np.arange(25 * 3, dtype=np.float64).reshape(25, 3)
    out = common.batched_logits(Backend(), 2.0, x, batch_size=10)
    assert calls == [10, 10, 5] and out.dtype == np.float64
    np.testing.assert_array_equal(out, x[:, :2] * 2)
    calls.clear()
    common.batched_logits(Backend(), 1.0, x)
    assert calls == [25]  # 1,000 rows a batch by default


def test_resolve_device():
    class Backend:
        def __init__(self, devices):
            self._devices = devices

        def devices(self):
            return self._devices

        def check_device(self, device):
            return f"checked {device}"

    assert common.resolve_device(Backend(["cpu"]), "auto") == "cpu"
    assert common.resolve_device(Backend(["cpu", "cuda", "mps"]), "auto") == "cuda"
    assert common.resolve_device(Backend(["cpu", "cuda"]), "cpu") == "checked cpu"


def test_load_data_limits_each_split():
    train, test = common.load_data(30, None)
    assert (len(train), len(test)) == (30, 30)
    train, test = common.load_data(30, 7)
    assert (len(train), len(test)) == (30, 7)


def test_print_json_refuses_nan(capsys):
    common.print_json({"a": [1, 2.5]})
    assert json.loads(capsys.readouterr().out) == {"a": [1, 2.5]}
    with pytest.raises(ValueError):
        common.print_json({"a": float("nan")})


# --------------------------------------------------------------------------- --out


def test_check_out(tmp_path, monkeypatch):
    assert check_out(None) is False
    assert check_out(str(tmp_path / "new" / "deeper" / "w.npz")) is False
    spec = get_spec("perceptron")
    weights = tmp_path / "w.npz"
    save_params(weights, spec, init_params(spec, 0))
    assert check_out(str(weights)) is True  # weights: replaced
    notes = tmp_path / "notes.md"
    notes.write_text("mine")
    with pytest.raises(UsageError) as info:
        check_out(str(notes))
    assert str(info.value) == (
        f"--out {notes}: exists and is not a weights file saved by mnist-nets; refusing to "
        "replace it: choose another name, or add --force to replace it"
    )
    assert check_out(str(notes), force=True) is True
    link = tmp_path / "link.npz"
    link.symlink_to(weights)
    with pytest.raises(UsageError, match="exists and is a symbolic link; refusing"):
        check_out(str(link))
    fifo = tmp_path / "fifo.npz"
    os.mkfifo(fifo)
    with pytest.raises(UsageError, match="exists and is not a regular file; refusing"):
        check_out(str(fifo))
    with pytest.raises(UsageError, match=r"is a directory; give a file name such as weights\.npz"):
        check_out(str(tmp_path))
    long_name = "w" * 256 + ".npz"
    with pytest.raises(UsageError) as info:
        check_out(str(tmp_path / long_name))
    assert f"a name in it is {len(long_name):,} bytes long, file systems allow 255;" in str(
        info.value
    )
    check_out(str(tmp_path / ("w" * 251 + ".npz")))  # 255 bytes: allowed
    monkeypatch.setenv("MNIST_NETS_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))  # never the real cache
    (tmp_path / "data").mkdir()
    cache_dir().mkdir(parents=True)
    for folder in (cache_dir(), tmp_path / "data"):
        with pytest.raises(UsageError) as info:
            check_out(str(folder / "w.npz"))
        assert str(info.value) == (
            f"--out {folder / 'w.npz'}: is inside MNIST's folder {folder}; save weights elsewhere"
        )
    a_file = tmp_path / "plain"
    a_file.write_text("x")
    with pytest.raises(UsageError, match=f"^--out {a_file}/w.npz: {a_file} is not a folder$"):
        check_out(str(a_file / "w.npz"))
    with pytest.raises(SystemFault) as info:
        check_out(str(tmp_path / "big.npz"), size_hint=2**62)
    assert f"the weights need about {2**62:,}; free space or choose another place" in str(
        info.value
    )
    check_out(str(tmp_path / "small.npz"), size_hint=1)
    assert not list(tmp_path.glob("*.part"))  # the probe file was removed


def test_check_out_in_a_folder_that_refuses_files(tmp_path, monkeypatch):
    def refuse(**kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(common.tempfile, "mkstemp", refuse)
    with pytest.raises(SystemFault) as info:
        check_out(str(tmp_path / "w.npz"))
    assert str(info.value) == (
        f"--out {tmp_path / 'w.npz'}: cannot create a file in {tmp_path}: Permission denied; "
        "choose a writable place"
    )


# --------------------------------------------------------------------------- commands


def test_specs_text_and_json(capsys):
    code, out, err = run(["specs"], capsys)
    assert code == 0 and err == ""
    names = list_specs()
    assert re.findall(r"^== (\w+): ", out, re.M) == names
    for name in names:
        spec = get_spec(name)
        assert f"== {name}: {spec.description}\n{spec.summary()}\n" in out
    assert out.count("\n\n") == len(names) - 1  # one blank line between models
    code, out, _ = run(["specs", "dnn", "cnn", "--json"], capsys)
    as_json = json.loads(out)
    assert code == 0 and [s["name"] for s in as_json] == ["dnn", "cnn"]
    cnn = get_spec("cnn")
    expected = {
        **cnn.to_dict(),
        "output_shapes": [list(s) for s in cnn.output_shapes],
        "param_count": cnn.param_count,
        "flops_forward": cnn.flops_forward,
        "flops_training": cnn.flops_training,
    }
    assert as_json[1] == json.loads(json.dumps(expected))  # tuples become lists


def test_data_fetch_repairs_and_tells_what_it_does(monkeypatch, capsys):
    """``data fetch`` asks for a corrupt cached file to be replaced (``repair``) and passes
    its log lines on to stderr."""
    from mnist_nets.cli import info

    asked = []

    def files(data_dir, *, log, repair, dataset):
        asked.append((data_dir, repair, dataset))
        log("a line from the fetch")
        return {"train-images-idx3-ubyte": Path("/data/x")}

    monkeypatch.setattr(info, "mnist_files", files)
    code, out, err = run(["data", "fetch", "--dataset", "fashion-mnist"], capsys)
    assert (code, out) == (0, "train-images-idx3-ubyte: /data/x\n")
    assert asked == [(None, True, "fashion-mnist")]
    assert err.splitlines() == [
        "a line from the fetch",
        f"Fashion-MNIST verified (sha256); cache: {cache_dir('fashion-mnist')}",
    ]


def test_data_fetch_in_process(capsys):
    code, out, err = run(["data", "fetch"], capsys)
    assert code == 0
    names = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
             "t10k-labels-idx1-ubyte"]  # fmt: skip
    assert [line.split(": ")[0] for line in out.splitlines()] == names
    assert err.strip().splitlines()[-1] == f"MNIST verified (sha256); cache: {cache_dir()}"


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return tmp_path_factory.mktemp("inprocess") / "perceptron.npz"


@pytest.fixture(scope="module")
def trained_json(weights):
    """One numpy perceptron run, in-process, --json, its weights saved."""
    code, out, err = captured(
        ["train", "--model", "perceptron", "--limit", str(LIMIT), "--epochs", "2",
         "--seed", "3", "--batch-size", "50", "--out", str(weights), "--json"]
    )  # fmt: skip
    assert code == 0, err
    return json.loads(out), err


def captured(argv: list[str]) -> tuple[int, str, str]:
    """``main(argv)`` with its output captured, for module-scoped fixtures (no capsys)."""
    import io
    from contextlib import redirect_stderr, redirect_stdout

    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = cli.main(argv)
    return code, out.getvalue(), err.getvalue()


def test_train_json_in_process(trained_json, weights):
    report, err = trained_json
    recipe = get_spec("perceptron").recipe
    assert {k: report[k] for k in (
        "model", "dataset", "framework", "device", "epochs", "lr", "batch_size", "momentum",
        "lr_decay", "seed", "train_samples", "test_samples", "target_accuracy", "weights",
    )} == {
        "model": "perceptron", "dataset": "mnist", "framework": "numpy", "device": "cpu",
        "epochs": 2, "lr": recipe.lr, "batch_size": 50, "momentum": recipe.momentum,
        "lr_decay": recipe.lr_decay, "seed": 3, "train_samples": LIMIT, "test_samples": LIMIT,
        "target_accuracy": get_spec("perceptron").target_accuracy, "weights": str(weights),
    }  # fmt: skip
    assert report["device_name"] and report["versions"]["numpy"] == np.__version__
    history = report["history"]
    assert [r["epoch"] for r in history] == [1, 2]
    assert [r["lr"] for r in history] == [recipe.lr_at(0), recipe.lr_at(1)]
    assert report["test_accuracy"] == history[-1]["test_accuracy"] > 0.6
    assert report["train_seconds"] == pytest.approx(sum(r["seconds"] for r in history))
    reached = [
        e["train_seconds"]
        for e in report["evals"]
        if e["test_accuracy"] >= report["target_accuracy"]
    ]
    assert report["seconds_to_target"] == (reached[0] if reached else None)
    assert "epoch 2/2" in err
    spec, params = load_params(weights)
    assert spec.name == "perceptron" and set(params) == {p.name for p in spec.parameters}


def test_train_text_in_process(tmp_path, capsys):
    out_path = tmp_path / "w.npz"
    code, out, err = run(
        ["train", "--model", "perceptron", "--limit", "300", "--test-limit", "200",
         "--epochs", "1", "--lr", "0.05", "--batch-size", "30", "--seed", "2", "-q",
         "--out", out_path],
        capsys,
    )  # fmt: skip
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0] == (
        f"perceptron in numpy on cpu ({get_device_name()}): 1 epoch of 300 training images, "
        "lr 0.05, batch 30, seed 2"
    )
    assert re.fullmatch(
        r"test accuracy \d+\.\d\d % on 200 test images; trained in \d+\.\d s "
        r"\([\d,]+ samples/s\)",
        lines[1],
    ), lines[1]
    target = re.escape(common.pct(get_spec("perceptron").target_accuracy))
    assert re.fullmatch(
        rf"target {target} not reached|reached {target} after \d+\.\d\d s of training "
        r"\(epoch \d\.\d\d; evaluations excluded\)",
        lines[2],
    ), lines[2]
    assert lines[3:] == [f"weights saved to {out_path}"]
    # Fashion-MNIST names its images; two epochs are "epochs"; no --out, no last line
    code, out, _ = run(
        ["train", "--model", "single_neuron", "--dataset", "fashion-mnist", "--limit", "100",
         "--epochs", "2", "-q"],
        capsys,
    )  # fmt: skip
    assert code == 0
    assert ": 2 epochs of 100 Fashion-MNIST training images, lr " in out.splitlines()[0]
    assert len(out.splitlines()) == 2  # single_neuron has no target


def get_device_name() -> str:
    from mnist_nets.backends import get_backend

    return get_backend("numpy").device_name("cpu")


def test_evaluate_in_process(trained_json, weights, capsys):
    report, _ = trained_json
    code, out, err = run(["evaluate", weights, "--limit", LIMIT, "--json"], capsys)
    result = json.loads(out)
    assert code == 0 and err == ""
    assert result["test_accuracy"] == report["test_accuracy"]
    assert {k: result[k] for k in ("weights", "model", "dataset", "framework", "device")} == {
        "weights": str(weights), "model": "perceptron", "dataset": "mnist",
        "framework": "numpy", "device": "cpu",
    }  # fmt: skip
    confusion = np.array(result["confusion"])
    assert confusion.shape == (10, 10) and confusion.sum() == LIMIT == result["test_samples"]
    assert np.trace(confusion) == result["correct"] == round(report["test_accuracy"] * LIMIT)
    _, labels = load_mnist("test", LIMIT)
    np.testing.assert_array_equal(confusion.sum(axis=1), np.bincount(labels, minlength=10))
    assert result["classes"] == [str(d) for d in range(10)]
    code, out, _ = run(["evaluate", weights, "--limit", LIMIT], capsys)
    lines = out.splitlines()
    correct = result["correct"]
    assert lines[0] == (
        f"perceptron weights from {weights}, evaluated on MNIST in numpy on cpu: "
        f"test accuracy {100 * correct / LIMIT:.2f} % ({correct} of {LIMIT})"
    )
    assert lines[1] == "confusion matrix (rows: true digit, columns: predicted digit):"
    assert lines[2] == "true " + "".join(f"{d:>5}" for d in range(10)) + "   recall"
    for d, line in enumerate(lines[3:13]):
        row = confusion[d]
        recall = f"{100 * row[d] / row.sum():6.1f} %"
        assert line == f"{d:>4} " + "".join(f"{n:>5,}" for n in row) + f" {recall}"
    assert len(lines) == 13
    # on the other dataset: refused, naming both
    code, _, err = run(["evaluate", weights, "--dataset", "fashion-mnist"], capsys)
    assert code == 2 and "mnist" in one_line(err) and "fashion-mnist" in one_line(err)


def test_evaluate_refuses_weights_whose_outputs_overflow(tmp_path, capsys):
    spec = get_spec("perceptron")
    params = {k: np.full_like(v, 3e38) for k, v in init_params(spec, 0).items()}
    path = tmp_path / "huge.npz"
    save_params(path, spec, params)
    code, out, err = run(["evaluate", path, "--limit", 50], capsys)
    assert (code, out) == (2, "")
    assert one_line(err) == (
        f"mnist-nets: error: {path}: the outputs are NaN or infinite for 50 of 50 test "
        "images (weights too large, or from a diverged run?)"
    )


def test_predict_in_process(trained_json, weights, tmp_path, capsys):
    images, _ = load_mnist("test", 3)
    paths = []
    for i, image in enumerate(images):
        paths.append(tmp_path / f"d{i}.png")
        Image.fromarray(image).save(paths[-1])
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    code, out, err = run(["predict", weights, paths[0], bad, paths[1], "--json"], capsys)
    answers = json.loads(out)
    assert code == 2  # one image failed: the others are still predicted
    assert [a["image"] for a in answers] == [str(paths[0]), str(bad), str(paths[1])]
    assert set(answers[1]) == {"image", "error"} and str(bad) in answers[1]["error"]
    assert one_line(err) == f"mnist-nets: error: {answers[1]['error']}"
    for a in (answers[0], answers[2]):
        assert set(a) == {"image", "digit", "probabilities"}
        assert a["digit"] == int(np.argmax(a["probabilities"]))
        assert sum(a["probabilities"]) == pytest.approx(1.0)
    code, out, err = run(["predict", weights, paths[0], paths[2]], capsys)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    name_width = max(5, len(str(paths[0])))
    assert lines[0] == f"{'image':<{name_width}}  digit  " + "  ".join(f"{d:>5}" for d in range(10))
    assert len(lines) == 3
    cells = lines[1].split()
    assert cells[0] == str(paths[0]) and len(cells) == 12
    probs = [float(c) for c in cells[2:]]
    assert cells[1] == str(int(np.argmax(probs))) and sum(probs) == pytest.approx(1, abs=0.01)
    code, out, err = run(["predict", weights, bad], capsys)
    assert (code, out) == (2, "") and "not an image" in one_line(err)


def test_compare_in_process(capsys):
    args = ["compare", "--model", "perceptron", "--frameworks", "numpy", "--limit", "200",
            "--epochs", "1", "--batch-size", "20", "--seed", "1", "-q"]  # fmt: skip
    code, out, err = run([*args, "--json"], capsys)
    assert (code, err) == (0, "")
    report = json.loads(out)
    assert {k: report[k] for k in report if k != "results"} == {
        "model": "perceptron", "epochs": 1, "lr": get_spec("perceptron").recipe.lr,
        "batch_size": 20, "seed": 1, "dtype": "float32", "train_samples": 200,
        "test_samples": 200, "max_abs_logit_diff": {}, "weights_vs": "numpy",
        "max_weight_diff": {},
    }  # fmt: skip
    (result,) = report["results"]
    assert (result["framework"], result["device"]) == ("numpy", "cpu")
    assert result["samples_per_second"] == pytest.approx(200 / result["train_seconds"])
    assert result["test_accuracy"] == result["history"][-1]["test_accuracy"]
    code, out, _ = run(args, capsys)
    lines = out.splitlines()
    assert code == 0 and len(lines) == 4
    assert lines[0] == (
        "perceptron: 1 epoch on 200 training images (lr 0.1, batch 20, seed 1, float32), the "
        "same initial weights, data order and dropout masks in each framework; tested on 200 "
        "images"
    )
    assert lines[1] == (
        f"{'framework':<11} {'device':<6} {'test acc':>9} {'train s':>8} {'samples/s':>10}"
        "  max |logit - numpy|  weights vs numpy (worst tensor)"
    )
    assert lines[2].startswith("numpy       cpu    ") and lines[2].endswith("  -")
    # float32 points to float64 for the proof; float64 says the rest is rounding
    assert "--dtype float64 shows the frameworks agree" in lines[3]
    code, out, _ = run([*args, "--dtype", "float64"], capsys)
    assert code == 0 and "seed 1, float64)" in out
    assert out.splitlines()[-1].endswith("In float64 they differ by rounding only")
    code, out, err = run([*args, "--dtype", "float16"], capsys)
    assert (code, out) == (2, "") and "float16" in err


def test_compare_across_three_frameworks_names_every_pair(monkeypatch, capsys):
    """Three frameworks: numpy and two stand-ins that are numpy with every output shifted
    by 0.5 and 2 (the same predictions, so the same accuracies), and that print to stdout
    while they train (which --json must keep off stdout)."""
    from mnist_nets.backends import get_backend
    from mnist_nets.cli import compare

    base = get_backend("numpy")

    class Shifted(type(base)):
        def __init__(self, shift):
            self.shift = shift

        def forward(self, model, x, training=False):
            return super().forward(model, x, training) + np.float32(self.shift)

        def train(self, *args, **kwargs):
            print("chatter from a framework")
            return super().train(*args, **kwargs)

    backends = {"numpy": base, "twin": Shifted(0.5), "triplet": Shifted(2.0)}
    monkeypatch.setattr(compare, "list_backends", lambda: list(backends))
    monkeypatch.setattr(compare, "load_backend", backends.__getitem__)
    args = ["compare", "--model", "perceptron", "--limit", "200", "--test-limit", "100",
            "--epochs", "2", "--seed", "1", "--batch-size", "20"]  # fmt: skip
    code, out, err = run([*args, "--json"], capsys)
    assert code == 0
    report = json.loads(out)
    assert report["max_abs_logit_diff"] == pytest.approx(
        {"numpy vs twin": 0.5, "numpy vs triplet": 2.0, "twin vs triplet": 1.5}, abs=1e-5
    )
    # the stand-ins train numpy's weights exactly: no tensor differs
    assert report["weights_vs"] == "numpy"
    assert {k: v["relative"] for k, v in report["max_weight_diff"].items()} == {
        "twin": 0.0, "triplet": 0.0
    }
    assert (report["epochs"], report["train_samples"], report["test_samples"]) == (2, 200, 100)
    assert [r["framework"] for r in report["results"]] == ["numpy", "twin", "triplet"]
    assert all(r["device_name"] == base.device_name("cpu") for r in report["results"])
    assert len({r["test_accuracy"] for r in report["results"]}) == 1
    # each framework's progress bar carries its name; the chatter went to stderr
    assert "twin" in err and "triplet" in err and "epoch 2/2" in err
    assert "chatter from a framework" in err
    # the same run as `train` with the same seed: the same initial weights and data order
    code, out, _ = run(
        ["train", "--model", "perceptron", "--limit", "200", "--test-limit", "100",
         "--epochs", "2", "--seed", "1", "--batch-size", "20", "--json", "-q"],
        capsys,
    )  # fmt: skip
    trained = json.loads(out)
    assert [r["loss"] for r in trained["history"]] == [
        r["loss"] for r in report["results"][0]["history"]
    ]
    assert trained["test_accuracy"] == report["results"][0]["test_accuracy"]
    code, out, _ = run([*args, "-q"], capsys)
    lines = [line for line in out.splitlines() if not line.startswith("chatter")]  # no --json
    assert code == 0 and len(lines) == 7
    assert lines[0].startswith("perceptron: 2 epochs on 200 training images (lr 0.1, batch 20,")
    assert lines[0].endswith("; tested on 100 images")
    assert [line.split()[0] for line in lines[2:5]] == ["numpy", "twin", "triplet"]
    assert [line.split()[6:] for line in lines[2:5]] == [
        ["-"], ["0.5", "0", "(dense1.weight)"], ["2", "0", "(dense1.weight)"]
    ]
    assert lines[5] == (
        "max |logit difference| by pair: numpy vs twin 0.5, numpy vs triplet 2, twin vs triplet 1.5"
    )
    # two frameworks: one pair, said in the table alone
    backends.pop("triplet")
    code, out, _ = run([*args, "-q"], capsys)
    assert code == 0 and len([x for x in out.splitlines() if not x.startswith("chatter")]) == 5


def test_compare_with_no_loadable_framework(monkeypatch, capsys):
    from mnist_nets.backends import BackendUnavailable
    from mnist_nets.cli import compare

    def unavailable(name):
        raise BackendUnavailable(f"{name} is not installed")

    monkeypatch.setattr(compare, "load_backend", unavailable)
    code, out, err = run(["compare", "--model", "perceptron", "--limit", "20", "-q"], capsys)
    assert (code, out) == (2, "")
    assert err.splitlines() == [
        *(f"mnist-nets: skipping {name}: {name} is not installed" for name in list_backends()),
        "mnist-nets: error: no framework could be loaded; install one (see requirements.txt)",
    ]
    # named in --frameworks, a framework that cannot load is an error of its own
    code, _, err = run(
        ["compare", "--model", "perceptron", "--frameworks", "numpy", "--limit", "20"], capsys
    )
    assert code == 2 and one_line(err) == "mnist-nets: error: numpy is not installed"


def test_stdout_to_stderr_moves_only_while_active(capfd):
    with common.stdout_to_stderr(False):
        print("to stdout")
    with common.stdout_to_stderr(True):
        print("to stderr")
        os.write(1, b"fd 1 too\n")
    print("stdout again")
    out, err = capfd.readouterr()
    assert out == "to stdout\nstdout again\n"
    assert err == "to stderr\nfd 1 too\n"


def test_a_divergence_says_what_the_out_file_holds(tmp_path, capsys):
    """Exit 1 with one line naming the epoch and batch, and what ``--out`` holds: nothing,
    or the file that was there before this run (train_one's notes, in-process)."""
    out_path = tmp_path / "w.npz"
    args = ["train", "--model", "single_neuron", "--limit", "1000", "--epochs", "2", "--lr",
            "1000", "--batch-size", "32", "--out", out_path, "-q"]  # fmt: skip
    code, out, err = run(args, capsys)
    line = one_line(err)
    assert (code, out) == (1, "")
    assert re.match(r"mnist-nets: error: training diverged: the loss became \S+ at epoch 1, ", line)
    assert line.endswith(
        f"; no weights were saved to {out_path} by this run ({out_path} does not exist)"
    )
    assert not out_path.exists()
    spec = get_spec("single_neuron")
    save_params(out_path, spec, init_params(spec, 5))
    before = out_path.read_bytes()
    code, _, err = run(args, capsys)
    assert code == 1 and one_line(err).endswith(
        f"; no weights were saved to {out_path} by this run ({out_path} still holds the file "
        "that was there before this run)"
    )
    assert out_path.read_bytes() == before


# --------------------------------------------------------------------------- --help

MODELS = ", ".join(list_specs())
FRAMEWORKS = ", ".join(list_backends())
ENGINES = ", ".join(list_engines())
RECIPE = "(default: the model's recipe, see `mnist-nets specs`)"
DEVICE = "auto (default: a GPU when the framework sees one, else the CPU), cpu, cuda, mps"
RUN_OPTIONS = [
    f"--model M  {MODELS}",
    "--dataset DS  mnist or fashion-mnist (default: mnist)",
    f"--device D  {DEVICE}",
    f"--epochs N  epochs {RECIPE}",
    f"--lr X  learning rate {RECIPE}",
    f"--batch-size B  batch size {RECIPE}",
    "--limit K  train on the first K training images and test on the first K test images "
    "(default: all 60,000 and 10,000)",
    "--test-limit K  test on the first K test images (default: as --limit, or all 10,000)",
    "--seed S  fixes the initial weights and the data order (default: 0)",
    "--dtype P  float32 or float64: the precision of the arithmetic (default: float32). "
    "float64 shows that the frameworks compute the same function: in float32 a unit within "
    "rounding of ReLU's kink may take either side, and training amplifies that "
    "(docs/conventions.md). Weights are saved as float32 either way",
    "-q, --quiet  no progress bar",
    "--json  print one JSON object on stdout, nothing else",
]
HELP = {
    (): [
        "data  the MNIST and Fashion-MNIST files",
        "specs  the architectures: layers, shapes, parameters, FLOPs",
        "train  train a model on MNIST",
        "evaluate  test accuracy and confusion matrix of saved weights",
        "predict  classify pictures of digits (PNG, JPEG, ...)",
        "export  saved weights as an ONNX model (runs in onnxruntime and other ONNX runtimes)",
        "compare  train one model in every framework from the same start and compare",
        "serve  a local page to draw a digit on, where every framework predicts it",
    ],
    ("data",): ["fetch  fetch and verify MNIST (or Fashion-MNIST) into the cache"],
    ("data", "fetch"): [
        "--data-dir DATA_DIR  a directory holding the IDX files (raw or .gz)",
        "--dataset DS  mnist or fashion-mnist (default: mnist)",
    ],
    ("specs",): [f"M  {MODELS}", "--json  print the specs as JSON"],
    ("train",): [
        *RUN_OPTIONS[:1],
        f"--framework F  {FRAMEWORKS} (default: numpy)",
        *RUN_OPTIONS[1:],
        "--out FILE  save the weights (.npz) after every complete epoch; the file is always "
        "whole. An existing FILE is replaced only when it holds weights saved by mnist-nets",
        "--force  let --out replace an existing file that is not a weights file (or a link)",
    ],
    ("evaluate",): [
        "weights  a .npz file saved by `train --out`, or (--engine onnxruntime) a .onnx file "
        "saved by `export`",
        f"--engine E  {ENGINES} (default: numpy; --framework E is the same)",
        "--dataset DS  mnist or fashion-mnist (default: the one the weights were trained on)",
        f"--device D  {DEVICE}",
        "--limit K  the first K test images only",
        "--json  print one JSON object on stdout",
    ],
    ("predict",): [
        "weights  a .npz file saved by `train --out`, or (--engine onnxruntime) a .onnx file "
        "saved by `export`",
        "IMAGE",
        f"--engine E  {ENGINES} (default: numpy; --framework E is the same)",
        "--dataset DS  mnist or fashion-mnist (default: the one the weights were trained on)",
        f"--device D  {DEVICE}",
        "--json  print JSON on stdout",
    ],
    ("export",): [
        "weights  a .npz file saved by `train --out`",
        "--format FMT  onnx (the default)",
        "--out FILE  the model file to write",
        "--force  let --out replace an existing file that is not a model exported by mnist-nets",
        "--json  print one JSON object on stdout",
    ],
    ("compare",): [
        *RUN_OPTIONS,
        f"--frameworks F,F  comma-separated (default: every installed one of {FRAMEWORKS})",
    ],
    ("serve",): [
        "--weights FILE  a .npz file saved by `train --out` (without it, serve says how to get "
        "one and exits with code 2)",
        "--host HOST  the address to listen on (default: 127.0.0.1)",
        "--port N  default: 8000; 0: any free one",
        f"--frameworks F,F  comma-separated (default: every installed one of {FRAMEWORKS})",
        f"--device D  {DEVICE}",
    ],
}


@pytest.mark.parametrize("command", list(HELP), ids=lambda c: " ".join(c) or "mnist-nets")
def test_help_lists_every_option_with_its_default(command, monkeypatch, capsys):
    """``--help``: every option (and argument) with its placeholder and what it defaults
    to, in the order the parser declares them, and nothing else (the table argparse prints
    under "options:" and "positional arguments:", its padding squeezed to two spaces)."""
    monkeypatch.setenv("COLUMNS", "400")  # no wrapping
    code, out, err = run([*command, "--help"], capsys)
    assert (code, err) == (0, "")
    rows = [
        re.sub(r"\s{2,}", "  ", line.strip())
        for line in out.splitlines()
        if line.startswith("  ") and not line.strip().startswith(("-h, --help", "{"))
    ]
    rows = [r for r in rows if r not in ("COMMAND", "ACTION")]
    assert rows == HELP[command]


def test_help_describes_the_program_and_its_exit_codes(monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", "400")
    _, out, _ = run(["--help"], capsys)
    labels = ", ".join(f.label for f in FRAMEWORKS_REGISTERED)
    assert f"\nThe classic MNIST networks in {labels}.\n" in out
    assert out.rstrip().endswith(
        "Exit codes: 0 ok, 1 training diverged, 2 bad input, 3 a file or stream could not be "
        "read or written (disk full, permission denied), 4 internal error, 130 interrupted, "
        "141 stdout closed. Results go to stdout, progress and messages to stderr."
    )
    _, out, _ = run(["train", "--help"], capsys)
    assert (
        "\nTrain a model on MNIST (or Fashion-MNIST) from init_params(spec, seed) with the " in out
    )
    for command, first_words in [
        ("evaluate", "Test accuracy and confusion matrix of weights saved by `train --out`"),
        ("predict", "The digit and the class probabilities (softmax of the outputs)"),
        ("compare", "Train one model in each framework from the same initial weights"),
    ]:
        _, out, _ = run([command, "--help"], capsys)
        assert f"\n{first_words}" in out


# --------------------------------------------------------------------------- Fashion-MNIST


@pytest.fixture(scope="module")
def fashion_weights(tmp_path_factory):
    """The perceptron trained one epoch on 500 Fashion-MNIST images, in-process."""

    path = tmp_path_factory.mktemp("fashion") / "fashion.npz"
    code, out, err = captured(
        ["train", "--model", "perceptron", "--dataset", "fashion-mnist", "--limit", "500",
         "--epochs", "1", "--out", str(path), "--json", "-q"]
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["dataset"] == "fashion-mnist"
    return path


def test_fashion_weights_evaluate_by_class_name(fashion_weights, capsys):
    from mnist_nets.data import get_dataset

    classes = get_dataset("fashion-mnist").classes
    code, out, err = run(["evaluate", fashion_weights, "--limit", "300", "--json"], capsys)
    result = json.loads(out)
    assert (code, err) == (0, "")
    assert (result["dataset"], result["classes"]) == ("fashion-mnist", list(classes))
    _, labels = load_mnist("test", 300, dataset="fashion-mnist")
    confusion = np.array(result["confusion"])
    np.testing.assert_array_equal(confusion.sum(axis=1), np.bincount(labels, minlength=10))
    code, out, _ = run(["evaluate", fashion_weights, "--limit", "300"], capsys)
    lines = out.splitlines()
    assert code == 0
    assert lines[0].startswith(f"perceptron weights from {fashion_weights}, evaluated on ")
    assert " on Fashion-MNIST in numpy on cpu: test accuracy " in lines[0]
    assert lines[1] == "confusion matrix (rows: true class, columns: predicted class):"
    assert lines[2] == "  " + ", ".join(f"{d} {name}" for d, name in enumerate(classes))
    label = max(4, *(len(name) for name in classes))
    assert lines[3] == f"{'true':<{label}} " + "".join(f"{d:>5}" for d in range(10)) + "   recall"
    for d, line in enumerate(lines[4:14]):
        row = confusion[d]
        recall = f"{100 * row[d] / row.sum():6.1f} %" if row.sum() else "      -"
        assert line == f"{classes[d]:>{label}} " + "".join(f"{n:>5,}" for n in row) + f" {recall}"
    # a class with no test image has no recall: "-" (the first 3 test images hold few)
    _, out, _ = run(["evaluate", fashion_weights, "--limit", "3"], capsys)
    rows = out.splitlines()[4:14]
    seen = set(load_mnist("test", 3, dataset="fashion-mnist")[1].tolist())
    for d, line in enumerate(rows):
        assert line.endswith(" %") if d in seen else line.endswith("       -"), line
    # the MNIST dataset named for Fashion-MNIST weights: refused, naming the file
    code, _, err = run(["evaluate", fashion_weights, "--dataset", "mnist"], capsys)
    assert code == 2 and str(fashion_weights) in one_line(err)


def test_fashion_weights_predict_class_names(fashion_weights, tmp_path, capsys):
    from mnist_nets.data import get_dataset

    classes = get_dataset("fashion-mnist").classes
    images, _ = load_mnist("test", 2, dataset="fashion-mnist")
    paths = []
    for i, image in enumerate(images):
        paths.append(tmp_path / f"f{i}.png")
        Image.fromarray(image).save(paths[-1])
    code, out, err = run(["predict", fashion_weights, *paths, "--json"], capsys)
    answers = json.loads(out)
    assert (code, err) == (0, "")
    for a in answers:
        assert set(a) == {"image", "class", "probabilities"}
        assert a["class"] == classes[int(np.argmax(a["probabilities"]))]
    code, out, _ = run(["predict", fashion_weights, *paths], capsys)
    lines = out.splitlines()
    assert code == 0 and len(lines) == 4
    assert lines[0] == "  " + ", ".join(f"{d} {name}" for d, name in enumerate(classes))
    width = max(len(c) for c in classes)
    name_width = max(5, len(str(paths[0])))
    assert lines[1] == f"{'image':<{name_width}}  {'class':>{width}}  " + "  ".join(
        f"{d:>5}" for d in range(10)
    )
    assert lines[2].startswith(f"{paths[0]!s:<{name_width}}  {answers[0]['class']:>{width}}  ")


def test_compare_on_fashion_mnist(capsys):
    args = ["compare", "--model", "perceptron", "--dataset", "fashion-mnist", "--frameworks",
            "numpy", "--limit", "200", "--epochs", "1", "-q", "--json"]  # fmt: skip
    code, out, _ = run(args, capsys)
    fashion = json.loads(out)["results"][0]
    code2, out, _ = run(
        ["train", "--model", "perceptron", "--dataset", "fashion-mnist", "--limit", "200",
         "--epochs", "1", "-q", "--json"],
        capsys,
    )  # fmt: skip
    trained = json.loads(out)
    assert code == code2 == 0
    assert fashion["test_accuracy"] == trained["test_accuracy"]
    assert fashion["history"][0]["loss"] == trained["history"][0]["loss"]


# --------------------------------------------------------------------------- sharper checks
# Written against mutants that survived `make mutation` (see tests/MUTATION.md).
# The defaults and boundaries of the shared helpers, what ``--json`` keeps off stdout, the
# exact text tables of ``evaluate`` and ``predict``, and Fashion-MNIST's own image framing.


# --------------------------------------------------------------------------- helpers


def test_batched_logits_takes_1000_rows_a_batch_by_default():
    calls = []

    class Backend:
        def forward(self, model, x):
            calls.append(len(x))
            return x[:, :1]

    common.batched_logits(Backend(), None, np.zeros((2001, 1), dtype=np.float32))
    assert calls == [1000, 1000, 1]


def test_escaped_keeps_printable_non_ascii_text():
    assert common.escaped("chiffre-é-7.png") == "chiffre-é-7.png"
    assert common.escaped("é\n") == "\\xe9\\n"  # not printable: all of it escaped


def test_load_backend_turns_tensorflow_s_start_up_chatter_down(monkeypatch):
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    common.load_backend("numpy")
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "2"
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")  # the user's choice stays
    common.load_backend("numpy")
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "0"


def test_print_json_indents_by_two(capsys):
    common.print_json({"a": [1, "x"]})
    assert capsys.readouterr().out == '{\n  "a": [\n    1,\n    "x"\n  ]\n}\n'


def test_main_with_no_stdout_at_all(monkeypatch, capsys):
    """``pythonw`` and some services run with ``sys.stdout = None``: print() then writes
    nowhere, and main must not wrap None into a stream that fails."""
    monkeypatch.setattr(sys, "stdout", None)
    assert cli.main(["specs", "perceptron"]) == 0
    assert cli.main(["specs", "perceptron", "--json"]) == 0
    assert sys.stdout is None
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("fail_write", [True, False], ids=["write", "flush"])
def test_a_stdout_error_carries_the_errno(fail_write):
    """A full disk under stdout: the StdoutError keeps ENOSPC and the system's words."""
    checked = cli._CheckedStdout(FullStdout(fail_write))
    with pytest.raises(cli.StdoutError) as info:
        checked.write("x") if fail_write else checked.flush()
    assert info.value.errno == errno.ENOSPC
    assert info.value.strerror == "No space left on device"


# --------------------------------------------------------------------------- --out


def test_check_out_refuses_the_fashion_data_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))  # never the real cache
    monkeypatch.delenv("MNIST_NETS_DATA", raising=False)
    folder = tmp_path / "fashion"
    folder.mkdir()
    monkeypatch.setenv("MNIST_NETS_FASHION_DATA", str(folder))
    with pytest.raises(common.UsageError, match="is inside MNIST's folder"):
        check_out(str(folder / "w.npz"))


def test_check_out_probes_with_a_recognisable_part_file(tmp_path, monkeypatch):
    """The probe file is named like the atomic writer's temporary files
    (``.<name>.<random>.part``), so a probe left by a crash is recognisable."""
    removed = []
    real_unlink = os.unlink
    monkeypatch.setattr(os, "unlink", lambda p: removed.append(Path(p).name) or real_unlink(p))
    out = tmp_path / "w.npz"
    check_out(str(out))
    (probe,) = removed
    assert probe.startswith(temp_name_prefix(out)) and probe.endswith(".part")


class _Statvfs:
    def __init__(self, blocks_free: int, block: int = 4096):
        self.f_bavail, self.f_frsize = blocks_free, block


def test_check_out_free_space_boundaries(tmp_path, monkeypatch):
    out = str(tmp_path / "w.npz")
    monkeypatch.setattr(os, "statvfs", lambda p: _Statvfs(0))
    check_out(out)  # no size hint: the free space is not asked about
    with pytest.raises(common.SystemFault, match="0 bytes free"):
        check_out(out, size_hint=1)
    monkeypatch.setattr(os, "statvfs", lambda p: _Statvfs(3))
    check_out(out, size_hint=3 * 4096)  # exactly enough
    with pytest.raises(common.SystemFault, match="12,288 bytes free"):
        check_out(out, size_hint=3 * 4096 + 1)


# --------------------------------------------------------------------------- --json and devices


class _Chatty:
    """The numpy engine, printing to stdout while it loads a model (as a framework's C++
    code does) and insisting on being told the device."""

    def __init__(self):
        self.base = get_engine("numpy")
        self.devices_built = []

    def devices(self):
        return ["cpu"]

    def check_device(self, device):
        return device

    def load(self, spec, params, device, *, dataset="mnist"):
        print("chatter from a framework")
        os.write(1, b"chatter on fd 1\n")
        self.devices_built.append(device)
        return self.base.load(spec, params, device, dataset=dataset)


@pytest.fixture
def saved_weights(tmp_path):
    spec = get_spec("perceptron")
    path = tmp_path / "w.npz"
    save_params(path, spec, init_params(spec, 1))
    return path


@pytest.mark.parametrize("command", ["evaluate", "predict"])
def test_json_stays_clean_while_a_framework_chatters(command, saved_weights, tmp_path, monkeypatch,
                                                     capfd):  # fmt: skip
    chatty = _Chatty()
    monkeypatch.setattr(inference, "load_engine", lambda name: chatty)
    image = tmp_path / "d.png"
    Image.fromarray(load_mnist("test", 1)[0][0]).save(image)
    args = ["evaluate", saved_weights, "--limit", "20"] if command == "evaluate" else [
        "predict", saved_weights, image]  # fmt: skip
    code = cli.main([str(a) for a in [*args, "--json"]])
    out, err = capfd.readouterr()
    assert code == 0
    json.loads(out)  # nothing but the JSON
    assert "chatter from a framework" in err and "chatter on fd 1" in err
    assert chatty.devices_built == ["cpu"]


@pytest.mark.filterwarnings("error")  # overflow is told as an error, never as a warning
@pytest.mark.parametrize("command", ["evaluate", "predict"])
def test_overflowing_outputs_warn_nothing(command, tmp_path, capsys):
    spec = get_spec("perceptron")
    params = {k: np.full_like(v, 3e38) for k, v in init_params(spec, 0).items()}
    path = tmp_path / "huge.npz"
    save_params(path, spec, params)
    image = tmp_path / "d.png"
    Image.fromarray(load_mnist("test", 1)[0][0]).save(image)
    args = ["evaluate", path, "--limit", 5] if command == "evaluate" else ["predict", path, image]
    code, out, err = run(args, capsys)
    assert (code, out) == (2, "")
    assert "are NaN or infinite for" in one_line(err)


# --------------------------------------------------------------------------- exact tables


def test_evaluate_columns_widen_for_counts_over_a_thousand(tmp_path, capsys):
    """Weights that answer 1 for every image: column 1 counts each digit's whole test set
    (1,135 ones), so every column is 6 wide (a 5-character count and a space)."""
    spec = get_spec("perceptron")
    params = {k: np.zeros_like(v) for k, v in init_params(spec, 0).items()}
    params[spec.parameters[-1].name][1] = 1.0
    path = tmp_path / "ones.npz"
    save_params(path, spec, params)
    code, out, _ = run(["evaluate", path], capsys)
    lines = out.splitlines()
    counts = np.bincount(load_mnist("test")[1], minlength=10)
    assert code == 0 and counts.max() == 1135
    assert lines[2] == "true " + "".join(f"{d:>6}" for d in range(10)) + "   recall"
    for d, line in enumerate(lines[3:13]):
        cells = "".join(f"{n:>6,}" for n in np.where(np.arange(10) == 1, counts[d], 0))
        recall = "   0.0 %" if d != 1 else " 100.0 %"
        assert line == f"{d:>4} {cells} {recall}"


def test_predict_table_exactly(saved_weights, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    image = load_mnist("test", 1)[0][0]
    Image.fromarray(image).save("a.png")  # shorter than the "image" header
    code, out, _ = run(["predict", saved_weights, "a.png", "--json"], capsys)
    (answer,) = json.loads(out)
    code, out, err = run(["predict", saved_weights, "a.png"], capsys)
    assert (code, err) == (0, "")
    cells = "  ".join(f"{p:5.3f}" for p in answer["probabilities"])
    assert out.splitlines() == [
        "image  digit  " + "  ".join(f"{d:>5}" for d in range(10)),
        f"a.png  {answer['digit']:>5}  {cells}",
    ]


def test_predict_refuses_another_dataset_naming_the_weights(saved_weights, tmp_path, capsys):
    image = tmp_path / "d.png"
    Image.fromarray(load_mnist("test", 1)[0][0]).save(image)
    code, out, err = run(["predict", saved_weights, image, "--dataset", "fashion-mnist"], capsys)
    assert (code, out) == (2, "")
    assert one_line(err) == (
        f"mnist-nets: error: {saved_weights}: these weights were trained on mnist, "
        "not fashion-mnist: "
        "their outputs mean mnist classes; drop --dataset or give --dataset mnist"
    )


def test_predict_frames_fashion_pictures_as_fashion_mnist(tmp_path, capsys):
    """Fashion-MNIST weights see a picture framed as Zalando framed theirs (the object's
    box scaled to 28 pixels), not as MNIST frames a digit (20 pixels, centred by mass)."""
    spec = get_spec("perceptron")
    rng = np.random.default_rng(0)
    params = {k: rng.normal(0, 0.1, v.shape).astype(np.float32)
              for k, v in init_params(spec, 0).items()}  # fmt: skip
    path = tmp_path / "fashion.npz"
    save_params(path, spec, params, dataset="fashion-mnist")
    image = tmp_path / "shoe.png"
    picture = np.zeros((40, 60), dtype=np.uint8)
    picture[10:30, 5:55] = 200  # a wide object in a margin: the two framings differ
    Image.fromarray(picture).save(image)
    code, out, _ = run(["predict", path, image, "--json"], capsys)
    assert code == 0
    got = np.array(json.loads(out)[0]["probabilities"])
    numpy = get_backend("numpy")
    model = numpy.build(spec, params, device="cpu")

    def probabilities(fashion):
        logits = numpy.forward(model, load_digit(image, fashion=fashion)[None]).astype(np.float64)
        return common.softmax(logits)[0]

    assert not np.allclose(probabilities(True), probabilities(False), atol=1e-3)
    np.testing.assert_allclose(got, probabilities(True), rtol=1e-6)


def test_compare_trains_by_the_dataset_s_recipe_and_names_each_device(monkeypatch, capsys):
    """dnn has a recipe of its own for Fashion-MNIST (Adam, lr 0.002, one-cycle), and each
    result names its device as the framework names it."""
    from mnist_nets.cli import compare

    class Named(type(get_backend("numpy"))):
        def device_name(self, device):
            return f"the {device} of a stand-in"

    monkeypatch.setattr(compare, "list_backends", lambda: ["numpy"])
    monkeypatch.setattr(compare, "load_backend", lambda name: Named())
    code, out, _ = run(
        ["compare", "--model", "dnn", "--dataset", "fashion-mnist", "--limit", "100",
         "--epochs", "1", "-q", "--json"],
        capsys,
    )  # fmt: skip
    report = json.loads(out)
    fashion, plain = get_spec("dnn").for_dataset("fashion-mnist").recipe, get_spec("dnn").recipe
    assert code == 0 and fashion.lr != plain.lr
    assert (report["lr"], report["batch_size"]) == (fashion.lr, fashion.batch_size)
    assert report["results"][0]["device_name"] == "the cpu of a stand-in"


# --------------------------------------------------------------------------- train


class _StandIn(type(get_backend("numpy"))):
    """The numpy backend on a fake clock (every epoch takes 0.25 s of training, every
    evaluation is made at its share of that), insisting on being told the device and
    the seed, naming its device its own way; on request it prints to stdout while it
    builds (as a framework's C++ code does), its weights become NaN, or Ctrl-C comes,
    once ``nan_after`` or ``interrupt_after`` epochs have ended."""

    def __init__(self, chatty=False, nan_after=None, interrupt_after=None):
        self.chatty, self.nan_after, self.interrupt_after = chatty, nan_after, interrupt_after
        self.built = []
        self.epochs_ended = 0

    def build(self, spec, params, device, seed, dtype="float32"):
        if self.chatty:
            print("chatter from a framework")
            os.write(1, b"chatter on fd 1\n")
        self.built.append((device, seed))
        return super().build(spec, params, device=device, seed=seed)

    def device_name(self, device):
        return f"the {device} of a stand-in"

    def export_params(self, model):
        params = super().export_params(model)
        if self.nan_after is not None and self.epochs_ended >= self.nan_after:
            return {name: np.full_like(value, np.nan) for name, value in params.items()}
        return params

    def train_epoch(self, *args, **kwargs):
        if self.interrupt_after is not None and self.epochs_ended >= self.interrupt_after:
            raise KeyboardInterrupt
        return super().train_epoch(*args, **kwargs)

    def train(self, model, data, *args, on_epoch_end, **kwargs):
        def ended(record, model):
            on_epoch_end(record, model)
            self.epochs_ended = record.epoch

        history = super().train(model, data, *args, on_epoch_end=ended, **kwargs)
        for record in history.epochs:
            record.seconds = 0.25
        for evaluation in history.evals:
            evaluation.train_seconds = 0.25 * evaluation.epoch
        return history


def _stand_in(monkeypatch, **kwargs) -> _StandIn:
    from mnist_nets.cli import train

    backend = _StandIn(**kwargs)
    monkeypatch.setattr(train, "load_backend", lambda name: backend)
    return backend


TRAIN = ["train", "--model", "perceptron", "--limit", "200", "--test-limit", "100",
         "--lr", "0.1", "--batch-size", "20", "--seed", "3"]  # fmt: skip
PERCEPTRON_PARAMS = "dense1.weight, dense1.bias"


def test_train_reports_its_rate_target_and_device_by_the_backend_s_clock(monkeypatch, capfd):
    """Two epochs of 200 images in 0.25 s each: 800 samples/s (under a second of training:
    the rate's floor of 1e-9 s never rounds it up to 1 s).  The target is reached at the
    first evaluation that reaches it, four an epoch here (the recipe goes to the training
    loop), and said in seconds and epochs of that clock; the device is named as the
    framework names it; --json keeps the framework's stdout chatter on stderr; the
    backend is built on the device and with the seed asked for."""
    from mnist_nets.cli import train

    spec = get_spec("perceptron").with_recipe(evals_per_epoch=4)
    monkeypatch.setattr(train, "get_spec", lambda name: spec)
    backend = _stand_in(monkeypatch, chatty=True)
    args = [*TRAIN, "--epochs", "2", "-q"]

    def report(target):
        nonlocal spec
        spec = dataclasses.replace(spec, target_accuracy=target)
        assert cli.main([*args, "--json"]) == 0
        out, err = capfd.readouterr()
        assert "chatter from a framework" in err and "chatter on fd 1" in err
        return json.loads(out)  # nothing but the JSON

    first = report(0.0)
    assert [e["epoch"] for e in first["evals"]] == [0.3, 0.5, 0.8, 1.0, 1.3, 1.5, 1.8, 2.0]
    target = first["evals"][-1]["test_accuracy"]
    reached = next(e["epoch"] for e in first["evals"] if e["test_accuracy"] >= target)
    result = report(target)
    accuracies = [[e["test_accuracy"] for e in r["evals"]] for r in (first, result)]
    assert accuracies[0] == accuracies[1]  # the same training (and evaluations)
    assert result["device_name"] == "the cpu of a stand-in"
    assert (result["train_seconds"], result["seconds_to_target"]) == (0.5, 0.25 * reached)
    assert backend.built == [("cpu", 3), ("cpu", 3)]

    assert cli.main(args) == 0
    out, _ = capfd.readouterr()
    lines = [line for line in out.splitlines() if not line.startswith("chatter")]
    assert lines == [
        "perceptron in numpy on cpu (the cpu of a stand-in): 2 epochs of 200 training images, "
        "lr 0.1, batch 20, seed 3",
        f"test accuracy {common.pct(result['test_accuracy'])} on 100 test images; trained in "
        "0.5 s (800 samples/s)",
        f"reached {common.pct(target)} after {0.25 * reached:.2f} s of training "
        f"(epoch {reached:.2f}; evaluations excluded)",
    ]


def test_train_one_by_default_draws_its_bar_and_saves_mnist_weights(tmp_path, capsys):
    from mnist_nets.cli.train import train_one
    from mnist_nets.data import load_split
    from mnist_nets.params import load_weights

    spec = get_spec("perceptron")
    out = tmp_path / "w.npz"
    data = (load_split("train", 100), load_split("test", 50))
    train_one(spec, get_backend("numpy"), "cpu", data,
              recipe=dataclasses.replace(spec.recipe, epochs=1, lr=0.1, batch_size=50), seed=0,
              params=init_params(spec, 0), out=str(out))  # fmt: skip
    assert "epoch 1/1" in capsys.readouterr().err
    assert load_weights(out)[2] == "mnist"


def test_train_one_without_out_existed_says_out_does_not_exist(tmp_path):
    """Weights that are NaN after epoch 1: every parameter that became NaN is named, a
    learning rate ten times lower is advised, and ``out`` (not said to exist before this
    run) does not exist."""
    from mnist_nets.cli.train import train_one
    from mnist_nets.data import load_split

    spec = get_spec("perceptron")
    out = tmp_path / "w.npz"
    data = (load_split("train", 100), load_split("test", 50))
    with pytest.raises(common.TrainingFailed) as failed:
        train_one(spec, _StandIn(nan_after=0), "cpu", data,
                  recipe=dataclasses.replace(spec.recipe, epochs=1, lr=0.1, batch_size=50), seed=0,
                  params=init_params(spec, 0), out=str(out), quiet=True)  # fmt: skip
    assert str(failed.value) == (
        f"training diverged: {PERCEPTRON_PARAMS} became NaN or infinite in epoch 1 (learning "
        f"rate 0.1); try a lower learning rate, e.g. --lr 0.01; no weights were saved to {out} "
        f"by this run ({out} does not exist)"
    )
    assert not out.exists()


def test_train_weights_that_become_nan_name_the_epoch_out_holds(tmp_path, monkeypatch, capsys):
    """NaN weights after epoch 2, whose learning rate is 0.1 * 0.5 (the perceptron's decay):
    exit 1, and ``--out`` holds epoch 1's weights, whole."""
    _stand_in(monkeypatch, nan_after=1)
    out = tmp_path / "w.npz"
    code, stdout, err = run([*TRAIN, "--epochs", "3", "-q", "--out", out], capsys)
    assert (code, stdout) == (1, "")
    assert one_line(err) == (
        f"mnist-nets: error: training diverged: {PERCEPTRON_PARAMS} became NaN or infinite in "
        "epoch 2 (learning rate 0.05); try a lower learning rate, e.g. --lr 0.005; "
        f"{out} holds the weights of epoch 1, the last complete one"
    )
    load_params(out)  # whole and finite


def test_train_on_a_full_disk_names_the_error_and_what_out_holds(tmp_path, monkeypatch, capsys):
    """The second save fails for lack of space: exit 3, the system's own words for it, and
    ``--out`` still holds epoch 1's weights."""
    import mnist_nets.params

    real_save = mnist_nets.params.save_params
    saves = []

    def save_once(*args, **kwargs):
        saves.append(True)
        return real_save(*args, **kwargs) if len(saves) == 1 else enospc()

    monkeypatch.setattr(mnist_nets.params, "save_params", save_once)
    out = tmp_path / "w.npz"
    code, stdout, err = run([*TRAIN, "--epochs", "2", "-q", "--out", out], capsys)
    assert (code, stdout) == (3, "")
    assert one_line(err) == (
        f"mnist-nets: error: cannot save the weights of epoch 2 to {out}: "
        f"{os.strerror(errno.ENOSPC)}; nothing half-written remains and {out} holds the weights "
        "of epoch 1, the last complete one; free space or choose another --out, then train again"
    )
    load_params(out)


@pytest.mark.parametrize("with_out", [True, False])
def test_train_interrupted_says_what_out_holds(with_out, tmp_path, monkeypatch, capsys):
    """Ctrl-C in epoch 2: exit 130 and one line, naming ``--out``'s epoch when there is one
    and nothing more when there is none."""
    _stand_in(monkeypatch, interrupt_after=1)
    out = tmp_path / "w.npz"
    code, stdout, err = run(
        [*TRAIN, "--epochs", "3", "-q", *(["--out", out] if with_out else [])], capsys
    )
    assert (code, stdout) == (130, "")
    assert one_line(err) == "mnist-nets: interrupted" + (
        f"; {out} holds the weights of epoch 1, the last complete one" if with_out else ""
    )


def test_compare_names_the_framework_that_diverged(capsys):
    """A loss that becomes infinite: the message starts with the framework's name and ends
    with the advice (no --out: nothing to say about saved weights)."""
    code, out, err = run(
        ["compare", "--model", "single_neuron", "--frameworks", "numpy", "--limit", "1000",
         "--epochs", "1", "--lr", "1000", "--batch-size", "32", "-q"],
        capsys,
    )  # fmt: skip
    assert (code, out) == (1, "")
    assert re.fullmatch(
        r"mnist-nets: error: numpy: training diverged: the loss became \S+ at epoch 1, batch "
        r"\d+ \(learning rate 1000\); try a lower learning rate, e.g. --lr 100",
        one_line(err),
    ), err


# --------------------------------------------------------------------------- the parser


@pytest.mark.parametrize(
    ("command", "description"),
    [
        ("train", "Train a model on MNIST (or Fashion-MNIST) from init_params(spec, seed) with "
         "the model's recipe (its optimizer, learning-rate schedule, epochs and batch size), "
         "showing a progress bar on stderr."),
        ("evaluate", "Test accuracy and confusion matrix of weights saved by `train --out`, "
         "in any framework."),
        ("predict", "The digit and the class probabilities (softmax of the outputs) for each "
         "image, made MNIST-like first: grayscale, inverted when the background is light, "
         "the digit scaled into 20x20 and centred by its centre of mass in 28x28."),
        ("compare", "Train one model in each framework from the same initial weights and data "
         "order; print accuracies, times and the largest logit differences."),
    ],
)  # fmt: skip
def test_help_prints_each_command_s_whole_description(command, description, monkeypatch,
                                                      capsys):
    monkeypatch.setenv("COLUMNS", "400")  # no wrapping: the paragraph is one line
    code, out, err = run([command, "--help"], capsys)
    assert (code, err) == (0, "")
    assert f"\n\n{description}\n\n" in out


@pytest.mark.parametrize(
    ("argv", "missing", "prog"),
    [([], "COMMAND", "mnist-nets"), (["data"], "ACTION", "mnist-nets data")],
)
def test_a_missing_command_or_data_action_is_a_usage_error(argv, missing, prog, capsys):
    code, out, err = run(argv, capsys)
    assert (code, out) == (2, "")
    assert err.splitlines()[-1] == (
        f"{prog}: error: the following arguments are required: {missing} (see {prog} --help)"
    )


def test_the_parser_names_the_command_and_the_data_action():
    """The namespace ``build_parser`` returns says which command (and which ``data``
    action) was asked for, under ``command`` and ``data_command``."""
    parser = cli.build_parser()
    assert parser.parse_args(["specs"]).command == "specs"
    args = parser.parse_args(["data", "fetch"])
    assert (args.command, args.data_command) == ("data", "fetch")


def test_dataset_refuses_an_unknown_name_listing_the_known_ones(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.build_parser().parse_args(["data", "fetch", "--dataset", "kmnist"])
    assert exc.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "mnist-nets data fetch: error: argument --dataset: invalid choice: 'kmnist' "
        "(choose from 'mnist', 'fashion-mnist') (see mnist-nets data fetch --help)"
    )


@pytest.mark.parametrize("command", ["train", "compare"])
def test_seed_defaults_to_0(command):
    assert cli.build_parser().parse_args([command, "--model", "dnn"]).seed == 0
