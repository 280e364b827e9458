"""Turn the stored benchmark histories into README.md's tables and the plots in assets/.

    python bench/report.py                 # rewrite README.md's generated blocks and assets/
    python bench/report.py --check         # exit 1 when they are out of date; write nothing
    python bench/report.py --run 0003      # figures from one stored run only
    python bench/report.py --machine EPYC  # from runs on a machine matching the text
    python bench/report.py --list          # the stored runs

By default every cell shows its latest stored run (``bench/results/``, written by
``pytest bench --benchmark-autosave``).  Only the blocks between
``<!-- mnist_nets:begin NAME -->`` and ``<!-- mnist_nets:end NAME -->`` are rewritten;
files are written atomically and only when their content changes, so a second run
changes nothing.  A malformed or empty history stops the report with an error naming
the file, before anything is written.

Only runs of the profile shown (``--profile``, default ``standard``) and of ``seed`` (its
own table) feed the README: a ``smoke`` run (``make bench BENCH_PROFILE=smoke``) or a
``custom`` one (``--train-limit``, ``--epochs`` ...) is stored and listed by ``--list``,
but leaves README.md and assets/ as they were, unless asked for by ``--profile`` or
``--run``.

Exit status: 0 done (or up to date), 1 ``--check`` found differences, 2 an error (a
malformed history or README, a file that cannot be read or written), told in one line;
nothing is written unless every file can be built, and each file is written whole.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import diagrams, fashion_tables, plots, speedrun_table, tables
from bench.history import HistoryError, Selection, load_runs, select
from bench.micro_specs import LAYER_SPECS
from bench.profiles import CUSTOM, PROFILES, get_profile
from bench.readme import ReadmeError, replace_blocks
from mnist_nets.fileio import atomic_open
from mnist_nets.specs import get_spec, list_specs

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
OVERVIEW_PLOTS = ("training_time.png", "throughput_vs_peak.png")
FASHION_CONFUSION = "fashion_confusion.png"


def readme_runs(runs: list, profile: str) -> tuple[list, list]:
    """``(kept, left_out)``: the runs with a cell of ``profile``, of the seed profile or of
    the fashion profile (each its own section) feed the README; the others (smoke,
    custom) no figure comes from."""
    shown = {profile, "seed", fashion_tables.PROFILE}
    kept = [r for r in runs if any(c.key[0] in shown for c in r.cells)]
    return kept, [r for r in runs if r not in kept]


def _link(path: Path, readme: Path) -> str:
    return Path(os.path.relpath(path, readme.parent)).as_posix()


def build(
    selection: Selection,
    *,
    profile: str,
    readme: Path,
    assets: Path,
    with_plots: bool = True,
) -> tuple[dict[str, str], dict[Path, bytes]]:
    """The README blocks (name -> Markdown) and the asset files (path -> bytes)."""
    models = list_specs()
    svg_dir, img_dir = assets / "svg", assets / "images"
    files: dict[Path, bytes] = {}
    blocks: dict[str, str] = {}
    main_cells = {k: c for k, c in selection.training.items() if k[0] == profile}

    for model in models:
        spec = get_spec(model)
        diagram = svg_dir / f"{model}.svg"
        files[diagram] = diagrams.svg(spec).encode()
        cells = [c for k, c in sorted(main_cells.items()) if k[1] == model]
        curves = img_dir / f"{model}_curves.png"
        if cells and with_plots:
            files[curves] = plots.curves(model, cells)
        blocks[f"network-{model}"] = tables.network(
            spec,
            selection,
            profile,
            _link(diagram, readme),
            _link(curves, readme) if cells else None,
        )

    blocks["single-neuron-finding"] = tables.single_neuron_finding(selection, profile)
    blocks["tables-by-architecture"] = tables.by_architecture(selection, models, profile)
    blocks["tables-by-framework"] = tables.by_framework(selection, models, profile)
    blocks["numpy-speed"] = tables.numpy_speed(selection, models, profile)
    blocks["fastest-to-99"] = speedrun_table.section(
        selection, profile, get_spec(speedrun_table.MODEL)
    )
    blocks["machine"] = tables.machine(selection, profile)
    blocks["seed-profile"] = tables.seed_profile(selection, models)
    blocks["numpy-speed-seed"] = tables.numpy_speed(
        selection, cpu_models(get_profile("seed"), models), "seed", tables.SEED_NUMPY_TARGETS
    )
    cases = [f"layer:{n}" for n in LAYER_SPECS] + [f"model:{m}" for m in models]
    descriptions = {f"layer:{n}": s.description for n, s in LAYER_SPECS.items()}
    blocks["micro"] = tables.micro(selection, profile, cases, descriptions)

    blocks.update(fashion_blocks(selection, models, readme, img_dir, files, with_plots))

    if main_cells:
        ordered = [c for _, c in sorted(main_cells.items())]
        if with_plots:
            files[img_dir / OVERVIEW_PLOTS[0]] = plots.training_time(models, ordered)
            files[img_dir / OVERVIEW_PLOTS[1]] = plots.throughput_vs_peak(ordered)
        blocks["overview-plots"] = "\n\n".join(
            [
                f"![Training time per cell]({_link(img_dir / OVERVIEW_PLOTS[0], readme)})",
                "![Training images per second against the % of the float32 GEMM peak]"
                f"({_link(img_dir / OVERVIEW_PLOTS[1], readme)})",
            ]
        )
    else:
        blocks["overview-plots"] = f"Plots: {tables.NOT_RUN} (profile `{profile}`)."
    return blocks, files


def cpu_models(profile, models: list[str]) -> list[str]:
    """The ``models`` that ``profile`` runs on the CPU (its own skip rule)."""
    return [m for m in models if profile.skip_reason(get_spec(m), "cpu") is None]


def fashion_blocks(
    selection: Selection,
    models: list[str],
    readme: Path,
    img_dir: Path,
    files: dict[Path, bytes],
    with_plots: bool,
) -> dict[str, str]:
    """The Fashion-MNIST section's blocks (profile ``fashion``); its plots go into ``files``."""
    name = fashion_tables.PROFILE
    shown = cpu_models(fashion_tables.FASHION, models)
    blocks = {"fashion-summary": fashion_tables.summary(selection, shown)}
    cells = {k: c for k, c in selection.training.items() if k[0] == name}
    if not cells:
        for block in ("fashion-by-architecture", "fashion-by-framework", "fashion-curves"):
            blocks[block] = f"{tables.NOT_RUN} (no stored `{name}` run)."
        blocks["fashion-confusion"] = fashion_tables.confusion_text(None, None)
        return blocks
    blocks["fashion-by-architecture"] = tables.by_architecture(selection, shown, name)
    blocks["fashion-by-framework"] = tables.by_framework(selection, shown, name)
    curves = []
    for model in shown:
        of_model = [c for k, c in sorted(cells.items()) if k[1] == model]
        if of_model:  # the link whether or not the plots are drawn (as for the networks)
            path = img_dir / f"fashion_{model}_curves.png"
            if with_plots:
                files[path] = plots.curves(f"{model} (Fashion-MNIST)", of_model)
            alt = f"{model} on Fashion-MNIST: loss and test accuracy"
            curves.append(f"![{alt}]({_link(path, readme)})")
    blocks["fashion-curves"] = "\n\n".join(curves) or f"Curves: {tables.NOT_RUN}."
    best = fashion_tables.best_cell(selection, shown)
    picture = None
    if best is not None:
        path = img_dir / FASHION_CONFUSION
        if with_plots:
            label = tables.LABELS.get(best.info["framework"], best.info["framework"])
            files[path] = plots.confusion(
                f"{best.info['model']} ({label}) on Fashion-MNIST",
                best.info["confusion"],
                fashion_tables.class_names(),
            )
        picture = _link(path, readme)
    blocks["fashion-confusion"] = fashion_tables.confusion_text(best, picture)
    return blocks


