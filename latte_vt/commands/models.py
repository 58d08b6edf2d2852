"""``latte-vt models``: the registered encoder sizes."""

from __future__ import annotations

import argparse


def run(args: argparse.Namespace) -> int:
    from latte_vt.backbone import list_models, model_config

    for name in list_models():
        cfg = model_config(name)
        print(f"{name:14s} dim={cfg.dim} depth={cfg.depth} heads={cfg.heads} latents={cfg.latents}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("models", help="list the registered encoder sizes")
    parser.set_defaults(func=run)
