"""Tests aimed at mutants of ``mnist_nets/cli/`` that the in-process tests left alive
(``make mutation``, see tests/MUTATION.md): the defaults and boundaries of the shared
helpers, what ``--json`` keeps off stdout, the exact text tables of ``evaluate`` and
``predict``, and Fashion-MNIST's own image framing in ``predict``."""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import test_faults as faults
from PIL import Image
from test_cli_inprocess import _FullStdout
from test_faults import one_line

import mnist_nets.cli as cli
from mnist_nets.backends import get_backend
from mnist_nets.cli import common, inference
from mnist_nets.cli.common import check_out
from mnist_nets.data import load_mnist
from mnist_nets.engines import get_engine
from mnist_nets.fileio import temp_name_prefix
from mnist_nets.images import load_digit
from mnist_nets.params import init_params, load_params, save_params
from mnist_nets.specs import get_spec


def run(argv: list, capsys) -> tuple[int, str, str]:
    return faults.run(capsys, *argv)


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
    checked = cli._CheckedStdout(_FullStdout(fail_write))
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
def weights(tmp_path):
    spec = get_spec("perceptron")
    path = tmp_path / "w.npz"
    save_params(path, spec, init_params(spec, 1))
    return path


@pytest.mark.parametrize("command", ["evaluate", "predict"])
def test_json_stays_clean_while_a_framework_chatters(command, weights, tmp_path, monkeypatch,
                                                     capfd):  # fmt: skip
    chatty = _Chatty()
    monkeypatch.setattr(inference, "load_engine", lambda name: chatty)
    image = tmp_path / "d.png"
    Image.fromarray(load_mnist("test", 1)[0][0]).save(image)
    args = ["evaluate", weights, "--limit", "20"] if command == "evaluate" else [
        "predict", weights, image]  # fmt: skip
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


def test_predict_table_exactly(weights, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    image = load_mnist("test", 1)[0][0]
    Image.fromarray(image).save("a.png")  # shorter than the "image" header
    code, out, _ = run(["predict", weights, "a.png", "--json"], capsys)
    (answer,) = json.loads(out)
    code, out, err = run(["predict", weights, "a.png"], capsys)
    assert (code, err) == (0, "")
    cells = "  ".join(f"{p:5.3f}" for p in answer["probabilities"])
    assert out.splitlines() == [
        "image  digit  " + "  ".join(f"{d:>5}" for d in range(10)),
        f"a.png  {answer['digit']:>5}  {cells}",
    ]


def test_predict_refuses_another_dataset_naming_the_weights(weights, tmp_path, capsys):
    image = tmp_path / "d.png"
    Image.fromarray(load_mnist("test", 1)[0][0]).save(image)
    code, out, err = run(["predict", weights, image, "--dataset", "fashion-mnist"], capsys)
    assert (code, out) == (2, "")
    assert one_line(err) == (
        f"mnist-nets: error: {weights}: these weights were trained on mnist, not fashion-mnist: "
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

    def build(self, spec, params, device, seed):
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
    train_one(spec, get_backend("numpy"), "cpu", data, epochs=1, lr=0.1, batch_size=50,
              seed=0, params=init_params(spec, 0), out=str(out))  # fmt: skip
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
        train_one(spec, _StandIn(nan_after=0), "cpu", data, epochs=1, lr=0.1, batch_size=50,
                  seed=0, params=init_params(spec, 0), out=str(out), quiet=True)  # fmt: skip
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
        return real_save(*args, **kwargs) if len(saves) == 1 else faults.enospc()

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
