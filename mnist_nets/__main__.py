"""``python -m mnist_nets``: see :mod:`mnist_nets.cli`."""

from mnist_nets.cli import main

raise SystemExit(main())
