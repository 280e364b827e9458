"""Command line: ``python -m mnist_nets`` / ``mnist-nets``.

Commands: ``data fetch``, ``specs``.
"""

from __future__ import annotations

import argparse
import sys

from mnist_nets.data import DataError, cache_dir, mnist_files
from mnist_nets.specs import SpecError, get_spec, list_specs


def _err(message: str) -> None:
    print(message, file=sys.stderr)


def cmd_data_fetch(args: argparse.Namespace) -> int:
    files = mnist_files(args.data_dir, log=_err)
    for name, path in files.items():
        print(f"{name}: {path}")
    print(f"MNIST verified (sha256); cache: {cache_dir()}", file=sys.stderr)
    return 0


def cmd_specs(args: argparse.Namespace) -> int:
    names = args.models or list_specs()
    for i, name in enumerate(names):
        spec = get_spec(name)
        if i:
            print()
        print(f"== {spec.name}: {spec.description}")
        print(spec.summary())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mnist-nets",
        description="The classic MNIST networks in numpy, PyTorch and TensorFlow.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="the MNIST files")
    data_sub = data.add_subparsers(dest="data_command", required=True)
    fetch = data_sub.add_parser("fetch", help="fetch and verify MNIST into the cache")
    fetch.add_argument("--data-dir", help="a directory holding the IDX files (raw or .gz)")
    fetch.set_defaults(func=cmd_data_fetch)

    specs = sub.add_parser("specs", help="the registered architectures")
    specs.add_argument("models", nargs="*", help=f"some of: {', '.join(list_specs())}")
    specs.set_defaults(func=cmd_specs)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (DataError, SpecError) as exc:
        _err(f"mnist-nets: error: {exc}")
        return 2
    except KeyboardInterrupt:
        _err("mnist-nets: interrupted")
        return 130
