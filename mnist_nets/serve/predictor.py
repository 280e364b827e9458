"""The weights, loaded once into every framework, and one image in, every framework's
probabilities out; no web code here (see :mod:`mnist_nets.serve.app`).

Inputs are made MNIST-like exactly as ``mnist-nets predict`` makes pictures
(:func:`mnist_nets.images.preprocess`): a PNG, or a 28x28 grid of 0-255 values, is
inverted when its background is light, its digit scaled into 20x20 and centred by its
centre of mass in 28x28 (Fashion-MNIST weights: scaled into 28x28 and centred by its box).
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from mnist_nets.backends.registry import installed, label
from mnist_nets.images import SIZE, ImageError, preprocess, read_image

#: a PNG larger than this many pixels is refused before it is decoded (4096x4096)
MAX_PIXELS = 4096 * 4096
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class InputError(ValueError):
    """A request body that cannot be predicted; ``status`` is its HTTP status."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@dataclass
class Loaded:
    """One framework's model of the weights, and the lock that keeps its calls one at a
    time (a model object is not promised to be safe for concurrent calls)."""

    name: str
    label: str
    device: str
    backend: Any
    model: Any
    lock: threading.Lock


class Predictor:
    """``weights`` (a ``.npz`` saved by ``train --out``) built once in each framework of
    ``frameworks`` (default: every installed one; one that fails to import is left out
    and told to ``log``, unless it was named)."""

    def __init__(
        self,
        weights: str,
        frameworks: list[str] | None = None,
        device: str = "auto",
        log: Callable[[str], None] = lambda line: None,
    ):
        from mnist_nets.backends import BackendUnavailable
        from mnist_nets.cli.common import load_backend, resolve_device
        from mnist_nets.data import get_dataset
        from mnist_nets.params import load_weights

        spec, params, dataset = load_weights(weights)
        self.weights = str(weights)
        self.spec = spec
        self.dataset = dataset
        self.classes: tuple[str, ...] = get_dataset(dataset).classes
        self.fashion = dataset == "fashion-mnist"
        self.models: dict[str, Loaded] = {}
        blank = np.zeros((1, SIZE, SIZE, 1), dtype=np.float32)
        for name in frameworks or installed():
            try:
                backend = load_backend(name)
            except BackendUnavailable as exc:
                if frameworks:
                    raise
                log(f"{label(name)} left out: {exc}")
                continue
            where = resolve_device(backend, device)
            model = backend.build(spec, params, device=where)
            backend.forward(model, blank)  # compiles and allocates now, not in the first request
            self.models[name] = Loaded(name, label(name), where, backend, model, threading.Lock())
            log(f"{label(name)}: {spec.name} loaded on {where}")
        if not self.models:
            raise ValueError("no framework is installed: `pip install -r requirements.txt`")

    def info(self) -> dict:
        """What the page shows before the first prediction."""
        return {
            "model": self.spec.name,
            "dataset": self.dataset,
            "classes": list(self.classes),
            "frameworks": [
                {"name": m.name, "label": m.label, "device": m.device} for m in self.models.values()
            ],
        }

    # ------------------------------------------------------------------ inputs

    def image_from_png(self, raw: bytes) -> np.ndarray:
        """A PNG's bytes -> the MNIST-like float32 ``(28, 28)`` image."""
        if not raw.startswith(PNG_SIGNATURE):
            raise InputError("the body is not a PNG image (it lacks the PNG signature)")
        try:
            gray = read_image(io.BytesIO(raw), "the PNG", max_pixels=MAX_PIXELS)
        except ImageError as exc:
            raise InputError(str(exc)) from None
        return self._preprocess(gray, "the PNG")

    def image_from_pixels(self, body: Any) -> np.ndarray:
        """JSON ``{"pixels": 28 rows of 28 numbers in 0..255}`` (already parsed) -> the
        MNIST-like float32 ``(28, 28)`` image."""
        if not isinstance(body, dict) or "pixels" not in body:
            raise InputError('expected a JSON object {"pixels": [28 rows of 28 values 0-255]}')
        rows = body["pixels"]
        if not isinstance(rows, list) or len(rows) != SIZE:
            raise InputError(
                f'"pixels" must be a list of {SIZE} rows, got '
                + (_count(len(rows), "row") if isinstance(rows, list) else _json_type(rows))
            )
        for i, row in enumerate(rows):
            if not isinstance(row, list) or len(row) != SIZE:
                got = _count(len(row), "value") if isinstance(row, list) else _json_type(row)
                raise InputError(f'"pixels" row {i} must hold {SIZE} values, got {got}')
            for j, v in enumerate(row):
                # bool is an int in Python, but true is not a pixel value
                if isinstance(v, bool) or not isinstance(v, (int, float)):
                    raise InputError(f'"pixels"[{i}][{j}] is {_json_type(v)}, not a number')
                if not 0 <= v <= 255:  # NaN fails this too
                    raise InputError(f'"pixels"[{i}][{j}] is {v}, not in 0..255')
        gray = np.array(rows, dtype=np.float32) / np.float32(255.0)
        return self._preprocess(gray, "the pixels")

    def _preprocess(self, gray: np.ndarray, name: str) -> np.ndarray:
        try:
            return preprocess(gray, name, fashion=self.fashion)
        except ImageError as exc:  # no digit in it
            raise InputError(str(exc), 422) from None

    # ------------------------------------------------------------------ predicting

    def predict(self, image: np.ndarray) -> dict[str, dict]:
        """Every framework's answer for one ``(28, 28)`` image: its ten probabilities
        (softmax of the outputs), its top class and the seconds its forward pass took."""
        from mnist_nets.cli.common import softmax

        x = np.ascontiguousarray(image, dtype=np.float32)[None, ..., None]
        answers: dict[str, dict] = {}
        for m in self.models.values():
            with m.lock:
                start = time.perf_counter()
                logits = np.asarray(m.backend.forward(m.model, x), dtype=np.float64)
                seconds = time.perf_counter() - start
            with np.errstate(all="ignore"):
                probs = softmax(logits)[0]
            if not np.all(np.isfinite(probs)):
                answers[m.name] = {
                    "error": "the outputs are NaN or infinite for this image "
                    "(weights too large, or from a diverged run?)",
                    "seconds": seconds,
                }
                continue
            top = int(probs.argmax())
            answers[m.name] = {
                "probabilities": [float(p) for p in probs],
                "class": self.classes[top],
                "seconds": seconds,
            }
        return answers


def _json_type(value: Any) -> str:
    """The JSON name of a parsed value's type, for messages."""
    kinds = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    return "null" if value is None else kinds.get(type(value), type(value).__name__)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")
