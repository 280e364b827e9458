"""The memory that training one model costs in one framework, measured in a fresh process.

    python -m bench.memprobe MODEL FRAMEWORK [--device cpu] [--seed 0] [--steps 10]

prints one JSON object: ``{"training_memory_bytes": ..., "method": ..., ...}``.

Why a fresh process: in the long benchmark session, memory that earlier cells, the
warm-up or a one-off data copy left with the allocators (glibc's heap, TensorFlow's and
torch's caches) is reused by the next cell, so the resident set hardly grows while a
model trains, and the one thing that does grow (TensorFlow staging the 60,000 training
images: two 188 MB copies) stood in for every model alike.  Here every framework is
measured the same way:

1. import the backend and load ``steps x batch_size`` training and 256 test images;
2. read the resident set size (RSS) and reset the kernel's high-water mark
   (``/proc/self/clear_refs``, "5");
3. build the model from ``init_params(spec, seed)``, stage the images, train ``steps``
   SGD steps with the recipe (momentum buffers included) and predict the test images;
4. the figure is the high-water mark (``VmHWM`` in ``/proc/self/status``) minus the RSS
   of step 2, plus the private memory of the processes this one started (numpy runs the
   second half of each batch in a forked child, ``mnist_nets.backends.numpy_process``):
   their pages that are not shared with this process (``Private_Clean`` and
   ``Private_Dirty`` in ``/proc/PID/smaps_rollup``), read once training and the prediction
   are done, while the child still holds its buffers.  (A child's own high-water mark would
   count the pages it shares with this process twice.)

So it covers the parameters, gradients and optimiser state, the activations of a
training batch, the framework's workspaces and first-use allocations (graphs, thread
pools, compiled kernels) and the staged ``steps x batch_size`` images, but not the
whole training set (a fixed 188 MB of float32 in every framework and model) nor the
interpreter and framework import.  Exit status 0, or 2 with one line on stderr.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys

import numpy as np

from bench.steadiness import child_pids

PAGE_HWM = "/proc/self/status"


def _status_kib(field: str) -> int | None:
    try:
        with open(PAGE_HWM, encoding="ascii") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def reset_high_water_mark() -> bool:
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
        return True
    except OSError:
        return False


def private_kib(pid: int) -> int:
    """The pages of process ``pid`` that no other process maps (kiB), 0 if it is gone."""
    total = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as f:
            for line in f:
                if line.startswith(("Private_Clean:", "Private_Dirty:")):
                    total += int(line.split()[1])
    except OSError:
        return 0
    return total


def probe(model_name: str, framework: str, device: str, seed: int, steps: int) -> dict:
    from mnist_nets.backends import get_backend
    from mnist_nets.data import load_split
    from mnist_nets.machine import allocator, release_free_memory, tune_allocator
    from mnist_nets.params import init_params
    from mnist_nets.specs import UpdateRule, get_spec

    tune_allocator()  # the malloc settings the benchmark session trains with
    spec = get_spec(model_name)
    recipe = spec.recipe
    backend = get_backend(framework)
    backend.check_device(device)
    n = min(60_000, steps * recipe.batch_size)
    train = load_split("train", n)
    test = load_split("test", 256)
    params = init_params(spec, seed)
    gc.collect()
    release_free_memory()  # what loading left free in glibc's heap is not the model's
    before_kib = _status_kib("VmRSS")
    if before_kib is None or not reset_high_water_mark():
        raise OSError("needs Linux /proc (VmRSS, clear_refs) to measure peak memory")
    children_before = set(child_pids())
    model = backend.build(spec, params, device, seed)
    staged = backend.stage(model, train.x, train.y)
    backend.train_epoch(
        model,
        staged,
        np.random.default_rng(seed).permutation(n),
        lr=recipe.lr,
        update=UpdateRule("sgd", recipe.momentum),
        batch_size=recipe.batch_size,
        sync_every=50,
        on_sync=lambda first, losses, correct: None,
    )
    backend.predict(model, backend.stage(model, test.x))
    peak_kib = _status_kib("VmHWM")
    assert peak_kib is not None
    children_kib = sum(private_kib(p) for p in child_pids() if p not in children_before)
    return {
        "training_memory_bytes": (peak_kib - before_kib + children_kib) * 1024,
        "children_private_bytes": children_kib * 1024,
        "rss_before_bytes": before_kib * 1024,
        "method": (
            f"fresh process: peak RSS (VmHWM) while building the model, staging {n:,} "
            f"images and training {steps} steps of {recipe.batch_size} plus one prediction, "
            "minus RSS after import and data load, plus the private memory of child processes"
        ),
        "steps": steps,
        "batch_size": recipe.batch_size,
        "allocator": allocator(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model")
    parser.add_argument("framework")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args(argv)
    try:
        result = probe(args.model, args.framework, args.device, args.seed, args.steps)
    except Exception as exc:
        print(
            f"memprobe {args.model}/{args.framework}: {type(exc).__name__}: {exc}", file=sys.stderr
        )
        return 2
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


def measure(model: str, framework: str, device: str, seed: int, timeout_s: float = 600) -> dict:
    """Run the probe in a fresh interpreter; ``{"training_memory_bytes": None, "error": ...}``
    when it fails (the cell still runs)."""
    import os
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    command = [sys.executable, "-m", "bench.memprobe", model, framework, "--device", device]
    command += ["--seed", str(seed)]
    try:
        done = subprocess.run(
            command,
            cwd=root,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")},
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"training_memory_bytes": None, "error": f"timed out after {timeout_s:.0f} s"}
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"training_memory_bytes": None, "error": last}
    return json.loads(done.stdout.strip().splitlines()[-1])
