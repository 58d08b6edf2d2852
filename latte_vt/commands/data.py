"""``latte-vt data <generator>``: write synthetic datasets.

Each generator module provides ``add_arguments(parser)`` and ``run(args) -> int`` and must import
its heavy dependencies inside ``run``.
"""

from __future__ import annotations

import argparse
import importlib

GENERATORS = {
    # name: (module, help)
    "transactions-synthetic": ("latte_vt.data.synthetic.transactions", "card transactions with tagged fraud scenarios"),
    "video-synthetic": ("latte_vt.data.synthetic.video", "H.264 clips of time-reversed class pairs (temporal order)"),
}


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("data", help="generate synthetic datasets")
    data_sub = parser.add_subparsers(dest="generator", metavar="GENERATOR")
    parser.set_defaults(func=lambda args: parser.print_help() or 2)
    for name, (module_name, help_text) in GENERATORS.items():
        module = importlib.import_module(module_name)
        gen = data_sub.add_parser(name, help=help_text)
        module.add_arguments(gen)
        gen.set_defaults(func=module.run)
