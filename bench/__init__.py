"""The benchmark suite (``pytest bench``) and the README report (``python bench/report.py``).

A package so that the report's modules can be imported by the tests
(``from bench import report``) as well as run as a script.
"""
