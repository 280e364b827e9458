"""The realistic-bug audit (``make bugs``): each bug of ``tests/bugs/patches.py`` planted
alone in a temporary copy of the repository, the test suite run against it.

For each bug: the repository's files (tracked and untracked-but-not-ignored, as the
working tree holds them) are copied to a temporary folder, the one snippet is replaced
(a snippet not found exactly once stops the audit: the patch is stale), and pytest runs
there, niced, with ``-x``: first the subject's test files, then, if those pass, the
whole of ``tests/``.  A failing run is a caught bug; a passing one a survivor.

Nothing a mutant does can reach real files: ``HOME`` and ``XDG_CACHE_HOME`` point into
the temporary folder, and the verified datasets are *copied* there from the real cache
(a mutant that writes into its cache writes into the copy).  Tests marked ``network``
are deselected (no registry is asked 2 x N times).

Results go to ``tests/bugs/results.json`` (one entry per bug, with the commit and a hash
of the patch, so that ``--resume`` skips bugs already caught or survived with the same
patch) and ``tests/bugs/RESULTS.md``.  A run that times out counts as neither caught nor
survived.  Exit status: 0 when at least ``--min-caught`` (default 95 %)
of the bugs run were caught, 1 otherwise, 2 for a stale patch or a usage error.

    python tests/bugs/run.py                 # every bug, two at a time
    python tests/bugs/run.py relu_grad_at_zero dropout_on_in_eval
    python tests/bugs/run.py --check         # only check that every snippet applies
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))

from patches import BUGS, Bug  # noqa: E402

RESULTS_JSON = HERE / "results.json"
RESULTS_MD = HERE / "RESULTS.md"
_OWN = (":!tests/bugs/results.json", ":!tests/bugs/RESULTS.md")
# -p no:playwright: pytest-playwright, where installed, claims --device (conftest.py's option)
PYTEST = ["-x", "-q", "-p", "no:cacheprovider", "-p", "no:playwright", "-m", "not network"]


class StalePatch(Exception):
    pass


def patch_hash(bug: Bug) -> str:
    blob = json.dumps([bug.file, bug.old, bug.new, bug.tests]).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


def apply(bug: Bug, root: Path) -> None:
    path = root / bug.file
    if not path.is_file():
        raise StalePatch(f"{bug.name}: {bug.file} does not exist")
    text = path.read_text(encoding="utf-8")
    count = text.count(bug.old)
    if count != 1:
        raise StalePatch(
            f"{bug.name}: its snippet occurs {count} times in {bug.file} (must be once); "
            "rewrite the patch in tests/bugs/patches.py against the current code"
        )
    path.write_text(text.replace(bug.old, bug.new), encoding="utf-8")


def repo_files() -> list[str]:
    out = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout
    names = [n for n in out.decode().split("\0") if n]
    return [n for n in names if (ROOT / n).is_file() and not (ROOT / n).is_symlink()]


def real_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "mnist_nets"


def snapshot(dest: Path) -> Path:
    """The repository's files and the data cache as they are now, copied once: every bug
    starts from this, so edits made while the audit runs do not leak into it."""
    for name in repo_files():
        dst = dest / "repo" / name
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, dst)
    cache = real_cache()
    if cache.is_dir():  # a copy, never a link: a mutant may write into its cache
        shutil.copytree(cache, dest / "cache" / "mnist_nets")
    else:
        (dest / "cache").mkdir()
    return dest


def make_copy(bug: Bug, source: Path) -> Path:
    tmp = Path(tempfile.mkdtemp(prefix=f"bug-{bug.name}-"))
    shutil.copytree(source / "repo", tmp / "repo")
    shutil.copytree(source / "cache", tmp / "cache")
    (tmp / "home").mkdir()
    apply(bug, tmp / "repo")
    return tmp


def environment(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MNIST_NETS_", "PYTEST_"))}
    env.update(
        HOME=str(tmp / "home"),
        XDG_CACHE_HOME=str(tmp / "cache"),
        PYTHONPATH=str(tmp / "repo"),
        PYTHONDONTWRITEBYTECODE="1",
        MPLBACKEND="Agg",
        TF_CPP_MIN_LOG_LEVEL="2",
        CI="1",  # the derandomised hypothesis profile: the same examples every run
    )
    return env


class Paused(Exception):
    pass


_live: set[int] = set()  # process groups of the pytest runs in flight
_stopping = threading.Event()


def _stop_all(signum, frame) -> None:
    _stopping.set()
    for pgid in list(_live):
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    raise SystemExit(128 + signum)


def run_pytest(args: list[str], tmp: Path, timeout: float, pause_file: Path | None):
    """Run pytest in the copy; returns (exit status, output, seconds); raises
    :class:`Paused` (after killing the run) when ``pause_file`` appears."""
    cmd = ["nice", "-n", "19", sys.executable, "-m", "pytest", *PYTEST, *args]
    t0 = time.monotonic()
    with open(tmp / "pytest.log", "w+b") as log:
        proc = subprocess.Popen(
            cmd,
            cwd=tmp / "repo",
            env=environment(tmp),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        _live.add(proc.pid)
        try:
            while proc.poll() is None:
                if _stopping.is_set():
                    raise SystemExit(1)
                if pause_file is not None and pause_file.exists():
                    raise Paused
                if time.monotonic() - t0 > timeout:
                    raise TimeoutError
                time.sleep(1)
        except BaseException:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise
        finally:
            _live.discard(proc.pid)
        log.seek(0)
        output = log.read().decode(errors="replace")
    return proc.returncode, output, time.monotonic() - t0


def killer(output: str) -> str | None:
    m = re.search(r"^(?:FAILED|ERROR) (\S+)", output, re.M)
    return m.group(1) if m else None


def check_isolation(tmp: Path) -> None:
    """The copy, not the worktree, is what ``import mnist_nets`` finds there."""
    out = subprocess.run(
        [sys.executable, "-c", "import mnist_nets, bench; print(mnist_nets.__file__)"],
        cwd=tmp / "repo",
        env=environment(tmp),
        capture_output=True,
        text=True,
    )
    where = out.stdout.strip()
    if not where.startswith(str(tmp / "repo")):
        raise SystemExit(f"the copy imports mnist_nets from {where!r}, not from the copy")


def audit_one(bug: Bug, source: Path, timeout, pause_file, phase: str, select=None) -> dict:
    """Run the tests against ``bug``: its subject's files (``phase="subject"``, or the
    tests named by ``select``) or the whole of ``tests/`` (``phase="full"``)."""
    tmp = make_copy(bug, source)
    try:
        check_isolation(tmp)
        if phase == "subject" and select:
            args = list(select)
        elif phase == "subject":
            args = [t for t in bug.tests if (tmp / "repo" / t).is_file()]
        else:
            args = ["tests"]
        try:
            rc, output, seconds = run_pytest(args, tmp, timeout, pause_file)
        except TimeoutError:
            return {"status": "timeout", "killer": None, "seconds": round(timeout, 1)}
        if rc == 0:
            status = "passed its files" if phase == "subject" else "survived"
            return {"status": status, "killer": None, "seconds": round(seconds, 1)}
        # 1: a test failed; 2 with a module that failed to import: also the bug's doing;
        # anything else (a usage or internal error, a crash) says nothing about the bug
        collecting = rc == 2 and "ERROR collecting" in output
        status = "caught" if rc == 1 or collecting else f"error (pytest exit {rc})"
        tail = None if killer(output) else output.strip().splitlines()[-3:]
        return {
            "status": status,
            "killer": killer(output) or tail,
            "seconds": round(seconds, 1),
            "step": " ".join(args),
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def git_commit() -> str:
    head = subprocess.run(
        ["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        # the audit's own results files do not make the code a changed one
        ["git", "status", "--porcelain", "--untracked-files=no", "--", ".", *_OWN],
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return head + ("+changes" if dirty else "")


def load_results() -> dict:
    if RESULTS_JSON.is_file():
        return json.loads(RESULTS_JSON.read_text(encoding="utf-8"))
    return {}


def save_results(results: dict) -> None:
    known = {b.name for b in BUGS}
    results = {k: v for k, v in results.items() if k in known}
    RESULTS_JSON.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n", "utf-8")
    RESULTS_MD.write_text(markdown(results), encoding="utf-8")


def markdown(results: dict) -> str:
    rows = [(b, results.get(b.name)) for b in BUGS]
    ran = [(b, r) for b, r in rows if r]
    caught = [b for b, r in ran if r["status"] == "caught"]
    commits = sorted({r["commit"] for _, r in ran})
    dates = sorted({r["date"] for _, r in ran})
    share = f"{len(caught) / len(ran):.0%}" if ran else "-"
    lines = [
        "# Realistic-bug audit",
        "",
        "Written by `python tests/bugs/run.py` (`make bugs`); the bugs are in",
        "`tests/bugs/patches.py`.  Each bug is planted alone in a temporary copy and the tests",
        "run against it (`pytest -x`, the subject's files first, then `tests/`;",
        "network tests deselected, hypothesis's `ci` profile).  A bug caught by its subject's",
        "files fails the whole suite too, so the whole suite runs only for those that pass",
        "them; a bug rechecked with `--select` ran only the named test (a new one written",
        "against it).",
        "",
        f"- Bugs: {len(BUGS)}; run: {len(ran)}; caught: {len(caught)} of {len(BUGS)} "
        f"({len(caught) / len(BUGS):.1%} of all; {share} of those run); "
        f"not caught: {len(ran) - len(caught)} (survived, or a run that timed out or failed "
        "to start: those are rerun by `--resume`).",
        f"- Commits: {', '.join(commits) or '-'}; dates (UTC): "
        f"{dates[0] if dates else '-'} to {dates[-1] if dates else '-'}.",
        "- Survivors are explained in `tests/MUTATION.md` (section *Realistic-bug audit*).",
        "",
        "| bug | category | file | result | first failing test | s |",
        "|---|---|---|---|---|---:|",
    ]
    for b, r in rows:
        if r is None:
            lines.append(f"| `{b.name}` | {b.category} | `{b.file}` | not run | | |")
            continue
        kill = r.get("killer")
        kill = f"`{kill}`" if isinstance(kill, str) else ("" if not kill else "; ".join(kill))
        lines.append(
            f"| `{b.name}` | {b.category} | `{b.file}` | {r['status']} | {kill} | "
            f"{r['seconds']:.0f} |"
        )
    lines += ["", "What each bug is:", ""]
    lines += [f"- `{b.name}`: {b.description}." for b in BUGS]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("names", nargs="*", help="bugs to run (default: all)")
    ap.add_argument("--jobs", type=int, default=2, help="bugs run side by side (default 2)")
    ap.add_argument("--check", action="store_true", help="only check that every patch applies")
    ap.add_argument(
        "--resume",
        action="store_true",
        help="skip bugs already caught or survived with this patch (on whatever commit: "
        "the table names each one's)",
    )
    ap.add_argument("--list", action="store_true", help="list the bugs and exit")
    ap.add_argument(
        "--timeout",
        type=float,
        default=3600,
        help="seconds per bug (default 3600: the whole suite on 2 busy cores); a run that "
        "times out is neither caught nor survived",
    )
    ap.add_argument("--min-caught", type=float, default=0.95)
    ap.add_argument(
        "--select",
        action="append",
        metavar="NODEID",
        help="run these tests (pytest node ids; repeatable) instead of the subject's files, "
        "and no whole-suite pass: a quick check that a new test kills a bug",
    )
    ap.add_argument(
        "--subject-only",
        action="store_true",
        help="run only each bug's subject files (a pass is then no verdict)",
    )
    ap.add_argument(
        "--pause-file",
        type=Path,
        help="while this file exists no test runs (runs in flight are stopped and redone)",
    )
    args = ap.parse_args(argv)
    by_name = {b.name: b for b in BUGS}
    unknown = [n for n in args.names if n not in by_name]
    if unknown:
        print(f"unknown bugs {unknown}; `--list` lists them", file=sys.stderr)
        return 2
    if args.list:
        for b in BUGS:
            print(f"{b.name:38} {b.category:20} {b.file}")
        return 0
    chosen = [by_name[n] for n in args.names] if args.names else list(BUGS)
    stale = []
    with tempfile.TemporaryDirectory() as tmp:
        for bug in chosen:  # every snippet checked before anything runs
            src = Path(tmp) / bug.file
            if not src.exists():
                src.parent.mkdir(parents=True, exist_ok=True)
                if (ROOT / bug.file).is_file():
                    shutil.copy2(ROOT / bug.file, src)
            try:
                apply(bug, Path(tmp))
            except StalePatch as exc:
                stale.append(str(exc))
                continue
            shutil.copy2(ROOT / bug.file, src)
    for message in stale:
        print(f"stale patch: {message}", file=sys.stderr)
    if stale:
        return 2
    if args.check:
        print(f"all {len(chosen)} patches apply")
        return 0

    commit = git_commit()
    results = load_results()
    if args.resume:
        chosen = [
            b
            for b in chosen
            if not (
                b.name in results
                and results[b.name]["patch"] == patch_hash(b)
                and results[b.name]["status"] in ("caught", "survived")
            )
        ]
    lock = threading.Lock()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _stop_all)
    work = Path(tempfile.mkdtemp(prefix="bug-audit-"))
    try:
        source = snapshot(work)
        return run_all(chosen, results, commit, source, args, lock)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run_all(chosen, results, commit, source, args, lock) -> int:
    """Two passes: every bug against its subject's files (quick, and most bugs are caught
    there), then the bugs that passed them against the whole of ``tests/``."""

    def one(bug: Bug, phase: str) -> None:
        while True:
            while args.pause_file is not None and args.pause_file.exists():
                if _stopping.wait(30):
                    return
            if _stopping.is_set():
                return
            try:
                result = audit_one(bug, source, args.timeout, args.pause_file, phase, args.select)
                break
            except Paused:
                print(f"{bug.name}: stopped for {args.pause_file}; redone later", flush=True)
        result.update(
            commit=commit,
            patch=patch_hash(bug),
            date=datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M"),
        )
        with lock:
            results[bug.name] = result
            save_results(results)
            print(
                f"{bug.name:38} {result['status']:16} {result['seconds']:7.0f} s  "
                f"{result.get('killer') or ''}",
                flush=True,
            )

    has_subject = [b for b in chosen if any((source / "repo" / t).is_file() for t in b.tests)]
    passes = [("subject", has_subject)]
    if args.select:  # the named tests instead of the subject's files, and no full pass
        passes = [("subject", chosen)]
    elif not args.subject_only:
        passes.append(("full", chosen))
    for phase, bugs in passes:
        if phase == "subject" and args.resume:  # passed them already: on to the full run
            bugs = [
                b
                for b in bugs
                if not (
                    results.get(b.name, {}).get("status") == "passed its files"
                    and results[b.name]["patch"] == patch_hash(b)
                )
            ]
        if phase == "full":  # only those the subject's files did not catch
            bugs = [b for b in bugs if results.get(b.name, {}).get("status") != "caught"]
        with concurrent.futures.ThreadPoolExecutor(max(1, args.jobs)) as pool:
            for f in [pool.submit(one, b, phase) for b in bugs]:
                f.result()

    ran = [results[b.name] for b in BUGS if b.name in results]
    caught = sum(r["status"] == "caught" for r in ran)
    print(f"caught {caught} of {len(ran)} ({caught / max(len(ran), 1):.0%}); see {RESULTS_MD}")
    return 0 if ran and caught / len(ran) >= args.min_caught else 1


if __name__ == "__main__":
    sys.exit(main())
