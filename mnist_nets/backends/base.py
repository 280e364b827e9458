"""The interface every backend implements, and what they share.

A backend turns a spec and canonical parameters into a model of its framework
(:meth:`Backend.build`) and answers, always in the canonical layout and always with
numpy arrays at the boundary:

* :meth:`~Backend.forward`: logits ``(N, 10)`` for float32 NHWC inputs in [0, 1]
  (and :meth:`~Backend.activations`: every layer's output, canonical layout);
* :meth:`~Backend.loss_and_grads`: the batch-mean loss and the gradient of every
  parameter, named and shaped as the parameters (dropout off);
* :meth:`~Backend.export_params`: the current parameters;
* :meth:`~Backend.train_epoch`: mini-batch updates (SGD with momentum, or Adam) over
  the staged data in a given order, each batch with its own learning rate, reporting
  per-batch losses and correct counts;
* :meth:`~Backend.train`: whole training runs, through the loop that all backends
  share (:func:`mnist_nets.training.fit`), so data order, learning-rate schedule,
  evaluation, divergence checks and history are the same everywhere.  Imports run one
  way: this module imports :mod:`mnist_nets.training`, never the reverse.

What the benchmarks ask of a framework is here too, with defaults that fit a
CPU-only framework: :meth:`~Backend.synchronize` (wait for the device),
:meth:`~Backend.reset_device_peak` / :meth:`~Backend.device_peak` (peak device
memory), :meth:`~Backend.thread_settings` and :meth:`~Backend.versions`.

Precision: every backend computes in float32 by default.  ``build(..., dtype="float64")``
gives a float64 model in every backend, for checks of equivalence that float32 rounding
would blur (a unit within rounding of ReLU's kink can take either side, and training
amplifies the difference; docs/conventions.md).  ``export_params`` and
``loss_and_grads`` answer in the model's dtype.

The updates are :class:`mnist_nets.specs.UpdateRule`'s: SGD ``v = momentum * v + grad;
param -= lr * v``, or Adam with bias correction; the velocity, Adam's moments and its
step count start at zero when the model is built and live in the model.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from mnist_nets.specs import NUM_CLASSES, ModelSpec, Recipe, UpdateRule
from mnist_nets.training import History, Progress, fit

if TYPE_CHECKING:
    from mnist_nets.data import Split

# on_sync(first_batch, losses, correct): per-batch mean losses (float64) and numbers of
# correctly classified samples for batches first_batch, first_batch + 1, ...
OnSync = Callable[[int, np.ndarray, np.ndarray], None]


def batch_lrs(lr, n_batches: int) -> np.ndarray:
    """The per-batch learning rates (float64, length ``n_batches``) from ``lr``: one
    number for every batch, or one per batch."""
    lrs = np.asarray(lr, dtype=np.float64)
    if lrs.ndim == 0:
        return np.full(n_batches, float(lrs))
    if lrs.shape != (n_batches,):
        raise ValueError(f"{lrs.size} learning rates given for {n_batches} batches")
    return lrs


class BackendUnavailable(ImportError):
    """The backend's framework is not installed."""


class DeviceError(ValueError):
    """The asked device does not exist or is not visible to the framework."""


DEVICES = ("cpu", "cuda", "mps")
DTYPES = ("float32", "float64")  # what build(..., dtype=) takes, in every backend


def check_dtype(dtype) -> np.dtype:
    """``dtype`` (a name or numpy dtype) as a numpy dtype, if it is one of :data:`DTYPES`."""
    try:
        found = np.dtype(dtype)
    except TypeError:
        found = None
    if found is None or found.name not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    return found


def check_inputs(spec: ModelSpec, x) -> np.ndarray:
    """``x`` as an array, after checking it is a batch of NHWC images of the spec's shape."""
    x = np.asarray(x)
    if x.ndim != 4 or tuple(x.shape[1:]) != tuple(spec.input_shape):
        raise ValueError(
            f"inputs of shape {x.shape}: spec {spec.name!r} takes float32 NHWC arrays "
            f"(N, {', '.join(map(str, spec.input_shape))})"
        )
    return x


