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
NAMES = {33: "no tests", 5: "no tests", 34: "skipped", -9: "killed by signal", -11: "segfault"}


def main() -> int:
    metas = sorted(Path("mutants").rglob("*.py.meta"))
    if not metas:
        print("no mutmut results in mutants/: run `make mutation` first", file=sys.stderr)
        return 1
    survivors = []
    print(f"{'module':45} {'killed':>7} {'total':>6} {'score':>7}  other")
    for meta in metas:
        all_codes = json.loads(meta.read_text())["exit_code_by_key"]
        codes = {name: code for name, code in all_codes.items() if code is not None}
        unchecked = len(all_codes) - len(codes)
        if not codes:
            continue
        module = str(meta.relative_to("mutants"))[: -len(".meta")]
        killed = sum(code in KILLED for code in codes.values())
        other = Counter(code for code in codes.values() if code not in KILLED and code != 0)
        survivors += [name for name, code in codes.items() if code not in KILLED]
        score = 100 * killed / len(codes)
        extra = ", ".join(
            [f"{NAMES.get(c, f'exit {c}')}: {n}" for c, n in sorted(other.items(), key=str)]
            + ([f"not run: {unchecked}"] if unchecked else [])
        )
        print(f"{module:45} {killed:7} {len(codes):6} {score:6.1f}%  {extra}")
    if survivors:
        print("\nsurvivors (explained in tests/MUTATION.md or to be killed):")
        for name in sorted(survivors):
            print(" ", name)
    print("\nscores count only the mutants that were run (timeouts count as killed).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
