"""The PyTorch backend: any spec as an ``nn.Sequential`` in eager mode, trained by SGD.

Layout conversion (here and nowhere else):

* inputs arrive as float32 NHWC numpy arrays and become NCHW tensors, the logical layout
  torch's convolutions take (:meth:`TorchBackend.stage` does it once per data set).  On
  CPU, a network with convolutions is kept in torch's ``channels_last`` memory format
  (NCHW indexing over NHWC memory): measured ~1.5x less CPU time per ``cnn`` epoch, and an
  NHWC array then needs no copy at all.  CUDA and MPS keep the default format;
* a conv kernel is stored by torch as ``(out, in, kh, kw)``: canonical ``(kh, kw, in, out)``
  is ``weight.permute(2, 3, 1, 0)``; a dense weight is stored as ``F.linear`` takes it,
  ``(out, in)``, the transpose of canonical ``(in, out)``; biases are the same in both;
* **flatten order**: the canonical order is H, W, C.  :class:`FlattenHWC` permutes an
  NCHW activation to NHWC before flattening (``x.permute(0, 2, 3, 1).reshape(n, -1)``),
  so the dense weights after it are the canonical ones, merely transposed, and no
  parameter needs its rows reordered.  The permute costs no copy in ``channels_last``
  format or when C == 1, and one small copy of the flattened activation otherwise.

Training: per batch, gather the batch on the device from the staged tensors with the
epoch's order (moved to the device once per epoch), forward, loss,
``torch.autograd.grad`` (no ``.grad`` fields to zero) and the update of
:mod:`mnist_nets.backends.base`, ``v = momentum * v + grad; p -= lr * v``, as three
``torch._foreach_*`` calls over all parameters.  It is the arithmetic of
``torch.optim.SGD(momentum=m, dampening=0, nesterov=False)`` without its per-step Python
overhead (and without the ``torch._dynamo`` import, ~2.5 s, that constructing one
triggers).  The velocities start at zero in :meth:`TorchBackend.build` and live in the
:class:`TorchModel`, so momentum carries across epochs while each epoch brings its own
learning rate.  Per-batch losses and correct counts go into preallocated device tensors
and reach the host only every ``sync_every`` batches, so no step waits for the device.

Determinism: dropout masks are those of :mod:`mnist_nets.dropout`, the same in every
backend: a hash of ``build``'s seed, the model's step count, the layer and the element,
evaluated here in int64 tensor operations on the device; so the same seed, parameters and
data order give the same run, and the global RNG is never touched.  On CPU, torch's
kernels for these layers are deterministic for a fixed thread count, and
:func:`torch.use_deterministic_algorithms` is left off (it would only make torch fill
every new tensor with NaN first).  On CUDA,
building a model turns it on (``CUBLAS_WORKSPACE_CONFIG`` is set when this module is
imported, before cuBLAS starts), and turns off cuDNN autotuning and TF32, so the numbers
are full float32 like the other backends' (see :attr:`TorchBackend.tf32`).

Threads: torch's default intra-op thread count is left alone and recorded by
:meth:`TorchBackend.versions` as ``torch_threads``.
"""

from __future__ import annotations

import math
import operator
import os
import platform
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# Read by cuBLAS when it starts: deterministic GEMMs need a fixed workspace.
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from mnist_nets import dropout
from mnist_nets.backends.base import (
    Backend,
    OnSync,
    batch_lrs,
    check_dtype,
    check_inputs,
    check_labels,
)
from mnist_nets.machine import cpu_name
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
    UpdateRule,
)

FLOAT32 = np.dtype(np.float32)  # the default precision of a model

# --------------------------------------------------------------------------- layers


