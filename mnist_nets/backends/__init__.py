"""Backends: one per framework, one module each, all behind one small interface.

Requirements this module meets:

* ``import mnist_nets`` and ``import mnist_nets.backends`` import neither torch nor
  tensorflow.  A backend's module (and with it its framework) is imported the first
  time :func:`get_backend` is asked for it, and never by another backend.
* Every backend implements :class:`~mnist_nets.backends.base.Backend` and speaks the
  canonical layout of :mod:`mnist_nets.specs` at its boundary: float32 NHWC inputs,
  canonical parameter names and shapes in and out.  Conversion to the framework's own
  layout (NCHW, ``(out, in)`` weights, ...) happens inside the backend and nowhere else.
* Adding a backend is one module and one entry in
  :data:`mnist_nets.backends.registry.FRAMEWORKS`, which names its module, class,
  display name, install extra, plot colour and devices without importing it.
"""

from __future__ import annotations

import importlib

from mnist_nets.backends.base import Backend, BackendUnavailable, DeviceError
from mnist_nets.backends.registry import BY_NAME, FRAMEWORKS, NAMES, Framework

__all__ = [
    "FRAMEWORKS",
    "Backend",
    "BackendUnavailable",
    "DeviceError",
    "Framework",
    "get_backend",
    "list_backends",
    "loaded_backend",
]

_INSTANCES: dict[str, Backend] = {}


def list_backends() -> list[str]:
    """The backend names, whether or not their framework is installed."""
    return list(NAMES)


def loaded_backend(name: str) -> Backend | None:
    """The backend called ``name`` if :func:`get_backend` has already loaded it, else
    None (so that asking never imports a framework)."""
    return _INSTANCES.get(name)


def get_backend(name: str) -> Backend:
    """The backend called ``name``, importing its framework on first use.

    Raises ``ValueError`` for an unknown name (listing the known ones) and
    :class:`BackendUnavailable` when the framework is not installed.
    """
    if name in _INSTANCES:
        return _INSTANCES[name]
    if name not in BY_NAME:
        raise ValueError(f"unknown framework {name!r}; choose one of: {', '.join(NAMES)}")
    entry = BY_NAME[name]
    module_name, class_name, extra = entry.module, entry.cls, entry.extra
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
