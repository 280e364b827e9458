"""Was the machine steady while a round ran?  Co-runners from /proc, and the GEMM peaks.

* **Co-runners.**  :class:`CpuWindow` reads the machine's busy CPU time (``/proc/stat``:
  every state but idle and iowait, in all cores) and this process's own CPU time
  (``/proc/self/stat``: user + system of all its threads, and of the processes it
  started) when a round starts and ends.
  The difference of the two deltas is CPU time that *other* processes used during the
  round; divided by the wall time it is the number of cores they held on average
  (``other_cores``).  Above :data:`CO_RUNNER_CORES` the round is flagged: the terminal
  gets a warning, the stored round a ``co_runner`` mark and the README cell a "⚠".
  Steal time (a hypervisor's other guests) is counted as busy: it, too, takes cores away;
  it is also stored on its own (``steal_cores``), because on a virtual machine it can make
  up most of the figure.  Measured on the 2-core AMD EPYC virtual machine of run 0014,
  three `dnn` epochs: JAX 0.97 s and TensorFlow 0.55 s of steal in 3.5 s, numpy 0.02 s and
  PyTorch 0.17 s, with no other process running: the frameworks whose thread pools sleep
  and wake often wait for the host to run their virtual cores again.
* **GEMM peaks.**  The session measures the float32 GEMM peak (bench/peak.py) before
  round 1, between rounds and at the end, and stores every measurement; "% of peak"
  is taken against the run's highest.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

CO_RUNNER_CORES = 0.25  # other processes' average use of the cores above which we warn
_HZ = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def machine_cpu_seconds() -> tuple[float, float] | None:
    """``(busy, steal)``: CPU seconds all cores have spent busy since boot, steal included,
    and of those the steal (None where /proc is missing)."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            fields = f.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    # user nice system idle iowait irq softirq steal guest guest_nice
    values = [int(v) for v in fields[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    # guest time is already counted in user and nice
    busy = sum(values[:8]) - idle if len(values) >= 8 else sum(values) - idle
    steal = values[7] if len(values) >= 8 else 0
    return busy / _HZ, steal / _HZ


def _stat_fields(pid: str) -> list[str] | None:
    """The fields of ``/proc/PID/stat`` after the command name (None if unreadable)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            text = f.read()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()


def child_pids() -> list[int]:
    """The processes this one started and that are still there (``/proc``)."""
    pids: list[int] = []
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return pids
    for tid in tasks:
        try:
            with open(f"/proc/self/task/{tid}/children", encoding="ascii") as f:
                pids += [int(pid) for pid in f.read().split()]
        except OSError:
            continue
    return pids


def own_cpu_seconds() -> float | None:
    """CPU seconds, user + system, that this process (all its threads) and the processes it
    started have used: the numpy backend runs half of each training batch in a forked
    child (``mnist_nets.backends.numpy_process``), whose time is the round's own, not a
    co-runner's.  Children still running are read from their ``/proc/PID/stat``; those
    that ended and were waited for are in this process's ``cutime`` and ``cstime``."""
    fields = _stat_fields("self")
    if fields is None:
        return None
    # utime, stime, cutime, cstime: fields 14-17 of stat, 11-14 after the name
    ticks = sum(int(v) for v in fields[11:15])
    for pid in child_pids():
        child = _stat_fields(str(pid))
        if child is not None:
            ticks += int(child[11]) + int(child[12])
    return ticks / _HZ


@dataclass
class CpuWindow:
    """``w = CpuWindow().start(); ...; w.stop()`` then ``w.other_cores``, ``w.co_runner``."""

    t0: float = 0.0
    machine0: float | None = None
    own0: float | None = None
    steal0: float | None = None
    wall: float | None = None
    other_cores: float | None = None
    own_cores: float | None = None
    steal_cores: float | None = None  # of other_cores, the hypervisor's steal

    def start(self) -> CpuWindow:
        times = machine_cpu_seconds()
        self.machine0, self.steal0 = times if times is not None else (None, None)
        self.own0 = own_cpu_seconds()
        self.t0 = time.perf_counter()
        return self

    def stop(self) -> CpuWindow:
        self.wall = time.perf_counter() - self.t0
        times, own1 = machine_cpu_seconds(), own_cpu_seconds()
        machine1, steal1 = times if times is not None else (None, None)
        if None in (self.machine0, self.own0, machine1, own1) or self.wall <= 0:
            return self
        own = own1 - self.own0
        self.own_cores = own / self.wall
        # clock ticks: small windows are coarse, never report below zero
        self.other_cores = max(0.0, (machine1 - self.machine0 - own) / self.wall)
        self.steal_cores = max(0.0, (steal1 - self.steal0) / self.wall)
        return self

    @property
    def co_runner(self) -> bool | None:
        """Whether other processes held more than :data:`CO_RUNNER_CORES` on average.
        Windows shorter than 0.5 s are too coarse for clock ticks: None."""
        if self.other_cores is None or self.wall is None or self.wall < 0.5:
            return None
        return self.other_cores > CO_RUNNER_CORES

    def as_dict(self) -> dict:
        return {
            "wall_seconds": self.wall,
            "other_cores": None if self.other_cores is None else round(self.other_cores, 3),
            "own_cores": None if self.own_cores is None else round(self.own_cores, 3),
            "steal_cores": None if self.steal_cores is None else round(self.steal_cores, 3),
            "co_runner": self.co_runner,
        }
