"""Peak memory of one benchmark cell.

* Host: a daemon thread samples the process's resident set size from
  ``/proc/self/statm`` every 5 ms; the cell's figure is the highest sample minus the
  RSS when sampling started (so the model, staged data, activations and framework
  workspaces the cell allocates, not what the process held before).  Heavy numpy,
  torch and TensorFlow kernels release the GIL, so the sampler keeps running during
  them; a spike shorter than the interval can be missed.
* GPU: the backend's own count (:meth:`~mnist_nets.backends.base.Backend.device_peak`
  after :meth:`~mnist_nets.backends.base.Backend.reset_device_peak`), e.g. torch's
  ``max_memory_allocated``, TensorFlow's ``get_memory_info(...)["peak"]``.
"""

from __future__ import annotations

import os
import threading

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_STATM = "/proc/self/statm"


def current_rss() -> int | None:
    """Resident set size of this process in bytes (None where /proc is missing)."""
    try:
        with open(_STATM, encoding="ascii") as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return None


class RssSampler:
    """``with RssSampler() as s: ...`` then ``s.peak_increase`` (bytes, or None)."""

    def __init__(self, interval_s: float = 0.005):
        self.interval_s = interval_s
        self.start_rss: int | None = None
        self.peak_rss: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _sample(self) -> None:
        rss = current_rss()
        if rss is not None and (self.peak_rss is None or rss > self.peak_rss):
            self.peak_rss = rss

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._sample()

    def start(self) -> RssSampler:
        self.start_rss = current_rss()
        self.peak_rss = self.start_rss
        if self.start_rss is not None:
            self._thread = threading.Thread(target=self._loop, name="rss-sampler", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
        self._sample()

    def __enter__(self) -> RssSampler:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def peak_increase(self) -> int | None:
        if self.start_rss is None or self.peak_rss is None:
            return None
        return self.peak_rss - self.start_rss


def _backend(framework: str):
    """The framework's backend if it is already loaded (a cell built a model with it)."""
    from mnist_nets.backends import loaded_backend

    return loaded_backend(framework)


def reset_device_peak(framework: str, device: str) -> None:
    """Start a new peak-memory window on a GPU (no-op on the CPU)."""
    backend = _backend(framework)
    if device != "cpu" and backend is not None:
        backend.reset_device_peak(device)


def device_peak(framework: str, device: str) -> int | None:
    """Peak GPU memory allocated since :func:`reset_device_peak` (bytes), or None."""
    backend = _backend(framework)
    if device == "cpu" or backend is None:
        return None
    return backend.device_peak(device)


def synchronize(framework: str, device: str) -> None:
    """Wait for the device to finish queued work before a clock is read."""
    backend = _backend(framework)
    if backend is not None:
        backend.synchronize(device)
