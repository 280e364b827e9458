"""Fashion-MNIST (issue 13): its sources, the .deb reader, weights that know their dataset.

Every file here is small and made in the test; nothing goes to the network.
"""

import gzip
import hashlib
import io
import os
import subprocess
import sys
import tarfile

import numpy as np
import pytest

from mnist_nets import data
from mnist_nets.cli import main
from mnist_nets.data import DataError, ar_members, deb_data_files, load_mnist, mnist_files
from mnist_nets.params import (
    ParamsError,
    check_dataset,
    init_params,
    load_params,
    load_weights,
    save_params,
)
from mnist_nets.specs import ModelSpec, get_spec, list_specs

NAMES = list(data.FASHION_SHA256)


@pytest.fixture
def env(tmp_path, monkeypatch):
    """An empty cache, no explicit folders, a mirror that fails, no package unless set."""
    for var in ("MNIST_NETS_DATA", "MNIST_NETS_FASHION_DATA", "MNIST_NETS_FASHION_DEB"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("MNIST_NETS_FASHION_MIRRORS", (tmp_path / "no-mirror").as_uri() + "/")
    return tmp_path


def fake_files(n_train=12, n_test=6, seed=1):
    """Small IDX files with the real names: {name: raw bytes}."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    out = {}
    for name, array in arrays.items():
        header = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
        out[name] = header + array.tobytes()
    return out


def use_sums(monkeypatch, files):
    sums = {name: hashlib.sha256(raw).hexdigest() for name, raw in files.items()}
    monkeypatch.setattr(data, "FASHION_SHA256", sums)
    return sums


def ar_archive(members: dict[str, bytes]) -> bytes:
    out = b"!<arch>\n"
    for name, body in members.items():
        header = f"{name:<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(body):<10}".encode("ascii") + b"`\n"
        assert len(header) == 60
        out += header + body + (b"\n" if len(body) % 2 else b"")
    return out


def make_deb(files: dict[str, bytes], prefix="./usr/share/datasets/fashion-mnist/") -> bytes:
    """A small .deb laid out as Debian's dataset-fashion-mnist: gzipped files in data.tar.xz."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:xz") as tar:
        for name, raw in files.items():
            body = gzip.compress(raw)
            info = tarfile.TarInfo(prefix + name + ".gz")
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    control = io.BytesIO()
    with tarfile.open(fileobj=control, mode="w:xz"):
        pass
    return ar_archive(
        {
            "debian-binary": b"2.0\n",
            "control.tar.xz": control.getvalue(),
            "data.tar.xz": buf.getvalue(),
        }
    )


# --------------------------------------------------------------------------- the .deb reader


def test_ar_members_reads_odd_and_even_sized_members():
    members = {"a": b"odd", "bb": b"even", "c": b""}
    assert ar_members(ar_archive(members)) == members


def test_deb_data_files_gives_the_decompressed_idx_files():
    files = fake_files()
    got = dict(deb_data_files(make_deb(files), NAMES))
    assert got == files


@pytest.mark.parametrize(
    "mangle, message",
    [
        (lambda deb: b"PK" + deb[2:], "not an ar archive"),
        (lambda deb: deb[:-40], "truncated ar archive"),
        (lambda deb: deb[:8] + deb[8:68].replace(b"`\n", b"xx") + deb[68:], "corrupt ar archive"),
    ],
)
def test_a_damaged_deb_is_one_error(mangle, message):
    with pytest.raises(DataError, match=message):
        dict(deb_data_files(mangle(make_deb(fake_files())), NAMES))


def test_a_deb_without_the_files_names_what_is_missing():
    files = fake_files()
    del files["t10k-labels-idx1-ubyte"]
    with pytest.raises(DataError, match="no /usr/share/datasets/fashion-mnist/t10k-labels"):
        dict(deb_data_files(make_deb(files), NAMES))
    with pytest.raises(DataError, match="holds no data.tar"):
        dict(deb_data_files(ar_archive({"debian-binary": b"2.0\n"}), NAMES))
    bad_tar = ar_archive({"data.tar.xz": b"not xz at all"})
    with pytest.raises(DataError, match="unreadable data.tar.xz"):
        dict(deb_data_files(bad_tar, NAMES))


# --------------------------------------------------------------------------- sources


def test_fetch_from_the_deb_verifies_and_caches_in_its_own_folder(env, monkeypatch):
    files = fake_files()
    use_sums(monkeypatch, files)
    deb = env / "pkg.deb"
    deb.write_bytes(make_deb(files))
    monkeypatch.setenv("MNIST_NETS_FASHION_DEB", deb.as_uri())
    logs: list[str] = []
    found = mnist_files(dataset="fashion-mnist", log=logs.append)
    cache = env / "xdg" / "mnist_nets" / "fashion-mnist"
    assert data.cache_dir("fashion-mnist") == cache
    assert set(found) == set(NAMES) and all(p.parent == cache for p in found.values())
    assert all(found[name].read_bytes() == raw for name, raw in files.items())
    assert sorted(p.name for p in cache.iterdir()) == sorted(NAMES)  # no temporaries
    assert not (env / "xdg" / "mnist_nets" / "train-images-idx3-ubyte").exists()  # not MNIST's
    assert any("Debian package" in line for line in logs)
    monkeypatch.setattr(data, "SIZES", {"train": 12, "test": 6})
    images, labels = load_mnist("test", dataset="fashion-mnist", fetch=False)
    assert images.shape == (6, 28, 28) and labels.shape == (6,)


def test_a_corrupt_deb_file_enters_no_cache_and_every_source_is_named(env, monkeypatch):
    files = fake_files()
    use_sums(monkeypatch, files)
    bad = dict(files)
    bad["train-labels-idx1-ubyte"] = files["train-labels-idx1-ubyte"][:-1] + b"\x09"
    deb = env / "pkg.deb"
    deb.write_bytes(make_deb(bad))
    monkeypatch.setenv("MNIST_NETS_FASHION_DEB", deb.as_uri())
    with pytest.raises(DataError) as info:
        mnist_files(dataset="fashion-mnist")
    message = str(info.value)
    assert message.startswith("Fashion-MNIST files not available: train-labels-idx1-ubyte.")
    assert "no-mirror/train-images-idx3-ubyte.gz" in message  # the HTTPS mirror, first
    assert f"{deb.as_uri()}: checksum mismatch for train-labels-idx1-ubyte" in message
    assert "MNIST_NETS_FASHION_DATA" in message and "--dataset fashion-mnist" in message
    cache = env / "xdg" / "mnist_nets" / "fashion-mnist"
    assert "train-labels-idx1-ubyte" not in {p.name for p in cache.iterdir()}


def test_an_unreachable_package_and_a_disabled_one_are_named(env, monkeypatch):
    monkeypatch.setenv("MNIST_NETS_FASHION_DEB", (env / "none.deb").as_uri())
    with pytest.raises(DataError, match=r"none\.deb: .*No such file"):
        mnist_files(dataset="fashion-mnist")
    with pytest.raises(DataError, match="dataset-fashion-mnist .*not tried \\(disabled\\)"):
        mnist_files(dataset="fashion-mnist", use_npm=False)


def test_the_explicit_folder_variable_and_a_corrupt_file_there(env, monkeypatch):
    files = fake_files()
    use_sums(monkeypatch, files)
    folder = env / "mine"
    folder.mkdir()
    for name, raw in files.items():
        (folder / (name + ".gz")).write_bytes(gzip.compress(raw))
    monkeypatch.setenv("MNIST_NETS_FASHION_DATA", str(folder))
    found = mnist_files(dataset="fashion-mnist", fetch=False)
    assert all(p.parent == folder for p in found.values())
    monkeypatch.setenv("MNIST_NETS_DATA", str(env / "elsewhere"))  # MNIST's: not consulted
    assert mnist_files(dataset="fashion-mnist", fetch=False) == found
    (folder / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(b"\0\0\x08\x01\0\0\0\0"))
    with pytest.raises(DataError, match="checksum mismatch for t10k-images.*never modifies"):
        mnist_files(dataset="fashion-mnist", fetch=False)
    monkeypatch.setenv("MNIST_NETS_FASHION_DATA", str(env / "typo"))
    with pytest.raises(DataError, match="MNIST_NETS_FASHION_DATA .*typo: no such folder"):
        mnist_files(dataset="fashion-mnist", fetch=False)


def test_the_real_checksums_are_not_mnists():
    assert set(data.FASHION_SHA256) == set(data.SHA256)
    assert not set(data.FASHION_SHA256.values()) & set(data.SHA256.values())
    with pytest.raises(ValueError, match="unknown dataset 'kmnist'"):
        data.get_dataset("kmnist")


def test_data_fetch_command_for_fashion_mnist(env, monkeypatch, capsys):
    files = fake_files()
    use_sums(monkeypatch, files)
    deb = env / "pkg.deb"
    deb.write_bytes(make_deb(files))
    monkeypatch.setenv("MNIST_NETS_FASHION_DEB", deb.as_uri())
    assert main(["data", "fetch", "--dataset", "fashion-mnist"]) == 0
    out, err = capsys.readouterr()
    assert "Fashion-MNIST verified (sha256)" in err
    assert len(out.splitlines()) == 4 and "fashion-mnist/t10k-labels-idx1-ubyte" in out


# --------------------------------------------------------------------------- weights, specs


def test_weights_record_their_dataset_and_old_files_count_as_mnist(tmp_path):
    spec = get_spec("perceptron")
    params = init_params(spec, 0)
    path = save_params(tmp_path / "f.npz", spec, params, dataset="fashion-mnist")
    assert load_weights(path)[2] == "fashion-mnist"
    assert load_params(path)[0] == spec
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files if k != "__dataset__"}
    old = tmp_path / "old.npz"
    np.savez(old, **arrays)
    assert load_weights(old)[2] == "mnist"
    np.savez(tmp_path / "bad.npz", **arrays, __dataset__=np.array("kmnist"))
    with pytest.raises(ParamsError, match="__dataset__ entry is not one of mnist, fashion-mnist"):
        load_weights(tmp_path / "bad.npz")


