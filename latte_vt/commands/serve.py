"""``latte-vt serve --bundle B [--host 127.0.0.1] [--port 8000] [--state PATH]``: HTTP live scoring.

``POST /score`` (one event or a list), ``GET /health``, ``GET /metrics`` (Prometheus), with the same
durable SQLite state as ``latte-vt stream`` (see ``latte_vt.runtime.serve``).  Needs
``pip install "latte-vt[serve]"``.
"""

from __future__ import annotations

import argparse
import sys


def run(args: argparse.Namespace) -> int:
    from latte_vt.runtime.serve import ScoringService, require_serve, serve

    try:
        require_serve()
    except ImportError as exc:  # fastapi/uvicorn not installed: the message says what to install
        print(f"error: {exc}", file=sys.stderr)
        return 2
    service = ScoringService(args.bundle, args.state, args.checkpoint_every, args.threads)
    print(f"serve: bundle {service.scorer.bundle_id} ({args.bundle}), state {args.state}", file=sys.stderr)
    serve(service, args.host, args.port)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("serve", help="HTTP live scoring (FastAPI): POST /score, GET /health, GET /metrics")
    parser.add_argument("--bundle", required=True, help="transactions bundle with step.onnx (latte-vt export)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--state", default="serve.state.sqlite", help="SQLite state file (default serve.state.sqlite)")
    parser.add_argument(
        "--checkpoint-every",
        type=int,
        default=1,
        help="applied events between durable checkpoints (default 1: each request is on disk before its reply)",
    )
    parser.add_argument("--threads", type=int, default=1, help="onnxruntime threads")
    parser.set_defaults(func=run)
