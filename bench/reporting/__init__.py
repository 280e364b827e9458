"""The report: stored benchmark histories in, README.md, docs/ pages and assets/ out.

One way through: ``summary`` reads and checks each history once into frozen dataclasses,
``selection`` picks the cells a page shows (the reference machine's, plus GPU cells from
any machine), ``stats`` computes spreads and verdicts, ``format`` turns numbers into text,
and one small module per page or section writes Markdown; ``pages`` puts the blocks into
the files.  The entry point is ``python bench/report.py``.
"""
