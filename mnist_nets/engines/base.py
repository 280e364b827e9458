"""The interface of an inference engine, and the session it opens on one model.

An engine takes what an exported model takes (:mod:`mnist_nets.onnx_export`): raw
pixels, float32 ``(N, 28, 28)`` with values 0-255, and gives logits ``(N, 10)`` as a
numpy array, returning only when the device has finished (so a clock read after a call
is honest).  The scaling to [0, 1] is part of every engine's call: in the ONNX graph it
is its first node, in a backend's session the division of
:func:`mnist_nets.data.to_float_nhwc`.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mnist_nets.backends.base import require_device
from mnist_nets.specs import ModelSpec


@dataclass
class Session:
    """One model, loaded into an engine on one device, ready to infer."""

    spec: ModelSpec
    device: str
    #: raw pixels float32 (N, H, W) 0-255 -> logits (N, 10)
    run_pixels: Callable[[np.ndarray], np.ndarray]
    #: canonical inputs float32 NHWC in [0, 1] -> logits (N, 10)
    run: Callable[[np.ndarray], np.ndarray]
    #: how the engine runs the model (mode, threads, graph optimisations, providers)
    settings: dict[str, Any] = field(default_factory=dict)
    dataset: str = "mnist"  # the dataset the weights were trained on


def check_pixels(spec: ModelSpec, pixels) -> np.ndarray:
    """``pixels`` as float32 ``(N, H, W)``, after checking the shape against ``spec``."""
    pixels = np.asarray(pixels)
    h, w, _ = spec.input_shape
    if pixels.ndim != 3 or pixels.shape[1:] != (h, w):
        raise ValueError(
            f"pixels of shape {pixels.shape}: spec {spec.name!r} takes float32 (N, {h}, {w}) "
            "raw pixel values 0-255"
        )
    return pixels.astype(np.float32, copy=False)


class Engine(abc.ABC):
    """Something that runs a trained network: a backend, or onnxruntime on the ONNX graph."""

    name: str = ""

    def devices(self) -> list[str]:
        """The devices this engine can use here, "cpu" first."""
        return ["cpu"]

    def check_device(self, device: str) -> str:
        """``device`` ("cpu", "cuda", "mps") if this engine can use it, else a DeviceError."""
        return require_device(device, self.devices(), f"the {self.name} engine")

    def device_name(self, device: str = "cpu") -> str:
        from mnist_nets.machine import cpu_name

        return cpu_name()

    def versions(self) -> dict[str, str]:
        return {"numpy": np.__version__}

    @abc.abstractmethod
    def load(
        self, spec: ModelSpec, params: dict, device: str = "cpu", *, dataset: str = "mnist"
    ) -> Session:
        """A session of ``spec`` holding ``params`` (canonical) on ``device``."""