class Conv(nn.Module):
    """``F.conv2d`` with symmetric zero padding; weight ``(out, in, kh, kw)``.

    A 1x1 kernel with a stride ``s > 1`` (its padding is 0: padding stays below the
    kernel) is computed as a stride-1 convolution of every ``s``-th pixel, the same
    numbers: torch 2.13.0 on CPU gets the weight gradient of a strided 1x1 convolution
    in channels_last wrong, intermittently or always depending on the input size
    (tests/test_torch_backend.py::test_strided_1x1_conv_gradients).
    """

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor, stride: int, padding: int):
        super().__init__()
        self.weight, self.bias = nn.Parameter(weight), nn.Parameter(bias)
        self.stride, self.padding = stride, padding
        self.subsample = weight.shape[-2:] == (1, 1) and stride > 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.subsample:
            s = self.stride
            return F.conv2d(x[:, :, ::s, ::s], self.weight, self.bias)
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding)


class Linear(nn.Module):
    """``y = x @ weight.T + bias`` with weight ``(out, in)``."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor):
        super().__init__()
        self.weight, self.bias = nn.Parameter(weight), nn.Parameter(bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight, self.bias)


class FlattenHWC(nn.Module):
    """``(N, C, H, W) -> (N, H*W*C)`` in the canonical H, W, C order; flat inputs pass."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 4:
            x = x.permute(0, 2, 3, 1)
        return x.reshape(x.shape[0], -1)


class CropNCHW(nn.Module):
    """The middle of an ``(N, C, H, W)`` image, ``border`` pixels off each side (a view)."""

    def __init__(self, border: int):
        super().__init__()
        self.border = border

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = self.border
        return x[:, :, b : x.shape[2] - b, b : x.shape[3] - b]


@dataclass
class DropoutClock:
    """The model's seed and its count of training forward passes (:mod:`mnist_nets.dropout`)."""

    seed: int
    step: int = 0


def _mul32(a, c: int):
    """``a * c`` modulo 2**32 for words held in int64 (tensors or Python ints): ``c`` in
    16-bit halves, so that no product passes 2**48 and nothing overflows int64."""
    return (a * (c & 0xFFFF) + (((a * (c >> 16)) & 0xFFFF) << 16)) & dropout.MASK32


# mnist_nets.dropout's word arithmetic on int64 tensors and Python ints alike
TORCH_OPS = dropout.Ops(
    xor=operator.xor,
    add=lambda a, b: (a + b) & dropout.MASK32,
    mul=_mul32,
    shr=operator.rshift,
    const=int,
)


class SeededDropout(nn.Module):
    """Inverted dropout with the shared masks of :mod:`mnist_nets.dropout`: in training,
    keep each element where the mask of (the model's seed and step, this layer's index
    ``index`` in the spec, the element's canonical NHWC or (N, F) index) says so, and
    scale it by ``1 / (1 - rate)``.  The mask is computed on the input's device."""

    def __init__(self, rate: float, index: int, clock: DropoutClock):
        super().__init__()
        self.rate, self.index, self.clock = rate, index, clock
        self.scale = float(dropout.scale(rate))
        self.threshold = dropout.threshold(rate)
        self._indices: dict[tuple, torch.Tensor] = {}

    def _canonical_index(self, x: torch.Tensor) -> torch.Tensor:
        """Each element's flat index in the canonical layout (NHWC for an NCHW image)."""
        key = (tuple(x.shape), x.device)
        if key not in self._indices:
            index = torch.arange(x.numel(), dtype=torch.int64, device=x.device)
            if x.dim() == 4:
                n, c, h, w = x.shape
                index = index.view(n, h, w, c).permute(0, 3, 1, 2)
            self._indices = {key: index.reshape(x.shape)}  # one shape at a time
        return self._indices[key]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x
        lo, hi = dropout.seed_words(self.clock.seed)
        k1, k2 = dropout.keys(lo, hi, self.clock.step, self.index, TORCH_OPS)
        keep = dropout.bits(self._canonical_index(x), k1, k2, TORCH_OPS) >= self.threshold
        return torch.where(keep, x * self.scale, 0.0)


