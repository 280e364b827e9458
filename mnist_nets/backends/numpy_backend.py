"""The vanilla framework: any spec in plain numpy, forward and backward written by hand.

The layer, loss and optimizer mathematics is in :mod:`mnist_nets.backends.numpy_layers`;
this module turns a spec into a :class:`NumpyModel` (a list of those layers sharing flat
parameter, gradient and velocity vectors) and implements the
:class:`~mnist_nets.backends.base.Backend` interface on it.

Precision: float32 by default; ``build(..., dtype="float64")`` gives a float64 model
(for finite-difference gradient checks and equivalence through training).  Parameters
given to ``build`` are converted to the model's dtype; ``export_params`` and
``loss_and_grads`` answer in the model's dtype.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import math
import os
import warnings

import numpy as np

from mnist_nets import specs
from mnist_nets.backends import banded, numpy_process, winograd
from mnist_nets.backends import numpy_layers as nl
from mnist_nets.backends.base import (
    Backend,
    OnSync,
    batch_lrs,
    check_dtype,
    check_inputs,
    check_labels,
)
from mnist_nets.params import check_params


class NumpyModel:
    """A spec realised in numpy.

    All parameters live in one flat vector ``flat`` (canonical order, so a conv layer's
    weight and bias are adjacent and form its ``[W; b]`` matrix); ``params`` and ``grads``
    map canonical names to views of ``flat`` and ``flat_grad``.  So the SGD update is four
    whole-vector operations, whatever the network.
    """

    def __init__(self, spec: specs.ModelSpec, params: dict, dtype, seed: int):
        self.spec, self.dtype = spec, np.dtype(dtype)
        total = spec.param_count
        # in memory shared with a forked child: numpy_process.SecondProcess
        self.flat = numpy_process.shared_empty(total, self.dtype)
        self.flat_grad = np.zeros(total, self.dtype)
        self.velocity = np.zeros(total, self.dtype)
        self.adam_m = np.zeros(total, self.dtype)  # Adam's moments and step count
        self.adam_v = np.zeros(total, self.dtype)
        self.adam_t = 0
        self.scratch = np.empty(total, self.dtype)
        self.dropout_step = 0  # training forward passes so far (mnist_nets.dropout)
        self.batch_rows: int | None = None  # rows of the last training batch (see forward)
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        offsets: dict[str, int] = {}
        offset = 0
        for p in spec.parameters:
            offsets[p.name] = offset
            self.params[p.name] = self.flat[offset : offset + p.size].reshape(p.shape)
            self.grads[p.name] = self.flat_grad[offset : offset + p.size].reshape(p.shape)
            self.params[p.name][...] = params[p.name]
            offset += p.size
        self.offsets = offsets
        self.seed = seed
        self.layers = self._layers(rewrite=True)
        self._plain_layers: list[nl.Layer] | None = None  # see plain_layers
        self._twin: nl.Twin | None = None  # see twin
        self._second: numpy_process.SecondProcess | None = None  # see second_process
        # what ran the second half of the last training batches (the forked child or the
        # thread pool; None: they ran in one piece), which inference uses too (forward)
        self.aside = None
        # layers before the first one with parameters need no backward pass
        self.first_trained = next(i for i, layer in enumerate(self.layers) if layer.params)

    @property
    def plain_layers(self) -> list[nl.Layer]:
        """One layer per spec layer, in order, without the rewrites (for ``activations``);
        they share the parameters of ``layers``."""
        if self._plain_layers is None:
            self._plain_layers = self._layers(rewrite=False)
        return self._plain_layers

    @property
    def twin(self) -> nl.Twin:
        """A second set of the training layers (*speed: two cores*, see
        :func:`numpy_layers.step_in_halves`): the same parameters, its own buffers, its own
        gradient vector (its dropout layers read the model's seed and step)."""
        if self._twin is None:
            flat_grad = numpy_process.shared_empty(self.flat_grad.shape, self.dtype)
            flat_grad[...] = 0
            layers = self._layers(True, flat_grad)
            self._twin = nl.Twin(layers, flat_grad, np.empty_like(flat_grad))
        return self._twin

    def second_process(self, rows: int) -> numpy_process.SecondProcess:
        """The forked child that runs the twin's half of each batch (*speed: the second
        half in a process of its own*), for halves of up to ``rows`` rows; started on
        first use, and again when a larger half comes or the last one has ended."""
        second = self._second
        if second is None or second.rows < rows or not second.process.is_alive():
            if second is not None:
                second.close()
            self._second = second = numpy_process.SecondProcess(self, rows)
        return second

    def _layers(self, rewrite: bool, flat_grad=None) -> list[nl.Layer]:
        """The layers, writing their gradients into ``flat_grad`` (default the model's), in
        the spec's order but
        (``rewrite``) for two exact rewrites that save time:

        * ReLU then MaxPool2D runs as MaxPool2D then ReLU: ``max(relu(a), relu(b)) =
          relu(max(a, b))``, and the gradients agree too (the same element wins, and its
          gradient passes the ReLU iff the maximum is positive), so the ReLU works on the
          pooled map, ``k*k`` times smaller.
        * Conv2D then a non-overlapping MaxPool2D are fused: the convolution writes its output
          in the pooling-phase order the pool reads as contiguous blocks.
        """
        infos = list(self.spec.layer_infos)
        for i in range(len(infos) - 1 if rewrite else 0):
            if isinstance(infos[i].layer, specs.ReLU) and isinstance(
                infos[i + 1].layer, specs.MaxPool2D
            ):
                relu, pool = infos[i], infos[i + 1]
                infos[i] = dataclasses.replace(pool, input_shape=relu.input_shape)
                infos[i + 1] = dataclasses.replace(
                    relu, input_shape=pool.output_shape, output_shape=pool.output_shape
                )
        self._into = (self.flat_grad if flat_grad is None else flat_grad,)
        layers: list[nl.Layer] = []
        self._built = layers  # the layers so far, for a maker that fuses with the one before
        params_before = False
        for i, info in enumerate(infos):
            args = (info.name, info.input_shape, info.output_shape, self.dtype, params_before)
            prev, nxt = (
                infos[i - 1].layer if i else None,
                infos[i + 1].layer if i + 1 < len(infos) else None,
            )
            layers.append(LAYERS[type(info.layer)](self, info, args, prev, nxt, rewrite))
            params_before = params_before or bool(info.params)
        return layers

    # -- one maker per layer type (see LAYERS): (info, args, prev, nxt, rewrite) -> layer

    def _dense(self, info, args, prev, nxt, rewrite) -> nl.Layer:
        w, b = f"{info.name}.weight", f"{info.name}.bias"
        grads = tuple(self._grad_view(self._into[0], name) for name in (w, b))
        return nl.DenseLayer(*args, self.params[w], self.params[b], *grads)

    def _grad_view(self, flat_grad: np.ndarray, name: str) -> np.ndarray:
        """The gradient of parameter ``name`` as a view of ``flat_grad``."""
        start, shape = self.offsets[name], self.params[name].shape
        return flat_grad[start : start + math.prod(shape)].reshape(shape)

    def _conv(self, info, args, prev, nxt, rewrite) -> nl.Layer:
        layer = info.layer
        start = self.offsets[f"{info.name}.weight"]
        rows = math.prod(info.params[0].shape[:3]) + 1  # k*k*C weights + 1 bias row
        size = rows * layer.filters
        wb = self.flat[start : start + size].reshape(rows, layer.filters)
        dwb = self._into[0][start : start + size].reshape(rows, layer.filters)
        pool = nxt.size if rewrite and _tiling_pool(nxt) else 1
        # *Speed: banded first layer* (one input channel, few filters): banded.applies
        if rewrite and banded.applies(layer, info.input_shape, info.output_shape, pool, args[4]):
            return banded.BandedConv2DLayer(*args, layer, wb, dwb)
        # *Speed: fast convolutions.*  Winograd for the products where it measured faster
        # for the layer's shape (winograd.choice_for: backward passes only, for exact ties);
        # im2col otherwise, and in the plain layers
        choice = winograd.choice_for(layer, info.input_shape, pool) if rewrite else None
        if choice is not None:
            algorithm, passes = choice
            return winograd.WinogradConv2DLayer(
                *args, layer, wb, dwb, pool=pool, algorithm=algorithm, passes=passes
            )
        return nl.Conv2DLayer(*args, layer, wb, dwb, pool=pool)

    def _pool(self, info, args, prev, nxt, rewrite) -> nl.Layer:
        layer = info.layer
        phased = rewrite and isinstance(prev, specs.Conv2D) and _tiling_pool(layer)
        phases = self._built[-1].phases if phased else None  # the conv just built
        return nl.MaxPool2DLayer(*args, layer, phases=phases)

    def _dropout(self, info, args, prev, nxt, rewrite) -> nl.Layer:
        return nl.DropoutLayer(*args, info.layer.rate, info.index, self)

    def forward(self, x: np.ndarray, training: bool, layers=None, first_row: int = 0) -> np.ndarray:
        """Logits (in a reused buffer) for NHWC ``x`` already in the model's dtype, through
        ``layers`` (default the model's training layers); ``x`` holds the training batch's
        rows from ``first_row`` on (dropout masks go by the row in the batch)."""
        for layer in self.layers if layers is None else layers:
            if layer.__class__ is nl.DropoutLayer:
                layer.first_row = first_row
            x = layer.forward(x, training)
        return x

    def backward(self, g: np.ndarray, layers=None) -> None:
        """Fill the gradients (views of ``flat_grad``, or of the gradient vector ``layers``
        write into) from ``g = dL/dlogits``."""
        for layer in reversed((self.layers if layers is None else layers)[self.first_trained :]):
            g = layer.backward(g)

    def step(
        self, x: np.ndarray, y: np.ndarray, training: bool, scale: float = 1.0
    ) -> tuple[float, int]:
        """One forward and backward pass: ``(loss, correct)``; gradients in ``flat_grad``,
        times ``scale`` (*speed: the rate in the gradient*, see ``train_epoch``)."""
        logits = self.forward(x, training)
        correct = int(np.count_nonzero(np.argmax(logits, axis=1) == y))
        loss, g = nl.loss_function(self.spec)(logits, y)
        if scale != 1:
            g *= g.dtype.type(scale)
        self.backward(g)
        return loss, correct


# The layer of each spec layer type (a NumpyModel method making it).
LAYERS = {
    specs.Dense: NumpyModel._dense,
    specs.Conv2D: NumpyModel._conv,
    specs.MaxPool2D: NumpyModel._pool,
    specs.ReLU: lambda model, info, args, prev, nxt, rewrite: nl.ReLULayer(*args),
    specs.Flatten: lambda model, info, args, prev, nxt, rewrite: nl.FlattenLayer(*args),
    specs.Dropout: NumpyModel._dropout,
    specs.Crop: lambda model, info, args, prev, nxt, rewrite: nl.CropLayer(
        *args, info.layer.border
    ),
}


def in_halves(spec: specs.ModelSpec, rows: int) -> bool:
    """Whether training batches of ``rows`` rows run as two halves side by side (*speed: two
    cores*, :func:`numpy_layers.step_in_halves`): for a convolutional network, whose patch
    copies and pooling are element-wise work on one core, when a batch has the work for it.
    A dense network spends its time in matrix products that BLAS already runs on both
    cores: halved, a `dnn` step (batch 128) took 3.3 ms instead of 2.0 ms.  The halves are
    fixed by the spec and the batch, not by the machine, so that a seed gives the same
    numbers on any number of cores."""
    convolutional = any(isinstance(layer, specs.Conv2D) for layer in spec.layers)
    return convolutional and rows > 1 and rows * spec.flops_training >= nl.HALVES_MIN_FLOPS


_ASIDE: concurrent.futures.ThreadPoolExecutor | None = None


def _aside() -> concurrent.futures.ThreadPoolExecutor:
    """The one thread that runs the second half of each batch."""
    global _ASIDE
    if _ASIDE is None:
        _ASIDE = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="numpy-half")
    return _ASIDE


