"""Turn the stored benchmark histories into README.md, the docs/ pages and assets/.

    python bench/report.py                 # rewrite the generated blocks and assets/
    python bench/report.py --check         # exit 1 when they are out of date; write nothing
    python bench/report.py --list          # the stored runs, with their machines
    python bench/report.py --run 0003      # figures from one stored run only
    python bench/report.py --reference-machine "Xeon"   # show another machine's CPU rows

Histories (``bench/results/``, written by ``make bench``) may come from many machines.
The pages show one reference machine, named in ``bench/results/reference-machine.txt``
and changed by ``--reference-machine`` (which rewrites that file): every CPU figure comes
from its runs, GPU figures from whichever machine has them; docs/machines.md shows every
machine side by side.  By default each cell shows its latest stored run.

Only the blocks between ``<!-- mnist_nets:begin NAME -->`` and ``<!-- mnist_nets:end
NAME -->`` are rewritten; files are written atomically and only when their content
changes, so a second run changes nothing.  Only runs of the profile shown (``--profile``,
default ``standard``), of ``seed`` and of ``fashion`` (each its own section) feed the pages;
a ``smoke`` or ``custom`` run is stored and listed by ``--list`` but leaves them as they
were.  Another suite's pytest-benchmark run in the folder is skipped with a note.

Exit status: 0 done (or up to date), 1 ``--check`` found differences, 2 an error (a
malformed history, named with its file and field; a page without its markers; a file
that cannot be read or written), told in one line; nothing is written unless every file
can be built, and each file is written whole.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.profiles import CUSTOM, PROFILES
from bench.reporting import fashion
from bench.reporting.pages import Layout, ReadmeError, build, replace_blocks, stale_assets
from bench.reporting.selection import (
    REFERENCE_FILE,
    find_machine,
    load_runs,
    machines,
    read_reference,
    select,
)
from bench.reporting.summary import HistoryError
from mnist_nets.fileio import atomic_open

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


def page_runs(runs: list, profile: str) -> tuple[list, list]:
    """``(kept, left_out)``: runs with a cell of ``profile``, ``seed`` or ``fashion`` feed
    the pages; the others (smoke, custom) no figure comes from."""
    shown = {profile, "seed", fashion.PROFILE}
    kept = [r for r in runs if r.profiles() & shown]
    return kept, [r for r in runs if r not in kept]


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
        description="Regenerate README.md, the docs/ pages and assets/ from the stored "
        "benchmark histories.",
    )
    parser.add_argument("--readme", type=Path, default=ROOT / "README.md")
    parser.add_argument("--docs", type=Path, default=ROOT / "docs", help="the docs/ folder")
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
    parser.add_argument(
        "--reference-machine",
        metavar="TEXT",
        help=f"make the machine whose name contains TEXT the reference (written to "
        f"<results>/{REFERENCE_FILE}; with --check, only for this check)",
    )
    parser.add_argument("--check", action="store_true", help="report differences, write nothing")
    parser.add_argument("--no-plots", action="store_true", help="leave the PNG plots alone")
    parser.add_argument("--list", action="store_true", help="list the stored runs and exit")
    return parser.parse_args(argv)


def say(text: str) -> None:
    print(f"report: {text}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    layout = Layout(args.readme, args.docs, args.assets)
    new_reference = None
    try:
        if not args.results.exists() and args.results.resolve() != RESULTS:
            raise HistoryError(f"{args.results}: no such folder of benchmark histories")
        histories = load_runs(args.results)
        for foreign in histories.foreign:
            say(
                f"skipped {foreign.path}: not a mnist_nets run (none of its "
                f"{foreign.benchmarks} benchmarks is one of ours)"
            )
        runs = list(histories.runs)
        if args.list:
            for key, of_machine in machines(runs).items():
                print(key)
                for run in of_machine:
                    profiles = ", ".join(sorted(run.profiles()))
                    print(f"  {run.run_id}  {run.info.datetime[:16]}  {profiles}")
            return 0
        if not runs:
            say(f"no stored histories in {args.results}: every cell says 'not run'")
        reference = None
        if args.run is None:
            runs, left_out = page_runs(runs, args.profile)
            if left_out:
                say(
                    f"{len(left_out)} stored run(s) of other profiles left out (profile "
                    f"{args.profile} shown): " + ", ".join(r.run_id for r in left_out)
                )
            where = f"{args.results / REFERENCE_FILE}"
            if args.reference_machine is not None:
                reference = find_machine(runs, args.reference_machine, "--reference-machine")
                new_reference = reference
            else:
                named = read_reference(args.results)
                if named is not None:
                    reference = find_machine(runs, named, where)
                elif runs:
                    say(f"no {where}: the latest run's machine is the reference")
        selection = select(runs, run=args.run, reference=reference)
        pages, files = build(
            selection, profile=args.profile, layout=layout, with_plots=not args.no_plots
        )
        texts = {}
        for page, blocks in pages.items():
            if not page.is_file():
                raise ReadmeError(f"{page}: no such page (its generated blocks: {list(blocks)})")
            old = page.read_text(encoding="utf-8")
            texts[page] = (old, replace_blocks(old, blocks, where=str(page)))
    except (HistoryError, ReadmeError) as exc:
        say(f"error: {exc}")
        return 2
    except (OSError, UnicodeDecodeError) as exc:
        where = getattr(exc, "filename", None) or args.readme
        reason = getattr(exc, "strerror", None) or str(exc)
        say(f"error: {where}: cannot read: {reason}")
        return 2

    changed = [p for p, data in files.items() if _read(p) != data]
    stale = stale_assets(args.assets, files, not args.no_plots)
    pages_changed = [p for p, (old, new) in texts.items() if old != new]
    if args.check:
        for path in pages_changed + changed:
            print(f"out of date: {path}")
        for path in stale:
            print(f"stale (no longer produced): {path}")
        if pages_changed or changed or stale:
            say("run `python bench/report.py` to regenerate")
            return 1
        say("README.md, docs/ and assets are up to date")
        return 0

    try:
        for path in changed:
            _write(path, files[path])
        for path in stale:
            path.unlink()
        for path in pages_changed:
            _write(path, texts[path][1].encode("utf-8"))
        if new_reference is not None:
            ref_path = args.results / REFERENCE_FILE
            if _read(ref_path) != (new_reference + "\n").encode():
                args.results.mkdir(parents=True, exist_ok=True)
                _write(ref_path, (new_reference + "\n").encode())
                say(f"reference machine now {new_reference!r} ({ref_path})")
    except OSError as exc:
        say(
            f"error: {exc.filename or args.readme}: cannot write: {exc.strerror or exc}; "
            "each file is either whole and new or as it was: free space or fix the "
            "permissions, then run the report again"
        )
        return 2
    n = len(changed) + len(stale) + len(pages_changed)
    say(
        f"{len(selection.training)} training, {len(selection.micro)} micro and "
        f"{len(selection.inference)} inference cells; "
        + (f"{n} file(s) updated" if n else "everything already up to date")
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
