"""Canonical parameters: deterministic initialisation, and .npz files checked on load."""

import json
import re
import zipfile

import numpy as np
import pytest

from mnist_nets import params as params_module
from mnist_nets.params import (
    FORMAT_VERSION,
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


# --------------------------------------------------------------------------- sharper checks
# Written against mutants that survived `make mutation` (see tests/MUTATION.md).


def test_init_draws_in_canonical_order_with_he_and_output_scales():
    """The exact draws: one rng per seed, in parameter order, He std for hidden, 0.01 for output."""
    spec = get_spec("dnn")
    got = init_params(spec, 7)
    rng = np.random.default_rng(7)
    output_layer = spec.parameters[-1].layer
    for p in spec.parameters:
        if p.name.endswith(".bias"):
            expected = np.zeros(p.shape, np.float32)
        else:
            std = 0.01 if p.layer == output_layer else np.sqrt(2.0 / p.fan_in)
            expected = (rng.standard_normal(p.shape) * std).astype(np.float32)
        np.testing.assert_array_equal(got[p.name], expected)
        assert got[p.name].dtype == np.float32


def test_init_default_seed_is_zero():
    spec = get_spec("perceptron")
    default, zero = init_params(spec), init_params(spec, 0)
    np.testing.assert_array_equal(default["dense1.weight"], zero["dense1.weight"])


def test_check_params_refuses_integer_arrays():
    spec = get_spec("perceptron")
    params = {"dense1.weight": np.zeros((784, 10), np.int64), "dense1.bias": np.zeros(10)}
    with pytest.raises(ParamsError, match=r"dense1.weight has dtype int64, expected floating"):
        check_params(spec, params)


def test_check_params_casts_to_float32_and_names_where():
    spec = get_spec("perceptron")
    params = {name: np.ones(shape, np.float64) for name, shape in spec.param_shapes.items()}
    out = check_params(spec, params)
    assert list(out) == list(spec.param_shapes)
    assert all(v.dtype == np.float32 for v in out.values())
    with pytest.raises(ParamsError, match=r"^somewhere do not fit spec 'perceptron': missing"):
        check_params(spec, {}, where="somewhere")
    with pytest.raises(ParamsError, match=r"^parameters do not fit spec 'perceptron': unexpected"):
        check_params(spec, {**params, "x": np.zeros(1)})


def test_saved_file_holds_format_and_spec(tmp_path):
    spec = get_spec("perceptron")
    path = save_params(tmp_path / "w.npz", spec, init_params(spec, 0))
    with np.load(path, allow_pickle=False) as npz:
        assert int(npz["__format__"]) == FORMAT_VERSION
        assert npz["__format__"].dtype == np.int64
        assert json.loads(str(npz["__spec__"])) == json.loads(json.dumps(spec.to_dict()))
        assert str(npz["__dataset__"]) == "mnist"  # issue 13: weights name their dataset
        assert sorted(npz.files) == sorted(
            [*spec.param_shapes, "__format__", "__spec__", "__dataset__"]
        )


def test_a_write_failing_partway_leaves_the_old_file_and_no_part_file(tmp_path, monkeypatch):
    """Deterministic: the write itself raises after some bytes, not a timed Ctrl-C."""
    spec = get_spec("perceptron")
    path = save_params(tmp_path / "w.npz", spec, init_params(spec, 0))
    before = path.read_bytes()

    def savez_that_fails_partway(f, **arrays):
        f.write(b"PK\x03\x04 half an archive")
        raise OSError("disk full")

    monkeypatch.setattr(params_module.np, "savez", savez_that_fails_partway)
    with pytest.raises(OSError, match="disk full"):
        save_params(path, spec, init_params(spec, 1))
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.npz"]  # no .part file left
    monkeypatch.undo()
    new = tmp_path / "new.npz"
    monkeypatch.setattr(params_module.np, "savez", savez_that_fails_partway)
    with pytest.raises(OSError):
        save_params(new, spec, init_params(spec, 1))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.npz"]  # nothing half-written


def test_save_returns_the_path_and_creates_the_directory(tmp_path):
    spec = get_spec("perceptron")
    target = tmp_path / "sub" / "w.npz"
    assert save_params(str(target), spec, init_params(spec, 0)) == target
    assert zipfile.is_zipfile(target)


def _write(path, **arrays):
    np.savez(path, **arrays)
    return path


def test_load_error_messages(tmp_path):
    spec = get_spec("perceptron")
    weights = {k: v for k, v in init_params(spec, 0).items()}
    spec_json = np.array(json.dumps(spec.to_dict()))
    no_format = _write(tmp_path / "a.npz", __spec__=spec_json, **weights)
    with pytest.raises(ParamsError, match=r"no __format__ entry, so not a mnist_nets weights"):
        load_params(no_format)
    no_spec = _write(tmp_path / "b.npz", __format__=np.array(1), **weights)
    with pytest.raises(ParamsError, match=r"no __spec__ entry"):
        load_params(no_spec)
    future = _write(tmp_path / "c.npz", __format__=np.array(2), __spec__=spec_json, **weights)
    with pytest.raises(ParamsError, match=r"weights format 2, this version reads format 1"):
        load_params(future)
    bad_json = _write(tmp_path / "d.npz", __format__=np.array(1), __spec__=np.array("{"), **weights)
    with pytest.raises(ParamsError, match=r"the stored spec is malformed"):
        load_params(bad_json)
    bad_spec = _write(
        tmp_path / "e.npz", __format__=np.array(1), __spec__=np.array('{"name": 3}'), **weights
    )
    with pytest.raises(ParamsError, match=r"the stored spec is malformed"):
        load_params(bad_spec)


def test_load_with_the_right_spec_and_missing_weights(tmp_path):
    spec = get_spec("perceptron")
    path = save_params(tmp_path / "w.npz", spec, init_params(spec, 2))
    loaded_spec, loaded = load_params(str(path), spec)
    assert loaded_spec == spec
    assert all(v.dtype == np.float32 for v in loaded.values())
    spec_json = np.array(json.dumps(spec.to_dict()))
    partial = _write(
        tmp_path / "p.npz", __format__=np.array(1), __spec__=spec_json,
        **{"dense1.weight": np.zeros((784, 10), np.float32)},
    )
    message = rf"^{re.escape(str(partial))} do not fit spec.*missing \['dense1.bias'\]"
    with pytest.raises(ParamsError, match=message):
        load_params(partial)


def test_load_errors_end_with_the_hint(tmp_path):
    hint = "save weights with mnist_nets.params.save_params or `mnist-nets train --out FILE`"
    with pytest.raises(ParamsError, match=rf"no such weights file \({re.escape(hint)}\)$"):
        load_params(tmp_path / "nope.npz")
    (tmp_path / "x.npz").write_bytes(b"not a zip")
    with pytest.raises(ParamsError, match=rf"\(not a zip archive\); {re.escape(hint)}$"):
        load_params(tmp_path / "x.npz")
    no_meta = _write(tmp_path / "m.npz", a=np.zeros(1))
    with pytest.raises(ParamsError, match=rf"so not a mnist_nets weights file; {re.escape(hint)}$"):
        load_params(no_meta)


@pytest.mark.parametrize("name", ["perceptron", "dnn", "cnn"])
def test_weights_file_size_is_a_little_more_than_the_saved_file(tmp_path, name):
    """The size hint bounds the file from above, by less than its per-entry allowance."""
    spec = get_spec(name)
    saved = save_params(tmp_path / "w.npz", spec, init_params(spec, 0))
    actual, hint = saved.stat().st_size, params_module.weights_file_size(spec)
    assert actual <= hint <= actual + 512 * (len(spec.parameters) + 3)


def test_an_unreadable_weights_file_is_refused_with_exit_code_3(tmp_path, monkeypatch):
    """Permission denied while reading (root reads any file, so the read is made to fail)."""
    spec = get_spec("perceptron")
    path = save_params(tmp_path / "w.npz", spec, init_params(spec, 0))

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(params_module.np, "load", denied)
    with pytest.raises(ParamsError) as caught:
        load_params(path, spec)
    assert str(caught.value) == f"{path}: cannot read: Permission denied"
    assert caught.value.exit_code == 3


def test_is_weights_file_refuses_a_symlink_and_a_broken_zip(tmp_path):
    """A symlink to good weights is not taken (so `train --out` will not write through one
    without --force); a fifo is refused without being opened (opening it would block); a
    file that looks like a zip but whose directory cannot be read is not weights."""
    import os
    import struct

    spec = get_spec("perceptron")
    path = save_params(tmp_path / "w.npz", spec, init_params(spec, 0))
    assert params_module.is_weights_file(path)
    link = tmp_path / "link.npz"
    link.symlink_to(path)
    assert not params_module.is_weights_file(link)
    fifo = tmp_path / "fifo.npz"
    os.mkfifo(fifo)
    assert not params_module.is_weights_file(fifo)
    broken = tmp_path / "broken.npz"  # an end-of-directory record pointing past the file
    broken.write_bytes(b"PK\x05\x06" + struct.pack("<HHHHIIH", 0, 0, 1, 1, 46, 1000, 0))
    assert zipfile.is_zipfile(broken)
    with pytest.raises(zipfile.BadZipFile):
        zipfile.ZipFile(broken)
    assert not params_module.is_weights_file(broken)


@pytest.mark.parametrize("version", [(1, 0), (2, 0)])
def test_an_entry_claiming_more_data_than_it_holds_is_refused(tmp_path, version):
    """An .npy header (format 1.0 or 2.0) for 5,000 x 1 float32 values over no data: refused
    from the header's full shape, before numpy allocates the array."""
    import io

    header = io.BytesIO()
    write = {(1, 0): np.lib.format.write_array_header_1_0,
             (2, 0): np.lib.format.write_array_header_2_0}[version]  # fmt: skip
    write(header, {"descr": "<f4", "fortran_order": False, "shape": (5000, 1)})
    path = tmp_path / "w.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("dense.weight.npy", header.getvalue())
    with pytest.raises(ParamsError, match=re.escape("claims shape (5000, 1) (5,000 values)")):
        load_params(path, get_spec("perceptron"))


def _npz_entries(path, entries):
    """An .npz of raw members: (name, header dict or None, data bytes)."""
    import io

    with zipfile.ZipFile(path, "w") as zf:
        for name, header, data in entries:
            raw = io.BytesIO()
            if header is not None:
                np.lib.format.write_array_header_1_0(raw, header)
            zf.writestr(name, raw.getvalue() + data)
    return path


def test_an_entry_is_held_to_the_data_after_its_header(tmp_path):
    """A header is checked against the bytes that follow it, not the entry's whole size:
    3 float32 values over exactly 12 bytes pass; over 11 (one value short, though the
    entry with its header is far larger) they are refused, also behind another member."""
    header = {"descr": "<f4", "fortran_order": False, "shape": (3,)}
    whole = _npz_entries(tmp_path / "whole.npz", [("w.npy", header, bytes(12))])
    params_module._check_entry_sizes(whole)
    for name, entries in [
        ("short.npz", [("w.npy", header, bytes(11))]),
        ("behind.npz", [("notes.txt", None, b"hello"), ("w.npy", header, bytes(11))]),
    ]:
        with pytest.raises(ValueError) as info:
            params_module._check_entry_sizes(_npz_entries(tmp_path / name, entries))
        assert str(info.value) == (
            "entry w.npy claims shape (3,) (3 values) but holds 11 bytes of data"
        )


@pytest.mark.parametrize(
    "exc, detail",
    [(ValueError("first line\nsecond line"), "first line"), (EOFError(), "EOFError")],
    ids=["first-line", "no-message"],
)
def test_an_unreadable_npz_is_named_by_the_first_line_of_its_error(exc, detail, tmp_path,
                                                                   monkeypatch):  # fmt: skip
    spec = get_spec("perceptron")
    path = save_params(tmp_path / "w.npz", spec, init_params(spec, 0))

    def failing_load(*args, **kwargs):
        raise exc

    monkeypatch.setattr(np, "load", failing_load)
    with pytest.raises(ParamsError) as info:
        load_params(path)
    assert str(info.value).startswith(f"{path}: not a readable .npz weights file ({detail}); ")
