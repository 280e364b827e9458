"""The inference benchmark cells end to end: ``pytest bench -k test_inference`` on the
smoke profile (two cheap models, the numpy backend and onnxruntime, the CPU) into a
temporary storage folder, and what each stored cell holds for the report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("onnxruntime")

ROOT = Path(__file__).resolve().parents[1]
MODELS = ("perceptron", "dnn")
KEYS = (
    "engine", "model", "device", "batch", "p50_ms", "p99_ms", "calls", "images_per_second",
    "engine_settings", "mode", "profile", "versions",
)  # fmt: skip


@pytest.mark.slow
def test_inference_cells_on_the_smoke_profile(tmp_path):
    out = tmp_path / "run.json"
    command = [
        sys.executable, "-m", "pytest", "-p", "no:playwright", "-p", "no:cacheprovider",
        "bench", "-k", "test_inference", "--bench-profile", "smoke",
        "--models", ",".join(MODELS), "--frameworks", "numpy", "--device", "cpu",
        f"--benchmark-json={out}", "-q",
    ]  # fmt: skip
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "MPLBACKEND": "Agg"}
    done = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    cells = [b["extra_info"] for b in json.loads(out.read_text())["benchmarks"]]
    assert all(c["kind"] == "inference" for c in cells)
    got = sorted((c["model"], c["engine"], c["mode"]) for c in cells)
    want = sorted(
        (m, e, mode)
        for m in MODELS
        for e in ("numpy", "onnxruntime")
        for mode in ("latency", "throughput")
    )
    assert got == want  # the engines from the registry: the selected backend, onnxruntime
    for c in cells:
        assert all(k in c for k in KEYS), c
        assert c["profile"] == "smoke" and c["device"] == "cpu"
        assert 0 < c["p50_ms"] <= c["p99_ms"]
        if c["mode"] == "latency":
            assert (c["batch"], c["calls"]) == (1, 100)
        else:
            assert c["batch"] == 1000 and 3 <= c["calls"] <= 50
        assert c["images_per_second"] == pytest.approx(c["batch"] / (c["p50_ms"] / 1e3))
    ort_cell = next(c for c in cells if c["engine"] == "onnxruntime")
    assert ort_cell["engine_settings"]["graph_optimization_level"] == "ORT_ENABLE_ALL"
    numpy_cell = next(c for c in cells if c["engine"] == "numpy")
    assert numpy_cell["engine_settings"]["mode"] == "forward() written by hand, eval mode"
