"""``latte-vt export --checkpoint CKPT --out BUNDLE``: ONNX bundle with parity checks.

Exit codes (``cli.main``): 2 for bad input (checkpoint, preset, an existing bundle without ``--force``),
1 when the export fails (parity: no bundle is written)."""

from __future__ import annotations

import argparse
from pathlib import Path

from latte_vt.errors import InputError
from latte_vt.export import DEFAULT_OPSET


def run(args: argparse.Namespace) -> int:
    import yaml

    preset = {}
    if args.preset:
        preset = yaml.safe_load(Path(args.preset).read_text()) or {}
        unknown = set(preset) - {"opset", "int8"}
        if unknown:
            raise InputError(f"{args.preset}: unknown preset keys {sorted(unknown)} (known: opset, int8)")
    opset = args.opset or int(preset.get("opset", DEFAULT_OPSET))
    from latte_vt.export.checkpoint import export_checkpoint

    int8 = args.int8 or bool(preset.get("int8", False))
    out = export_checkpoint(args.checkpoint, args.out, opset=opset, force=args.force, int8=int8)
    print(f"bundle written: {out} (parity checks passed; see {out / 'manifest.json'})")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("export", help="checkpoint -> ONNX bundle that runs without torch")
    parser.add_argument("--checkpoint", required=True, help="a video or transaction training checkpoint (.ckpt)")
    parser.add_argument("--out", required=True, help="bundle directory to write")
    parser.add_argument("--opset", type=int, help=f"ONNX opset (default {DEFAULT_OPSET}, or the preset's)")
    parser.add_argument("--preset", help="YAML preset under export/ (e.g. export/default.yaml)")
    parser.add_argument("--force", action="store_true", help="replace an existing bundle")
    parser.add_argument(
        "--int8",
        action="store_true",
        help="also ship a dynamic-int8 graph if the task metric on the validation data drops <= 1 point",
    )
    parser.set_defaults(func=run)
