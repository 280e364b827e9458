"""The JAX backend: any spec as pure functions of a dict of arrays, plain ``jax`` and
``jax.numpy`` (no Flax, no Optax), so the maths reads as in the other backends.

The canonical layout is JAX's own: activations NHWC, conv kernels ``(kh, kw, in, out)``
(HWIO, ``lax.conv_general_dilated``'s ``("NHWC", "HWIO", "NHWC")``), dense
weights ``(in, out)``, flatten of NHWC in H, W, C order: parameters go in and out with
no conversion.

* Precision: every matmul and convolution asks for ``lax.Precision.HIGHEST``, full
  float32 (JAX may otherwise use bfloat16 passes or TF32 on GPUs and TPUs).
* Memory: ``XLA_PYTHON_CLIENT_PREALLOCATE=false`` is set before JAX is imported (unless
  the caller set it), so a GPU's memory is taken as needed and not 75 % up front,
  which would make every peak-memory figure the same.
* Speed on the CPU: ``XLA_FLAGS`` gets ``--xla_cpu_experimental_ynn_fusion_type=`` before
  JAX is imported (unless the caller set that flag), which makes the convolutions two to
  three times faster (see :func:`_conv`).  It acts where JAX's CPU client is made after
  this module is imported, as it is when the backend is used through ``get_backend`` (a
  client made earlier keeps the fusions: XLA reads its flags once).
* Convolution pads ``p`` pixels on every side (XLA's own padding); max-pool is VALID
  (floor): a non-overlapping one is a one-hot mask on each window's first maximum (see
  :func:`_max_pool`), any other ``lax.reduce_window`` with ``lax.max``.  Either way its
  gradient goes to the first maximum of a window on ties, as in the other backends
  (XLA's select-and-scatter with ``>=`` keeps the earlier element).
* The updates are :class:`mnist_nets.specs.UpdateRule`'s: SGD ``v = momentum * v +
  grad; param -= lr * v``, or Adam with bias correction (its moments and step count
  live in the model; the step count and each batch's learning rate are traced
  arguments, so a schedule compiles nothing new).
* Dropout is inverted dropout with :mod:`mnist_nets.dropout`'s masks, the same in every
  backend: a hash of the seed, ``step`` (a counter of the model's), the layer index and
  the element, in uint32 ops inside the compiled step.
* ReLU is ``jax.nn.relu``: its derivative at 0 is 0, as in the other backends.
* Training: one ``jax.jit`` compiled SGD step (``jax.value_and_grad`` inside) per
  network and batch size, shared by all models of that network.  It gathers its batch
  from the staged arrays by the epoch's order, padded to whole batches of the staged
  set, and takes a traced start index, learning rate, momentum and step counter, so
  neither a new epoch, a shorter order nor a new learning rate traces again.  The
  last, smaller batch runs through the same compiled step with a mask: padded samples
  weigh zero in the loss (the mean is over the real ones) and in the count of correct
  predictions.  Parameters and velocities are donated (updated in place).  The
  per-batch losses and correct counts reach the host every ``sync_every`` batches, so
  no step waits for the device.  :meth:`JaxBackend.stage` compiles the step for the
  batch size of the run (:meth:`JaxBackend.train` tells it; the recipe's when
  ``train_epoch`` is called directly) and runs it once on copies, so that a timed
  epoch compiles nothing.
* ``forward``, ``activations`` and ``loss_and_grads`` are compiled per network and
  input shape too (measured: compiling the whole function once costs less than JAX's
  op-by-op mode compiling each primitive); ``predict`` runs in batches padded to one
  shape.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import platform
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, NamedTuple

os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

# XLA's CPU compiler hands matrix products to YNNPACK fusions by default; without them its
# convolutions run on its own (Eigen) kernels, two to three times faster here (see _conv).
# An empty fusion list turns them off; a caller's own setting of the flag is kept.
if "xla_cpu_experimental_ynn_fusion_type" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "") + " --xla_cpu_experimental_ynn_fusion_type="
    ).strip()

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from mnist_nets import dropout
from mnist_nets.backends.base import (
    Backend,
    DeviceError,
    OnSync,
    batch_lrs,
    check_dtype,
    check_inputs,
    check_labels,
)
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

HIGHEST = lax.Precision.HIGHEST
_PLATFORM = {"cpu": "cpu", "cuda": "gpu"}
_CACHE_SIZE = 32  # networks whose compiled functions are kept
PREDICT_BATCH = 1000


# --------------------------------------------------------------------------- the maths


def _conv(layer: Conv2D, info, p, x, key, k):
    """XLA's convolution in the canonical layout (NHWC input, HWIO kernel, NHWC output).

    On the CPU it runs with XLA's YNNPACK fusions off (see the module's top): measured on
    this project's 2-core CPU, one training step (batch 128) with them on and off, ``cnn``
    48 -> 19 ms, ``alexnet`` 141 -> 75 ms, ``speedrun`` 23 -> 13 ms (a matrix product over
    explicit patches, the way around it that this backend took before, measured 28, 114 and
    22 ms either way)."""
    pad = layer.padding
    y = lax.conv_general_dilated(
        x,
        p[f"{info.name}.weight"],
        window_strides=(layer.stride, layer.stride),
        padding=((pad, pad), (pad, pad)),
        dimension_numbers=("NHWC", "HWIO", "NHWC"),
        precision=HIGHEST,
    )
    return y + p[f"{info.name}.bias"]


def _dense(layer: Dense, info, p, x, key, k):
    return jnp.dot(x, p[f"{info.name}.weight"], precision=HIGHEST) + p[f"{info.name}.bias"]


def _max_pool(layer: MaxPool2D, info, p, x, key, k):
    """Max-pool; a non-overlapping one (stride = size) as a mask over the windows.

    The windows are laid on a last axis (``size * size`` values, row by row), the first
    maximum of each is picked by ``argmax`` and the output is the window summed under
    that one-hot mask, so the gradient is the mask times the output's gradient: an
    elementwise product, where ``lax.reduce_window``'s gradient is XLA's
    select-and-scatter.  Measured on this project's 2-core CPU, one training step
    (batch 128, the convolutions of :func:`_conv`): ``cnn`` 48 -> 19 ms, ``alexnet``
    129 -> 75 ms, ``speedrun`` 41 -> 13 ms.
    Both give the gradient to the first maximum of a window (a test holds the two
    together, ties included)."""
    q = layer.size
    if layer.stride != q:
        return _max_pool_lax(layer, info, p, x, key, k)
    n, h, w, c = x.shape
    oh, ow = h // q, w // q
    windows = (
        x[:, : oh * q, : ow * q, :]
        .reshape(n, oh, q, ow, q, c)
        .transpose(0, 1, 3, 5, 2, 4)
        .reshape(n, oh, ow, c, q * q)
    )
    first = jnp.argmax(windows, axis=-1)[..., None] == jnp.arange(q * q)
    return jnp.sum(jnp.where(lax.stop_gradient(first), windows, 0.0), axis=-1)


def _max_pool_lax(layer: MaxPool2D, info, p, x, key, k):
    """Max-pool by XLA's ``reduce_window`` (what :func:`_max_pool` is held to)."""
    window, stride = (1, layer.size, layer.size, 1), (1, layer.stride, layer.stride, 1)
    return lax.reduce_window(x, -jnp.inf, lax.max, window, stride, "VALID")


