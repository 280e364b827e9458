"""The TensorFlow backend: any spec as explicit ``tf.nn`` ops on ``tf.Variable`` s.

Why plain variables and not a Keras model: TensorFlow's own layouts are already
canonical (NHWC activations, conv kernels ``(kh, kw, in, out)``, dense weights
``(in, out)``, flatten of NHWC in H, W, C order), so parameters go in and out with no
conversion; each layer is one or two ``tf.nn`` calls whose maths can be read against
:mod:`mnist_nets.specs` (symmetric integer padding, floor pooling, inverted dropout);
and the training loop is one compiled graph with no Keras machinery (optimizer slots,
metrics, callbacks) in it.

* Convolution pads ``p`` pixels on every side, then slides VALID (``tf.nn.conv2d``
  with explicit paddings).  TensorFlow's ``"SAME"`` pads asymmetrically when the
  stride is above 1, so it is used only where it is identical (stride 1 and
  ``p == k // 2`` for an odd kernel).
* The SGD update is ``v = momentum * v + grad; param -= lr * v``: exactly what the fused
  ``ResourceApplyMomentum`` kernel computes (Keras' SGD uses another form, equal only
  for a constant learning rate).  Adam is written out in ``tf`` ops as
  :class:`mnist_nets.specs.UpdateRule` states it (the fused ``ResourceApplyAdam`` puts
  epsilon elsewhere: ``sqrt(v) + eps`` instead of ``sqrt(v_hat) + eps``).  The learning
  rate of every batch comes in as a tensor, ``momentum``, betas and eps are variables,
  so no schedule retraces anything; velocities and moments live in the model.
* Training runs ``sync_every`` batches per call of one compiled function: an in-graph
  loop (``tf.while_loop``, one iteration at a time) that gathers each batch from the
  staged tensors by the given order, takes the SGD step and records the batch's loss
  and correct count.  Its signature has ``None`` sizes, so the last, smaller batch
  and every epoch reuse the one graph.  Against one compiled call per batch it gave
  bit-identical results in less CPU time (2-core CPU, this project's networks):
  perceptron 1.8x, dnn 1.2x, cnn 1.07x less, the per-call overhead it saves.
* The compiled functions take the model's variables as arguments, so one trace
  serves every model of the same network and device (:class:`_Graphs`, cached): a
  fresh model, as each benchmark round builds, is not traced again.  The first
  :meth:`~TensorflowBackend.stage` of a network traces and runs the training loop
  once (restoring every variable it touched), so that one-off cost (~0.3-1 s) stays
  out of the timed epochs; the first batches of the first epoch still pay ~0.1 s of
  set-up for their batch shape.
* XLA (``jit_compile=True``) is off: on that CPU it took ~10 s of compiling and was no
  faster afterwards, and it has no deterministic max-pooling gradient.
* A seed makes a run repeatable: dropout masks are :mod:`mnist_nets.dropout`'s, the same
  in every backend (a hash of ``build``'s seed, a per-model step counter, the layer and
  the element, in uint32 ops inside the graph), and TensorFlow's op determinism is
  turned on (no measurable cost on CPU).
* :meth:`~TensorflowBackend.forward`, :meth:`~TensorflowBackend.activations` and
  :meth:`~TensorflowBackend.loss_and_grads` run eagerly (no tracing for a model only
  probed once, as the property tests do); training and ``predict`` are compiled.
"""

from __future__ import annotations

import importlib.metadata
import os
from collections import OrderedDict
from typing import Any, NamedTuple

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf

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

JIT_COMPILE = False  # XLA on CPU: see the module docstring
_TF_DEVICE = {"cpu": "/CPU:0", "cuda": "/GPU:0"}
_GRAPH_CACHE_SIZE = 32  # networks whose compiled functions are kept


class Staged(NamedTuple):
    """Inputs (and labels, for training) as tensors on the model's device."""

    x: Any  # tf.Tensor (N, H, W, C) of the model's dtype
    y: Any  # tf.Tensor int32 (N,), or None


