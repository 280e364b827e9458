"""A plain float64 numpy reference of a spec's forward pass and loss, for the backend tests.

Written as plainly as possible, independently of every backend: loops over kernel offsets
and pooling windows, no patch matrix, no layer fusion, canonical layout throughout.
"""

from __future__ import annotations

import numpy as np

from mnist_nets.specs import Conv2D, Crop, Dense, Flatten, MaxPool2D, ModelSpec, ReLU


def activations(spec: ModelSpec, params: dict, x: np.ndarray, flatten: str = "hwc") -> list:
    """Every layer's output at inference (dropout is the identity), in float64, NHWC for
    images.  ``flatten="chw"`` flattens in the *wrong* order, for tests that show the
    canonical order matters."""
    h = np.asarray(x, np.float64)
    outputs = []
    for info in spec.layer_infos:
        layer, name = info.layer, info.name
        if isinstance(layer, Conv2D):
            w = np.asarray(params[f"{name}.weight"], np.float64)
            s, p = layer.stride, layer.padding
            h = np.pad(h, ((0, 0), (p, p), (p, p), (0, 0)))
            oh, ow, _ = info.output_shape
            out = np.zeros((len(h), *info.output_shape)) + params[f"{name}.bias"]
            for i in range(layer.kernel):
                for j in range(layer.kernel):
                    out += h[:, i : i + s * oh : s, j : j + s * ow : s] @ w[i, j]
            h = out
        elif isinstance(layer, MaxPool2D):
            k, s = layer.size, layer.stride
            oh, ow, _ = info.output_shape
            out = np.empty((len(h), *info.output_shape))
            for u in range(oh):
                for v in range(ow):
                    out[:, u, v] = h[:, s * u : s * u + k, s * v : s * v + k].max(axis=(1, 2))
            h = out
        elif isinstance(layer, ReLU):
            h = np.maximum(h, 0)
        elif isinstance(layer, Crop):
            oh, ow, _ = info.output_shape
            b = layer.border
            h = h[:, b : b + oh, b : b + ow]
        elif isinstance(layer, Flatten):
            if flatten == "chw" and h.ndim == 4:
                h = h.transpose(0, 3, 1, 2)
            h = h.reshape(len(h), -1)
        elif isinstance(layer, Dense):
            h = h @ np.asarray(params[f"{name}.weight"], np.float64) + params[f"{name}.bias"]
        outputs.append(h)
    return outputs


def forward(spec: ModelSpec, params: dict, x: np.ndarray, flatten: str = "hwc") -> np.ndarray:
    """The logits, in float64."""
    return activations(spec, params, x, flatten)[-1]


def loss_of(outputs: np.ndarray, labels: np.ndarray, loss: str, smoothing: float = 0.0) -> float:
    """The spec's batch-mean loss of ``outputs`` (see mnist_nets.specs), in float64; with
    label ``smoothing``, cross-entropy against ``(1 - smoothing) onehot + smoothing / 10``."""
    z = np.asarray(outputs, np.float64)
    labels = np.asarray(labels)
    if loss == "mse":
        return float(np.mean((z - np.eye(10)[labels]) ** 2))
    top = z.max(axis=1)
    log_p = z - (top + np.log(np.exp(z - top[:, None]).sum(axis=1)))[:, None]
    target = (1 - smoothing) * np.eye(10)[labels] + smoothing / 10
    return float(np.mean(-(target * log_p).sum(axis=1)))


def loss(spec: ModelSpec, params: dict, x: np.ndarray, y: np.ndarray) -> float:
    """The spec's loss for ``params`` on ``(x, y)``, in float64."""
    return loss_of(forward(spec, params, x), y, spec.loss, spec.label_smoothing)


# --------------------------------------------------------------------------- plain versions
# The plain computations the numpy backend's speed-ups stand for (each named "*Speed: ...*"
# where it is made, in mnist_nets/backends/numpy_layers.py); tests/test_numpy_layers.py
# holds each pair together.


def weight_gradient(P: np.ndarray, G: np.ndarray) -> np.ndarray:
    """A convolution's ``[W; b]`` gradient from its patch matrix ``P`` (M, K + 1) and output
    gradient ``G`` (M, F): ``P^T G``, as written."""
    return P.T @ G


def sgd_momentum_step(params, grads, velocity, lr: float, momentum: float) -> None:
    """``v = momentum * v + grad;  param -= lr * v``, in place, as written."""
    velocity[...] = momentum * velocity + grads
    params[...] = params - lr * velocity


def full_batch_step(backend, model, x: np.ndarray, y: np.ndarray, order: np.ndarray):
    """One training step on the whole batch in ``order``, in one piece: the rows copied in
    that order, one forward and one backward pass.  ``(loss, correct)``; the gradient is
    left in ``model.flat_grad``."""
    return model.step(x[order], y[order], training=True)


def forward_in_one_piece(model, x: np.ndarray) -> np.ndarray:
    """Inference logits of ``x`` in one forward pass over all its rows."""
    return model.forward(np.ascontiguousarray(x, model.dtype), False).copy()