# mnist_nets.dropout's word arithmetic in uint32 arrays (which wrap modulo 2**32)
JAX_OPS = dropout.Ops(
    xor=jnp.bitwise_xor,
    add=jnp.add,
    mul=lambda a, c: a * jnp.uint32(c),
    shr=lambda a, s: jnp.right_shift(a, jnp.uint32(s)),
    const=jnp.uint32,
)


def _dropout(layer: Dropout, info, p, x, key, k):
    """Inverted dropout with the shared masks of :mod:`mnist_nets.dropout`; ``key`` is
    ``(seed words, step)`` (uint32, traced), ``k`` the layer's index."""
    if key is None or layer.rate <= 0:
        return x
    seed, step = key
    k1, k2 = dropout.keys(seed[0], seed[1], step, k, JAX_OPS)
    index = jnp.arange(x.size, dtype=jnp.uint32).reshape(x.shape)
    keep = dropout.bits(index, k1, k2, JAX_OPS) >= jnp.uint32(dropout.threshold(layer.rate))
    return jnp.where(keep, x * dropout.scale(layer.rate), 0.0).astype(x.dtype)


def _relu(layer, info, p, x, key, k):
    """``jax.nn.relu``, whose derivative at exactly 0 is 0 as in every backend
    (``jnp.maximum(x, 0.0)``'s is 0.5, and real images put many units exactly there)."""
    return jax.nn.relu(x)