def _forget_aside() -> None:
    """A forked child has no copy of the parent's threads: a task handed to the parent's
    pool would wait for ever, so the child starts its own when it first needs one."""
    global _ASIDE
    _ASIDE = None


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_forget_aside)


def _second_half(model: NumpyModel, rows: int):
    """What runs the second half of each batch: the model's forked child
    (:mod:`numpy_process`), or the thread where forking is off or fails (the same
    numbers either way, only slower)."""
    if numpy_process.ENABLED:
        try:
            return model.second_process(rows)
        except OSError as e:  # no process to be had (a limit on processes, no memory)
            warnings.warn(
                f"numpy backend: cannot start the process for the second half of each "
                f"batch ({e}); running it on a thread",
                RuntimeWarning,
                stacklevel=3,
            )
    return _aside()


def _one_blas_thread():
    """BLAS held to one thread while two halves run side by side (each then has a core)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1, user_api="blas")


def _tiling_pool(layer) -> bool:
    """A max-pool whose windows do not overlap (stride = size), so it can fuse with a conv."""
    return isinstance(layer, specs.MaxPool2D) and layer.stride == layer.size and layer.size > 1


class NumpyBackend(Backend):
    """Plain numpy on the CPU; see :mod:`mnist_nets.backends.numpy_layers` for the math."""

    name = "numpy"
    inference_mode = "forward() written by hand, eval mode"

    def versions(self) -> dict[str, str]:
        versions = {"numpy": np.__version__}
        try:  # which BLAS does the matrix products (numpy >= 1.25 records it)
            blas = np.__config__.CONFIG["Build Dependencies"]["blas"]
            versions["blas"] = f"{blas['name']} {blas['version']}"
        except (AttributeError, KeyError, TypeError):
            pass
        return versions

    def build(
        self,
        spec: specs.ModelSpec,
        params: dict,
        device: str = "cpu",
        seed: int = 0,
        dtype="float32",
    ) -> NumpyModel:
        """A :class:`NumpyModel`; ``dtype`` float32 (default) or float64 (gradient checks,
        equivalence through training)."""
        self.check_device(device)
        dtype = check_dtype(dtype)
        return NumpyModel(spec, check_params(spec, params), dtype, seed)

    def _inputs(self, model: NumpyModel, x: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(check_inputs(model.spec, x), dtype=model.dtype)

    def forward(self, model: NumpyModel, x: np.ndarray, training: bool = False) -> np.ndarray:
        # *Speed and memory: inference in chunks* (see numpy_layers.INFERENCE_CHUNK), of
        # the training batch's rows when those are fewer: the layers' buffers then keep the
        # shapes training gave them, instead of a second, larger set beside those that the
        # backward pass holds
        x = self._inputs(model, x)
        if training:  # a training pass draws the next step's dropout masks
            model.dropout_step += 1
        if not training and model.aside is not None and len(x) > 1:
            # *Speed: evaluation in halves.*  A model that trains in two halves evaluates
            # in them too, each half with one BLAS thread: a multi-threaded BLAS product
            # here left OpenBLAS's worker spinning on a core for a while afterwards, and
            # the next training steps' halves ran up to 2x slower beside it (speedrun's
            # 40 evaluations cost its training 1.3-1.6 s of 10, docs/numpy-vs-frameworks.md)
            with _one_blas_thread():
                return nl.in_chunks(
                    lambda part: nl.forward_in_halves(model, part, model.aside.submit),
                    x,
                    model.batch_rows,
                )
        chunk = min(nl.INFERENCE_CHUNK, model.batch_rows or nl.INFERENCE_CHUNK)
        if training or len(x) <= chunk:
            return model.forward(x, training).copy()
        return nl.in_chunks(lambda part: model.forward(part, False), x, chunk)

    def activations(self, model: NumpyModel, x: np.ndarray) -> list[np.ndarray]:
        """Every spec layer's output (eval mode), from layers without the speed rewrites, so
        that each output is that of the spec's own layer."""
        h = self._inputs(model, x)
        outputs = []
        for layer in model.plain_layers:
            h = layer.forward(h, training=False)
            outputs.append(h.copy())
        return outputs

    def loss_and_grads(self, model: NumpyModel, x: np.ndarray, y: np.ndarray):
        x = self._inputs(model, x)
        loss, _ = model.step(x, check_labels(y, len(x)), training=False)
        return loss, {name: g.copy() for name, g in model.grads.items()}

    def export_params(self, model: NumpyModel) -> dict[str, np.ndarray]:
        return {name: p.copy() for name, p in model.params.items()}

    def stage(self, model: NumpyModel, x: np.ndarray, y: np.ndarray | None = None):
        x = self._inputs(model, x)
        return (x, None if y is None else check_labels(y, len(x)))

    @staticmethod
    @contextlib.contextmanager
    def _velocity_times_rate(model: NumpyModel, scaled: bool, held):
        """While the epoch runs, the velocity is held as ``lr * v`` (*speed: the rate in the
        gradient*), ``held()`` being that ``lr``; on leaving, even by an error, it is ``v``
        again.  (Nothing changes when not ``scaled``.)"""
        if scaled:
            model.velocity *= model.dtype.type(held())
        try:
            yield
        finally:
            if scaled:
                model.velocity /= model.dtype.type(held())

    def _train_epoch(
        self,
        model: NumpyModel,
        staged,
        order: np.ndarray,
        *,
        lr,
        update: specs.UpdateRule,
        batch_size: int,
        sync_every: int,
        on_sync: OnSync,
    ) -> None:
        x, y = staged
        n = len(order)
        n_batches = math.ceil(n / batch_size)
        lrs = batch_lrs(lr, n_batches)
        rule = update
        losses = np.zeros(n_batches)
        correct = np.zeros(n_batches)
        first = 0  # first batch not yet reported
        # *Speed: the full batch in blocks*, without copying it in shuffled order
        whole_set = batch_size >= n == len(x)
        whole_set = whole_set and np.array_equal(np.sort(order), np.arange(n))
        model.batch_rows = nl.FULL_BATCH_BLOCK if whole_set else min(batch_size, n)
        # *Speed: two cores* (numpy_layers.step_in_halves), for batches with the work for it
        halves = not whole_set and in_halves(model.spec, min(batch_size, n))
        # *Speed: the rate in the gradient.*  With SGD the batch's output gradient is
        # scaled by the learning rate, so the backward pass yields lr * grad and the
        # velocity is held as lr * v while the epoch runs (nl.sgd_folded_step: three passes
        # over the parameters a step instead of four).  A rate of 0 would lose the
        # velocity, so an epoch with one runs the plain update.
        folded = rule.optimizer != "adam" and bool(np.all(lrs > 0))
        held = lrs[0]  # the rate the velocity is scaled by while folded
        scaled = self._velocity_times_rate(model, folded and rule.momentum, lambda: held)
        errors = np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore")
        one_blas = _one_blas_thread() if halves or whole_set else contextlib.nullcontext()
        with errors, one_blas, scaled:
            if halves:  # the second half of each batch: in a forked process, or a thread
                rows = min(batch_size, n)
                second = _second_half(model, rows - nl.first_half(rows))
            model.aside = second if halves else None
            for b in range(n_batches):
                idx = order[b * batch_size : (b + 1) * batch_size]
                scale = lrs[b] if folded else 1.0
                model.dropout_step += 1  # this batch's dropout masks (mnist_nets.dropout)
                if whole_set:  # in any order: only the rounding of the sums differs
                    losses[b], correct[b] = nl.blocked_step(
                        model, x, y, nl.FULL_BATCH_BLOCK, _aside().submit, scale
                    )
                elif halves and len(idx) > 1:
                    xb, yb = x[idx], y[idx]
                    losses[b], correct[b] = nl.step_in_halves(model, xb, yb, second.submit, scale)
                else:
                    losses[b], correct[b] = model.step(x[idx], y[idx], True, scale)
                if folded:
                    decay = rule.momentum * lrs[b] / held
                    nl.sgd_folded_step(model.flat, model.flat_grad, model.velocity, decay)
                    held = lrs[b]
                elif rule.optimizer == "adam":
                    model.adam_t += 1
                    nl.adam_step(
                        model.flat,
                        model.flat_grad,
                        model.adam_m,
                        model.adam_v,
                        model.adam_t,
                        lrs[b],
                        rule.betas,
                        rule.eps,
                        model.scratch,
                    )
                else:
                    nl.sgd_momentum_step(
                        model.flat,
                        model.flat_grad,
                        model.velocity,
                        lrs[b],
                        rule.momentum,
                        model.scratch,
                    )
                if b + 1 - first >= sync_every or b + 1 == n_batches:
                    on_sync(first, losses[first : b + 1], correct[first : b + 1])
                    first = b + 1