# --------------------------------------------------------------------------- the maths
# Plain functions of the spec and a dict of variables (or tensors), so that the same
# code runs eagerly and inside the compiled functions.


def _u32(c: int):
    return tf.constant(c, tf.uint32)


# mnist_nets.dropout's word arithmetic in uint32 tensors (which wrap modulo 2**32)
TF_OPS = dropout.Ops(
    xor=tf.bitwise.bitwise_xor,
    add=tf.add,
    mul=lambda a, c: a * _u32(c),
    shr=lambda a, s: tf.bitwise.right_shift(a, _u32(s)),
    const=_u32,
)


def _dropout(layer: Dropout, x, key, k: int):
    """Inverted dropout with the shared masks of :mod:`mnist_nets.dropout` for ``key =
    (seed, step)`` (int64) and layer index ``k``, computed in the graph."""
    if key is None or layer.rate <= 0:
        return x
    seed_lo = tf.cast(tf.bitwise.bitwise_and(key[0], dropout.MASK32), tf.uint32)
    seed_hi = tf.cast(tf.bitwise.right_shift(key[0], tf.constant(32, tf.int64)), tf.uint32)
    k1, k2 = dropout.keys(seed_lo, seed_hi, tf.cast(key[1], tf.uint32), k, TF_OPS)
    index = tf.reshape(tf.cast(tf.range(tf.size(x)), tf.uint32), tf.shape(x))
    keep = dropout.bits(index, k1, k2, TF_OPS) >= _u32(dropout.threshold(layer.rate))
    return tf.where(keep, x * tf.cast(dropout.scale(layer.rate), x.dtype), tf.zeros_like(x))


# Each layer type's computation: (layer, its LayerInfo, params, x, dropout key, index) -> y.
LAYERS: dict[type, Any] = {
    Conv2D: lambda layer, info, p, x, key, k: tf.nn.bias_add(
        _conv2d(x, p[f"{info.name}.weight"], layer), p[f"{info.name}.bias"]
    ),
    Dense: lambda layer, info, p, x, key, k: tf.nn.bias_add(
        tf.matmul(x, p[f"{info.name}.weight"]), p[f"{info.name}.bias"]
    ),
    MaxPool2D: lambda layer, info, p, x, key, k: tf.nn.max_pool2d(
        x, layer.size, layer.stride, "VALID"
    ),
    ReLU: lambda layer, info, p, x, key, k: tf.nn.relu(x),
    # NHWC: H, W, C order
    Flatten: lambda layer, info, p, x, key, k: tf.reshape(x, [-1, info.output_shape[0]]),
    Dropout: lambda layer, info, p, x, key, k: _dropout(layer, x, key, k),
    Crop: lambda layer, info, p, x, key, k: x[
        :, layer.border : -layer.border, layer.border : -layer.border, :
    ],
}


def layer_outputs(spec: ModelSpec, params: dict, x, dropout_key=None) -> list:
    """Every layer's output for NHWC ``x``, in order.  Dropout is applied only when a
    ``dropout_key`` (a stateless random seed, shape ``(2,)``) is given."""
    outputs = []
    for k, info in enumerate(spec.layer_infos):
        x = LAYERS[type(info.layer)](info.layer, info, params, x, dropout_key, k)
        outputs.append(x)
    return outputs


def batch_loss(spec: ModelSpec, logits, y):
    """Batch-mean loss of ``logits`` against int labels ``y`` (see specs.py)."""
    if spec.loss == "cross_entropy" and spec.label_smoothing:
        e = spec.label_smoothing
        target = tf.one_hot(y, NUM_CLASSES, dtype=logits.dtype) * (1 - e) + e / NUM_CLASSES
        per_sample = tf.nn.softmax_cross_entropy_with_logits(labels=target, logits=logits)
        return tf.reduce_mean(per_sample)
    if spec.loss == "cross_entropy":
        per_sample = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits)
        return tf.reduce_mean(per_sample)
    return tf.reduce_mean(tf.square(logits - tf.one_hot(y, NUM_CLASSES, dtype=logits.dtype)))


