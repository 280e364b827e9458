"""onnxruntime as an inference engine: the graph of :mod:`mnist_nets.onnx_export` (or an
exported ``.onnx`` file) in an ``InferenceSession`` with onnxruntime's defaults: every
graph optimisation (``ORT_ENABLE_ALL``), intra-op threads chosen by onnxruntime (0: one
per physical core), the CPU execution provider (CUDA's where the GPU build sees a GPU).
The settings a session ran with are in :attr:`Session.settings`."""

from __future__ import annotations

import os
from importlib import metadata

import numpy as np
import onnxruntime as ort

from mnist_nets.engines.base import Engine, Session, check_pixels
from mnist_nets.onnx_export import INPUT_NAME, META_DATASET, META_SPEC, model_bytes
from mnist_nets.specs import ModelSpec

_PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider"}


class OnnxruntimeEngine(Engine):
    name = "onnxruntime"

    def devices(self) -> list[str]:
        available = ort.get_available_providers()
        return [d for d, provider in _PROVIDERS.items() if provider in available]

    def device_name(self, device: str = "cpu") -> str:
        if device == "cuda":
            return "CUDA GPU (onnxruntime)"
        return super().device_name(device)

    def versions(self) -> dict[str, str]:
        out = {"numpy": np.__version__, "onnxruntime": ort.__version__}
        try:
            out["onnx"] = metadata.version("onnx")
        except metadata.PackageNotFoundError:
            pass
        return out

    def _session(self, model: bytes | str, spec: ModelSpec, device: str, dataset: str) -> Session:
        device = self.check_device(device)
        options = ort.SessionOptions()  # the defaults, recorded below
        session = ort.InferenceSession(model, options, providers=[_PROVIDERS[device]])
        input_name = session.get_inputs()[0].name

        def run_pixels(pixels: np.ndarray) -> np.ndarray:
            return session.run(None, {input_name: check_pixels(spec, pixels)})[0]

        def run(x: np.ndarray) -> np.ndarray:
            """Canonical NHWC inputs in [0, 1], turned back into pixels 0-255."""
            x = np.asarray(x, dtype=np.float32)
            return run_pixels(x.reshape(x.shape[:3]) * np.float32(255.0))

        settings = {
            "mode": "InferenceSession, default SessionOptions",
            "graph_optimization_level": str(options.graph_optimization_level).split(".")[-1],
            "intra_op_num_threads": options.intra_op_num_threads,
            "inter_op_num_threads": options.inter_op_num_threads,
            "execution_mode": str(options.execution_mode).split(".")[-1],
            "providers": session.get_providers(),
        }
        return Session(spec, device, run_pixels, run, settings, dataset)

    def load(
        self, spec: ModelSpec, params: dict, device: str = "cpu", *, dataset: str = "mnist"
    ) -> Session:
        """A session on the graph exported (in memory) from ``spec`` and ``params``."""
        return self._session(model_bytes(spec, params, dataset=dataset), spec, device, dataset)

    def load_file(self, path: str | os.PathLike, device: str = "cpu") -> Session:
        """A session on an ``.onnx`` file written by ``mnist-nets export``."""
        from mnist_nets.params import ParamsError

        hint = "export one with `mnist-nets export WEIGHTS.npz --format onnx --out MODEL.onnx`"
        try:
            with open(path, "rb") as f:
                raw = f.read()
        except PermissionError as exc:
            raise ParamsError(f"{path}: cannot read: {exc.strerror}", exit_code=3) from None
        except OSError as exc:
            raise ParamsError(f"{path}: cannot read: {exc.strerror}; {hint}") from None
        device = self.check_device(device)
        try:
            probe = ort.InferenceSession(raw, providers=["CPUExecutionProvider"])
            meta = probe.get_modelmeta().custom_metadata_map
        except Exception as exc:  # onnxruntime's own exception types vary by version
            detail = " ".join(str(exc).split())[:160] or type(exc).__name__
            raise ParamsError(f"{path}: not a readable ONNX model ({detail}); {hint}") from None
        if META_SPEC not in meta:
            raise ParamsError(f"{path}: an ONNX model not exported by mnist-nets; {hint}")
        import json

        spec = ModelSpec.from_dict(json.loads(meta[META_SPEC]))
        dataset = meta.get(META_DATASET, "mnist")
        inputs = probe.get_inputs()
        if len(inputs) != 1 or inputs[0].name != INPUT_NAME:
            raise ParamsError(f"{path}: its input is not {INPUT_NAME!r}; {hint}")
        del probe
        return self._session(raw, spec, device, dataset)
