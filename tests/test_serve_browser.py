"""``mnist-nets serve``'s page in a real headless Chromium, driven by Playwright: draw a 7
with the mouse, read every framework's answer off the page, check the 28x28 image shown
is the one the networks got, clear, then draw a 1 with a finger (touch events).

Playwright cannot download its own browser here: it launches Debian's ``chromium``
(``/usr/bin/chromium``, or ``$MNIST_NETS_CHROMIUM``).  When it is missing the test fails
naming what to install (``make test`` installs it when run as root); it never skips.

The screenshot of the page with the drawn 7 goes to a temporary folder, or to
``assets/serve.png`` (the README's) with ``MNIST_NETS_UPDATE_SCREENSHOT=1``.
"""

from __future__ import annotations

import base64
import os
import shutil
from pathlib import Path

import httpx
import numpy as np
import pytest
from serve_helpers import live_server, trained_weights

from mnist_nets.backends.registry import installed
from mnist_nets.serve.predictor import Predictor

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("MNIST_NETS_CHROMIUM", "/usr/bin/chromium")
VIEWPORT = {"width": 1000, "height": 640}
SEVEN = [(0.22, 0.2), (0.76, 0.2), (0.45, 0.86)]  # fractions of the pad: bar, then stem
ONE = [(0.52, 0.14), (0.47, 0.86)]


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("Playwright is not installed: `pip install -r requirements.txt`")
    if not (shutil.which(CHROMIUM) or Path(CHROMIUM).is_file()):
        pytest.fail(
            f"no Chromium at {CHROMIUM}: install Debian's package (`apt-get install -y "
            "chromium` as root, which `make test` does itself when run as root), or set "
            "MNIST_NETS_CHROMIUM to a Chromium binary"
        )
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def url(tmp_path_factory):
    predictor = Predictor(str(trained_weights(tmp_path_factory)))
    with live_server(predictor) as url:
        yield url


def pad_point(box: dict, fx: float, fy: float) -> tuple[float, float]:
    return box["x"] + fx * box["width"], box["y"] + fy * box["height"]


def answered(page) -> None:
    """Wait until the page shows the answer to its latest request."""
    page.wait_for_function(
        "() => { const r = document.getElementById('results');"
        " return r.dataset.sent && r.dataset.answered === r.dataset.sent"
        " && r.dataset.state !== 'waiting'; }",
        timeout=30_000,
    )
    state = page.get_attribute("#results", "data-state")
    assert state == "done", page.inner_text("#status")


def read_predictions(page) -> dict[str, dict]:
    """Each framework's card as a person reads it: top class, time, ten percentages."""
    cards = {}
    for card in page.locator(".framework").all():
        name = card.get_attribute("data-framework")
        cards[name] = {
            "top": card.locator(".top").inner_text(),
            "meta": card.locator(".meta").inner_text(),
            "labels": [t.strip() for t in card.locator(".bar .label").all_inner_texts()],
            "percent": [float(t.split()[0]) for t in card.locator(".bar .pct").all_inner_texts()],
            # how much of its track each bar fills, as drawn
            "filled": card.locator(".bar .track").evaluate_all(
                "tracks => tracks.map(t => t.firstElementChild.getBoundingClientRect().width"
                " / t.getBoundingClientRect().width)"
            ),
        }
    return cards


