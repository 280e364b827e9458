"""Backends: one per framework, one module each, all behind one small interface.

Requirements this module meets:

* ``import mnist_nets`` and ``import mnist_nets.backends`` import neither torch nor
  tensorflow.  A backend's module (and with it its framework) is imported the first
  time :func:`get_backend` is asked for it, and never by another backend.
* Every backend implements :class:`~mnist_nets.backends.base.Backend` and speaks the
  canonical layout of :mod:`mnist_nets.specs` at its boundary: float32 NHWC inputs,
  canonical parameter names and shapes in and out.  Conversion to the framework's own
  layout (NCHW, ``(out, in)`` weights, ...) happens inside the backend and nowhere else.
* Adding a backend is one module and one line in :data:`_MODULES`.
"""

from __future__ import annotations

import importlib

from mnist_nets.backends.base import Backend, BackendUnavailable, DeviceError

__all__ = ["Backend", "BackendUnavailable", "DeviceError", "get_backend", "list_backends"]

# name -> (module, class, what to install when the framework is missing)
_MODULES: dict[str, tuple[str, str, str]] = {
    "numpy": ("mnist_nets.backends.numpy_backend", "NumpyBackend", "numpy"),
    "torch": ("mnist_nets.backends.torch_backend", "TorchBackend", "torch"),
    "tensorflow": ("mnist_nets.backends.tensorflow_backend", "TensorflowBackend", "tensorflow"),
}
_INSTANCES: dict[str, Backend] = {}


def list_backends() -> list[str]:
    """The backend names, whether or not their framework is installed."""
    return list(_MODULES)


def get_backend(name: str) -> Backend:
    """The backend called ``name``, importing its framework on first use.

    Raises ``ValueError`` for an unknown name (listing the known ones) and
    :class:`BackendUnavailable` when the framework is not installed.
    """
    if name in _INSTANCES:
        return _INSTANCES[name]
    if name not in _MODULES:
        raise ValueError(f"unknown framework {name!r}; choose one of: {', '.join(_MODULES)}")
    module_name, class_name, extra = _MODULES[name]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] == "mnist_nets":
            raise
        raise BackendUnavailable(
            f"the {name} backend needs {exc.name}, which is not installed: "
            f"`pip install -r requirements.txt` (pinned) or `pip install 'mnist-nets[{extra}]'`"
        ) from exc
    except (ImportError, OSError) as exc:  # installed, but broken (a shared library missing...)
        detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise BackendUnavailable(
            f"the {name} backend's framework is installed but fails to import "
            f"({type(exc).__name__}: {detail}); reinstall it: `pip install -r requirements.txt`"
        ) from exc
    backend = getattr(module, class_name)()
    _INSTANCES[name] = backend
    return backend
