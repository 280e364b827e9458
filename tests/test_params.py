"""Canonical parameters: deterministic initialisation, and .npz files checked on load."""

import zipfile

import numpy as np
import pytest

from mnist_nets.params import (
    ParamsError,
    check_params,
    init_params,
    load_params,
    save_params,
)
from mnist_nets.specs import get_spec, list_specs


@pytest.mark.parametrize("name", list_specs())
def test_init_matches_the_spec_and_the_seed(name):
    spec = get_spec(name)
    a, b, c = init_params(spec, 3), init_params(spec, 3), init_params(spec, 4)
    assert list(a) == list(spec.param_shapes)
    for pname, shape in spec.param_shapes.items():
        assert a[pname].shape == shape and a[pname].dtype == np.float32
        np.testing.assert_array_equal(a[pname], b[pname])
    weights = [p for p in a if p.endswith(".weight")]
    assert all(not np.array_equal(a[p], c[p]) for p in weights)
    assert all(not a[p].any() for p in a if p.endswith(".bias"))
    # per-layer scale: He (sqrt(2 / fan_in)) for hidden layers, 0.01 for the output layer
    infos = {p.name: p for p in spec.parameters}
    for p in weights:
        std = 0.01 if p == weights[-1] else np.sqrt(2 / infos[p].fan_in)
        assert a[p].std() == pytest.approx(std, rel=0.5 if a[p].size < 100 else 0.1), p
    # the first value is the seed's first standard normal draw, scaled
    first = np.random.default_rng(3).standard_normal()
    std0 = 0.01 if len(weights) == 1 else np.sqrt(2 / infos[weights[0]].fan_in)
    assert a[weights[0]].flat[0] == np.float32(first * std0)


def test_init_scale_is_he_for_hidden_layers():
    spec = get_spec("dnn")
    params = init_params(spec, 0)
    assert params["dense1.weight"].std() == pytest.approx(np.sqrt(2 / 784), rel=0.02)
    assert params["dense3.weight"].std() == pytest.approx(0.01, rel=0.05)
    assert not params["dense1.bias"].any()


def test_save_and_load_round_trip(tmp_path):
    spec = get_spec("cnn")
    params = init_params(spec, 1)
    path = save_params(tmp_path / "w.npz", spec, params)
    loaded_spec, loaded = load_params(path)
    assert loaded_spec == spec
    for name in params:
        np.testing.assert_array_equal(loaded[name], params[name])
    assert [p.name for p in tmp_path.iterdir()] == ["w.npz"]  # no temporary left behind


def test_load_checks_the_expected_spec(tmp_path):
    path = save_params(tmp_path / "w.npz", get_spec("dnn"), init_params(get_spec("dnn"), 0))
    with pytest.raises(
        ParamsError, match=r"holds weights for 'dnn' \(535,818 parameters\), not for 'cnn'"
    ):
        load_params(path, get_spec("cnn"))


def test_wrong_shape_is_named():
    spec = get_spec("perceptron")
    params = init_params(spec, 0)
    params["dense1.weight"] = params["dense1.weight"].T
    with pytest.raises(ParamsError, match=r"dense1.weight has shape \(10, 784\).*\(784, 10\)"):
        check_params(spec, params)


def test_missing_and_unexpected_names():
    spec = get_spec("perceptron")
    with pytest.raises(ParamsError, match=r"missing \['dense1.bias'\]; unexpected \['x'\]"):
        check_params(spec, {"dense1.weight": np.zeros((784, 10)), "x": np.zeros(1)})


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "not a readable .npz"),
        (b"PK\x03\x04 truncated zip", "not a readable .npz"),
        (b"hello world, not a zip", "not a readable .npz"),
    ],
)
def test_malformed_files(tmp_path, content, message):
    path = tmp_path / "bad.npz"
    path.write_bytes(content)
    with pytest.raises(ParamsError, match=message):
        load_params(path)


def test_missing_file(tmp_path):
    with pytest.raises(ParamsError, match="no such weights file"):
        load_params(tmp_path / "nope.npz")


def test_plain_npz_without_metadata(tmp_path):
    path = tmp_path / "plain.npz"
    np.savez(path, **{"dense1.weight": np.zeros((784, 10)), "dense1.bias": np.zeros(10)})
    with pytest.raises(ParamsError, match="not a mnist_nets weights file"):
        load_params(path)


def test_pickled_content_is_refused(tmp_path):
    path = tmp_path / "pickled.npz"
    np.savez(path, __format__=np.array(1), __spec__=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ParamsError, match="not a readable .npz"):
        load_params(path)


def test_truncated_file(tmp_path):
    spec = get_spec("dnn")
    path = save_params(tmp_path / "w.npz", spec, init_params(spec, 0))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ParamsError, match="not a readable .npz"):
        load_params(path)


def test_non_finite_values_are_refused(tmp_path):
    spec = get_spec("perceptron")
    params = init_params(spec, 0)
    params["dense1.bias"][3] = np.nan
    path = save_params(tmp_path / "w.npz", spec, params)
    with pytest.raises(ParamsError, match=r"\['dense1.bias'\] hold NaN"):
        load_params(path)


def test_failed_save_leaves_the_old_file(tmp_path):
    spec = get_spec("perceptron")
    path = save_params(tmp_path / "w.npz", spec, init_params(spec, 0))
    before = path.read_bytes()
    with pytest.raises(ParamsError):
        save_params(path, spec, {"dense1.weight": np.zeros((3, 3))})
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.npz"]
    assert zipfile.is_zipfile(path)