def canvas_gray(page, canvas_id: str) -> np.ndarray:
    rgba = page.evaluate(
        f"() => {{ const c = document.getElementById('{canvas_id}');"
        " return Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data); }"
    )
    size = round((len(rgba) // 4) ** 0.5)
    return np.array(rgba, dtype=np.int64).reshape(size, size, 4)[..., 0]


def test_draw_a_seven_with_the_mouse_and_a_one_by_touch(browser, url, tmp_path):
    context = browser.new_context(viewport=VIEWPORT, has_touch=True)
    page = context.new_page()
    problems = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on("console", lambda m: m.type == "error" and problems.append(m.text))
    page.goto(url + "/")
    page.wait_for_selector("#results[data-ready='true']")
    assert page.locator(".framework").count() == len(installed())

    # a 7 with the mouse: one stroke, the bar then the stem
    box = page.locator("#pad").bounding_box()
    page.mouse.move(*pad_point(box, *SEVEN[0]))
    page.mouse.down()
    for fx, fy in SEVEN[1:]:
        page.mouse.move(*pad_point(box, fx, fy), steps=15)
    page.mouse.up()
    answered(page)

    cards = read_predictions(page)
    assert set(cards) == set(installed())
    for name, card in cards.items():
        assert card["labels"] == [str(d) for d in range(10)], name
        assert abs(sum(card["percent"]) - 100) < 1, (name, card["percent"])
        assert card["meta"].endswith(" ms"), (name, card["meta"])
        assert card["top"] == str(int(np.argmax(card["percent"]))), name
        assert np.abs(np.array(card["filled"]) - np.array(card["percent"]) / 100).max() < 0.02
    sevens = [name for name, card in cards.items() if card["top"] == "7"]
    assert sevens, cards  # the same weights everywhere: in practice every framework says 7

    # the 28x28 image shown is the one the networks got for this drawing
    png = base64.b64decode(
        page.evaluate("() => document.getElementById('pad').toDataURL('image/png')").split(",")[1]
    )
    answer = httpx.post(
        f"{url}/api/predict", content=png, headers={"Content-Type": "image/png"}
    ).json()
    expected = np.rint(np.array(answer["image"]) * 255)
    shown = canvas_gray(page, "seen")
    assert np.abs(shown - expected).max() <= 1
    assert shown.max() == 255

    shot = (
        ROOT / "assets" / "serve.png"
        if os.environ.get("MNIST_NETS_UPDATE_SCREENSHOT") == "1"
        else tmp_path / "serve.png"
    )
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000

    # Clear: a white pad, no answer shown
    page.click("#clear")
    assert page.get_attribute("#results", "data-state") == "empty"
    assert canvas_gray(page, "pad").min() == 255
    assert set(page.locator(".framework .top").all_inner_texts()) == {"–"}

    # a 1 drawn with a finger: touch events, as a phone sends them
    cdp = context.new_cdp_session(page)
    points = [pad_point(box, *ONE[0])]
    for k in range(1, 16):
        (x0, y0), (x1, y1) = ONE
        points.append(pad_point(box, x0 + (x1 - x0) * k / 15, y0 + (y1 - y0) * k / 15))
    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [xy(points[0])]})
    for p in points[1:]:
        cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [xy(p)]})
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    answered(page)
    assert canvas_gray(page, "pad").min() == 0  # the finger drew
    tops = page.locator(".framework .top").all_inner_texts()
    assert "1" in tops, tops
    assert not problems, problems
    context.close()


def xy(point: tuple[float, float]) -> dict:
    return {"x": point[0], "y": point[1]}


def test_fashion_weights_show_class_names(browser, tmp_path_factory, tmp_path):
    from mnist_nets.data import get_dataset
    from mnist_nets.params import load_weights, save_params

    spec, params, _ = load_weights(trained_weights(tmp_path_factory))
    fashion = tmp_path / "fashion.npz"  # the digit weights, labelled as Fashion-MNIST's
    save_params(fashion, spec, params, dataset="fashion-mnist")
    names = list(get_dataset("fashion-mnist").classes)
    with live_server(Predictor(str(fashion), frameworks=["numpy"])) as url:
        page = browser.new_page(viewport=VIEWPORT)
        page.goto(url + "/")
        page.wait_for_selector("#results[data-ready='true']")
        assert page.inner_text("h1") == "Draw a piece of clothing"
        assert "Fashion-MNIST" in page.inner_text("#seen-note")
        box = page.locator("#pad").bounding_box()
        page.mouse.move(*pad_point(box, 0.3, 0.3))
        page.mouse.down()
        for fx, fy in [(0.7, 0.3), (0.7, 0.8), (0.3, 0.8), (0.3, 0.3)]:
            page.mouse.move(*pad_point(box, fx, fy), steps=8)
        page.mouse.up()
        answered(page)
        card = read_predictions(page)["numpy"]
        page.close()
    assert card["labels"] == names
    assert card["top"] == names[int(np.argmax(card["percent"]))]
