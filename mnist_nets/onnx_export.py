"""An ONNX graph of any spec, built by hand from the spec and its canonical parameters.

No framework is traced: :func:`build_model` walks the spec's layers and writes one ONNX
node (or two) per layer with the ``onnx`` package, so the graph is exactly the spec, and
the same for weights trained in any backend.

The graph
---------
* **Opset** :data:`OPSET` (ONNX 1.12 and later, onnxruntime 1.12 and later), IR version
  :data:`IR_VERSION`; only the default ``ai.onnx`` domain.
* **Input** ``pixels``: float32 ``(N, 28, 28)``, raw pixel values 0-255 (what an IDX
  file or a grayscale picture holds), ``N`` free.  The model's own scaling is the
  graph's first node: ``Div`` by 255, exactly as :func:`mnist_nets.data.to_float_nhwc`
  divides, so the first layer sees the same float32 numbers as in every backend.
* **Output** ``logits``: float32 ``(N, 10)``, before any softmax (as ``forward`` gives).
* **Layout.**  The parameters are the canonical ones of :mod:`mnist_nets.specs` (NHWC
  activations, conv kernels ``(kh, kw, in, out)``, dense weights ``(in, out)``).  ONNX's
  ``Conv`` and ``MaxPool`` work in NCHW with ``(out, in, kh, kw)`` kernels, so the image
  is unsqueezed to ``(N, 1, 28, 28)`` (with one channel, NCHW and NHWC hold the same
  numbers in the same order), each kernel is stored transposed to ``(out, in, kh, kw)``,
  and before ``Flatten`` a ``Transpose`` back to NHWC makes the features come in the
  canonical H, W, C order, so dense weights are stored as they are, ``(in, out)``, in
  ``Gemm`` nodes (``y = x @ W + b``).
* **Dropout** is the identity at inference and is left out of the graph; **Crop** is a
  ``Slice`` of the two image axes.
* Each layer's nodes carry the layer's name (``conv1``, ``dense2``, ...); the initializers
  keep the canonical parameter names (``conv1.weight``; conv kernels transposed as said).
* ``metadata_props`` hold the spec (``mnist_nets.spec``, its JSON), the dataset the
  weights were trained on (``mnist_nets.dataset``), the layout, and the producer version.

``import mnist_nets`` does not import ``onnx``: this module imports it inside the
functions that need it, and only the ``export`` command and the onnxruntime engine call
them.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np

from mnist_nets.params import check_params
from mnist_nets.specs import (
    NUM_CLASSES,
    Conv2D,
    Crop,
    Dense,
    Dropout,
    Flatten,
    MaxPool2D,
    ModelSpec,
    ReLU,
)

if TYPE_CHECKING:
    import onnx

OPSET = 17
IR_VERSION = 8  # the IR version of opset 17 (ONNX 1.12): readable by onnxruntime >= 1.12
INPUT_NAME = "pixels"
OUTPUT_NAME = "logits"
PIXEL_SCALE = 255.0
FORMATS = ("onnx",)
LAYOUT = (
    "input float32 (N, H, W) raw pixels 0-255, divided by 255 in the graph; convolutions in "
    "NCHW with (out, in, kh, kw) kernels transposed from the canonical (kh, kw, in, out); "
    "flatten in the canonical H, W, C order; dense weights (in, out) in Gemm"
)
META_SPEC = "mnist_nets.spec"
META_DATASET = "mnist_nets.dataset"
META_LAYOUT = "mnist_nets.layout"


class ExportError(ValueError):
    """A spec or parameters that cannot be exported (the message says why)."""


def build_model(spec: ModelSpec, params: dict, *, dataset: str = "mnist") -> onnx.ModelProto:
    """The ONNX model of ``spec`` holding ``params`` (canonical, checked), checked by
    ``onnx.checker`` (full check, shapes inferred)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from mnist_nets import __version__

    params = check_params(spec, params)
    h, w, c = spec.input_shape
    if c != 1:
        raise ExportError(
            f"spec {spec.name!r}: input of {c} channels; the ONNX export takes one-channel "
            "(N, H, W) pixels"
        )
    nodes: list[Any] = []
    inits: list[Any] = [
        numpy_helper.from_array(np.array(PIXEL_SCALE, dtype=np.float32), "pixel_scale"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "channel_axis"),
        numpy_helper.from_array(np.array([0, -1], dtype=np.int64), "flat_shape"),
    ]
    nodes.append(helper.make_node("Div", [INPUT_NAME, "pixel_scale"], ["scaled"], name="scale"))
    nodes.append(helper.make_node("Unsqueeze", ["scaled", "channel_axis"], ["image"], name="nchw"))
    x = "image"
    for info in spec.layer_infos:
        layer, name = info.layer, info.name
        out = f"{name}.out"
        if isinstance(layer, Conv2D):
            kernel = np.ascontiguousarray(params[f"{name}.weight"].transpose(3, 2, 0, 1))
            inits.append(numpy_helper.from_array(kernel, f"{name}.weight"))
            inits.append(numpy_helper.from_array(params[f"{name}.bias"], f"{name}.bias"))
            p = layer.padding
            nodes.append(
                helper.make_node(
                    "Conv",
                    [x, f"{name}.weight", f"{name}.bias"],
                    [out],
                    name=name,
                    kernel_shape=[layer.kernel, layer.kernel],
                    strides=[layer.stride, layer.stride],
                    pads=[p, p, p, p],
                )
            )
        elif isinstance(layer, Dense):
            inits.append(numpy_helper.from_array(params[f"{name}.weight"], f"{name}.weight"))
            inits.append(numpy_helper.from_array(params[f"{name}.bias"], f"{name}.bias"))
            nodes.append(
                helper.make_node("Gemm", [x, f"{name}.weight", f"{name}.bias"], [out], name=name)
            )
        elif isinstance(layer, MaxPool2D):
            nodes.append(
                helper.make_node(
                    "MaxPool",
                    [x],
                    [out],
                    name=name,
                    kernel_shape=[layer.size, layer.size],
                    strides=[layer.stride, layer.stride],
                )
            )
        elif isinstance(layer, ReLU):
            nodes.append(helper.make_node("Relu", [x], [out], name=name))
        elif isinstance(layer, Flatten):
            if len(info.input_shape) == 1:  # a flat input passes through
                continue
            source = x
            if info.input_shape[2] > 1:  # NCHW -> NHWC, for the canonical H, W, C order
                nodes.append(
                    helper.make_node(
                        "Transpose", [x], [f"{name}.nhwc"], name=f"{name}.nhwc", perm=[0, 2, 3, 1]
                    )
                )
                source = f"{name}.nhwc"
            nodes.append(helper.make_node("Reshape", [source, "flat_shape"], [out], name=name))
        elif isinstance(layer, Dropout):  # the identity at inference
            continue
        elif isinstance(layer, Crop):  # rows and columns border..H-border of NCHW
            h, w, _ = info.input_shape
            b = layer.border
            bounds = {
                "starts": [b, b],
                "ends": [h - b, w - b],
                "axes": [2, 3],
            }
            for key, value in bounds.items():
                inits.append(numpy_helper.from_array(np.array(value, np.int64), f"{name}.{key}"))
            nodes.append(
                helper.make_node(
                    "Slice", [x, *(f"{name}.{key}" for key in bounds)], [out], name=name
                )
            )
        else:  # a layer type added to the specs without an ONNX translation here
            raise ExportError(
                f"spec {spec.name!r}, layer {name}: no ONNX translation for "
                f"{type(layer).__name__}; add one to mnist_nets/onnx_export.py"
            )
        x = out
    nodes.append(helper.make_node("Identity", [x], [OUTPUT_NAME], name="output"))
    graph = helper.make_graph(
        nodes,
        f"mnist_nets_{spec.name}",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["N", h, w])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["N", NUM_CLASSES])],
        initializer=inits,
    )
    graph.doc_string = (
        f"{spec.name}: {spec.description} Input: float32 (N, {h}, {w}) raw pixels 0-255; "
        f"output: logits (N, {NUM_CLASSES})."
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="mnist_nets",
        producer_version=__version__,
        ir_version=IR_VERSION,
        doc_string=f"mnist_nets {spec.name}, exported from the spec by hand (no tracing)",
    )
    helper.set_model_props(
        model,
        {
            META_SPEC: json.dumps(spec.to_dict()),
            META_DATASET: dataset,
            META_LAYOUT: LAYOUT,
        },
    )
    onnx.checker.check_model(model, full_check=True)
    return model


def model_bytes(spec: ModelSpec, params: dict, *, dataset: str = "mnist") -> bytes:
    """The serialised ONNX model (what ``export`` writes)."""
    return build_model(spec, params, dataset=dataset).SerializeToString()


def read_metadata(model: onnx.ModelProto) -> tuple[ModelSpec | None, str | None]:
    """``(spec, dataset)`` stored in a model exported here; ``(None, None)`` for another."""
    props = {p.key: p.value for p in model.metadata_props}
    spec = None
    if META_SPEC in props:
        spec = ModelSpec.from_dict(json.loads(props[META_SPEC]))
    return spec, props.get(META_DATASET)
