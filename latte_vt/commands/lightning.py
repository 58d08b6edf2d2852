"""``latte-vt fit|validate|test|predict``: training and evaluation through LightningCLI.

These four are handed to LightningCLI untouched (``latte-vt fit --help`` lists every option); the
parsers registered here only make them show up in ``latte-vt --help``.
"""

from __future__ import annotations

import argparse

HELP = {
    "fit": "train a model: latte-vt fit --config configs/<task>/<experiment>.yaml",
    "validate": "evaluate a checkpoint on the validation split (--ckpt_path)",
    "test": "evaluate a checkpoint on the test split (--ckpt_path)",
    "predict": "run a checkpoint over the predict split (--ckpt_path)",
}


def run(argv: list[str]) -> int:
    try:
        from latte_vt.tasks.cli import run_lightning
    except ImportError as exc:
        raise SystemExit(f"training needs Lightning: pip install 'latte-vt[video]' ({exc})") from exc
    return run_lightning(argv)


def register(sub: argparse._SubParsersAction) -> None:
    for name, text in HELP.items():
        sub.add_parser(name, help=text, add_help=False)