def _next_dropout_key(state: dict):
    """A fresh stateless seed: (model seed, step counter), the counter advanced."""
    return tf.stack([state["seed"], state["dropout_step"].assign_add(1)])


def train_step(spec: ModelSpec, state: dict, x, y, lr, adam: bool):
    """One update (SGD with momentum, or ``adam``) with learning rate ``lr`` on batch
    ``(x, y)``, dropout on; returns ``(loss, correct)``.

    ``state`` holds the model's variables: ``params``, ``velocity``, ``adam_m`` and
    ``adam_v`` (dicts by name), ``momentum``, ``betas``, ``eps``, ``adam_t``,
    ``dropout_step`` and the ``seed`` (a tensor)."""
    key = _next_dropout_key(state) if spec.has_dropout else None
    names = list(state["params"])
    with tf.GradientTape() as tape:
        logits = layer_outputs(spec, state["params"], x, key)[-1]
        loss = batch_loss(spec, logits, y)
    grads = tape.gradient(loss, [state["params"][n] for n in names])
    if adam:
        _adam_update(state, names, grads, lr)
    else:
        for name, grad in zip(names, grads, strict=True):
            # the fused kernel: accum = accum * momentum + grad; var -= lr * accum
            tf.raw_ops.ResourceApplyMomentum(
                var=state["params"][name].handle,
                accum=state["velocity"][name].handle,
                lr=lr,
                grad=grad,
                momentum=state["momentum"],
            )
    predicted = tf.argmax(logits, axis=1, output_type=tf.int32)
    return loss, tf.reduce_sum(tf.cast(tf.equal(predicted, y), tf.int32))


def _adam_update(state: dict, names: list, grads: list, lr) -> None:
    """Adam's next step, as :class:`mnist_nets.specs.UpdateRule` states it."""
    t = state["adam_t"].assign_add(1.0)
    beta1, beta2 = state["betas"][0], state["betas"][1]
    step = lr / (1.0 - tf.pow(beta1, t))  # lr / (1 - beta1**t)
    root = tf.sqrt(1.0 - tf.pow(beta2, t))  # sqrt(1 - beta2**t)
    for name, grad in zip(names, grads, strict=True):
        m = state["adam_m"][name].assign(beta1 * state["adam_m"][name] + (1.0 - beta1) * grad)
        v = state["adam_v"][name].assign(
            beta2 * state["adam_v"][name] + (1.0 - beta2) * tf.square(grad)
        )
        state["params"][name].assign_sub(step * m / (tf.sqrt(v) / root + state["eps"]))


def _conv2d(x, kernel, layer: Conv2D):
    """Symmetric zero padding of ``layer.padding`` on each side, then a VALID convolution."""
    p, k, s = layer.padding, layer.kernel, layer.stride
    if p == 0:
        padding: Any = "VALID"
    elif s == 1 and k % 2 == 1 and p == k // 2:
        padding = "SAME"  # identical to symmetric k // 2 padding at stride 1
    else:
        padding = [[0, 0], [p, p], [p, p], [0, 0]]
    return tf.nn.conv2d(x, kernel, strides=s, padding=padding)


# --------------------------------------------------------------------------- models


