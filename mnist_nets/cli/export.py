"""``export``: saved weights as a model file other programs can run (ONNX)."""

from __future__ import annotations

import argparse
import importlib.util
import os
from pathlib import Path

from mnist_nets.cli.common import (
    SystemFault,
    UsageError,
    check_out,
    escaped,
    os_reason,
    print_json,
)


def is_exported_model(path: Path) -> bool:
    """Whether ``path`` is a regular file holding an ONNX model written by ``export``."""
    from mnist_nets.onnx_export import META_SPEC

    if path.is_symlink() or not path.is_file():
        return False
    try:
        import onnx

        model = onnx.load(str(path), load_external_data=False)
    except Exception:  # whatever onnx makes of a file that is not a model
        return False
    return any(p.key == META_SPEC for p in model.metadata_props)


def cmd_export(args: argparse.Namespace) -> int:
    from mnist_nets.fileio import atomic_open
    from mnist_nets.params import load_weights

    spec, params, trained_on = load_weights(args.weights)
    if importlib.util.find_spec("onnx") is None:
        raise UsageError(
            "export needs the onnx package, which is not installed: "
            "`pip install -r requirements.txt`"
        )
    from mnist_nets.onnx_export import IR_VERSION, OPSET, model_bytes

    out = Path(args.out)
    exists = check_out(args.out, force=True, size_hint=4 * spec.param_count + 65536)
    if exists and not args.force and not is_exported_model(out):
        kind = (
            "a symbolic link"
            if out.is_symlink()
            else "not a regular file"
            if not out.is_file()
            else "not a model exported by mnist-nets"
        )
        raise UsageError(
            f"--out {args.out}: exists and is {kind}; refusing to replace it: choose another "
            "name, or add --force to replace it"
        )
    data = model_bytes(spec, params, dataset=trained_on)
    try:
        with atomic_open(out) as f:
            f.write(data)
    except OSError as exc:
        raise SystemFault(
            f"--out {args.out}: cannot write: {os_reason(exc)}; free space or choose a "
            "writable place"
        ) from None
    size = os.path.getsize(out)
    if args.json:
        print_json(
            {
                "weights": args.weights,
                "model": spec.name,
                "dataset": trained_on,
                "format": args.format,
                "out": args.out,
                "bytes": size,
                "opset": OPSET,
                "ir_version": IR_VERSION,
                "input": {"name": "pixels", "dtype": "float32", "shape": ["N", 28, 28]},
                "output": {"name": "logits", "dtype": "float32", "shape": ["N", 10]},
            }
        )
        return 0
    print(
        f"{escaped(spec.name)} weights from {escaped(args.weights)} exported to "
        f"{escaped(args.out)} ({size:,} bytes): ONNX opset {OPSET}, input 'pixels' float32 "
        "(N, 28, 28) raw pixel values 0-255, output 'logits' float32 (N, 10)"
    )
    return 0