# canonical <-> torch layout of each parameter kind ("conv", "dense" or "bias")
def _to_torch(kind: str, value: np.ndarray, dtype: np.dtype) -> torch.Tensor:
    t = torch.from_numpy(np.array(value, dtype=dtype))  # a copy: never the caller's
    if kind == "conv":
        return t.permute(3, 2, 0, 1)  # (kh, kw, in, out) -> (out, in, kh, kw)
    if kind == "dense":
        return t.t()  # (in, out) -> (out, in)
    return t


def _to_canonical(kind: str, t: torch.Tensor, dtype: np.dtype) -> np.ndarray:
    t = t.detach()
    if kind == "conv":
        t = t.permute(2, 3, 1, 0)  # (out, in, kh, kw) -> (kh, kw, in, out)
    elif kind == "dense":
        t = t.t()
    return np.array(t.cpu().numpy(), dtype=dtype, order="C", copy=True)


# --------------------------------------------------------------------------- the model


@dataclass
class TorchModel:
    """A built spec: the module, its parameters by canonical name, velocities, dropout clock."""

    spec: ModelSpec
    net: nn.Sequential
    device: torch.device
    params: dict[str, tuple[nn.Parameter, str]]  # name -> (tensor, "conv" | "dense" | "bias")
    velocity: list[torch.Tensor]  # SGD momentum buffers, in the order of ``params``
    clock: DropoutClock  # the dropout masks' seed and step
    memory_format: torch.memory_format
    classes: torch.Tensor = field(repr=False)  # arange(10) on the device, for one-hot targets
    adam_m: list[torch.Tensor] = field(default_factory=list, repr=False)  # Adam's moments,
    adam_v: list[torch.Tensor] = field(default_factory=list, repr=False)  # made at its 1st step
    adam_t: int = 0  # Adam's step count
    dtype: np.dtype = FLOAT32  # of the parameters, state and arithmetic

    @property
    def tensors(self) -> list[nn.Parameter]:
        return [t for t, _ in self.params.values()]

    def loss(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The spec's batch-mean loss (see :mod:`mnist_nets.specs`)."""
        if self.spec.loss == "cross_entropy":
            # (N, C) NLL: deterministic on CUDA too; torch's smoothing target is the spec's
            return F.cross_entropy(logits, y, label_smoothing=self.spec.label_smoothing)
        one_hot = (y[:, None] == self.classes).to(logits.dtype)  # F.one_hot syncs on CUDA
        return F.mse_loss(logits, one_hot)


# The module of each layer type, from (layer, its weight and bias tensors or None, the
# dropout clock, whether it directly follows a layer with parameters, its index in the spec).
LAYERS: dict[type, Callable[..., nn.Module]] = {
    Conv2D: lambda layer, wb, clock, after, k: Conv(*wb, layer.stride, layer.padding),
    Dense: lambda layer, wb, clock, after, k: Linear(*wb),
    MaxPool2D: lambda layer, wb, clock, after, k: nn.MaxPool2d(layer.size, layer.stride),  # floor
    # in place only on a fresh conv/dense output, never on the caller's input
    ReLU: lambda layer, wb, clock, after, k: nn.ReLU(inplace=after),
    Flatten: lambda layer, wb, clock, after, k: FlattenHWC(),
    Dropout: lambda layer, wb, clock, after, k: (
        SeededDropout(layer.rate, k, clock) if layer.rate > 0 else nn.Identity()
    ),
    Crop: lambda layer, wb, clock, after, k: CropNCHW(layer.border),
}
# the torch layout kind of each layer type's weight (the bias is "bias")
_WEIGHT_KIND = {Conv2D: "conv", Dense: "dense"}


def _build_net(
    spec: ModelSpec,
    params: dict[str, np.ndarray],
    device: torch.device,
    memory_format: torch.memory_format,
    clock: DropoutClock,
    dtype: np.dtype,
) -> tuple[nn.Sequential, dict[str, tuple[nn.Parameter, str]]]:
    """The module for ``spec`` holding the canonical ``params``, and its parameters by name."""

    def tensor(name: str, kind: str) -> torch.Tensor:
        # clone, not contiguous: a permuted kernel with one filter, e.g. (1, 2, 2, 2) with
        # strides (1, 1, 4, 2), already counts as channels_last and `contiguous` keeps
        # those strides, with which torch 2.13.0's CPU convolution backward fails
        # ("slow_conv2d: grad_weight must be contiguous"); clone lays it out afresh.
        t = _to_torch(kind, params[name], dtype).to(device)
        return t.clone(memory_format=memory_format if kind == "conv" else torch.contiguous_format)

    modules: list[nn.Module] = []
    by_name: dict[str, tuple[nn.Parameter, str]] = {}
    previous_has_params = False
    for info in spec.layer_infos:
        layer, w, b = info.layer, f"{info.name}.weight", f"{info.name}.bias"
        kind = _WEIGHT_KIND.get(type(layer))
        wb = (tensor(w, kind), tensor(b, "bias")) if kind else None
        module = LAYERS[type(layer)](layer, wb, clock, previous_has_params, info.index)
        if kind:
            by_name[w], by_name[b] = (module.weight, kind), (module.bias, "bias")
        previous_has_params = kind is not None
        modules.append(module)
    return nn.Sequential(*modules), by_name


# --------------------------------------------------------------------------- the backend


class TorchBackend(Backend):
    """PyTorch, eager mode, float32 (or float64), on "cpu", "cuda" or "mps"."""

    name = "torch"
    inference_mode = "module.eval() under torch.inference_mode()"
    #: allow TF32 matmuls/convolutions on CUDA (faster on Ampere and later, ~1e-3 relative
    #: error); off by default so every backend computes in full float32.
    tf32: bool = False
    #: devices on which a network with convolutions runs in ``channels_last`` memory format
    #: (measured faster on CPU; not measured on GPUs, which keep the default format)
    channels_last_devices: tuple[str, ...] = ("cpu",)

    # -- devices and versions ---------------------------------------------------

    def devices(self) -> list[str]:
        found = ["cpu"]
        if torch.cuda.is_available():
            found.append("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            found.append("mps")
        return found

    def device_name(self, device: str = "cpu") -> str:
        device = self.check_device(device)
        if device == "cuda":
            return torch.cuda.get_device_name(torch.cuda.current_device())
        if device == "mps":
            return f"Apple GPU (MPS) on {cpu_name()}"
        return cpu_name()

    def thread_settings(self) -> dict[str, int | str]:
        return {
            "torch_intra_op": torch.get_num_threads(),
            "torch_inter_op": torch.get_num_interop_threads(),
        }

    def synchronize(self, device: str = "cpu") -> None:
        _synchronize(torch.device(device))

    def reset_device_peak(self, device: str = "cpu") -> None:
        if device == "cuda" and torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()

    def device_peak(self, device: str = "cpu") -> int | None:
        if device == "cuda" and torch.cuda.is_available():
            return int(torch.cuda.max_memory_allocated())
        return None

    def versions(self) -> dict[str, str]:
        out = {
            "numpy": np.__version__,
            "torch": torch.__version__,
            "torch_threads": str(torch.get_num_threads()),
            "python": platform.python_version(),
        }
        if torch.cuda.is_available():
            out["cuda"] = str(torch.version.cuda)
            out["cudnn"] = str(torch.backends.cudnn.version())
        return out

    # -- the model ---------------------------------------------------------------

    def build(
        self,
        spec: ModelSpec,
        params: dict,
        device: str = "cpu",
        seed: int = 0,
        dtype: str = "float32",
    ) -> TorchModel:
        checked = check_params(spec, params)
        dt = check_dtype(dtype)
        dev = torch.device(self.check_device(device))
        if dev.type == "cuda":
            torch.backends.cudnn.benchmark = False
            torch.backends.cudnn.deterministic = True
            torch.backends.cudnn.allow_tf32 = self.tf32
            torch.backends.cuda.matmul.allow_tf32 = self.tf32
            torch.use_deterministic_algorithms(True)
        has_conv = any(isinstance(layer, Conv2D) for layer in spec.layers)
        memory_format = (
            torch.channels_last
            if has_conv and dev.type in self.channels_last_devices
            else torch.contiguous_format
        )
        clock = DropoutClock(int(seed))
        net, by_name = _build_net(spec, checked, dev, memory_format, clock, dt)
        velocity = [torch.zeros_like(t) for t, _ in by_name.values()]
        classes = torch.arange(NUM_CLASSES, device=dev)
        return TorchModel(
            spec, net, dev, by_name, velocity, clock, memory_format, classes, dtype=dt
        )

    def _input(self, model: TorchModel, x: np.ndarray) -> torch.Tensor:
        """NHWC numpy -> NCHW tensor of the model's dtype on its device, checked against the
        spec.

        On CPU in ``channels_last`` format (or with one channel) a float32 batch for a
        float32 model shares the caller's memory, which is never written.
        """
        x = check_inputs(model.spec, x)
        t = torch.from_numpy(np.require(x, model.dtype, ["C_CONTIGUOUS", "WRITEABLE"]))
        t = t.permute(0, 3, 1, 2).to(model.device)
        return t.contiguous(memory_format=model.memory_format)

    def _labels(self, model: TorchModel, y: np.ndarray, n: int) -> torch.Tensor:
        """``n`` integer labels in 0..9 -> int64 tensor on the model's device."""
        return torch.from_numpy(check_labels(y, n)).to(model.device)

    def forward(self, model: TorchModel, x: np.ndarray, training: bool = False) -> np.ndarray:
        model.net.train(training)
        if training:  # a training pass draws the next step's dropout masks
            model.clock.step += 1
        with torch.inference_mode():
            logits = model.net(self._input(model, x))
        return logits.cpu().numpy()

    def activations(self, model: TorchModel, x: np.ndarray) -> list[np.ndarray]:
        """Every layer's output (eval mode), canonical: NHWC images, ``(N, F)`` vectors."""
        model.net.train(False)
        outputs = []
        with torch.inference_mode():
            a = self._input(model, x)
            for module in model.net:
                a = module(a)
                nhwc = a.permute(0, 2, 3, 1) if a.dim() == 4 else a
                # copied now: an in-place ReLU may overwrite ``a`` next
                outputs.append(np.array(nhwc.cpu().numpy(), order="C", copy=True))
        return outputs

    def loss_and_grads(
        self, model: TorchModel, x: np.ndarray, y: np.ndarray
    ) -> tuple[float, dict[str, np.ndarray]]:
        model.net.train(False)  # dropout off
        xs = self._input(model, x)
        loss = model.loss(model.net(xs), self._labels(model, y, len(xs)))
        grads = torch.autograd.grad(loss, model.tensors)
        return float(loss.detach()), {
            name: _to_canonical(kind, g, model.dtype)
            for (name, (_, kind)), g in zip(model.params.items(), grads, strict=True)
        }

    def export_params(self, model: TorchModel) -> dict[str, np.ndarray]:
        return {
            name: _to_canonical(kind, t, model.dtype) for name, (t, kind) in model.params.items()
        }

    # -- training ------------------------------------------------------------------

    def stage(
        self, model: TorchModel, x: np.ndarray, y: np.ndarray | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(x, y)`` as device tensors: x NCHW of the model's dtype, y int64 (or None)."""
        xs = self._input(model, x)
        if y is None:
            return xs, None
        return xs, self._labels(model, y, len(xs))

    def _train_epoch(
        self,
        model: TorchModel,
        staged: tuple[torch.Tensor, torch.Tensor | None],
        order: np.ndarray,
        *,
        lr,
        update: UpdateRule,
        batch_size: int,
        sync_every: int,
        on_sync: OnSync,
    ) -> None:
        x, y = staged
        n_batches = math.ceil(len(order) / batch_size)
        dev = model.device
        order_t = torch.as_tensor(np.asarray(order, dtype=np.int64), device=dev)
        losses = torch.empty(n_batches, dtype=torch.float32, device=dev)
        correct = torch.empty(n_batches, dtype=torch.int64, device=dev)
        net, loss_fn, params, velocity = model.net, model.loss, model.tensors, model.velocity
        lrs = batch_lrs(lr, n_batches).tolist()
        rule = update
        momentum, adam = rule.momentum, rule.optimizer == "adam"
        if adam and not model.adam_m:
            model.adam_m = [torch.zeros_like(t) for t in params]
            model.adam_v = [torch.zeros_like(t) for t in params]
        net.train(True)
        first = 0
        for b in range(n_batches):
            idx = order_t[b * batch_size : (b + 1) * batch_size]
            model.clock.step += 1  # this batch's dropout masks (mnist_nets.dropout)
            yb = y.index_select(0, idx)
            logits = net(x.index_select(0, idx))
            loss = loss_fn(logits, yb)
            grads = torch.autograd.grad(loss, params)
            with torch.no_grad():
                lr = lrs[b]
                if adam:
                    model.adam_t += 1
                    _adam_step(params, grads, model.adam_m, model.adam_v, model.adam_t, lr, rule)
                elif momentum:
                    torch._foreach_mul_(velocity, momentum)  # v = momentum * v + grad
                    torch._foreach_add_(velocity, grads)
                    torch._foreach_add_(params, velocity, alpha=-lr)  # p -= lr * v
                else:
                    torch._foreach_add_(params, grads, alpha=-lr)
                losses[b] = loss
                correct[b] = (logits.argmax(1) == yb).sum()
            if b + 1 - first == sync_every or b + 1 == n_batches:
                on_sync(
                    first,
                    losses[first : b + 1].cpu().numpy().astype(np.float64),
                    correct[first : b + 1].cpu().numpy(),
                )
                first = b + 1
        _synchronize(dev)

    def predict(
        self, model: TorchModel, staged: tuple[torch.Tensor, Any], batch_size: int = 1000
    ) -> np.ndarray:
        x = staged[0]
        model.net.train(False)
        labels = torch.empty(len(x), dtype=torch.int64, device=model.device)
        with torch.inference_mode():
            for i in range(0, len(x), batch_size):
                labels[i : i + batch_size] = model.net(x[i : i + batch_size]).argmax(1)
        return labels.cpu().numpy()


def _adam_step(params, grads, m, v, t: int, lr: float, rule: UpdateRule) -> None:
    """Adam's step ``t`` (:class:`mnist_nets.specs.UpdateRule`), as ``torch.optim.Adam``'s
    foreach path computes it: ``p -= lr / (1 - b1**t) * m / (sqrt(v) / sqrt(1 - b2**t) + eps)``."""
    beta1, beta2 = rule.betas
    torch._foreach_mul_(m, beta1)
    torch._foreach_add_(m, grads, alpha=1 - beta1)
    torch._foreach_mul_(v, beta2)
    torch._foreach_addcmul_(v, grads, grads, value=1 - beta2)
    denom = torch._foreach_sqrt(v)
    torch._foreach_div_(denom, math.sqrt(1 - beta2**t))
    torch._foreach_add_(denom, rule.eps)
    torch._foreach_addcdiv_(params, m, denom, value=-lr / (1 - beta1**t))


def _synchronize(device: torch.device) -> None:
    """Wait until ``device`` has finished its queued work."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()