class TFModel:
    """A spec's parameters, velocities, SGD settings and dropout counter, as variables."""

    def __init__(
        self, spec: ModelSpec, params: dict, device: str, seed: int | None, dtype: np.dtype
    ):
        self.spec = spec
        self.device = device
        self.dtype = dtype  # numpy's: of the parameters, state and arithmetic
        tf_dtype = tf.as_dtype(dtype)
        params = {name: np.asarray(value, dtype) for name, value in params.items()}
        self.tf_device = _TF_DEVICE[device]
        # dropout draws from (seed, step); an unseeded model gets a random seed
        self.seed = int(np.random.SeedSequence().entropy % 2**62) if seed is None else seed
        with tf.device(self.tf_device):
            self.params = {name: tf.Variable(value, name=name) for name, value in params.items()}
            self.velocity = {
                name: tf.Variable(tf.zeros_like(value), trainable=False, name=f"{name}.velocity")
                for name, value in params.items()
            }
            self.adam_m = {
                name: tf.Variable(tf.zeros_like(value), trainable=False, name=f"{name}.adam_m")
                for name, value in params.items()
            }
            self.adam_v = {
                name: tf.Variable(tf.zeros_like(value), trainable=False, name=f"{name}.adam_v")
                for name, value in params.items()
            }
            self.adam_t = tf.Variable(0.0, trainable=False, name="adam_t", dtype=tf_dtype)
            self.betas = tf.Variable([0.9, 0.999], trainable=False, name="betas", dtype=tf_dtype)
            self.eps = tf.Variable(1e-8, trainable=False, name="eps", dtype=tf_dtype)
            self.momentum = tf.Variable(0.0, trainable=False, name="momentum", dtype=tf_dtype)
            self.dropout_step = tf.Variable(0, dtype=tf.int64, trainable=False)
            self.seed_tensor = tf.constant(self.seed, dtype=tf.int64)

    def __repr__(self) -> str:
        return f"TFModel({self.spec.name!r}, device={self.device!r}, seed={self.seed})"

    @property
    def state(self) -> dict:
        """What the compiled functions take: every variable, and the seed."""
        return {
            "params": self.params,
            "velocity": self.velocity,
            "adam_m": self.adam_m,
            "adam_v": self.adam_v,
            "adam_t": self.adam_t,
            "betas": self.betas,
            "eps": self.eps,
            "momentum": self.momentum,
            "dropout_step": self.dropout_step,
            "seed": self.seed_tensor,
        }

    def variables(self) -> list:
        return [
            *self.params.values(),
            *self.velocity.values(),
            *self.adam_m.values(),
            *self.adam_v.values(),
            self.adam_t,
            self.betas,
            self.eps,
            self.momentum,
            self.dropout_step,
        ]