# Each layer type's computation: (layer, its LayerInfo, params, x, dropout key, index) -> y.
LAYERS: dict[type, Any] = {
    Conv2D: _conv,
    Dense: _dense,
    MaxPool2D: _max_pool,
    ReLU: _relu,
    Flatten: lambda layer, info, p, x, key, k: x.reshape(x.shape[0], -1),  # NHWC: H, W, C
    Dropout: _dropout,
    Crop: lambda layer, info, p, x, key, k: x[
        :, layer.border : -layer.border, layer.border : -layer.border, :
    ],
}


def layer_outputs(spec: ModelSpec, params: dict, x, key=None) -> list:
    """Every layer's output for NHWC ``x``; dropout only when a ``key`` is given."""
    outputs = []
    for k, info in enumerate(spec.layer_infos):
        x = LAYERS[type(info.layer)](info.layer, info, params, x, key, k)
        outputs.append(x)
    return outputs


def logits_of(spec: ModelSpec, params: dict, x, key=None):
    for k, info in enumerate(spec.layer_infos):
        x = LAYERS[type(info.layer)](info.layer, info, params, x, key, k)
    return x


def per_sample_loss(spec: ModelSpec, logits, y):
    """Each sample's loss (see specs.py); the batch loss is their mean."""
    if spec.loss == "cross_entropy":
        picked = jnp.take_along_axis(logits, y[:, None], axis=1)[:, 0]
        e = spec.label_smoothing
        if e:  # against (1 - e) * one_hot + e / 10
            picked = (1 - e) * picked + e * jnp.mean(logits, axis=1)
        return jax.nn.logsumexp(logits, axis=1) - picked
    one_hot = jax.nn.one_hot(y, NUM_CLASSES, dtype=logits.dtype)
    return jnp.mean(jnp.square(logits - one_hot), axis=1)


def batch_loss(spec: ModelSpec, params: dict, x, y, key=None):
    logits = logits_of(spec, params, x, key)
    return jnp.mean(per_sample_loss(spec, logits, y)), logits


# --------------------------------------------------------------------------- compiled


