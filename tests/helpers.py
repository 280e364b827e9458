"""Helpers shared by the test modules (no test module imports another): made-up benchmark
histories as pytest-benchmark stores them, and a temporary set of pages for the report."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

FOLDER = "Linux-CPython-3.11-64bit"


def training_cell(model, framework, device="cpu", profile="standard", **overrides):
    """One training benchmark as pytest-benchmark stores it (only what the report reads)."""
    info = {
        "schema": 1,
        "kind": "training",
        "profile": profile,
        "profile_description": f"{profile} data",
        "model": model,
        "framework": framework,
        "device": device,
        "device_name": "Test CPU",
        "epochs": 2,
        "lr": 0.1,
        "momentum": 0.9,
        "lr_decay": 0.5,
        "batch_size": 128,
        "epoch_definition": "one pass over 60,000 images",
        "test_accuracy": 0.9234,
        "final_loss": 0.28,
        "per_epoch": [
            {"epoch": 1, "loss": 0.4, "train_accuracy": 0.88, "test_accuracy": 0.91,
             "seconds": 6.0, "eval_seconds": 0.1, "lr": 0.1},
            {"epoch": 2, "loss": 0.28, "train_accuracy": 0.92, "test_accuracy": 0.9234,
             "seconds": 6.34, "eval_seconds": 0.1, "lr": 0.05},
        ],
        "train_seconds": 12.34,
        "train_seconds_rounds": [12.34],
        "samples_per_second": 9724.5,
        "target_accuracy": 0.915,
        "target_reached": True,
        "time_to_target_seconds": 12.34,
        "target_epoch": 2,
        "achieved_gflops": 0.305,
        "fraction_of_peak": 0.0061,
        "peak_rss_increase_bytes": 50 * 2**20,
        "build_seconds": 0.01,
        "warmup_seconds": 0.5,
        "versions": {"numpy": "2.4.6"},
    }  # fmt: skip
    info.update(overrides)
    return {
        "group": None,
        "name": f"test_train[{model}-{framework}-{device}]",
        "fullname": f"bench/test_training.py::test_train[{model}-{framework}-{device}]",
        "params": {"model": model, "framework": framework, "device": device},
        "extra_info": info,
        "options": {},
        "stats": {"min": 13.0, "max": 13.0, "mean": 13.0, "median": 13.0, "rounds": 1},
    }


def round_cells(model, framework, times, accuracies, **overrides):
    """A cell's rounds as a run stores them: one benchmark entry per round and seed."""
    out = []
    for r, (t, acc) in enumerate(zip(times, accuracies, strict=True), start=1):
        cell = training_cell(
            model,
            framework,
            round=r,
            seed=r - 1,
            train_seconds=t,
            train_seconds_rounds=[t],
            test_accuracy=acc,
            samples_trained=120_000,
            flops_training_per_sample=1_000_000,
            cpu_window={"other_cores": 0.9 if r == 2 and framework == "torch" else 0.0},
            co_runner=r == 2 and framework == "torch",
            training_memory={"training_memory_bytes": (r + 10) * 2**20},
            **overrides,
        )
        cell["name"] = cell["name"].replace("]", f"-r{r}]")
        out.append(cell)
    return out


def micro_cell(case, pass_, framework, rate, device="cpu", profile="standard"):
    return {
        "name": f"test_micro[{framework}-{device}-{pass_}-{case}]",
        "extra_info": {
            "kind": "micro",
            "profile": profile,
            "case": case,
            "pass": pass_,
            "framework": framework,
            "device": device,
            "batch_size": 128,
            "samples_per_second": rate,
        },
        "stats": {"median": 128 / rate},
    }