class _Graphs:
    """The compiled functions of one network (layers, loss, input shape) on one device,
    shared by all its models: the variables are arguments, so one trace serves them all.
    The training loop is traced once per update rule ("sgd", "adam"), when first asked."""

    def __init__(self, model: TFModel):
        spec, state = model.spec, model.state
        self.dtype = tf.as_dtype(model.dtype)
        self.x_spec = tf.TensorSpec((None, *spec.input_shape), self.dtype)
        self.index_spec = tf.TensorSpec((None,), tf.int32)
        self.tf_device = model.tf_device
        self.state = state
        self._chunks: dict[str, Any] = {}

        def make_train_chunk(adam: bool):
            @tf.function(jit_compile=JIT_COMPILE, autograph=False)
            def train_chunk(state, x_all, y_all, order, batch_size, lrs):
                """Updates on the batches ``order[0:batch_size], order[batch_size:2 *
                batch_size], ...`` (the last may be smaller) of the staged tensors, batch
                ``i`` with learning rate ``lrs[i]``, in an in-graph loop; returns each
                batch's loss and number of correct predictions."""
                n = tf.shape(order)[0]
                n_batches = (n + batch_size - 1) // batch_size

                def body(i, losses, correct):
                    indices = order[i * batch_size : tf.minimum((i + 1) * batch_size, n)]
                    loss, right = train_step(
                        spec,
                        state,
                        tf.gather(x_all, indices),
                        tf.gather(y_all, indices),
                        lrs[i],
                        adam,
                    )
                    return i + 1, losses.write(i, loss), correct.write(i, right)

                _, losses, correct = tf.while_loop(
                    lambda i, *_: i < n_batches,
                    body,
                    (
                        tf.constant(0),
                        tf.TensorArray(self.dtype, size=n_batches),
                        tf.TensorArray(tf.int32, size=n_batches),
                    ),
                    parallel_iterations=1,  # each step reads the previous step's update
                )
                return losses.stack(), correct.stack()

            return train_chunk

        self._make_train_chunk = make_train_chunk

        @tf.function(jit_compile=JIT_COMPILE, autograph=False)
        def predict(params, x):
            """Predicted labels (argmax of the logits), eval mode."""
            logits = layer_outputs(spec, params, x)[-1]
            return tf.argmax(logits, axis=1, output_type=tf.int32)

        with tf.device(model.tf_device):
            self.predict = predict.get_concrete_function(model.params, self.x_spec)
        self.warm = {"predict": False, "sgd": False, "adam": False}  # run once yet?

    def train_chunk(self, optimizer: str):
        """The compiled training loop for ``optimizer`` ("sgd" or "adam")."""
        if optimizer not in self._chunks:
            fn = self._make_train_chunk(optimizer == "adam")
            with tf.device(self.tf_device):
                self._chunks[optimizer] = fn.get_concrete_function(
                    self.state,
                    self.x_spec,
                    self.index_spec,
                    self.index_spec,
                    tf.TensorSpec((), tf.int32),
                    tf.TensorSpec((None,), self.dtype),
                )
        return self._chunks[optimizer]

    def warm_up(self, model: TFModel, staged: Staged, optimizer: str = "sgd") -> None:
        """Run the function ``staged`` is for (training with ``optimizer`` when it has
        labels, else prediction) once on one sample, then put back every variable it
        touched, so that its one-off set-up is paid outside any timed epoch."""
        training = staged.y is not None
        with tf.device(model.tf_device):
            if training:
                saved = [(v, np.array(v.numpy(), copy=True)) for v in model.variables()]
                one = tf.constant([0], tf.int32)
                self.train_chunk(optimizer)(
                    model.state, staged.x, staged.y, one, tf.constant(1), tf.zeros(1, self.dtype)
                )
                for var, value in saved:
                    var.assign(value)
            else:
                self.predict(model.params, staged.x[:1])
        self.warm[optimizer if training else "predict"] = True


_graphs: OrderedDict[tuple, _Graphs] = OrderedDict()


def graphs_for(model: TFModel) -> _Graphs:
    """The (cached) compiled functions for ``model``'s network and device."""
    spec = model.spec
    key = (
        spec.layers, spec.loss, spec.label_smoothing, spec.input_shape, model.device,
        model.dtype.name,
    )
    if key in _graphs:
        _graphs.move_to_end(key)
    else:
        _graphs[key] = _Graphs(model)
        while len(_graphs) > _GRAPH_CACHE_SIZE:
            _graphs.popitem(last=False)
    return _graphs[key]


# --------------------------------------------------------------------------- backend


