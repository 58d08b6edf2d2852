"""latte-vt: video clip classification and transaction scoring on one linear-time Latte backbone."""

from __future__ import annotations

import argparse
import importlib
import sys

from latte_vt import __version__
from latte_vt.commands import COMMAND_MODULES
from latte_vt.commands import lightning as lightning_commands


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="latte-vt", description=__doc__)
    parser.add_argument("--version", action="version", version=f"latte-vt {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(sub)
    parser.set_defaults(func=lambda args: parser.print_help() or 2)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in lightning_commands.HELP:  # LightningCLI parses these itself
        return lightning_commands.run(argv)
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
