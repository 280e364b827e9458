"""Per-module mutation scores from mutmut's results in mutants/ (run by `make mutation`).

Prints, for each mutated module, killed/total and the percentage, then the survivors by name
(`mutmut show NAME` prints a survivor's diff).  Timeouts count as killed (the mutant hung the
tests); "no tests" mutants count as survivors.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

KILLED = {1, 3, 36, 37, -24, 24, 152, 255}  # failed tests, pytest error, timeouts, type check


def main() -> int:
    metas = sorted(Path("mutants").rglob("*.py.meta"))
    if not metas:
        print("no mutmut results in mutants/: run `make mutation` first", file=sys.stderr)
        return 1
    survivors = []
    print(f"{'module':45} {'killed':>7} {'total':>6} {'score':>7}  other")
    for meta in metas:
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        if not codes:
            continue
        module = str(meta.relative_to("mutants"))[: -len(".meta")]
        killed = sum(code in KILLED for code in codes.values())
        other = Counter(code for code in codes.values() if code not in KILLED and code != 0)
        survivors += [name for name, code in codes.items() if code not in KILLED]
        score = 100 * killed / len(codes)
        extra = ", ".join(f"exit {code}: {n}" for code, n in sorted(other.items(), key=str))
        print(f"{module:45} {killed:7} {len(codes):6} {score:6.1f}%  {extra}")
    if survivors:
        print("\nsurvivors (explained in tests/MUTATION.md or to be killed):")
        for name in sorted(survivors):
            print(" ", name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
