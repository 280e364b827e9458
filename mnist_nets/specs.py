"""Architecture specs: every network is declared once, here, with no framework in sight.

A :class:`ModelSpec` is a name, an input shape, a tuple of layers, a loss and a
training :class:`Recipe`.  Building one infers every layer's output shape and
rejects a network that cannot work, naming the layer.  From the spec alone come
the parameter names and canonical shapes, the parameter count and the FLOPs per
sample that the benchmarks turn into GFLOP/s.

Canonical layout
----------------
Every backend converts to and from this layout at its boundary, and nowhere else;
it is what lets weights move between backends and what the equivalence tests
stand on.

* Activations are NHWC: a batch of inputs is float32 ``(N, 28, 28, 1)`` in [0, 1].
* A conv kernel is ``(kh, kw, in_channels, out_channels)``; its bias ``(out_channels,)``.
* A dense weight is ``(in_features, out_features)`` (so ``y = x @ W + b``); its bias
  ``(out_features,)``.
* ``Flatten`` orders features H, then W, then C: exactly ``x.reshape(N, -1)`` of an
  NHWC array.  A backend that computes in NCHW (PyTorch) must produce the same order
  before the first dense layer.
* Parameters are named ``"<layer>.weight"`` and ``"<layer>.bias"``; layers are named
  ``conv1, conv2, ..., dense1, dense2, ...`` in order of appearance unless a layer
  is given a ``name``.
* Padding is symmetric zero padding of ``padding`` pixels on each side (``"same"``
  means ``kernel // 2`` for an odd kernel, ``"valid"`` means 0); output size is
  ``(size + 2 * padding - kernel) // stride + 1``.  Max pooling has no padding and
  drops a partial window at the edge (floor), as torch and TensorFlow do.

Losses (each averaged over the batch):

* ``cross_entropy``: softmax cross-entropy of the 10 outputs (logits) against the label;
  with ``label_smoothing`` ``e`` (a spec field, 0 by default) against the target
  ``(1 - e) * one_hot(label) + e / 10``: ``logsumexp(z) - (1 - e) * z[label] - e * mean(z)``,
  whose gradient is ``softmax(z) - (1 - e) * one_hot(label) - e / 10``.
* ``mse``: mean over the batch *and* the 10 outputs of ``(output - one_hot(label))**2``.

FLOP counting (per sample; a multiply-add is 2 FLOPs)
-----------------------------------------------------
forward: dense ``2*in*out + out``; conv ``oh*ow*out*(2*kh*kw*in + 1)``; ReLU one per
element; max pooling ``size**2 - 1`` comparisons per output; flatten, crop and
(inference) dropout nothing.  Training adds dropout's multiply (one per element), and the backward
pass: for a dense or conv layer, the weight gradient (as many FLOPs as its forward
multiply-adds), the bias gradient (one per output element) and, unless no layer before
it has parameters, the input gradient (as many again); ReLU, pooling and dropout one per
input element.  The loss and the optimizer update (per batch, not per sample) are left
out: they are under 0.1 % for every registered network.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
from dataclasses import dataclass
from functools import cached_property
from typing import Any

NUM_CLASSES = 10
INPUT_SHAPE = (28, 28, 1)
LOSSES = ("cross_entropy", "mse")
OPTIMIZERS = ("sgd", "adam")
SCHEDULES = ("decay", "one_cycle")


class SpecError(ValueError):
    """A spec that cannot work: the message names the layer (or field) and the problem."""


def _positive_int(owner: str, field_name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SpecError(f"{owner}: {field_name} must be a positive integer, got {value!r}")


# --------------------------------------------------------------------------- layers
# Each layer knows its own arguments' rules and how it maps an input shape to an
# output shape.  Shapes exclude the batch dimension: (H, W, C) for images, (F,) for
# vectors.


@dataclass(frozen=True)
class Dense:
    """Fully connected: ``y = x @ weight + bias`` with weight ``(in, units)``."""

    units: int
    name: str | None = None
    kind = "dense"

    def __post_init__(self) -> None:
        _positive_int("Dense", "units", self.units)

    def output_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        if len(shape) != 1:
            raise SpecError(f"dense layer on an image of shape {shape}: add Flatten() before it")
        return (self.units,)

    def param_shapes(self, shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
        return {"weight": (shape[0], self.units), "bias": (self.units,)}


@dataclass(frozen=True)
class Conv2D:
    """2-D convolution (cross-correlation), kernel ``(k, k, in, filters)``, NHWC."""

    filters: int
    kernel: int
    stride: int = 1
    padding: int | str = 0
    name: str | None = None
    kind = "conv"

    def __post_init__(self) -> None:
        _positive_int("Conv2D", "filters", self.filters)
        _positive_int("Conv2D", "kernel", self.kernel)
        _positive_int("Conv2D", "stride", self.stride)
        if isinstance(self.padding, str):
            if self.padding == "valid":
                pad = 0
            elif self.padding == "same":
                if self.kernel % 2 == 0 or self.stride != 1:
                    raise SpecError(
                        "Conv2D: padding='same' needs an odd kernel and stride 1 "
                        f"(got kernel {self.kernel}, stride {self.stride}); give an integer"
                    )
                pad = self.kernel // 2
            else:
                raise SpecError(
                    f"Conv2D: padding must be an integer, 'same' or 'valid', got {self.padding!r}"
                )
            object.__setattr__(self, "padding", pad)
        elif (
            isinstance(self.padding, bool) or not isinstance(self.padding, int) or self.padding < 0
        ):
            raise SpecError(f"Conv2D: padding must be a non-negative integer, got {self.padding!r}")
        elif self.padding >= self.kernel:
            raise SpecError(
                f"Conv2D: padding {self.padding} must be smaller than the kernel {self.kernel}"
            )

    def output_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        if len(shape) != 3:
            raise SpecError(f"convolution on a flat vector of shape {shape}: it needs (H, W, C)")
        h, w, _ = shape
        ph, pw = h + 2 * self.padding, w + 2 * self.padding
        if self.kernel > min(ph, pw):
            raise SpecError(
                f"kernel {self.kernel}x{self.kernel} is larger than its input "
                f"{h}x{w} (padded to {ph}x{pw})"
            )
        return (
            (ph - self.kernel) // self.stride + 1,
            (pw - self.kernel) // self.stride + 1,
            self.filters,
        )

    def param_shapes(self, shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
        return {
            "weight": (self.kernel, self.kernel, shape[2], self.filters),
            "bias": (self.filters,),
        }


@dataclass(frozen=True)
class MaxPool2D:
    """Max pooling over ``size x size`` windows every ``stride`` pixels (default: ``size``)."""

    size: int = 2
    stride: int | None = None
    name: str | None = None
    kind = "pool"

    def __post_init__(self) -> None:
        _positive_int("MaxPool2D", "size", self.size)
        if self.stride is None:
            object.__setattr__(self, "stride", self.size)
        _positive_int("MaxPool2D", "stride", self.stride)

    def output_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        if len(shape) != 3:
            raise SpecError(f"pooling on a flat vector of shape {shape}: it needs (H, W, C)")
        h, w, c = shape
        if self.size > min(h, w):
            raise SpecError(f"pool window {self.size}x{self.size} is larger than its input {h}x{w}")
        return ((h - self.size) // self.stride + 1, (w - self.size) // self.stride + 1, c)

    def param_shapes(self, shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
        return {}


@dataclass(frozen=True)
class ReLU:
    name: str | None = None
    kind = "relu"

    def output_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        return shape

    def param_shapes(self, shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
        return {}


@dataclass(frozen=True)
class Flatten:
    """(H, W, C) -> (H*W*C,) in H, W, C order; a flat input passes through."""

    name: str | None = None
    kind = "flatten"

    def output_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        return (math.prod(shape),)

    def param_shapes(self, shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
        return {}


@dataclass(frozen=True)
class Dropout:
    """Inverted dropout: in training, zero each element with probability ``rate`` and
    scale the rest by ``1 / (1 - rate)``; at inference, the identity."""

    rate: float
    name: str | None = None
    kind = "dropout"

    def __post_init__(self) -> None:
        if (
            isinstance(self.rate, bool)
            or not isinstance(self.rate, (int, float))
            or not (0.0 <= self.rate < 1.0)
        ):
            raise SpecError(f"Dropout: rate must be in [0, 1), got {self.rate!r}")

    def output_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        return shape

    def param_shapes(self, shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
        return {}


@dataclass(frozen=True)
class Crop:
    """Drop ``border`` pixels on each of an image's four sides:
    ``y[n, u, v, c] = x[n, border + u, border + v, c]``, (H, W, C) -> (H - 2b, W - 2b, C).
    No parameters; its input gradient is the output gradient placed back in the middle of
    a zero image."""

    border: int
    name: str | None = None
    kind = "crop"

    def __post_init__(self) -> None:
        _positive_int("Crop", "border", self.border)

    def output_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        if len(shape) != 3:
            raise SpecError(f"cropping a flat vector of shape {shape}: it needs (H, W, C)")
        h, w, c = shape
        if 2 * self.border >= min(h, w):
            raise SpecError(
                f"cropping {self.border} pixels off each side of a {h}x{w} image leaves nothing"
            )
        return (h - 2 * self.border, w - 2 * self.border, c)

    def param_shapes(self, shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
        return {}


Layer = Dense | Conv2D | MaxPool2D | ReLU | Flatten | Dropout | Crop
LAYER_TYPES: dict[str, type] = {
    cls.__name__: cls for cls in (Dense, Conv2D, MaxPool2D, ReLU, Flatten, Dropout, Crop)
}


# --------------------------------------------------------------------------- recipe


@dataclass(frozen=True)
class UpdateRule:
    """The parameter update every backend applies after each mini-batch.

    * ``sgd``: ``v = momentum * v + g;  p -= lr * v`` (plain SGD when momentum is 0).
    * ``adam`` (Kingma & Ba, Algorithm 1, as ``torch.optim.Adam`` computes it), at step
      ``t`` (from 1, counted over the whole run):
      ``m = beta1 * m + (1 - beta1) * g;  v = beta2 * v + (1 - beta2) * g**2;
      p -= lr * (m / (1 - beta1**t)) / (sqrt(v / (1 - beta2**t)) + eps)``.

    ``m``, ``v``, the velocity and ``t`` start at zero when a model is built and live in it.
    """

    optimizer: str = "sgd"
    momentum: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise SpecError(f"Recipe: unknown optimizer {self.optimizer!r}; known: {OPTIMIZERS}")
        if not (isinstance(self.momentum, (int, float)) and 0.0 <= self.momentum < 1.0):
            raise SpecError(f"Recipe: momentum must be in [0, 1), got {self.momentum!r}")
        betas = tuple(self.betas) if isinstance(self.betas, (list, tuple)) else self.betas
        if (
            not isinstance(betas, tuple)
            or len(betas) != 2
            or not all(isinstance(b, (int, float)) and 0.0 <= b < 1.0 for b in betas)
        ):
            raise SpecError(f"Recipe: betas must be two numbers in [0, 1), got {self.betas!r}")
        object.__setattr__(self, "betas", (float(betas[0]), float(betas[1])))
        if not (isinstance(self.eps, (int, float)) and math.isfinite(self.eps) and self.eps > 0):
            raise SpecError(f"Recipe: eps must be a positive number, got {self.eps!r}")


@dataclass(frozen=True)
class Recipe:
    """How a spec is trained by default.

    The update (``optimizer``, ``momentum``, ``betas``, ``eps``) is :class:`UpdateRule`'s.
    The learning rate, set before every mini-batch by the shared training loop
    (:func:`mnist_nets.training.learning_rates`):

    * ``schedule="decay"``: ``lr * lr_decay ** e`` for every batch of epoch ``e`` (from 0);
    * ``schedule="one_cycle"``: over all ``S`` steps of the run, a cosine warm-up from
      ``lr / div_factor`` to ``lr`` over the first ``warmup`` fraction of the steps, then a
      cosine anneal down to ``lr / (div_factor * final_div_factor)`` (the shape of
      ``torch.optim.lr_scheduler.OneCycleLR`` without momentum cycling).  With
      ``cycle_epochs`` set, the cycle spans only the first ``cycle_epochs`` epochs (a
      fraction allowed), and the rate stays at its final value for the rest of the run.

    An epoch is one pass over the training set in mini-batches of ``batch_size`` (the
    last batch may be smaller), shuffled unless ``shuffle`` is False (then in the data's
    own order).  ``evals_per_epoch`` test-set evaluations are made per epoch, after
    equal shares of its batches (evaluation time is kept off the training clock).
    """

    lr: float
    epochs: int
    batch_size: int = 128
    momentum: float = 0.0
    lr_decay: float = 1.0
    optimizer: str = "sgd"
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    schedule: str = "decay"
    warmup: float = 0.3
    div_factor: float = 25.0
    final_div_factor: float = 1e4
    shuffle: bool = True
    evals_per_epoch: int = 1
    cycle_epochs: float | None = None

    def __post_init__(self) -> None:
        rule = UpdateRule(self.optimizer, self.momentum, self.betas, self.eps)
        object.__setattr__(self, "betas", rule.betas)
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise SpecError(f"Recipe: lr must be a positive number, got {self.lr!r}")
        _positive_int("Recipe", "epochs", self.epochs)
        _positive_int("Recipe", "batch_size", self.batch_size)
        _positive_int("Recipe", "evals_per_epoch", self.evals_per_epoch)
        if not (0.0 < self.lr_decay <= 1.0):
            raise SpecError(f"Recipe: lr_decay must be in (0, 1], got {self.lr_decay!r}")
        if self.schedule not in SCHEDULES:
            raise SpecError(f"Recipe: unknown schedule {self.schedule!r}; known: {SCHEDULES}")
        if not (isinstance(self.warmup, (int, float)) and 0.0 <= self.warmup < 1.0):
            raise SpecError(f"Recipe: warmup must be a fraction in [0, 1), got {self.warmup!r}")
        for field_name in ("div_factor", "final_div_factor"):
            value = getattr(self, field_name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 1):
                raise SpecError(f"Recipe: {field_name} must be a number >= 1, got {value!r}")
        if not isinstance(self.shuffle, bool):
            raise SpecError(f"Recipe: shuffle must be True or False, got {self.shuffle!r}")
        if self.cycle_epochs is not None:
            c = self.cycle_epochs
            if self.schedule != "one_cycle":
                raise SpecError(
                    f"Recipe: cycle_epochs is a one_cycle setting, but the schedule is "
                    f"{self.schedule!r}; set schedule='one_cycle' or drop cycle_epochs"
                )
            if not (isinstance(c, (int, float)) and math.isfinite(c) and 0 < c <= self.epochs):
                raise SpecError(
                    f"Recipe: cycle_epochs must be a number in (0, epochs={self.epochs}], "
                    f"got {c!r} (Recipe.with_epochs shortens a run and drops a longer cycle)"
                )

    def with_epochs(self, epochs: int) -> Recipe:
        """This recipe over ``epochs`` epochs (the command line's ``--epochs``, a bench
        profile's).  A ``cycle_epochs`` that the shorter run cannot hold is dropped, so the
        one-cycle then spans the whole run and still ends at its final rate."""
        cycle = self.cycle_epochs
        if cycle is not None and isinstance(epochs, int) and cycle > epochs:
            cycle = None
        return dataclasses.replace(self, epochs=epochs, cycle_epochs=cycle)

    @property
    def update_rule(self) -> UpdateRule:
        """The per-batch parameter update this recipe names."""
        return UpdateRule(self.optimizer, self.momentum, self.betas, self.eps)

    def lr_at(self, epoch: int) -> float:
        """Learning rate of epoch ``epoch`` (0-based) under the ``decay`` schedule."""
        return float(self.lr * self.lr_decay**epoch)

    def describe(self) -> str:
        """One line: ``adam lr 0.01 betas (0.7, 0.9) one-cycle, batch 256, 1 epoch``."""
        if self.optimizer == "adam":
            rule = f"adam lr {self.lr:g} betas ({self.betas[0]:g}, {self.betas[1]:g})"
        else:
            rule = f"sgd lr {self.lr:g} momentum {self.momentum:g}"
        if self.schedule == "one_cycle":
            rule += f" one-cycle (warm-up {self.warmup * 100:g} %)"
            if self.cycle_epochs is not None:
                rule += f" over {self.cycle_epochs:g} epochs"
        elif self.lr_decay != 1:
            rule += f" lr_decay {self.lr_decay:g}"
        rule += f" batch {self.batch_size} epochs {self.epochs}"
        if not self.shuffle:
            rule += " unshuffled"
        if self.evals_per_epoch > 1:
            rule += f" {self.evals_per_epoch} evals/epoch"
        return rule


# --------------------------------------------------------------------------- model


@dataclass(frozen=True)
class ParamInfo:
    name: str  # "conv1.weight"
    layer: str  # "conv1"
    shape: tuple[int, ...]
    fan_in: int
    fan_out: int

    @property
    def size(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class LayerInfo:
    """One layer as the spec sees it: its name, shapes, parameters and FLOPs per sample."""

    index: int
    name: str
    layer: Layer
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    params: tuple[ParamInfo, ...]
    flops_forward: int
    flops_backward: int
    flops_dropout: int = 0  # the training-only mask multiply


@dataclass(frozen=True)
class ModelSpec:
    """A network, framework-neutral.  Invalid specs raise :class:`SpecError` here."""

    name: str
    layers: tuple[Layer, ...]
    recipe: Recipe
    loss: str = "cross_entropy"
    input_shape: tuple[int, int, int] = INPUT_SHAPE
    target_accuracy: float | None = None  # the test-accuracy floor the recipe must reach
    label_smoothing: float = 0.0  # cross_entropy against (1 - e) * one_hot + e / 10
    description: str = ""
    seed_recipe: Recipe | None = None  # the original project's recipe, as its code ran it
    # other datasets than MNIST: their floor ((dataset, target_accuracy or None), ...) and,
    # where it differs, their recipe ((dataset, Recipe), ...); the layers never differ
    dataset_targets: tuple[tuple[str, float | None], ...] = ()
    dataset_recipes: tuple[tuple[str, Recipe], ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "dataset_targets", tuple((str(k), v) for k, v in self.dataset_targets)
        )
        object.__setattr__(
            self, "dataset_recipes", tuple((str(k), v) for k, v in self.dataset_recipes)
        )
        object.__setattr__(self, "layers", tuple(self.layers))
        object.__setattr__(self, "input_shape", tuple(self.input_shape))
        if not self.name or not isinstance(self.name, str):
            raise SpecError(f"spec name must be a non-empty string, got {self.name!r}")
        if self.loss not in LOSSES:
            raise SpecError(f"spec {self.name!r}: unknown loss {self.loss!r}; known: {LOSSES}")
        if len(self.input_shape) != 3 or any(
            not isinstance(d, int) or d < 1 for d in self.input_shape
        ):
            raise SpecError(f"spec {self.name!r}: input_shape must be (H, W, C) positive integers")
        if not self.layers:
            raise SpecError(f"spec {self.name!r}: it has no layers")
        e = self.label_smoothing
        if isinstance(e, bool) or not isinstance(e, (int, float)) or not (0.0 <= e < 1.0):
            raise SpecError(
                f"spec {self.name!r}: label_smoothing must be in [0, 1), got {e!r}"
            )
        if e and self.loss != "cross_entropy":
            raise SpecError(
                f"spec {self.name!r}: label_smoothing needs the cross_entropy loss, not "
                f"{self.loss!r}"
            )
        for i, layer in enumerate(self.layers):
            if type(layer) not in LAYER_TYPES.values():
                raise SpecError(f"spec {self.name!r}: layer {i} is not a layer: {layer!r}")
        self.layer_infos  # noqa: B018  (infer shapes now, so a bad spec fails at build)

    # -- shape inference -----------------------------------------------------

    @cached_property
    def layer_infos(self) -> tuple[LayerInfo, ...]:
        counters: dict[str, int] = {}
        seen_names: set[str] = set()
        infos = []
        shape = self.input_shape
        params_before = False
        for i, layer in enumerate(self.layers):
            counters[layer.kind] = counters.get(layer.kind, 0) + 1
            name = layer.name or f"{layer.kind}{counters[layer.kind]}"
            where = f"spec {self.name!r}, layer {i} ({name}: {_short(layer)})"
            if name in seen_names:
                raise SpecError(f"{where}: the name {name!r} is used twice")
            seen_names.add(name)
            try:
                out = layer.output_shape(shape)
            except SpecError as exc:
                raise SpecError(f"{where}: {exc}") from None
            if any(d < 1 for d in out):
                raise SpecError(f"{where}: output shape {out} is empty")
            params = tuple(
                ParamInfo(
                    name=f"{name}.{pname}",
                    layer=name,
                    shape=pshape,
                    fan_in=_fan_in(layer, shape),
                    fan_out=_fan_out(layer),
                )
                for pname, pshape in layer.param_shapes(shape).items()
            )
            fwd, bwd, drop = _flops(layer, shape, out, input_grad=params_before)
            infos.append(LayerInfo(i, name, layer, shape, out, params, fwd, bwd, drop))
            params_before = params_before or bool(params)
            shape = out
        if shape != (NUM_CLASSES,):
            raise SpecError(
                f"spec {self.name!r}: the last layer outputs {shape}, "
                f"but a classifier of {NUM_CLASSES} digits must output ({NUM_CLASSES},)"
            )
        if not params_before:
            raise SpecError(f"spec {self.name!r}: no layer has parameters (add a Dense layer)")
        return tuple(infos)

    @property
    def output_shapes(self) -> list[tuple[int, ...]]:
        """Every layer's output shape (batch dimension excluded), in order."""
        return [info.output_shape for info in self.layer_infos]

    # -- parameters and FLOPs ------------------------------------------------

    @property
    def parameters(self) -> list[ParamInfo]:
        """The parameters, in canonical order, with canonical shapes."""
        return [p for info in self.layer_infos for p in info.params]

    @property
    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        return {p.name: p.shape for p in self.parameters}

    @property
    def param_count(self) -> int:
        return sum(p.size for p in self.parameters)

    @property
    def flops_forward(self) -> int:
        """FLOPs of one sample's forward pass (inference mode)."""
        return sum(info.flops_forward for info in self.layer_infos)

    @property
    def flops_training(self) -> int:
        """FLOPs of one sample's training step: forward (training mode) plus backward."""
        return sum(
            info.flops_forward + info.flops_dropout + info.flops_backward
            for info in self.layer_infos
        )

    @property
    def is_race(self) -> bool:
        """Whether the spec is a time-to-target race (``speedrun`` and its successors): it
        has a target accuracy and its recipe evaluates the test set within each epoch, so
        that the time to the target is read finer than an epoch."""
        return self.target_accuracy is not None and self.recipe.evals_per_epoch > 1

    @property
    def has_dropout(self) -> bool:
        return any(isinstance(layer, Dropout) and layer.rate > 0 for layer in self.layers)

    def without_dropout(self) -> ModelSpec:
        """The same network with every dropout rate set to 0 (same parameters)."""
        layers = tuple(
            dataclasses.replace(layer, rate=0.0) if isinstance(layer, Dropout) else layer
            for layer in self.layers
        )
        return dataclasses.replace(self, layers=layers)

    def for_dataset(self, dataset: str) -> ModelSpec:
        """The same network with the recipe and floor it has on ``dataset`` ("mnist": itself;
        another dataset without a floor of its own: none)."""
        if dataset == "mnist":
            return self
        return dataclasses.replace(
            self,
            recipe=dict(self.dataset_recipes).get(dataset, self.recipe),
            target_accuracy=dict(self.dataset_targets).get(dataset),
        )

    def with_recipe(self, **changes: Any) -> ModelSpec:
        """The same network with some recipe fields changed (validated)."""
        return dataclasses.replace(self, recipe=dataclasses.replace(self.recipe, **changes))

    # -- text ----------------------------------------------------------------

    def summary(self) -> str:
        """A table of layers, output shapes, parameter counts and FLOPs."""
        rows = [("layer", "output", "params", "MFLOPs fwd")]
        rows.append(("input", "x".join(map(str, self.input_shape)), "", ""))
        for info in self.layer_infos:
            rows.append(
                (
                    f"{info.name} ({_short(info.layer)})",
                    "x".join(map(str, info.output_shape)),
                    f"{sum(p.size for p in info.params):,}" if info.params else "",
                    f"{info.flops_forward / 1e6:.3f}" if info.flops_forward else "",
                )
            )
        widths = [max(len(r[c]) for r in rows) for c in range(4)]
        lines = [
            "  ".join(
                cell.ljust(w) if c < 2 else cell.rjust(w)
                for c, (cell, w) in enumerate(zip(row, widths, strict=True))
            )
            for row in rows
        ]
        r = self.recipe
        lines.append(
            f"{self.param_count:,} parameters; {self.flops_forward / 1e6:.2f} MFLOPs forward, "
            f"{self.flops_training / 1e6:.2f} MFLOPs training per sample; loss {self.loss}"
            + (f" (label smoothing {self.label_smoothing:g})" if self.label_smoothing else "")
            + "; "
            f"recipe: {r.describe()}"
        )
        return "\n".join(lines)

    # -- serialisation (stored beside saved parameters) ----------------------

    def to_dict(self) -> dict[str, Any]:
        def layer_dict(layer: Layer) -> dict[str, Any]:
            d = {"type": type(layer).__name__}
            d.update({f.name: getattr(layer, f.name) for f in dataclasses.fields(layer)})
            return d

        return {
            "name": self.name,
            "input_shape": list(self.input_shape),
            "layers": [layer_dict(layer) for layer in self.layers],
            "loss": self.loss,
            "label_smoothing": self.label_smoothing,
            "recipe": dataclasses.asdict(self.recipe),
            "target_accuracy": self.target_accuracy,
            "description": self.description,
            "seed_recipe": dataclasses.asdict(self.seed_recipe) if self.seed_recipe else None,
            "dataset_targets": dict(self.dataset_targets),
            "dataset_recipes": {k: dataclasses.asdict(r) for k, r in self.dataset_recipes},
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelSpec:
        try:
            layers = []
            for ld in d["layers"]:
                ld = dict(ld)
                kind = ld.pop("type")
                if kind not in LAYER_TYPES:
                    raise SpecError(f"unknown layer type {kind!r}; known: {sorted(LAYER_TYPES)}")
                layers.append(LAYER_TYPES[kind](**ld))
            return cls(
                name=d["name"],
                layers=tuple(layers),
                recipe=Recipe(**d["recipe"]),
                loss=d["loss"],
                label_smoothing=d.get("label_smoothing", 0.0),
                input_shape=tuple(d["input_shape"]),
                target_accuracy=d.get("target_accuracy"),
                description=d.get("description", ""),
                seed_recipe=Recipe(**d["seed_recipe"]) if d.get("seed_recipe") else None,
                dataset_targets=tuple((d.get("dataset_targets") or {}).items()),
                dataset_recipes=tuple(
                    (k, Recipe(**r)) for k, r in (d.get("dataset_recipes") or {}).items()
                ),
            )
        except (KeyError, TypeError) as exc:
            raise SpecError(f"malformed spec description: {exc!r}") from None


def _short(layer: Layer) -> str:
    """A compact description: ``Conv2D(20, 5x5, stride 1, pad 0)``, ``Dense(10)``."""
    if isinstance(layer, Conv2D):
        k = layer.kernel
        return f"Conv2D({layer.filters}, {k}x{k}, stride {layer.stride}, pad {layer.padding})"
    if isinstance(layer, MaxPool2D):
        return f"MaxPool2D({layer.size}x{layer.size}, stride {layer.stride})"
    if isinstance(layer, Dense):
        return f"Dense({layer.units})"
    if isinstance(layer, Dropout):
        return f"Dropout({layer.rate:g})"
    if isinstance(layer, Crop):
        return f"Crop({layer.border})"
    return type(layer).__name__


def _fan_in(layer: Layer, shape: tuple[int, ...]) -> int:
    """Inputs per output of a layer with parameters (a Conv2D or a Dense)."""
    if isinstance(layer, Conv2D):
        return layer.kernel * layer.kernel * shape[2]
    return shape[0]


def _fan_out(layer: Layer) -> int:
    """Outputs per input of a layer with parameters (a Conv2D or a Dense)."""
    if isinstance(layer, Conv2D):
        return layer.kernel * layer.kernel * layer.filters
    return layer.units


def _flops(
    layer: Layer, shape: tuple[int, ...], out: tuple[int, ...], *, input_grad: bool
) -> tuple[int, int, int]:
    """(forward, backward, dropout-multiply) FLOPs per sample for one layer."""
    n_in, n_out = math.prod(shape), math.prod(out)
    if isinstance(layer, (Dense, Conv2D)):
        fan_in = _fan_in(layer, shape)
        macs = n_out * fan_in
        fwd = 2 * macs + n_out
        bwd = 2 * macs + n_out + (2 * macs if input_grad else 0)
        return fwd, bwd, 0
    if isinstance(layer, ReLU):
        return n_out, n_in, 0
    if isinstance(layer, MaxPool2D):
        return n_out * (layer.size**2 - 1), n_in, 0
    if isinstance(layer, Dropout):
        return 0, n_in, n_in if layer.rate > 0 else 0
    return 0, 0, 0


# --------------------------------------------------------------------------- registry
# One module per architecture in mnist_nets/architectures, each defining SPEC.
# Modules are imported when their spec is first asked for.

_REGISTRY: dict[str, str] = {
    "perceptron": "mnist_nets.architectures.perceptron",
    "single_neuron": "mnist_nets.architectures.single_neuron",
    "single_neuron_ce": "mnist_nets.architectures.single_neuron_ce",
    "dnn": "mnist_nets.architectures.dnn",
    "cnn": "mnist_nets.architectures.cnn",
    "alexnet": "mnist_nets.architectures.alexnet",
    "speedrun": "mnist_nets.architectures.speedrun",
    "speedrun2": "mnist_nets.architectures.speedrun2",
}


def list_specs() -> list[str]:
    """Names of the registered architectures, in the README's order."""
    return list(_REGISTRY)


def race_specs() -> list[str]:
    """Names of the registered time-to-target races (:attr:`ModelSpec.is_race`), in order."""
    return [name for name in _REGISTRY if get_spec(name).is_race]


def get_spec(name: str) -> ModelSpec:
    """The registered spec called ``name``; a clear error lists the known names."""
    if name not in _REGISTRY:
        raise SpecError(f"unknown model {name!r}; choose one of: {', '.join(_REGISTRY)}")
    spec = importlib.import_module(_REGISTRY[name]).SPEC
    if spec.name != name:
        raise SpecError(f"{_REGISTRY[name]}.SPEC is named {spec.name!r}, registered as {name!r}")
    return spec
