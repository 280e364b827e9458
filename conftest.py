"""Shared by tests/ and bench/: hypothesis profiles, device detection, common options, data.

Options (both suites):
  --frameworks numpy,torch,...          which backends to run (default: every registered one;
                                        missing ones are skipped)
  --device auto|cpu|cuda|mps|all        which devices (default auto: cpu, plus a GPU when one
                                        is visible)
Hypothesis profiles: ``ci`` (bounded examples, derandomised, no deadline; chosen when the
``CI`` environment variable is set) and ``dev`` (more examples); pick one with
``HYPOTHESIS_PROFILE``.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")

import pytest
from hypothesis import HealthCheck, settings

from mnist_nets.backends.registry import BY_NAME, NAMES

FRAMEWORKS = NAMES  # every registered backend, in the registry's order

settings.register_profile(
    "ci",
    max_examples=15,
    derandomize=True,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "dev",
    max_examples=40,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mnist_nets")
    group.addoption(
        "--frameworks",
        default=",".join(FRAMEWORKS),
        help="comma-separated backends to run (default: all; missing ones are skipped)",
    )
    group.addoption(
        "--device",
        default="auto",
        choices=("auto", "cpu", "cuda", "mps", "all"),
        help="devices to run on: auto = cpu plus any visible GPU",
    )


def framework_installed(name: str) -> bool:
    return BY_NAME[name].installed()


def selected_frameworks(config: pytest.Config) -> list[str]:
    names = [n.strip() for n in config.getoption("--frameworks").split(",") if n.strip()]
    unknown = [n for n in names if n not in FRAMEWORKS]
    if unknown:
        raise pytest.UsageError(f"--frameworks: unknown {unknown}; choose from {FRAMEWORKS}")
    return names


def selected_devices(config: pytest.Config) -> list[str]:
    """Devices named by --device; 'auto' means cpu plus a GPU if one is visible."""
    choice = config.getoption("--device")
    if choice in ("cpu", "cuda", "mps"):
        return [choice]
    return ["cpu", "cuda", "mps"] if choice == "all" else ["cpu", *visible_gpus()]


_gpus: list[str] | None = None


def visible_gpus() -> list[str]:
    """GPU device kinds a framework can see ("cuda", "mps"); asks torch only if installed."""
    global _gpus
    if _gpus is None:
        _gpus = []
        if framework_installed("torch"):
            import torch

            if torch.cuda.is_available():
                _gpus.append("cuda")
            elif getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
                _gpus.append("mps")
    return _gpus


def require_framework(name: str) -> None:
    """Skip the calling test when ``name``'s framework is not installed."""
    if not framework_installed(name):
        pytest.skip(f"{name} is not installed")


@pytest.fixture(scope="session")
def mnist_train():
    """The full real MNIST training split (fetched into the cache when missing)."""
    from mnist_nets.data import load_split

    return load_split("train")


@pytest.fixture(scope="session")
def mnist_test():
    """The full real MNIST test split."""
    from mnist_nets.data import load_split

    return load_split("test")
