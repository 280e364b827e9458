"""``mnist-nets serve``'s HTTP API against a live server (uvicorn on a free port, in a
thread of this process, every installed framework loaded once), and the command itself
in a subprocess: no weights, a port in use, Ctrl-C.

The weights are a dnn trained in numpy on real MNIST for a few seconds
(:func:`serve_helpers.trained_weights`); the server predicts with them in every
installed framework.
"""

from __future__ import annotations

import io
import json
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import httpx
import numpy as np
import pytest
from PIL import Image
from serve_helpers import live_server, trained_weights

from mnist_nets.backends import get_backend
from mnist_nets.backends.registry import installed
from mnist_nets.cli.common import softmax
from mnist_nets.data import get_dataset, load_mnist
from mnist_nets.images import INK, preprocess
from mnist_nets.params import load_weights, save_params
from mnist_nets.serve.app import MAX_BODY
from mnist_nets.serve.predictor import Predictor

DIGITS = 100  # real test digits sent one by one


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return trained_weights(tmp_path_factory)


@pytest.fixture(scope="module")
def predictor(weights):
    return Predictor(str(weights))


@pytest.fixture(scope="module")
def url(predictor):
    with live_server(predictor) as url:
        yield url


@pytest.fixture(scope="module")
def client(url):
    with httpx.Client(base_url=url, timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def digits():
    return load_mnist("test", DIGITS)


def png_bytes(image: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(image).save(out, format="PNG")
    return out.getvalue()


def pixels_json(image: np.ndarray) -> dict:
    return {"pixels": image.tolist()}


def numpy_probabilities(weights, images: np.ndarray) -> np.ndarray:
    """The weights' softmax outputs for float (N, 28, 28) images, computed here."""
    spec, params, _ = load_weights(weights)
    backend = get_backend("numpy")
    logits = backend.forward(backend.build(spec, params), images[..., None])
    return softmax(np.asarray(logits, dtype=np.float64))


def assert_answer(answer: dict, classes=tuple(str(d) for d in range(10))) -> None:
    """Every installed framework answered with ten probabilities and a time."""
    assert set(answer["predictions"]) == set(installed()), answer["predictions"].keys()
    for name, p in answer["predictions"].items():
        probs = np.array(p["probabilities"])
        assert probs.shape == (10,) and np.all(probs >= 0), name
        assert abs(probs.sum() - 1) < 1e-5, (name, probs.sum())
        assert p["class"] == classes[int(probs.argmax())], name
        assert 0 < p["seconds"] < 10, name
    image = np.array(answer["image"])
    assert image.shape == (28, 28) and image.min() >= 0 and image.max() <= 1


def centre_of_mass(image: np.ndarray) -> tuple[float, float]:
    ii, jj = np.indices(image.shape)
    return float((image * ii).sum() / image.sum()), float((image * jj).sum() / image.sum())


# --------------------------------------------------------------------------- predictions


def test_real_test_digits_are_recognised(client, digits, weights):
    images, labels = digits
    seen, probs = [], {name: [] for name in installed()}
    for image in images:
        r = client.post("/api/predict", json=pixels_json(image))
        assert r.status_code == 200, r.text
        answer = r.json()
        assert_answer(answer)
        seen.append(answer["image"])
        for name, p in answer["predictions"].items():
            probs[name].append(p["probabilities"])
    # an MNIST digit is already MNIST-like: the networks see it (almost) as it is
    seen = np.array(seen, dtype=np.float32)
    assert np.abs(seen - images / 255).max() < 0.02
    # the answers are the weights' own, for the images sent back
    expected = numpy_probabilities(weights, seen)
    for name, p in probs.items():
        assert np.abs(np.array(p) - expected).max() < 1e-3, name
        correct = int(np.count_nonzero(np.argmax(p, axis=1) == labels))
        assert correct >= 0.88 * DIGITS, (name, correct)


def test_a_png_drawn_anywhere_is_made_mnist_like(client, digits):
    """A digit three times MNIST's size, dark on white, off-centre in a wide PNG: the
    networks get it in a 20-pixel box centred by its centre of mass, and read it."""
    images, labels = digits
    hits = 0
    for k in range(10):
        big = np.asarray(Image.fromarray(images[k]).resize((84, 84), Image.Resampling.BILINEAR))
        canvas = np.full((150, 260), 255, dtype=np.uint8)
        top, left = 5 + 4 * k, 150 - 10 * k
        canvas[top : top + 84, left : left + 84] = 255 - big
        r = client.post(
            "/api/predict", content=png_bytes(canvas), headers={"Content-Type": "image/png"}
        )
        assert r.status_code == 200, r.text
        answer = r.json()
        assert_answer(answer)
        seen = np.array(answer["image"], dtype=np.float32)
        ci, cj = centre_of_mass(seen)
        assert abs(ci - 14) <= 0.5 and abs(cj - 14) <= 0.5, (k, ci, cj)
        rows = np.flatnonzero((seen > INK).any(axis=1))
        cols = np.flatnonzero((seen > INK).any(axis=0))
        assert max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1 in (19, 20, 21), k
        assert np.abs(seen - preprocess(canvas / np.float32(255))).max() < 1e-4
        tops = {p["class"] for p in answer["predictions"].values()}
        hits += tops == {str(labels[k])}
    assert hits >= 8, hits


def test_48_concurrent_requests_are_all_answered(url, client, digits):
    images, _ = digits
    expected = [client.post("/api/predict", json=pixels_json(images[i])).json() for i in range(48)]
    start = threading.Barrier(48)

    def ask(i: int) -> httpx.Response:
        with httpx.Client(base_url=url, timeout=120) as own:
            start.wait(30)
            if i % 2:  # half as PNG, half as JSON
                return own.post(
                    "/api/predict",
                    content=png_bytes(images[i]),
                    headers={"Content-Type": "image/png"},
                )
            return own.post("/api/predict", json=pixels_json(images[i]))

    with ThreadPoolExecutor(48) as pool:
        answers = list(pool.map(ask, range(48)))
    for i, r in enumerate(answers):
        assert r.status_code == 200, (i, r.text)
        got, want = r.json(), expected[i]
        assert_answer(got)
        assert np.abs(np.array(got["image"]) - np.array(want["image"])).max() < 1e-3, i
        for name, p in got["predictions"].items():
            diff = np.abs(np.array(p["probabilities"]) - want["predictions"][name]["probabilities"])
            assert diff.max() < 1e-4, (i, name)


def test_a_kept_alive_connection_is_answered_without_delay(client):
    """Without TCP_NODELAY on the server's connections, every answer after the first on
    a kept-alive connection waits about 40 ms (Nagle's algorithm holding the body until
    the client's delayed ACK of the headers)."""
    times = []
    for _ in range(21):
        start = time.perf_counter()
        assert client.get("/api/info").status_code == 200
        times.append(time.perf_counter() - start)
    assert np.median(times) < 0.02, times


def test_fashion_weights_answer_with_class_names(weights, tmp_path, digits):
    spec, params, _ = load_weights(weights)
    fashion = tmp_path / "fashion.npz"
    save_params(fashion, spec, params, dataset="fashion-mnist")
    names = get_dataset("fashion-mnist").classes
    image = digits[0][0]
    with live_server(Predictor(str(fashion), frameworks=["numpy"])) as url:
        info = httpx.get(f"{url}/api/info").json()
        r = httpx.post(f"{url}/api/predict", json=pixels_json(image))
    assert info["dataset"] == "fashion-mnist" and info["classes"] == list(names)
    answer = r.json()
    assert answer["classes"] == list(names)
    assert answer["predictions"]["numpy"]["class"] in names
    # framed as Fashion-MNIST was: scaled to 28 pixels and centred by its box
    assert np.abs(np.array(answer["image"]) - preprocess(image / 255, fashion=True)).max() < 1e-4


def test_the_page_and_its_files_are_served(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'id="pad"' in page.text and 'id="seen"' in page.text and 'id="clear"' in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    for path, kind in [("/static/app.js", "javascript"), ("/static/style.css", "text/css")]:
        r = client.get(path)
        assert r.status_code == 200 and kind in r.headers["content-type"], path
    info = client.get("/api/info").json()
    assert [f["name"] for f in info["frameworks"]] == installed()
    assert info["classes"] == [str(d) for d in range(10)] and info["max_body"] == MAX_BODY


# --------------------------------------------------------------------------- bad requests


def blank_png() -> bytes:
    return png_bytes(np.full((40, 40), 255, dtype=np.uint8))


def huge_png() -> bytes:
    out = io.BytesIO()
    Image.new("1", (5000, 5000)).save(out, format="PNG")  # a few KiB, 25 million pixels
    return out.getvalue()


def grid(value=0, rows=28, cols=28) -> dict:
    return {"pixels": [[value] * cols for _ in range(rows)]}


def with_pixel(value) -> dict:
    body = grid(0)
    body["pixels"][3][5] = value
    return body


JSON, PNG = "application/json", "image/png"
BAD = [  # (id, Content-Type, body, status, words in the error)
    ("not-json", JSON, b'{"pixels": [[', 400, "not valid JSON"),
    ("not-utf8", JSON, b"\xff\xfe{", 400, "not valid JSON"),
    ("json-array", JSON, b"[1, 2]", 400, '{"pixels"'),
    ("no-pixels", JSON, json.dumps({"pixel": 1}).encode(), 400, '{"pixels"'),
    ("27-rows", JSON, json.dumps(grid(rows=27)).encode(), 400, "28 rows"),
    ("29-columns", JSON, json.dumps(grid(cols=29)).encode(), 400, "row 0 must hold 28"),
    ("over-255", JSON, json.dumps(with_pixel(256)).encode(), 400, "[3][5] is 256, not in 0..255"),
    ("negative", JSON, json.dumps(with_pixel(-1)).encode(), 400, "not in 0..255"),
    ("string", JSON, json.dumps(with_pixel("12")).encode(), 400, "a string, not a number"),
    ("boolean", JSON, json.dumps(with_pixel(True)).encode(), 400, "a boolean, not a number"),
    ("null", JSON, json.dumps(with_pixel(None)).encode(), 400, "null, not a number"),
    ("nan", JSON, json.dumps(with_pixel(float("nan"))).encode(), 400, "NaN is not JSON"),
    ("deep", JSON, b"[" * 200_000, 400, "nested too deeply"),
    ("blank-pixels", JSON, json.dumps(grid(0)).encode(), 422, "no digit found"),
    ("gif", PNG, b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", 400, "not a PNG"),
    ("cut-png", PNG, blank_png()[:60], 400, "unreadable image"),
    ("blank-png", PNG, blank_png(), 422, "no digit found"),
    ("huge-png", PNG, huge_png(), 400, "5000x5000 pixels, more than"),
    ("empty", PNG, b"", 400, "not a PNG"),
    ("text", "text/plain", b"7", 415, "send image/png"),
    ("no-type", None, b"7", 415, "Content-Type missing"),
]


def send(client: httpx.Client, kind: str | None, body: bytes) -> httpx.Response:
    headers = {"Content-Type": kind} if kind else {}
    return client.post("/api/predict", content=body, headers=headers)


@pytest.mark.parametrize(
    ("kind", "body", "status", "words"), [b[1:] for b in BAD], ids=[b[0] for b in BAD]
)
def test_a_bad_body_gets_a_4xx_json_error(client, kind, body, status, words):
    r = send(client, kind, body)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json"
    assert words in r.json()["error"], r.json()


def test_wrong_methods_and_paths_get_json_errors(client):
    r = client.get("/api/predict")
    assert r.status_code == 405 and "POST" in r.headers["allow"] and r.json()["error"]
    r = client.get("/api/nothing")
    assert r.status_code == 404 and r.json()["error"]


def raw_exchange(url: str, head: bytes, chunks=(), timeout: float = 20) -> tuple[int, bytes]:
    """Send ``head`` and ``chunks`` on a plain socket, without ending the body, and read
    the answer: a server that waits for the whole body before refusing it times out."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as s:
        s.sendall(head)
        for chunk in chunks:
            s.sendall(chunk)
        data = b""
        while b"\r\n\r\n" not in data:
            more = s.recv(65536)
            assert more, f"the connection closed without an answer: {data!r}"
            data += more
        head_text, _, body = data.partition(b"\r\n\r\n")
        length = int(re.search(rb"content-length: (\d+)", head_text, re.I).group(1))
        while len(body) < length:
            body += s.recv(65536)
    return int(head_text.split()[1]), body


def test_a_body_over_the_limit_is_refused_by_its_content_length(url, client):
    head = (
        "POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {MAX_BODY + 1}\r\n\r\n"
    ).encode()
    status, body = raw_exchange(url, head)  # not one byte of the body sent
    assert status == 413, body
    assert f"larger than {MAX_BODY:,} bytes" in json.loads(body)["error"]
    assert client.get("/api/info").status_code == 200


def test_a_chunked_body_is_refused_once_over_the_limit(url, client):
    head = (
        b"POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    mib = 1024 * 1024
    sizes = [mib] * (MAX_BODY // mib) + [1]  # one byte over; the closing chunk never sent
    chunks = [f"{n:x}\r\n".encode() + b"\0" * n + b"\r\n" for n in sizes]
    status, body = raw_exchange(url, head, chunks)
    assert status == 413, body
    assert "error" in json.loads(body)
    assert client.get("/api/info").status_code == 200


def test_a_body_of_exactly_the_limit_is_read(client, digits):
    payload = json.dumps(pixels_json(digits[0][0])).encode()
    body = payload + b" " * (MAX_BODY - len(payload))  # JSON allows trailing spaces
    assert len(body) == MAX_BODY
    r = send(client, JSON, body)
    assert r.status_code == 200, r.text
    assert_answer(r.json())


def test_still_serving_after_1000_bad_requests(url, client, digits):
    bodies = [b[1:3] for b in BAD if b[0] not in ("deep", "huge-png")]  # the slow ones
    for i in range(1000):
        kind, body = bodies[i % len(bodies)]
        r = send(client, kind, body)
        assert 400 <= r.status_code < 500, r.text
    head = b"POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n"
    assert raw_exchange(url, head)[0] == 415  # no Content-Type: refused before the length
    r = client.post("/api/predict", json=pixels_json(digits[0][0]))
    assert r.status_code == 200, r.text
    assert_answer(r.json())
    assert r.json()["predictions"]["numpy"]["class"] == str(digits[1][0])


# --------------------------------------------------------------------------- the command


def serve_cli(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "mnist_nets", "serve", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_ctrl_c_stops_the_server_with_exit_130(weights):
    proc = serve_cli("--weights", weights, "--port", "0", "--frameworks", "numpy")
    try:
        lines = []
        while not lines or "Ctrl-C stops" not in lines[-1]:
            line = proc.stderr.readline().decode()
            assert line, "".join(lines)
            lines.append(line)
        found = re.search(r"http://(127\.0\.0\.1):(\d+)/", lines[-1])
        assert found, lines[-1]  # 127.0.0.1 unless --host says otherwise
        port = int(found.group(2))
        assert httpx.get(f"http://127.0.0.1:{port}/api/info").status_code == 200
        proc.send_signal(signal.SIGINT)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    rest = proc.stderr.read().decode()
    assert proc.returncode == 130, rest
    assert "Traceback" not in rest
    assert rest.strip().splitlines()[-1] == "mnist-nets: stopped (Ctrl-C)", rest
    assert proc.stdout.read() == b""
    with pytest.raises(OSError):  # the port is closed
        socket.create_connection(("127.0.0.1", port), timeout=5).close()


def run_serve(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mnist_nets", "serve", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_without_weights_it_says_how_to_get_them_and_exits_2():
    result = run_serve()
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and result.stdout == "", result.stderr
    assert "mnist-nets train --model speedrun --out speedrun.npz" in lines[0]
    assert "mnist-nets serve --weights speedrun.npz" in lines[0]


def test_a_port_in_use_is_one_line_and_exit_2(weights):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        start = time.monotonic()
        result = run_serve("--weights", weights, "--port", port)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert f"cannot listen on 127.0.0.1 port {port}" in lines[0]
    assert "choose another --port" in lines[0]
    assert time.monotonic() - start < 30  # told before any framework loads
