"""latte-vt: video clip classification and transaction scoring on one linear-time Latte backbone.

Exit codes: 0 success, 1 the work failed, 2 a usage error or bad input (the message names it).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from latte_vt import __version__
from latte_vt.commands import COMMAND_MODULES
from latte_vt.commands import lightning as lightning_commands
from latte_vt.errors import USAGE_EXIT, LatteError


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
    try:
        return args.func(args)
    except LatteError as exc:  # the one exit-code policy: bad input 2, failed work 1
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except (FileNotFoundError, FileExistsError, IsADirectoryError, NotADirectoryError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return USAGE_EXIT


if __name__ == "__main__":
    raise SystemExit(main())