def test_check_dataset():
    assert check_dataset("w.npz", "fashion-mnist", None) == "fashion-mnist"
    assert check_dataset("w.npz", "mnist", "mnist") == "mnist"
    with pytest.raises(ParamsError, match="trained on mnist, not fashion-mnist") as info:
        check_dataset("w.npz", "mnist", "fashion-mnist")
    assert info.value.exit_code == 2


@pytest.mark.parametrize("command", ["evaluate", "predict"])
def test_weights_on_the_other_dataset_are_refused(tmp_path, command):
    spec = get_spec("single_neuron")
    weights = save_params(tmp_path / "w.npz", spec, init_params(spec, 0), dataset="fashion-mnist")
    extra = [str(tmp_path / "x.png")] if command == "predict" else []
    result = subprocess.run(
        [sys.executable, "-m", "mnist_nets", command, str(weights), *extra, "--dataset", "mnist"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "trained on fashion-mnist, not mnist" in lines[0]


def test_a_spec_differs_per_dataset_in_floor_only():
    floors = {"perceptron": 0.835, "dnn": 0.89, "cnn": 0.91, "alexnet": 0.92}
    for name in list_specs():
        spec = get_spec(name)
        fashion = spec.for_dataset("fashion-mnist")
        assert spec.for_dataset("mnist") is spec
        assert fashion.layers == spec.layers and fashion.param_shapes == spec.param_shapes
        assert fashion.target_accuracy == floors.get(name)
        assert ModelSpec.from_dict(spec.to_dict()) == spec


def test_fashion_framing_keeps_a_fashion_like_image():
    from mnist_nets.images import preprocess

    rng = np.random.default_rng(2)
    x = np.zeros((28, 28), dtype=np.float32)
    x[3:25, :] = rng.uniform(0.3, 1.0, (22, 28))  # a full-width object, as Fashion's are
    x[10, 5] = 1.0
    got = preprocess(1.0 - x, fashion=True)  # dark on light, as a photo would be
    np.testing.assert_allclose(got, x, atol=0.01)
    # the digit framing would have shrunk it into 20x20
    assert not np.allclose(preprocess(1.0 - x), x, atol=0.1)


def test_out_is_refused_inside_the_fashion_data_folder(tmp_path):
    folder = tmp_path / "fashion"
    folder.mkdir()
    result = subprocess.run(
        [sys.executable, "-m", "mnist_nets", "train", "--model", "single_neuron",
         "--dataset", "fashion-mnist", "--out", str(folder / "w.npz")],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "MNIST_NETS_FASHION_DATA": str(folder)},
    )  # fmt: skip
    assert result.returncode == 2
    assert "is inside MNIST's folder" in result.stderr and not (folder / "w.npz").exists()
