"""``data fetch`` and ``specs``: where the MNIST files are, and what the architectures hold."""

from __future__ import annotations

import argparse
import sys

from mnist_nets.cli.common import err, print_json
from mnist_nets.data import cache_dir, get_dataset, mnist_files
from mnist_nets.specs import get_spec, list_specs


def cmd_data_fetch(args: argparse.Namespace) -> int:
    files = mnist_files(args.data_dir, log=err, repair=True, dataset=args.dataset)
    for name, path in files.items():
        print(f"{name}: {path}")
    title = get_dataset(args.dataset).title
    print(f"{title} verified (sha256); cache: {cache_dir(args.dataset)}", file=sys.stderr)
    return 0


def cmd_specs(args: argparse.Namespace) -> int:
    names = args.models or list_specs()
    specs = [get_spec(name) for name in names]
    if args.json:
        print_json(
            [
                {
                    **spec.to_dict(),
                    "output_shapes": [list(s) for s in spec.output_shapes],
                    "param_count": spec.param_count,
                    "flops_forward": spec.flops_forward,
                    "flops_training": spec.flops_training,
                }
                for spec in specs
            ]
        )
        return 0
    for i, spec in enumerate(specs):
        if i:
            print()
        print(f"== {spec.name}: {spec.description}")
        print(spec.summary())
    return 0