class TensorflowBackend(Backend):
    """TensorFlow 2 (graph-compiled training and prediction, eager probes)."""

    name = "tensorflow"
    inference_mode = (
        f"tf.function (autograph off, jit_compile {JIT_COMPILE}), one concrete function "
        "for float32 (None, H, W, C) inputs"
    )

    # -- devices and versions ---------------------------------------------------

    def devices(self) -> list[str]:
        return ["cpu", *(["cuda"] if tf.config.list_physical_devices("GPU") else [])]

    def check_device(self, device: str) -> str:
        if device == "cuda" and not tf.config.list_physical_devices("GPU"):
            raise DeviceError(
                "device 'cuda' is not available to the tensorflow backend: TensorFlow sees no "
                "GPU here (tf.config.list_physical_devices('GPU') is empty; a CPU-only build "
                "such as tensorflow-cpu, or no CUDA driver). Use device 'cpu', or install a "
                "GPU build (`pip install 'tensorflow[and-cuda]'` on Linux)"
            )
        return super().check_device(device)

    def device_name(self, device: str = "cpu") -> str:
        device = self.check_device(device)
        if device == "cuda":
            gpu = tf.config.list_physical_devices("GPU")[0]
            details = tf.config.experimental.get_device_details(gpu)
            return str(details.get("device_name", gpu.name))
        return super().device_name(device)

    def thread_settings(self) -> dict[str, int | str]:
        threading = tf.config.threading
        # 0 means "TensorFlow's default": one per core
        return {
            "tf_intra_op": threading.get_intra_op_parallelism_threads(),
            "tf_inter_op": threading.get_inter_op_parallelism_threads(),
        }

    def reset_device_peak(self, device: str = "cpu") -> None:
        if device == "cuda":
            try:
                tf.config.experimental.reset_memory_stats("GPU:0")
            except (ValueError, RuntimeError):
                pass

    def device_peak(self, device: str = "cpu") -> int | None:
        if device != "cuda":
            return None
        try:
            return int(tf.config.experimental.get_memory_info("GPU:0")["peak"])
        except (ValueError, RuntimeError, KeyError):
            return None

    def versions(self) -> dict[str, str]:
        try:
            keras_version = importlib.metadata.version("keras")
        except importlib.metadata.PackageNotFoundError:
            keras_version = "not installed"
        intra = tf.config.threading.get_intra_op_parallelism_threads()
        inter = tf.config.threading.get_inter_op_parallelism_threads()
        return {
            "numpy": np.__version__,
            "tensorflow": tf.__version__,
            "keras": keras_version,
            "tf_intra_op_threads": str(intra) if intra else "0 (default: all cores)",
            "tf_inter_op_threads": str(inter) if inter else "0 (default)",
            "jit_compile": str(JIT_COMPILE),
        }

    # -- the model ---------------------------------------------------------------

    def build(
        self,
        spec: ModelSpec,
        params: dict,
        device: str = "cpu",
        seed: int | None = 0,
        dtype: str = "float32",
    ) -> TFModel:
        """A model of ``spec`` on ``device``.  ``seed`` fixes the dropout masks and turns
        on op determinism (process-wide, as TensorFlow has it); None: unseeded."""
        device = self.check_device(device)
        params = check_params(spec, params)
        dt = check_dtype(dtype)
        if seed is not None:
            tf.random.set_seed(seed)
            tf.config.experimental.enable_op_determinism()
        return TFModel(spec, params, device, seed, dt)

    def forward(self, model: TFModel, x: np.ndarray, training: bool = False) -> np.ndarray:
        x = _check_x(model.spec, x, model.dtype)
        with tf.device(model.tf_device):
            key = _next_dropout_key(model.state) if training else None
            return layer_outputs(model.spec, model.params, tf.constant(x), key)[-1].numpy()

    def inference(self, model: TFModel):
        """A compiled tf.function of the logits, traced once for any batch size (``forward``
        runs eagerly; this is how TensorFlow's users serve a model)."""
        spec, params = model.spec, model.params

        @tf.function(jit_compile=JIT_COMPILE, autograph=False)
        def logits(x):
            return layer_outputs(spec, params, x)[-1]

        with tf.device(model.tf_device):
            concrete = logits.get_concrete_function(
                tf.TensorSpec((None, *spec.input_shape), tf.as_dtype(model.dtype))
            )

        def run(x: np.ndarray) -> np.ndarray:
            x = _check_x(spec, x, model.dtype)
            with tf.device(model.tf_device):
                return concrete(tf.constant(x)).numpy()

        return run

    def activations(self, model: TFModel, x: np.ndarray) -> list[np.ndarray]:
        x = _check_x(model.spec, x, model.dtype)
        with tf.device(model.tf_device):
            return [out.numpy() for out in layer_outputs(model.spec, model.params, tf.constant(x))]

    def loss_and_grads(self, model: TFModel, x: np.ndarray, y: np.ndarray) -> tuple[float, dict]:
        x = _check_x(model.spec, x, model.dtype)
        y = _check_y(y, len(x))
        names = list(model.params)
        with tf.device(model.tf_device):
            with tf.GradientTape() as tape:
                logits = layer_outputs(model.spec, model.params, tf.constant(x))[-1]
                loss = batch_loss(model.spec, logits, tf.constant(y))
            grads = tape.gradient(loss, [model.params[n] for n in names])
        return float(loss.numpy()), {
            name: np.array(g.numpy(), dtype=model.dtype)
            for name, g in zip(names, grads, strict=True)
        }

    def export_params(self, model: TFModel) -> dict[str, np.ndarray]:
        return {name: np.array(v.numpy(), dtype=model.dtype) for name, v in model.params.items()}

    # -- training ------------------------------------------------------------------

    def stage(self, model: TFModel, x: np.ndarray, y: np.ndarray | None = None) -> Staged:
        """Inputs (and labels) copied to the model's device once.  The first time a
        network is staged for training, its compiled loop is traced and run once
        (without changing the model), so that no timed epoch pays that cost."""
        x = _check_x(model.spec, x, model.dtype)
        with tf.device(model.tf_device):
            x_t = tf.identity(tf.constant(x))
            y_t = None if y is None else tf.identity(tf.constant(_check_y(y, len(x))))
        staged = Staged(x_t, y_t)
        graphs = graphs_for(model)
        kind = model.spec.recipe.optimizer if y_t is not None else "predict"
        if len(x) and not graphs.warm[kind]:
            graphs.warm_up(model, staged, model.spec.recipe.optimizer)
        return staged

    def _train_epoch(
        self,
        model: TFModel,
        staged: Staged,
        order: np.ndarray,
        *,
        lr,
        update: UpdateRule,
        batch_size: int,
        sync_every: int,
        on_sync: OnSync,
    ) -> None:
        rule = update
        lrs = batch_lrs(lr, -(-len(order) // batch_size)).astype(model.dtype)
        train_chunk = graphs_for(model).train_chunk(rule.optimizer)
        model.momentum.assign(rule.momentum)
        model.betas.assign(rule.betas)
        model.eps.assign(rule.eps)
        per_chunk = batch_size * sync_every
        with tf.device(model.tf_device):
            order_t = tf.constant(order, dtype=tf.int32)
            size_t = tf.constant(batch_size, dtype=tf.int32)
            for first, start in enumerate(range(0, len(order), per_chunk)):
                losses, correct = train_chunk(
                    model.state,
                    staged.x,
                    staged.y,
                    order_t[start : start + per_chunk],
                    size_t,
                    tf.constant(lrs[first * sync_every : (first + 1) * sync_every]),
                )
                # the read-back waits for the device: the epoch is done when this returns
                on_sync(
                    first * sync_every,
                    losses.numpy().astype(np.float64),
                    correct.numpy().astype(np.int64),
                )

    def predict(self, model: TFModel, staged: Any, batch_size: int = 1000) -> np.ndarray:
        x = staged.x if isinstance(staged, Staged) else self.stage(model, staged[0]).x
        predict = graphs_for(model).predict
        with tf.device(model.tf_device):
            out = [
                predict(model.params, x[i : i + batch_size]).numpy()
                for i in range(0, int(x.shape[0]), batch_size)
            ]
        return np.concatenate(out).astype(np.int64) if out else np.zeros(0, dtype=np.int64)


def _check_x(spec: ModelSpec, x, dtype: np.dtype) -> np.ndarray:
    return check_inputs(spec, x).astype(dtype, copy=False)


def _check_y(y, n: int) -> np.ndarray:
    return check_labels(y, n).astype(np.int32)


__all__ = ["JIT_COMPILE", "Staged", "TFModel", "TensorflowBackend"]