class _Compiled:
    """The compiled functions of one network (layers, loss, input shape), shared by its
    models: parameters are arguments, so one compile serves every model."""

    def __init__(self, spec: ModelSpec):
        self.spec = spec
        self.steps: dict[tuple, Any] = {}  # (batch size, optimizer) -> its jitted step
        self.warm: set[tuple] = set()  # (batch size, staged samples, device) compiled

        def predict(params, x):
            return jnp.argmax(logits_of(spec, params, x), axis=1).astype(jnp.int32)

        def loss(params, x, y):
            return batch_loss(spec, params, x, y)[0]

        self.predict = jax.jit(predict)
        self.forward = jax.jit(lambda params, x, key: logits_of(spec, params, x, key))
        self.activations = jax.jit(lambda params, x: layer_outputs(spec, params, x))
        self.loss_and_grads = jax.jit(jax.value_and_grad(loss))

    def step_for(self, bs: int, optimizer: str = "sgd"):
        """The jitted step for batches of ``bs`` with ``optimizer`` ("sgd" or "adam");
        parameters and optimizer state are donated."""
        if (bs, optimizer) in self.steps:
            return self.steps[bs, optimizer]
        spec = self.spec

        def batch_grads(params, x_all, y_all, order, start, n, key, t):
            """Loss, gradients and correct count of the batch ``order[start : start + bs]``,
            of which only samples before ``n`` are real (``order`` is padded to whole
            batches).  Dropout masks are those of the seed words ``key`` and step ``t``, the
            model's step counter."""
            idx = lax.dynamic_slice(order, (start,), (bs,))
            valid = (start + jnp.arange(bs)) < n
            x, y = x_all[idx], y_all[idx]
            weight = valid.astype(x_all.dtype) / jnp.sum(valid)
            key = (key, t) if spec.has_dropout else None

            def loss_fn(p):
                logits = logits_of(spec, p, x, key)
                return jnp.sum(per_sample_loss(spec, logits, y) * weight), logits

            (loss, logits), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
            right = jnp.sum((jnp.argmax(logits, axis=1) == y) & valid)
            return loss, grads, right

        def sgd_step(params, velocity, x_all, y_all, order, start, n, lr, m, key, t):
            """SGD step with momentum ``m``; returns the new parameters and velocities,
            the batch's loss and its correct count."""
            loss, grads, right = batch_grads(params, x_all, y_all, order, start, n, key, t)
            velocity = jax.tree.map(lambda v, g: m * v + g, velocity, grads)
            params = jax.tree.map(lambda p, v: p - lr * v, params, velocity)
            return params, velocity, loss, right

        def adam_step(params, moments, x_all, y_all, order, start, n, lr, hyper, key, t):
            """Adam step; ``moments`` is ``(m, v, adam_t)``, ``hyper`` is ``(beta1, beta2,
            eps)``: ``p -= lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)``."""
            loss, grads, right = batch_grads(params, x_all, y_all, order, start, n, key, t)
            m, v, adam_t = moments
            beta1, beta2, eps = hyper[0], hyper[1], hyper[2]
            adam_t = adam_t + 1.0
            m = jax.tree.map(lambda m_, g: beta1 * m_ + (1 - beta1) * g, m, grads)
            v = jax.tree.map(lambda v_, g: beta2 * v_ + (1 - beta2) * g * g, v, grads)
            step = lr / (1 - beta1**adam_t)
            root = jnp.sqrt(1 - beta2**adam_t)
            params = jax.tree.map(
                lambda p, m_, v_: p - step * m_ / (jnp.sqrt(v_) / root + eps), params, m, v
            )
            return params, (m, v, adam_t), loss, right

        fn = adam_step if optimizer == "adam" else sgd_step
        self.steps[bs, optimizer] = jax.jit(fn, donate_argnums=(0, 1))
        return self.steps[bs, optimizer]


_compiled: OrderedDict[tuple, _Compiled] = OrderedDict()


def compiled_for(spec: ModelSpec) -> _Compiled:
    key = (spec.layers, spec.loss, spec.label_smoothing, spec.input_shape)
    if key in _compiled:
        _compiled.move_to_end(key)
    else:
        _compiled[key] = _Compiled(spec)
        while len(_compiled) > _CACHE_SIZE:
            _compiled.popitem(last=False)
    return _compiled[key]


# --------------------------------------------------------------------------- the model


@dataclass
class JaxModel:
    """A spec's parameters and velocities (dicts of device arrays), its device, the
    dropout seed (as two uint32 words, ``key``) and step counter."""

    spec: ModelSpec
    device: Any  # a jax Device
    params: dict
    velocity: dict
    key: Any  # the seed's two 32-bit words (mnist_nets.dropout.seed_words), uint32
    seed: int
    step: int = 0
    warm_batch_size: int | None = None  # the batch size stage() compiles for (see train)
    adam: tuple | None = None  # Adam's (m, v, step count), made at its first step
    dtype: np.dtype = FLOAT32  # of the parameters, state and arithmetic

    def next_key(self):
        """The dropout key ``(seed words, step)`` of the next step (the counter advanced)."""
        self.step += 1
        return self.key, np.uint32(self.step)


