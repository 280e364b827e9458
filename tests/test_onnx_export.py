"""The ONNX export and onnxruntime as an inference engine.

* ``mnist-nets export`` of trained ``dnn`` and ``cnn`` weights, run in a fresh
  onnxruntime session on the raw test pixels, gives exactly the accuracy (and the
  confusion matrix) of ``mnist-nets evaluate`` for the same weights.
* Its predictions are compared with every installed backend's on all 10,000 test
  images: the logits agree to float32 noise, and the images whose two top logits lie
  within that noise (near-ties, where the predicted class may legitimately differ) are
  counted and printed (``pytest -s``), each disagreement among them.
* Every registered spec exports, passes ``onnx.checker`` (full check), declares opset 17,
  holds no dropout and gives the numpy backend's logits.
* ``export``'s failures (unknown format, bad weights, an unwritable or foreign ``--out``)
  end in one line and the exit code every command uses; nothing half-written is left.
* ``import mnist_nets`` (and its command line and engine registry) imports neither onnx
  nor onnxruntime.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from helpers import no_partial_files, one_line, run  # noqa: E402

from mnist_nets.backends import BackendUnavailable, get_backend, list_backends  # noqa: E402
from mnist_nets.backends.registry import BY_NAME as FRAMEWORKS  # noqa: E402
from mnist_nets.data import load_mnist, to_float_nhwc  # noqa: E402
from mnist_nets.engines import ENGINES, get_engine, list_engines  # noqa: E402
from mnist_nets.onnx_export import (  # noqa: E402
    INPUT_NAME,
    IR_VERSION,
    OPSET,
    OUTPUT_NAME,
    build_model,
    read_metadata,
)
from mnist_nets.params import init_params, load_weights  # noqa: E402
from mnist_nets.specs import get_spec, list_specs  # noqa: E402

TRAINED = ("dnn", "cnn")
# float32 noise allowed between two engines' logits: 64 float32 ulps of the largest logit
# (at least 1); the measured differences are 1e-6 to 1e-5 on logits of about 10 to 20
NOISE = 2.0**-17


@pytest.fixture(scope="module")
def test_set():
    images, labels = load_mnist("test")
    return images.astype(np.float32), labels.astype(np.int64)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """``{model: (weights.npz, model.onnx)}``: one numpy epoch on 2,000 images, exported."""
    from mnist_nets.cli import main

    folder = tmp_path_factory.mktemp("onnx")
    out = {}
    for model in TRAINED:
        weights, onnx_file = folder / f"{model}.npz", folder / f"{model}.onnx"
        args = ["train", "--model", model, "--limit", "2000", "--epochs", "1", "-q"]
        assert main([*args, "--out", str(weights)]) == 0
        assert main(["export", str(weights), "--format", "onnx", "--out", str(onnx_file)]) == 0
        out[model] = (weights, onnx_file)
    return out


def fresh_session(path) -> ort.InferenceSession:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def top_two_gap(logits: np.ndarray) -> np.ndarray:
    top = np.sort(logits, axis=1)
    return top[:, -1] - top[:, -2]


# --------------------------------------------------------------------------- accuracy


@pytest.mark.parametrize("model", TRAINED)
def test_exported_model_gives_exactly_evaluate_s_accuracy(model, exported, test_set, capsys):
    weights, onnx_file = exported[model]
    code, out, err = run(capsys, "evaluate", weights, "--json")
    assert code == 0, err
    ev = json.loads(out)
    assert ev["test_samples"] == 10_000
    images, labels = test_set
    logits = fresh_session(onnx_file).run(None, {INPUT_NAME: images})[0]
    assert logits.shape == (10_000, 10) and logits.dtype == np.float32
    predicted = logits.argmax(axis=1)
    correct = int(np.count_nonzero(predicted == labels))
    assert correct == ev["correct"]
    assert correct / 10_000 == ev["test_accuracy"]
    assert 0.5 < ev["test_accuracy"] < 1.0  # trained, so the equality means something
    confusion = np.zeros((10, 10), dtype=np.int64)
    np.add.at(confusion, (labels, predicted), 1)
    assert confusion.tolist() == ev["confusion"]
    # the same through the command line: the .onnx file, and the weights exported in memory
    for source in (onnx_file, weights):
        code, out, err = run(capsys, "evaluate", source, "--engine", "onnxruntime", "--json")
        assert code == 0, err
        via = json.loads(out)
        assert (via["engine"], via["model"], via["dataset"]) == ("onnxruntime", model, "mnist")
        assert (via["correct"], via["confusion"]) == (ev["correct"], ev["confusion"])


@pytest.mark.parametrize("framework", list_backends())
@pytest.mark.parametrize("model", TRAINED)
def test_predictions_equal_every_backend_s_near_ties_counted(model, framework, exported, test_set):
    """All 10,000 test images: the logits agree to float32 noise; every image whose top
    two logits are within twice that noise (in either engine) is a near-tie, counted and
    printed; a differing prediction is allowed on a near-tie only."""
    if not FRAMEWORKS[framework].installed():
        pytest.skip(f"{framework} is not installed")
    weights, onnx_file = exported[model]
    spec, params, _ = load_weights(weights)
    try:
        backend = get_backend(framework)
    except BackendUnavailable as exc:
        pytest.skip(str(exc))
    built = backend.build(spec, params, "cpu")
    images, labels = test_set
    x = to_float_nhwc(images)
    ref = np.concatenate([backend.forward(built, x[i : i + 1000]) for i in range(0, 10_000, 1000)])
    onx = fresh_session(onnx_file).run(None, {INPUT_NAME: images})[0]
    scale = max(1.0, float(np.abs(ref).max()))
    diff = float(np.abs(ref.astype(np.float64) - onx).max())
    assert diff <= NOISE * scale, f"logits differ by {diff:.3g} (scale {scale:.3g})"
    tie = 2 * NOISE * scale
    near = np.flatnonzero((top_two_gap(ref) <= tie) | (top_two_gap(onx) <= tie))
    disagree = np.flatnonzero(ref.argmax(axis=1) != onx.argmax(axis=1))
    print(
        f"\n{model} onnxruntime vs {framework}: max |logit difference| {diff:.3g}; "
        f"{len(near)} near-ties (top two logits within {tie:.3g}): {near.tolist()}; "
        f"{len(disagree)} predictions differ: {disagree.tolist()}"
    )
    for i in near:
        print(
            f"  image {i}: label {labels[i]}, {framework} {ref[i].argmax()} (gap "
            f"{top_two_gap(ref[i : i + 1])[0]:.3g}), onnxruntime {onx[i].argmax()}"
        )
    assert set(disagree.tolist()) <= set(near.tolist())


def test_a_near_tie_is_counted_and_a_real_difference_is_not_hidden():
    """The near-tie rule on planted logits: a tie within noise is found, a clear gap is not."""
    logits = np.array([[1.0, 1.0 + 1e-6, 0.0], [3.0, 1.0, 0.0]], dtype=np.float32)
    gaps = top_two_gap(logits)
    assert gaps[0] <= 2 * NOISE and gaps[1] > 2 * NOISE


# --------------------------------------------------------------------------- the graph


@pytest.mark.parametrize("name", list_specs())
def test_every_spec_exports_a_checked_graph_with_the_numpy_logits(name, test_set, tmp_path):
    spec = get_spec(name)
    params = init_params(spec, 3)
    model = build_model(spec, params)
    path = tmp_path / f"{name}.onnx"
    path.write_bytes(model.SerializeToString())
    loaded = onnx.load(str(path))
    onnx.checker.check_model(loaded, full_check=True)
    assert [(o.domain, o.version) for o in loaded.opset_import] == [("", OPSET)]
    assert loaded.ir_version == IR_VERSION
    (inp,), (out,) = loaded.graph.input, loaded.graph.output
    dims = [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim]
    assert (inp.name, dims) == (INPUT_NAME, ["N", 28, 28])
    dims = [d.dim_param or d.dim_value for d in out.type.tensor_type.shape.dim]
    assert (out.name, dims) == (OUTPUT_NAME, ["N", 10])
    ops = [n.op_type for n in loaded.graph.node]
    assert "Dropout" not in ops and ops[0] == "Div"  # the scaling is in the graph
    assert {i.name for i in loaded.graph.initializer} >= set(spec.param_shapes)
    assert read_metadata(loaded)[0] == spec
    images = test_set[0][:200]
    numpy = get_backend("numpy")
    ref = numpy.forward(numpy.build(spec, params), to_float_nhwc(images))
    got = fresh_session(path).run(None, {INPUT_NAME: images})[0]
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-5)
    assert (got.argmax(1) == ref.argmax(1)).mean() > 0.99


def test_a_mis_ordered_kernel_would_be_caught(test_set):
    """The export's check of conv kernels bites: the same graph with conv1's canonical
    kernel stored untransposed-in-its-spatial-axes gives other logits."""
    spec = get_spec("cnn")
    params = init_params(spec, 1)
    swapped = dict(params)
    swapped["conv1.weight"] = np.ascontiguousarray(params["conv1.weight"].transpose(1, 0, 2, 3))
    images = test_set[0][:50]
    good = ort.InferenceSession(build_model(spec, params).SerializeToString()).run(
        None, {INPUT_NAME: images}
    )[0]
    bad = ort.InferenceSession(build_model(spec, swapped).SerializeToString()).run(
        None, {INPUT_NAME: images}
    )[0]
    assert np.abs(good - bad).max() > 1e-3


def test_the_alexnet_graph_holds_no_dropout_and_its_dense_weights_as_stored():
    spec = get_spec("alexnet")
    assert spec.has_dropout
    params = init_params(spec, 0)
    model = build_model(spec, params)
    ops = [n.op_type for n in model.graph.node]
    assert "Dropout" not in ops and ops.count("Gemm") == 3 and ops.count("Conv") == 5
    inits = {i.name: onnx.numpy_helper.to_array(i) for i in model.graph.initializer}
    np.testing.assert_array_equal(inits["dense1.weight"], params["dense1.weight"])
    np.testing.assert_array_equal(
        inits["conv2.weight"], params["conv2.weight"].transpose(3, 2, 0, 1)
    )


# --------------------------------------------------------------------------- engines


def test_the_engines_are_the_backends_then_onnxruntime():
    assert list_engines() == [*list_backends(), "onnxruntime"]
    assert [e.backend for e in ENGINES] == [*list_backends(), None]
    with pytest.raises(ValueError, match="unknown engine 'caffe'; choose one of: numpy"):
        get_engine("caffe")


def test_a_backend_session_divides_as_the_data_loader_does(test_set):
    spec = get_spec("dnn")
    params = init_params(spec, 0)
    session = get_engine("numpy").load(spec, params)
    numpy = get_backend("numpy")
    images = test_set[0][:64]
    ref = numpy.forward(numpy.build(spec, params), to_float_nhwc(images))
    np.testing.assert_array_equal(session.run_pixels(images), ref)
    with pytest.raises(ValueError, match=r"raw pixel values 0-255"):
        session.run_pixels(images[..., None])


@pytest.mark.parametrize("framework", list_backends())
def test_every_backend_s_inference_function_gives_its_forward_logits(framework, test_set):
    """``Backend.inference`` (TensorFlow: a compiled tf.function) against ``forward``, at
    batch 1 and a larger batch, through the engine session the benchmarks time."""
    if not FRAMEWORKS[framework].installed():
        pytest.skip(f"{framework} is not installed")
    spec = get_spec("cnn")
    params = init_params(spec, 2)
    backend = get_backend(framework)
    ref = backend.forward(backend.build(spec, params), to_float_nhwc(test_set[0][:65]))
    session = get_engine(framework).load(spec, params)
    assert session.settings["mode"] == backend.inference_mode
    np.testing.assert_allclose(session.run_pixels(test_set[0][:65]), ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(session.run_pixels(test_set[0][:1]), ref[:1], rtol=1e-5, atol=1e-6)


def test_onnxruntime_session_records_its_default_settings():
    spec = get_spec("perceptron")
    session = get_engine("onnxruntime").load(spec, init_params(spec, 0))
    assert session.settings["graph_optimization_level"] == "ORT_ENABLE_ALL"
    assert session.settings["providers"] == ["CPUExecutionProvider"]
    x = np.zeros((2, 28, 28, 1), dtype=np.float32)
    np.testing.assert_allclose(session.run(x), session.run_pixels(np.zeros((2, 28, 28))))


def test_predict_with_onnxruntime_gives_numpy_s_probabilities(exported, test_set, tmp_path, capsys):
    from PIL import Image

    weights, onnx_file = exported["cnn"]
    paths = []
    for i in range(3):
        paths.append(tmp_path / f"d{i}.png")
        Image.fromarray(test_set[0][i].astype(np.uint8)).save(paths[-1])
    code, out, err = run(capsys, "predict", weights, *paths, "--json")
    assert code == 0, err
    ref = json.loads(out)
    code, out, err = run(capsys, "predict", onnx_file, *paths, "--engine", "onnxruntime", "--json")
    assert code == 0, err
    got = json.loads(out)
    assert [g["digit"] for g in got] == [r["digit"] for r in ref]
    np.testing.assert_allclose(
        [g["probabilities"] for g in got], [r["probabilities"] for r in ref], atol=1e-5
    )


# --------------------------------------------------------------------------- failures


@pytest.fixture
def small_weights(tmp_path):
    from mnist_nets.params import save_params

    spec = get_spec("perceptron")
    return save_params(tmp_path / "w.npz", spec, init_params(spec, 0))


def test_export_text_and_json(small_weights, tmp_path, capsys):
    out_file = tmp_path / "m.onnx"
    code, out, err = run(capsys, "export", small_weights, "--out", out_file)
    assert (code, err) == (0, "")
    assert out.startswith(f"perceptron weights from {small_weights} exported to {out_file} (")
    assert "ONNX opset 17, input 'pixels' float32 (N, 28, 28)" in out
    code, out, err = run(capsys, "export", small_weights, "--out", out_file, "--json")
    assert code == 0, err  # an exported model is replaced without --force
    report = json.loads(out)
    assert (report["model"], report["opset"], report["bytes"]) == (
        "perceptron",
        OPSET,
        out_file.stat().st_size,
    )
    assert no_partial_files(tmp_path)


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["--format", "tflite"], 2, "argument --format: invalid choice: 'tflite'"),
        (["--out", "{tmp}/dir"], 2, "is a directory"),
        (["--out", "/proc/m.onnx"], 3, "--out /proc/m.onnx: cannot create a file in /proc"),
        (["--out", "{tmp}/notes.md"], 2, "exists and is not a model exported by mnist-nets"),
    ],
    ids=["unknown format", "out is a folder", "unwritable out", "out is a foreign file"],
)
def test_export_failures_are_one_line_with_their_exit_code(
    args, code, message, small_weights, tmp_path, capsys
):
    (tmp_path / "dir").mkdir()
    (tmp_path / "notes.md").write_text("mine")
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    if "--out" not in args:
        args += ["--out", str(tmp_path / "m.onnx")]
    got, out, err = run(capsys, "export", small_weights, *args)
    assert (got, out) == (code, "")
    assert message in one_line(err)
    assert (tmp_path / "notes.md").read_text() == "mine"
    assert not (tmp_path / "m.onnx").exists() and no_partial_files(tmp_path)


def test_export_force_replaces_a_foreign_file(small_weights, tmp_path, capsys):
    target = tmp_path / "notes.md"
    target.write_text("mine")
    code, _, err = run(capsys, "export", small_weights, "--out", target, "--force")
    assert code == 0, err
    onnx.checker.check_model(onnx.load(str(target)))


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "no such weights file"),
        (b"not a zip", "not a readable .npz weights file"),
    ],
    ids=["missing", "garbage"],
)
def test_export_of_bad_weights_is_exit_2(content, message, tmp_path, capsys):
    weights = tmp_path / "w.npz"
    if content is not None:
        weights.write_bytes(content)
    code, out, err = run(capsys, "export", weights, "--out", tmp_path / "m.onnx")
    assert (code, out) == (2, "")
    assert message in one_line(err)
    assert not (tmp_path / "m.onnx").exists()


def test_running_a_model_file_wrongly_is_one_line(small_weights, tmp_path, capsys):
    model = tmp_path / "m.onnx"
    assert run(capsys, "export", small_weights, "--out", model)[0] == 0
    code, _, err = run(capsys, "evaluate", model, "--limit", "10")  # numpy cannot run it
    assert code == 2
    assert "an exported model, which the numpy backend cannot run; give --engine onnxruntime" in (
        one_line(err)
    )
    garbage = tmp_path / "g.onnx"
    garbage.write_bytes(b"\x08\x07garbage")
    code, _, err = run(capsys, "evaluate", garbage, "--engine", "onnxruntime")
    assert code == 2 and "g.onnx: not a readable ONNX model" in one_line(err)
    foreign = tmp_path / "f.onnx"
    bare = build_model(get_spec("perceptron"), init_params(get_spec("perceptron"), 0))
    del bare.metadata_props[:]
    foreign.write_bytes(bare.SerializeToString())
    code, _, err = run(capsys, "evaluate", foreign, "--engine", "onnxruntime")
    assert code == 2 and "an ONNX model not exported by mnist-nets" in one_line(err)
    code, _, err = run(
        capsys, "evaluate", model, "--engine", "onnxruntime", "--dataset", "fashion-mnist"
    )
    assert code == 2 and "trained on mnist, not fashion-mnist" in one_line(err)


def test_importing_the_package_imports_neither_onnx_nor_onnxruntime():
    script = (
        "import sys\n"
        "import mnist_nets, mnist_nets.cli, mnist_nets.engines, mnist_nets.onnx_export\n"
        "from mnist_nets.cli.parser import build_parser\n"
        "build_parser()\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('onnx', 'onnxruntime'))\n"
        "assert not loaded, loaded\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr


def test_load_engine_turns_tensorflow_s_start_up_chatter_down(monkeypatch):
    from mnist_nets.cli.inference import load_engine

    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    assert load_engine("numpy").name == "numpy"
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "2"
