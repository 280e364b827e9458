"""Inference engines: what runs a trained network on new images, timed by the inference
benchmarks and chosen by ``evaluate --engine`` and ``predict --engine``.

Every backend of :data:`mnist_nets.backends.registry.FRAMEWORKS` is an engine (run through
:meth:`mnist_nets.backends.base.Backend.inference`, the way its framework's users run
inference), and so is every entry of :data:`EXTRA_ENGINES`: engines that only infer, from
the ONNX graph of :mod:`mnist_nets.onnx_export` (onnxruntime).  Adding one is its module
(a subclass of :class:`~mnist_nets.engines.base.Engine`) and one :class:`EngineEntry`
in :data:`EXTRA_ENGINES`; every list of engines elsewhere is built from :data:`ENGINES`.

Importing this module imports no framework and neither onnx nor onnxruntime: an engine's
module is imported the first time :func:`get_engine` is asked for it.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mnist_nets.backends.base import BackendUnavailable
from mnist_nets.backends.registry import FRAMEWORKS

if TYPE_CHECKING:
    from mnist_nets.engines.base import Engine


@dataclass(frozen=True)
class EngineEntry:
    name: str  # ``--engine``, stored cells, pytest ids
    module: str  # the engine's module
    cls: str  # its Engine subclass
    label: str  # display name in tables and plots
    import_name: str  # the top-level module whose presence means "installed"
    libraries: tuple[str, ...]  # distributions whose versions a benchmark run records
    color: str  # plot colour
    marker: str  # plot marker
    backend: str | None = None  # the backend this engine runs, if it is one

    def installed(self) -> bool:
        """Whether the engine's library can be imported here (checked without importing)."""
        return importlib.util.find_spec(self.import_name) is not None


#: engines that are not backends: they run the exported ONNX graph
EXTRA_ENGINES: tuple[EngineEntry, ...] = (
    EngineEntry(
        name="onnxruntime",
        module="mnist_nets.engines.onnxruntime_engine",
        cls="OnnxruntimeEngine",
        label="onnxruntime",
        import_name="onnxruntime",
        libraries=("onnxruntime", "onnx"),
        color="#8172b3",
        marker="v",
    ),
)

ENGINES: tuple[EngineEntry, ...] = (
    *(
        EngineEntry(
            name=f.name,
            module="mnist_nets.engines.backend_engine",
            cls="BackendEngine",
            label=f.label,
            import_name=f.import_name,
            libraries=f.libraries,
            color=f.color,
            marker=f.marker,
            backend=f.name,
        )
        for f in FRAMEWORKS
    ),
    *EXTRA_ENGINES,
)
BY_NAME: dict[str, EngineEntry] = {e.name: e for e in ENGINES}

_INSTANCES: dict[str, Engine] = {}


def list_engines() -> list[str]:
    """The engine names, whether or not their library is installed: the backends, then
    the engines that only infer."""
    return list(BY_NAME)


def get_engine(name: str) -> Engine:
    """The engine called ``name``, importing its library on first use.

    Raises ``ValueError`` for an unknown name (listing the known ones) and
    :class:`~mnist_nets.backends.BackendUnavailable` when its library is not installed.
    """
    if name in _INSTANCES:
        return _INSTANCES[name]
    if name not in BY_NAME:
        raise ValueError(f"unknown engine {name!r}; choose one of: {', '.join(BY_NAME)}")
    entry = BY_NAME[name]
    if entry.backend is None and not entry.installed():
        raise BackendUnavailable(
            f"the {name} engine needs {entry.import_name}, which is not installed: "
            "`pip install -r requirements.txt` (pinned) or `pip install 'mnist-nets[onnx]'`"
        )
    module = importlib.import_module(entry.module)
    engine = getattr(module, entry.cls)(name) if entry.backend else getattr(module, entry.cls)()
    _INSTANCES[name] = engine
    return engine
