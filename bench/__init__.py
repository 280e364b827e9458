"""Two programs: the benchmark suite (``pytest bench``: conftest, cell, memory, memprobe,
peak, steadiness, environment, progress, profiles, micro_specs and the ``test_*`` files),
which measures and stores histories in ``bench/results/``; and the report
(``python bench/report.py``, its modules in ``bench/reporting/``), which reads them and
writes README.md, docs/ and assets/.  The report imports nothing of the suite but its
profiles and micro-benchmark specs (names and descriptions).

A package so that both can be imported by the tests (``from bench import report``) as
well as run as scripts.
"""
