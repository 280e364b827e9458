"""A backend as an inference engine: the model built by the backend, run through
:meth:`~mnist_nets.backends.base.Backend.inference` (``torch.inference_mode``, a compiled
``tf.function``, ``jax.jit``, numpy's own forward)."""

from __future__ import annotations

import numpy as np

from mnist_nets.backends import get_backend
from mnist_nets.engines.base import Engine, Session, check_pixels
from mnist_nets.specs import ModelSpec


class BackendEngine(Engine):
    def __init__(self, name: str):
        self.name = name
        self.backend = get_backend(name)

    def devices(self) -> list[str]:
        return self.backend.devices()

    def device_name(self, device: str = "cpu") -> str:
        return self.backend.device_name(device)

    def versions(self) -> dict[str, str]:
        return self.backend.versions()

    def load(
        self, spec: ModelSpec, params: dict, device: str = "cpu", *, dataset: str = "mnist"
    ) -> Session:
        device = self.check_device(device)
        model = self.backend.build(spec, params, device=device)
        infer = self.backend.inference(model)

        def run_pixels(pixels: np.ndarray) -> np.ndarray:
            # to_float_nhwc's division: the inputs every backend trains and evaluates on
            x = (check_pixels(spec, pixels) / np.float32(255.0))[..., None]
            return infer(x)

        settings = {"mode": self.backend.inference_mode, **self.backend.thread_settings()}
        return Session(spec, device, run_pixels, infer, settings, dataset)
