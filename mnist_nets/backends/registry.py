"""The registry of frameworks: everything the package, the tests, the benchmarks, the
report and the plots need to know about a backend without importing its framework.

Adding a backend is its module and one :class:`Framework` entry in :data:`FRAMEWORKS`
(and its pins in ``requirements.txt``); every list of frameworks elsewhere is built
from this tuple, in its order.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass


@dataclass(frozen=True)
class Framework:
    name: str  # the backend's name (``--framework``, stored cells, pytest ids)
    module: str  # the backend's module
    cls: str  # its Backend subclass
    label: str  # display name in tables and plots
    extra: str  # ``pip install 'mnist-nets[extra]'`` installs the framework
    color: str  # plot colour
    marker: str  # plot marker
    devices: tuple[str, ...]  # the devices the backend can use where the hardware is there
    import_name: str  # the top-level module whose presence means "installed"
    libraries: tuple[str, ...]  # distributions whose versions a benchmark run records
    # distribution names tried when one of ``libraries`` is not installed under its name
    alternatives: tuple[tuple[str, str], ...] = ()

    def installed(self) -> bool:
        """Whether the framework can be imported here (checked without importing it)."""
        return importlib.util.find_spec(self.import_name) is not None

    @property
    def gpu(self) -> bool:
        """Whether the backend can use a CUDA GPU (it gets GPU rows in the tables)."""
        return "cuda" in self.devices


FRAMEWORKS: tuple[Framework, ...] = (
    Framework(
        name="numpy",
        module="mnist_nets.backends.numpy_backend",
        cls="NumpyBackend",
        label="numpy",
        extra="numpy",
        color="#4c72b0",
        marker="o",
        devices=("cpu",),
        import_name="numpy",
        libraries=("numpy",),
    ),
    Framework(
        name="torch",
        module="mnist_nets.backends.torch_backend",
        cls="TorchBackend",
        label="PyTorch",
        extra="torch",
        color="#dd8452",
        marker="s",
        devices=("cpu", "cuda", "mps"),
        import_name="torch",
        libraries=("torch",),
    ),
    Framework(
        name="tensorflow",
        module="mnist_nets.backends.tensorflow_backend",
        cls="TensorflowBackend",
        label="TensorFlow",
        extra="tensorflow",
        color="#55a868",
        marker="^",
        devices=("cpu", "cuda"),
        import_name="tensorflow",
        libraries=("tensorflow", "keras"),
        alternatives=(("tensorflow", "tensorflow-cpu"),),
    ),
    Framework(
        name="jax",
        module="mnist_nets.backends.jax_backend",
        cls="JaxBackend",
        label="JAX",
        extra="jax",
        color="#c44e52",
        marker="D",
        devices=("cpu", "cuda"),
        import_name="jax",
        libraries=("jax", "jaxlib"),
    ),
)

BY_NAME: dict[str, Framework] = {f.name: f for f in FRAMEWORKS}
NAMES: tuple[str, ...] = tuple(BY_NAME)
#: the reference backend, written by hand; the others are measured against it
REFERENCE = "numpy"


def framework(name: str) -> Framework:
    """The registry entry called ``name``, or a ValueError listing the known ones."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise ValueError(
            f"unknown framework {name!r}; choose one of: {', '.join(NAMES)}"
        ) from None


def label(name: str) -> str:
    """The display name of ``name`` (the name itself when it is not registered)."""
    return BY_NAME[name].label if name in BY_NAME else name


def gpu_frameworks() -> tuple[str, ...]:
    return tuple(f.name for f in FRAMEWORKS if f.gpu)


def installed() -> list[str]:
    return [f.name for f in FRAMEWORKS if f.installed()]


def framework_modules() -> tuple[str, ...]:
    """The top-level modules of every framework but numpy (and their companions, such as
    keras): what ``import mnist_nets`` and the numpy backend must never import."""
    names = (m for f in FRAMEWORKS if f.name != REFERENCE for m in (f.import_name, *f.libraries))
    return tuple(dict.fromkeys(names))
