"""bench/steadiness.py: other processes' and the hypervisor's share of the CPU during a round."""

from __future__ import annotations

import io
import time

import pytest

from bench import steadiness


def _proc_stat(user, nice, system, idle, iowait, irq, softirq, steal, guest=0):
    hz = steadiness._HZ
    fields = [user, nice, system, idle, iowait, irq, softirq, steal, guest, 0]
    return "cpu  " + " ".join(str(round(v * hz)) for v in fields) + "\ncpu0 1 2 3\n"


def test_machine_cpu_seconds_reads_busy_and_steal(monkeypatch):
    text = _proc_stat(10, 1, 2, 100, 5, 0.5, 0.5, 3, guest=4)
    monkeypatch.setattr(steadiness, "open", lambda *a, **k: io.StringIO(text), raising=False)
    busy, steal = steadiness.machine_cpu_seconds()
    # busy: user + nice + system + irq + softirq + steal (guest is inside user already)
    assert busy == pytest.approx(17) and steal == pytest.approx(3)


def test_machine_cpu_seconds_without_proc(monkeypatch):
    def missing(*args, **kwargs):
        raise FileNotFoundError("/proc/stat")

    monkeypatch.setattr(steadiness, "open", missing, raising=False)
    assert steadiness.machine_cpu_seconds() is None
    assert steadiness.own_cpu_seconds() is None
    window = steadiness.CpuWindow().start().stop()
    assert window.other_cores is None and window.co_runner is None


def test_the_real_proc_files_are_read():
    busy, steal = steadiness.machine_cpu_seconds()
    assert busy > 0 and 0 <= steal <= busy
    assert steadiness.own_cpu_seconds() > 0


@pytest.mark.parametrize(
    ("other", "steal", "wall", "co_runner"),
    [(0.0, 0.0, 2.0, False), (0.6, 0.0, 2.0, True), (0.6, 0.5, 2.0, True), (0.4, 0.4, 2.0, False),
     (2.0, 0.0, 0.4, None)],
)  # fmt: skip
def test_the_window_splits_other_processes_and_steal(monkeypatch, other, steal, wall, co_runner):
    """Over ``wall`` seconds this process used 1.5 s of CPU, the machine 1.5 s + ``other``
    (``steal`` of it withheld by the hypervisor)."""
    clock = iter([100.0, 100.0 + wall])
    machine = iter([(50.0, 7.0), (50.0 + 1.5 + other, 7.0 + steal)])
    own = iter([20.0, 21.5])
    monkeypatch.setattr(steadiness.time, "perf_counter", lambda: next(clock))
    monkeypatch.setattr(steadiness, "machine_cpu_seconds", lambda: next(machine))
    monkeypatch.setattr(steadiness, "own_cpu_seconds", lambda: next(own))
    window = steadiness.CpuWindow().start().stop()
    assert window.wall == pytest.approx(wall)
    assert window.own_cores == pytest.approx(1.5 / wall)
    assert window.other_cores == pytest.approx(other / wall)
    assert window.steal_cores == pytest.approx(steal / wall)
    assert window.co_runner is co_runner
    assert window.as_dict() == {
        "wall_seconds": pytest.approx(wall),
        "other_cores": round(other / wall, 3),
        "own_cores": round(1.5 / wall, 3),
        "steal_cores": round(steal / wall, 3),
        "co_runner": co_runner,
    }


def test_a_child_s_cpu_time_is_the_process_s_own_not_a_co_runner_s():
    """numpy trains half of each batch in a forked child: a child that spins for 1 s
    (here a child interpreter, started and waited for inside the window, and one still
    running when it closes) counts as this process's time."""
    import subprocess
    import sys

    spin = "import time\nt = time.process_time()\nwhile time.process_time() - t < 1.0: pass\n"
    window = steadiness.CpuWindow().start()
    subprocess.run([sys.executable, "-c", spin], check=True)  # ended and waited for
    running = subprocess.Popen([sys.executable, "-c", spin + "time.sleep(30)"])
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # until it has spun its second
            child = steadiness._stat_fields(str(running.pid))
            if child is not None and int(child[11]) + int(child[12]) >= steadiness._HZ:
                break
            time.sleep(0.1)
        window.stop()
    finally:
        running.kill()
        running.wait()
    assert window.own_cores * window.wall >= 1.9
