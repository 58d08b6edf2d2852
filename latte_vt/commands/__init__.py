"""Subcommands of ``latte-vt``; each module has ``register(subparsers)``.

Modules here import only argparse-level code at import time; the work is imported inside each
command, so ``latte-vt --help`` stays fast and optional dependencies stay optional.
"""

COMMAND_MODULES = (
    "latte_vt.commands.bench",
    "latte_vt.commands.classify",
    "latte_vt.commands.data",
    "latte_vt.commands.models",
    "latte_vt.commands.lightning",
    "latte_vt.commands.export",
    "latte_vt.commands.quickstart",
    "latte_vt.commands.run",
    "latte_vt.commands.score",
    "latte_vt.commands.serve",
    "latte_vt.commands.stream",
    "latte_vt.commands.video_check",
)