def _precision(model: JaxModel):
    """The context a model's arrays are made and used in: JAX keeps 64-bit types off
    unless asked (``jax_enable_x64``), so a float64 model's every call runs with them on;
    a float32 model's runs as JAX is configured."""
    if model.dtype == np.float64:
        return jax.enable_x64(True)
    return contextlib.nullcontext()


def _in_precision(method):
    """``method(self, model, ...)`` run in :func:`_precision` of its model."""

    @functools.wraps(method)
    def wrapped(self, model, *args, **kwargs):
        with _precision(model):
            return method(self, model, *args, **kwargs)

    return wrapped


class Staged(NamedTuple):
    x: Any  # (N, H, W, C) of the model's dtype on the model's device
    y: Any  # int32 (N,) or None


class JaxBackend(Backend):
    """JAX with XLA: a compiled SGD step, op-by-op probes, float32 at full precision (or
    float64, with JAX's 64-bit types on for that model's calls)."""

    name = "jax"
    inference_mode = "jax.jit-compiled forward, eval mode"

    # -- devices and versions ---------------------------------------------------

    def devices(self) -> list[str]:
        return ["cpu", *(["cuda"] if _gpus() else [])]

    def check_device(self, device: str) -> str:
        if device == "cuda" and not _gpus():
            raise DeviceError(
                "device 'cuda' is not available to the jax backend: JAX sees no GPU here "
                "(a CPU-only jaxlib, or no CUDA driver). Use device 'cpu', or install a "
                "CUDA build (`pip install 'jax[cuda12]'`)"
            )
        return super().check_device(device)

    def _device(self, device: str):
        return (_gpus() if device == "cuda" else jax.devices("cpu"))[0]

    def device_name(self, device: str = "cpu") -> str:
        device = self.check_device(device)
        if device == "cuda":
            return str(self._device(device).device_kind)
        return super().device_name(device)

    def versions(self) -> dict[str, str]:
        import jaxlib

        return {
            "numpy": np.__version__,
            "jax": jax.__version__,
            "jaxlib": jaxlib.__version__,
            "matmul_precision": "highest",
            "python": platform.python_version(),
        }

    def thread_settings(self) -> dict[str, int | str]:
        flags = os.environ.get("XLA_FLAGS")
        return {"xla_flags": flags} if flags else {}

    def synchronize(self, device: str = "cpu") -> None:
        """Nothing to wait for: every method returns host arrays, and ``train_epoch``
        returns after reading back its last step's loss, an output of the same compiled
        program as that step's update (JAX has no device-wide barrier anyway)."""
        return None

    def reset_device_peak(self, device: str = "cpu") -> None:
        """JAX cannot reset its peak count: :meth:`device_peak` is the process's peak."""
        return None

    def device_peak(self, device: str = "cpu") -> int | None:
        """``peak_bytes_in_use`` of the GPU allocator since the process started (JAX has
        no reset), or None on the CPU."""
        if device != "cuda" or not _gpus():
            return None
        stats = self._device(device).memory_stats() or {}
        peak = stats.get("peak_bytes_in_use")
        return None if peak is None else int(peak)

    # -- the model ---------------------------------------------------------------

    def build(
        self,
        spec: ModelSpec,
        params: dict,
        device: str = "cpu",
        seed: int | None = 0,
        dtype: str = "float32",
    ) -> JaxModel:
        dev = self._device(self.check_device(device))
        checked = check_params(spec, params)
        dt = check_dtype(dtype)
        seed = int(np.random.SeedSequence().entropy % 2**31) if seed is None else int(seed)
        model = JaxModel(spec, dev, {}, {}, None, seed, dtype=dt)
        with _precision(model):
            model.params = {
                name: jax.device_put(np.array(value, dtype=dt), dev)
                for name, value in checked.items()
            }
            model.velocity = {name: jnp.zeros_like(v) for name, v in model.params.items()}
            model.key = jax.device_put(np.array(dropout.seed_words(seed), np.uint32), dev)
        return model

    def _x(self, model: JaxModel, x) -> Any:
        x = check_inputs(model.spec, x)
        return jax.device_put(np.asarray(x, dtype=model.dtype), model.device)

    @_in_precision
    def forward(self, model: JaxModel, x: np.ndarray, training: bool = False) -> np.ndarray:
        key = model.next_key() if training and model.spec.has_dropout else None
        forward = compiled_for(model.spec).forward
        return np.asarray(forward(model.params, self._x(model, x), key))

    @_in_precision
    def activations(self, model: JaxModel, x: np.ndarray) -> list[np.ndarray]:
        outputs = compiled_for(model.spec).activations(model.params, self._x(model, x))
        return [np.asarray(a) for a in outputs]

    @_in_precision
    def loss_and_grads(self, model: JaxModel, x: np.ndarray, y: np.ndarray) -> tuple[float, dict]:
        xs = self._x(model, x)
        ys = jax.device_put(check_labels(y, len(xs)).astype(np.int32), model.device)
        loss, grads = compiled_for(model.spec).loss_and_grads(model.params, xs, ys)
        return float(loss), {
            name: np.array(grads[name], dtype=model.dtype) for name in model.params
        }

    @_in_precision
    def export_params(self, model: JaxModel) -> dict[str, np.ndarray]:
        return {name: np.array(v, dtype=model.dtype) for name, v in model.params.items()}

    # -- training ------------------------------------------------------------------

    @_in_precision
    def stage(self, model: JaxModel, x: np.ndarray, y: np.ndarray | None = None) -> Staged:
        """Inputs (and labels) on the model's device, once.  The first time a network is
        staged with a data set of this size, its step (for the run's batch size) or
        its prediction is compiled and run once on copies, outside any timed epoch."""
        xs = self._x(model, x)
        ys = None
        if y is not None:
            ys = jax.device_put(check_labels(y, len(xs)).astype(np.int32), model.device)
        staged = Staged(xs, ys)
        if len(xs):
            if ys is None:
                self.predict(model, staged)
            else:
                batch_size = model.warm_batch_size or model.spec.recipe.batch_size
                self._warm_step(model, staged, batch_size)
        return staged

    def train(self, model: JaxModel, data, recipe, seed, **kwargs):
        """:func:`mnist_nets.training.fit`, after telling :meth:`stage` the batch size
        to compile for (it stages the data before the first, timed, epoch)."""
        model.warm_batch_size = recipe.batch_size
        return super().train(model, data, recipe, seed, **kwargs)

    def _warm_step(
        self, model: JaxModel, staged: Staged, batch_size: int, optimizer: str | None = None
    ) -> None:
        """Compile the step for ``batch_size``, this data set's size and ``optimizer`` (the
        recipe's by default), and run it once on copies of the parameters and optimizer
        state (the model is left as it was)."""
        optimizer = optimizer or model.spec.recipe.optimizer
        compiled = compiled_for(model.spec)
        n = int(staged.x.shape[0])
        key = (min(batch_size, n), n, model.device, optimizer, model.dtype.name)
        if key in compiled.warm:
            return
        copy = jax.tree.map(jnp.copy, (model.params, _opt_state(model, optimizer)))
        out = compiled.step_for(key[0], optimizer)(
            *copy, staged.x, staged.y, self._order(model, np.zeros(0, np.int32), n, key[0]),
            np.int32(0), np.int32(n), model.dtype.type(0.0),
            _hyper(UpdateRule(optimizer), model.dtype),
            model.key, np.uint32(0),
        )  # fmt: skip
        jax.block_until_ready(out)
        compiled.warm.add(key)

    @staticmethod
    def _order(model: JaxModel, order: np.ndarray, n_staged: int, bs: int):
        """``order`` on the device, padded to ``ceil(n_staged / bs)`` whole batches: one
        shape for every epoch over this data set, whatever its own length."""
        padded = np.zeros(math.ceil(n_staged / bs) * bs, np.int32)
        padded[: len(order)] = order
        return jax.device_put(padded, model.device)

    @_in_precision
    def _train_epoch(
        self,
        model: JaxModel,
        staged: Staged,
        order: np.ndarray,
        *,
        lr,
        update: UpdateRule,
        batch_size: int,
        sync_every: int,
        on_sync: OnSync,
    ) -> None:
        n_staged = int(staged.x.shape[0])
        n = len(order)
        bs = min(batch_size, n_staged)
        n_batches = math.ceil(n / bs)
        rule = update
        lrs = batch_lrs(lr, n_batches).astype(model.dtype)
        hyper = _hyper(rule, model.dtype)
        compiled = compiled_for(model.spec)
        step = compiled.step_for(bs, rule.optimizer)
        order_d = self._order(model, order, n_staged, bs)
        params, state = model.params, _opt_state(model, rule.optimizer)
        results: list = []
        first = 0
        try:
            for b in range(n_batches):
                model.step += 1
                params, state, loss, right = step(
                    params, state, staged.x, staged.y, order_d,
                    np.int32(b * bs), np.int32(n), lrs[b], hyper, model.key,
                    np.uint32(model.step),
                )  # fmt: skip
                results.append((loss, right))
                if b + 1 - first == sync_every or b + 1 == n_batches:
                    # the read-back waits for the device: at the end, the epoch is done
                    host = np.asarray(jax.device_get(results), dtype=np.float64)
                    model.params = params
                    _set_opt_state(model, rule.optimizer, state)
                    results = []
                    on_sync(first, host[:, 0], host[:, 1].astype(np.int64))
                    first = b + 1
        finally:
            model.params = params
            _set_opt_state(model, rule.optimizer, state)
        compiled.warm.add((bs, n_staged, model.device, rule.optimizer, model.dtype.name))

    @_in_precision
    def predict(self, model: JaxModel, staged: Any, batch_size: int = PREDICT_BATCH) -> np.ndarray:
        x = staged.x if isinstance(staged, Staged) else self._x(model, staged[0])
        n = int(x.shape[0])
        if n == 0:
            return np.zeros(0, dtype=np.int64)
        size = min(batch_size, n)
        predict = compiled_for(model.spec).predict
        out = []
        for i in range(0, n, size):
            chunk = x[i : i + size]
            short = size - int(chunk.shape[0])
            if short:  # pad the last batch to the one compiled shape
                chunk = jnp.concatenate([chunk, jnp.zeros((short, *chunk.shape[1:]), x.dtype)])
            out.append(predict(model.params, chunk))
        labels = np.concatenate([np.asarray(o) for o in out])[:n]
        return labels.astype(np.int64)


def _hyper(rule: UpdateRule, dtype: np.dtype):
    """The update's hyper-parameters as the step takes them, always of the same type (a
    new type would retrace): momentum for SGD, ``[beta1, beta2, eps]`` for Adam."""
    if rule.optimizer == "adam":
        return np.array([*rule.betas, rule.eps], dtype=dtype)
    return dtype.type(rule.momentum)


def _opt_state(model: JaxModel, optimizer: str):
    """The model's state for ``optimizer``: velocities, or Adam's ``(m, v, step count)``
    (zeros at first)."""
    if optimizer != "adam":
        return model.velocity
    if model.adam is None:
        zeros = {name: jnp.zeros_like(p) for name, p in model.params.items()}
        model.adam = (zeros, jax.tree.map(jnp.copy, zeros), jnp.asarray(0.0, model.dtype))
    return model.adam


def _set_opt_state(model: JaxModel, optimizer: str, state) -> None:
    if optimizer == "adam":
        model.adam = state
    else:
        model.velocity = state


def _gpus() -> list:
    try:
        return jax.devices("gpu")
    except RuntimeError:
        return []


__all__ = ["LAYERS", "JaxBackend", "JaxModel", "Staged"]