def stale_assets(assets: Path, produced: dict[Path, bytes], with_plots: bool) -> list[Path]:
    """Files the report once wrote that the current histories no longer produce."""
    candidates = list((assets / "svg").glob("*.svg"))
    if with_plots:
        img = assets / "images"
        candidates += list(img.glob("*_curves.png")) + [img / n for n in OVERVIEW_PLOTS]
        candidates.append(img / FASHION_CONFUSION)
    return sorted(p for p in candidates if p.is_file() and p not in produced)


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:  # missing or unreadable: to be (re)written
        return None


def _write(path: Path, data: bytes) -> None:
    with atomic_open(path) as f:
        f.write(data)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python bench/report.py",
        description="Regenerate README.md's benchmark tables and assets/ from the stored "
        "histories.",
    )
    parser.add_argument("--readme", type=Path, default=ROOT / "README.md")
    parser.add_argument(
        "--results",
        type=Path,
        default=RESULTS,
        help="folder of stored pytest-benchmark histories (default bench/results)",
    )
    parser.add_argument("--assets", type=Path, default=ROOT / "assets")
    parser.add_argument(
        "--profile",
        default="standard",
        choices=(*PROFILES, CUSTOM),
        help="the profile the main tables show (default standard)",
    )
    parser.add_argument("--run", help="only this stored run: its number (0003) or file name")
    parser.add_argument("--machine", help="only runs whose CPU, GPU, host or folder contains this")
    parser.add_argument("--check", action="store_true", help="report differences, write nothing")
    parser.add_argument("--no-plots", action="store_true", help="leave the PNG plots alone")
    parser.add_argument("--list", action="store_true", help="list the stored runs and exit")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    readme: Path = args.readme
    try:
        if not args.results.exists() and args.results.resolve() != RESULTS:
            raise HistoryError(f"{args.results}: no such folder of benchmark histories")
        runs = load_runs(args.results)
        if args.list:
            for run in runs:
                kinds = sorted({f"{c.key[0]} {c.kind}" for c in run.cells})
                print(f"{run.run_id}  {run.datetime}  {run.machine.get('cpu')}  {', '.join(kinds)}")
            return 0
        if not runs:
            print(
                f"report: no stored histories in {args.results}: every cell says 'not run'",
                file=sys.stderr,
            )
        if args.run is None:
            runs, left_out = readme_runs(runs, args.profile)
            if left_out:
                print(
                    f"report: {len(left_out)} stored run(s) of other profiles left out "
                    f"(profile {args.profile} shown): " + ", ".join(r.run_id for r in left_out),
                    file=sys.stderr,
                )
        selection = select(runs, run=args.run, machine=args.machine)
        if not readme.is_file():
            raise ReadmeError(f"{readme}: no such README")
        old_text = readme.read_text(encoding="utf-8")
        blocks, files = build(
            selection,
            profile=args.profile,
            readme=readme,
            assets=args.assets,
            with_plots=not args.no_plots,
        )
        new_text = replace_blocks(old_text, blocks, where=str(readme))
    except (HistoryError, ReadmeError) as exc:
        print(f"report: error: {exc}", file=sys.stderr)
        return 2
    except (OSError, UnicodeDecodeError) as exc:
        where = getattr(exc, "filename", None) or readme
        reason = getattr(exc, "strerror", None) or str(exc)
        print(f"report: error: {where}: cannot read: {reason}", file=sys.stderr)
        return 2

    changed = [p for p, data in files.items() if _read(p) != data]
    stale = stale_assets(args.assets, files, not args.no_plots)
    readme_changed = new_text != old_text
    if args.check:
        out_of_date = ([readme] if readme_changed else []) + changed
        for path in out_of_date:
            print(f"out of date: {path}")
        for path in stale:
            print(f"stale (no longer produced): {path}")
        if out_of_date or stale:
            print("report: run `python bench/report.py` to regenerate", file=sys.stderr)
            return 1
        print("report: README.md and assets are up to date", file=sys.stderr)
        return 0

    try:
        for path in changed:
            _write(path, files[path])
        for path in stale:
            path.unlink()
        if readme_changed:
            _write(readme, new_text.encode("utf-8"))
    except OSError as exc:
        print(
            f"report: error: {exc.filename or readme}: cannot write: {exc.strerror or exc}; "
            "each file is either whole and new or as it was: free space or fix the "
            "permissions, then run the report again",
            file=sys.stderr,
        )
        return 2
    n = len(changed) + len(stale) + readme_changed
    print(
        f"report: {len(selection.training)} training and {len(selection.micro)} micro cells; "
        + (f"{n} file(s) updated" if n else "everything already up to date"),
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