def inference_cell(model, engine, mode, p50, p99, rate=None, device="cpu",
                   profile="standard", **overrides):  # fmt: skip
    """One inference benchmark (bench/test_inference.py) as pytest-benchmark stores it."""
    batch = 1 if mode == "latency" else 1000
    info = {
        "schema": 1,
        "kind": "inference",
        "profile": profile,
        "model": model,
        "engine": engine,
        "device": device,
        "device_name": "Test CPU" if device == "cpu" else f"CUDA GPU ({engine})",
        "mode": mode,
        "batch": batch,
        "calls": 1000 if mode == "latency" else 20,
        "warmup_calls": 50 if mode == "latency" else 1,
        "p50_ms": p50,
        "p99_ms": p99,
        "mean_ms": (p50 + p99) / 2,
        "min_ms": p50 / 2,
        "images_per_second": rate if rate is not None else batch / (p50 / 1e3),
        "load_seconds": 0.2,
        "first_call_seconds": 0.05,
        "engine_settings": {"mode": f"{engine} inference", "threads": 2},
        "versions": {engine: "1.0"},
        "cpu_window": {"other_cores": 0.0},
        "co_runner": False,
    }
    info.update(overrides)
    return {
        "group": f"inference-{profile}-{model}-{mode}",
        "name": f"test_inference[{model}-{engine}-{device}-{mode}]",
        "extra_info": info,
        "stats": {"median": p50 / 1e3},
    }


def write_run(
    results: Path,
    number: int,
    benchmarks,
    when="2026-01-01T10:00:00",
    gpu=None,
    cpu="Test CPU",
    cores=2,
    memory_bytes=None,
    folder=FOLDER,
):
    """A stored history ``NNNN_abc_20260101_100000.json`` of a machine."""
    path = results / folder / f"{number:04d}_abc_20260101_100000.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    ours = {
        "cpu": cpu,
        "cores": cores,
        "gpu": gpu,
        "versions": {"python": "3.11.7", "numpy": "2.4.6", "torch": "2.13.0"},
        "gemm_peaks": {"cpu": {"gflops": 50.0, "method": "numpy matmul"}},
    }
    if memory_bytes is not None:
        ours["memory_bytes"] = memory_bytes
    data = {
        "machine_info": {"node": "testhost", "cpu": {"brand_raw": cpu}, "mnist_nets": ours},
        "commit_info": {},
        "benchmarks": benchmarks,
        "datetime": f"{when}+00:00",
        "version": "5.3.1",
    }
    path.write_text(json.dumps(data))
    return path


def edit_json(path: Path, edit) -> None:
    """Rewrite a stored history through ``edit(data)``."""
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


# --------------------------------------------------------------------------- pages

BEGIN = "<!-- mnist_nets:begin {} -->"
END = "<!-- mnist_nets:end {} -->"


def page_template(title: str, names) -> str:
    body = "\n".join(f"## {n}\n\nProse.\n\n{BEGIN.format(n)}\n{END.format(n)}\n" for n in names)
    return f"# {title}\n\nIntro kept as it is.\n\n" + body


def workspace(tmp_path: Path) -> SimpleNamespace:
    """A temporary README and docs/ (every generated page, from templates), results folder
    and assets folder, with the report's arguments for them."""
    from bench.reporting.pages import PAGES

    readme, docs = tmp_path / "README.md", tmp_path / "docs"
    docs.mkdir()
    for name, blocks in PAGES.items():
        page = readme if name == "README.md" else docs / name
        page.write_text(page_template(name, blocks()))
    results, assets = tmp_path / "results", tmp_path / "assets"
    results.mkdir()
    args = ["--readme", str(readme), "--docs", str(docs), "--results", str(results),
            "--assets", str(assets)]  # fmt: skip
    return SimpleNamespace(readme=readme, docs=docs, results=results, assets=assets, args=args)


def page(ws, name: str) -> str:
    return (ws.readme if name == "README.md" else ws.docs / name).read_text()


def block(text: str, name: str) -> str:
    return text.split(BEGIN.format(name) + "\n", 1)[1].split("\n" + END.format(name), 1)[0]


def table_cells(markdown: str) -> list[list[str]]:
    rows = [line for line in markdown.splitlines() if line.startswith("|")]
    return [[c.strip() for c in row.strip("|").split("|")] for row in rows if "---" not in row]
