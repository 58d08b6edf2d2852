"""``latte-vt serve --bundle B [--host 127.0.0.1] [--port 8000] [--state PATH] [--token-file F]``: HTTP live scoring.

``POST /score`` (one event or a list), ``GET /health``, ``GET /metrics`` (Prometheus), with the same
durable SQLite state as ``latte-vt stream`` (see ``latte_vt.runtime.serve``).  With ``--token-file`` every
endpoint but ``GET /health`` needs ``Authorization: Bearer <token>``; a non-loopback ``--host`` needs one.
Needs ``pip install "latte-vt[serve]"``.
"""

from __future__ import annotations

import argparse
import ipaddress
import sys
from pathlib import Path

from latte_vt.errors import InputError


def is_loopback(host: str) -> bool:
    """Whether ``host`` is ``localhost`` or a loopback address (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def read_token(path: str) -> str:
    """The bearer token in ``path`` (surrounding whitespace stripped); InputError if unreadable or empty."""
    try:
        token = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"--token-file {path}: cannot read the token ({exc})") from None
    if not token:
        raise InputError(f"--token-file {path}: the file is empty")
    return token


def run(args: argparse.Namespace) -> int:
    from latte_vt.runtime.serve import MAX_BATCH_EVENTS, ScoringService, require_serve, serve

    token = read_token(args.token_file) if args.token_file is not None else None
    if token is None and not is_loopback(args.host):
        raise InputError(
            f"--host {args.host} is not a loopback address: serving beyond this machine needs --token-file"
        )
    try:
        require_serve()
    except ImportError as exc:  # fastapi/uvicorn not installed: the message says what to install
        print(f"error: {exc}", file=sys.stderr)
        return 2
    service = ScoringService(
        args.bundle, args.state, args.checkpoint_every, args.threads,
        MAX_BATCH_EVENTS if args.max_batch is None else args.max_batch,
        args.batch_wait_ms,
    )  # fmt: skip
    print(f"serve: bundle {service.scorer.bundle_id} ({args.bundle}), state {args.state}", file=sys.stderr)
    serve(service, args.host, args.port, token)
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
    parser.add_argument(
        "--max-batch",
        type=int,
        help="group commit: most queued events scored and committed together (default 512)",
    )
    parser.add_argument(
        "--batch-wait-ms",
        type=float,
        default=0.0,
        help="group commit: how long a batch waits for more requests (default 0: it takes those already queued)",
    )
    parser.add_argument("--threads", type=int, default=1, help="onnxruntime threads")
    parser.add_argument(
        "--token-file",
        help="file holding a bearer token: every endpoint but GET /health then needs 'Authorization: Bearer "
        "<token>' (required with a non-loopback --host)",
    )
    parser.set_defaults(func=run)