def check_labels(y, n: int) -> np.ndarray:
    """``n`` integer labels in 0..9 as an int64 array, or a ValueError saying what is wrong."""
    y = np.asarray(y)
    if y.shape != (n,) or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"labels of shape {y.shape} and dtype {y.dtype}: expected {n} integers")
    if n and (y.min() < 0 or y.max() >= NUM_CLASSES):
        raise ValueError(f"labels must be in 0..{NUM_CLASSES - 1}, got {y.min()}..{y.max()}")
    return y.astype(np.int64)


def require_device(device: str, available: list[str], owner: str) -> str:
    """``device`` if it is a known device that ``owner`` (e.g. "the numpy backend") can use
    here (``available``), else a :class:`DeviceError` naming the choices."""
    if device not in DEVICES:
        raise DeviceError(f"unknown device {device!r}; choose one of: {', '.join(DEVICES)}")
    if device not in available:
        raise DeviceError(
            f"device {device!r} is not available to {owner} on this machine "
            f"(available: {', '.join(available)})"
        )
    return device


class Backend(abc.ABC):
    """One framework's realisation of any :class:`~mnist_nets.specs.ModelSpec`."""

    name: str = ""

    # -- devices and versions ---------------------------------------------------

    def devices(self) -> list[str]:
        """The devices this backend can use here, "cpu" first."""
        return ["cpu"]

    def check_device(self, device: str) -> str:
        """``device`` normalised ("cpu", "cuda", "mps"), or a :class:`DeviceError`."""
        return require_device(device, self.devices(), f"the {self.name} backend")

    def device_name(self, device: str = "cpu") -> str:
        """A human name of the device: the CPU model or the GPU's name."""
        from mnist_nets.machine import cpu_name

        return cpu_name()

    def versions(self) -> dict[str, str]:
        """Library versions that matter for this backend's numbers."""
        return {"numpy": np.__version__}

    def thread_settings(self) -> dict[str, int | str]:
        """The framework's own thread settings (none by default: numpy's BLAS threads
        follow the environment variables the benchmarks record anyway)."""
        return {}

    # -- what the benchmarks ask ---------------------------------------------------

    def synchronize(self, device: str = "cpu") -> None:
        """Wait until ``device`` has finished the work queued on it (a no-op for a
        framework that computes synchronously), so that a clock read after it is honest."""
        return None

    def reset_device_peak(self, device: str = "cpu") -> None:
        """Start a new peak-memory window on ``device`` (no-op where the framework keeps
        no such count, e.g. on the CPU, whose memory the benchmarks sample themselves)."""
        return None

    def device_peak(self, device: str = "cpu") -> int | None:
        """Peak device memory in bytes since :meth:`reset_device_peak`, or None where
        the framework does not count it (the CPU: see ``bench/memory.py``)."""
        return None

    # -- the model ---------------------------------------------------------------

    @abc.abstractmethod
    def build(
        self, spec: ModelSpec, params: dict, device: str = "cpu", seed: int = 0,
        dtype: str = "float32",
    ) -> Any:
        """A model of ``spec`` holding ``params`` (canonical, checked with
        :func:`mnist_nets.params.check_params`) on ``device``; ``seed`` seeds dropout;
        ``dtype`` (:data:`DTYPES`, checked by :func:`check_dtype`) is the precision of
        its parameters, state and arithmetic."""

    @abc.abstractmethod
    def forward(self, model: Any, x: np.ndarray, training: bool = False) -> np.ndarray:
        """Logits ``(N, 10)`` as a numpy array for float32 NHWC ``x``."""

    #: how :meth:`inference` runs a model (stored with the inference benchmark cells)
    inference_mode: str = "forward() in eval mode"

    def inference(self, model: Any) -> Callable[[np.ndarray], np.ndarray]:
        """A function from float32 NHWC inputs to logits ``(N, 10)`` (numpy), run the way
        the framework's own users run inference (:attr:`inference_mode` says how); by
        default :meth:`forward` in eval mode."""
        return lambda x: self.forward(model, x)

    @abc.abstractmethod
    def activations(self, model: Any, x: np.ndarray) -> list[np.ndarray]:
        """Every layer's output for ``x`` (eval mode), in the canonical layout: NHWC for
        images, ``(N, features)`` after Flatten; the last one equals :meth:`forward`'s."""

    @abc.abstractmethod
    def loss_and_grads(self, model: Any, x: np.ndarray, y: np.ndarray) -> tuple[float, dict]:
        """``(loss, grads)``: the spec's batch-mean loss for labels ``y`` (dropout off)
        and its gradient with respect to every parameter, in the canonical layout and the
        model's dtype."""

    @abc.abstractmethod
    def export_params(self, model: Any) -> dict[str, np.ndarray]:
        """The model's parameters as canonical numpy arrays of the model's dtype (copies)."""

    # -- training ------------------------------------------------------------------

    def stage(self, model: Any, x: np.ndarray, y: np.ndarray | None = None) -> Any:
        """Data prepared once for repeated use (moved to the device); numpy by default."""
        return (x, y)

    def train_epoch(
        self,
        model: Any,
        staged: Any,
        order: np.ndarray,
        *,
        lr: float | np.ndarray,
        update: UpdateRule,
        batch_size: int,
        sync_every: int,
        on_sync: OnSync,
    ) -> None:
        """One pass of ``update`` over ``staged`` (from :meth:`stage`, with labels) in
        ``order``, in mini-batches of ``batch_size`` (the last may be smaller), dropout on.

        ``lr`` is one learning rate for every batch or one per batch (:func:`batch_lrs`).
        Calls ``on_sync`` with the per-batch losses and correct counts at most
        ``sync_every`` batches apart and once at the end, and lets any exception
        it raises (divergence) propagate.  Returns only when the device has finished
        the epoch's work, so a clock read after it is honest.

        The arguments are checked here, once for every backend; the backend's
        :meth:`_train_epoch` runs the batches.
        """
        if not isinstance(staged, tuple) or len(staged) != 2 or staged[1] is None:
            raise ValueError(
                "train_epoch needs data staged with labels: backend.stage(model, x, y)"
            )
        n_staged = int(staged[0].shape[0])
        order = np.asarray(order)
        if order.ndim != 1 or (order.size and (order.min() < 0 or order.max() >= n_staged)):
            raise ValueError(f"order must be a 1-D array of indices into the {n_staged} samples")
        if len(order) > n_staged or not (_positive(batch_size) and _positive(sync_every)):
            raise ValueError(
                f"order (at most {n_staged} indices), batch_size and sync_every must be "
                f"positive: {len(order)}, {batch_size!r}, {sync_every!r}"
            )
        if not isinstance(update, UpdateRule):
            raise TypeError(
                f"update must be a mnist_nets.specs.UpdateRule (recipe.update_rule), "
                f"got {type(update).__name__}"
            )
        self._train_epoch(
            model,
            staged,
            order,
            lr=lr,
            update=update,
            batch_size=int(batch_size),
            sync_every=int(sync_every),
            on_sync=on_sync,
        )

    @abc.abstractmethod
    def _train_epoch(
        self,
        model: Any,
        staged: Any,
        order: np.ndarray,
        *,
        lr: float | np.ndarray,
        update: UpdateRule,
        batch_size: int,
        sync_every: int,
        on_sync: OnSync,
    ) -> None:
        """:meth:`train_epoch` after its arguments were checked: ``order`` a 1-D integer
        array of at most as many indices as ``staged`` holds, all in range, ``batch_size``
        and ``sync_every`` positive ints, ``update`` an :class:`UpdateRule`."""

    def predict(self, model: Any, staged: Any, batch_size: int = 1000) -> np.ndarray:
        """Predicted labels (argmax of the logits) for staged inputs, in eval mode."""
        x = staged[0]
        out = [
            np.argmax(self.forward(model, x[i : i + batch_size]), axis=1)
            for i in range(0, len(x), batch_size)
        ]
        return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)

    def train(
        self,
        model: Any,
        data: tuple[Split, Split | None],
        recipe: Recipe,
        seed: int,
        *,
        progress: Progress | None = None,
        **kwargs: Any,
    ) -> History:
        """Train on ``data = (train, test)`` by ``recipe`` (:func:`mnist_nets.training.fit`;
        other hyper-parameters: ``dataclasses.replace(recipe, ...)``) and return the
        history."""
        train, test = data
        return fit(self, model, train, test, recipe, seed=seed, progress=progress, **kwargs)


def _positive(value: Any) -> bool:
    """Whether ``value`` is a positive integer (a bool is not)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 1
