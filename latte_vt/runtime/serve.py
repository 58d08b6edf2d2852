"""``latte-vt serve``: HTTP scoring with the same durable per-entity state as ``latte-vt stream``.

* ``POST /score``: one event object or a JSON list of them -> HTTP 200 with ``results`` (one per event,
  in order: ``status`` ``scored`` with ``score``, or ``rejected`` with ``kind`` and ``reason``), ``scored``
  and ``rejected``.  A malformed body gets 422 with a one-line reason (see ``parse_events``); one over
  ``MAX_BODY_BYTES`` or ``MAX_EVENTS_PER_REQUEST`` gets 413.
* ``GET /health``: bundle id and path, state file, events applied (all time).
* ``GET /metrics``: Prometheus text: requests by status, events by result, checkpoints, request latency
  histogram.

With a token (``create_app(service, token)``), every endpoint but ``GET /health`` needs
``Authorization: Bearer <token>`` (401 otherwise).

One process writes the state (the store refuses a second one).  Group commit: concurrent requests queue
up and one writer thread scores those waiting as one batch, in arrival order (so an entity's events apply
in the order they arrived, and the outcomes equal one request at a time), with one checkpoint (one
transaction, one fsync) before any of the batch's replies is sent: with ``checkpoint_every`` 1 (the
default) a 200 means the request's events are on disk.  The states are also checkpointed on shutdown.
FastAPI and uvicorn are imported only here (``pip install "latte-vt[serve]"``); nothing imports torch.
"""

import asyncio
import bisect
import hmac
import json
import math
import queue
import re
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator
from concurrent.futures import Future
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from latte_vt.errors import InputError
from latte_vt.runtime.live_stream import JSON_TYPES
from latte_vt.runtime.streaming import RejectedEventError, StreamingScorer

MAX_EVENTS_PER_REQUEST = 10_000
MAX_BODY_BYTES = 16 * 2**20
MAX_BATCH_EVENTS = 512  # group commit: most events scored and committed together
INLINE_BODY_BYTES = 64 * 2**10  # smaller bodies are parsed on the event loop, larger ones in a worker thread
MAX_JSON_DEPTH = 4  # a list of events, an event, and two levels inside an (ignored) value
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_BRACKET = re.compile(r"[\[\]{}]")
LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class BadRequestError(InputError):
    """A request body that is not one event object or a list of them (HTTP 422), or too large (413)."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


def require_serve():
    """The fastapi module, or an ImportError saying how to install it."""
    try:
        import fastapi
    except ImportError as exc:
        raise ImportError('latte-vt serve needs FastAPI and uvicorn: pip install "latte-vt[serve]"') from exc
    return fastapi


def parse_events(body: bytes) -> list[dict[str, Any]]:
    """The events of a request body: one JSON object, or a list of objects.

    Raises ``BadRequestError`` (422) for a body that is not UTF-8, not JSON, nested deeper than
    ``MAX_JSON_DEPTH``, holding NaN/Infinity or an out-of-range number, or not an object / list of objects;
    413 for one over ``MAX_BODY_BYTES`` or ``MAX_EVENTS_PER_REQUEST``.
    """
    if len(body) > MAX_BODY_BYTES:
        raise BadRequestError(f"the body has {len(body)} bytes; at most {MAX_BODY_BYTES}", 413)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequestError(f"the body is not UTF-8 ({exc.reason} at byte {exc.start})") from None
    if _too_deep(text):
        raise BadRequestError(f"the body nests more than {MAX_JSON_DEPTH} levels of arrays/objects")
    try:
        payload = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except BadRequestError:
        raise
    except ValueError as exc:  # JSONDecodeError, or an integer beyond Python's digit limit
        raise BadRequestError(f"the body is not valid JSON ({exc})") from None
    events = payload if isinstance(payload, list) else [payload]
    if not isinstance(payload, list | dict):
        raise BadRequestError(f"expected an event object or a list of them, got a JSON {_json_type(payload)}")
    if len(events) > MAX_EVENTS_PER_REQUEST:
        raise BadRequestError(f"{len(events)} events in one request; at most {MAX_EVENTS_PER_REQUEST}", 413)
    for i, event in enumerate(events):
        if not isinstance(event, dict):
            raise BadRequestError(f"item {i} of the list is a JSON {_json_type(event)}, not an event object")
    return events


def _too_deep(text: str) -> bool:
    """Whether a JSON text nests brackets deeper than ``MAX_JSON_DEPTH`` (brackets in strings do not count)."""
    depth = 0
    for match in _BRACKET.finditer(_JSON_STRING.sub("", text)):
        depth += 1 if match.group() in "[{" else -1
        if depth > MAX_JSON_DEPTH:
            return True
    return False


def _refuse_constant(name: str) -> float:
    raise BadRequestError(f"the body holds {name}, which is not a JSON number")


def _finite_float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise BadRequestError(f"the number {literal[:40]} is out of range")
    return value


def _json_type(value: Any) -> str:
    return JSON_TYPES.get(type(value), type(value).__name__)


class Metrics:
    """Counters and a latency histogram, rendered in the Prometheus text format."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: Counter = Counter()  # by HTTP status
        self.events: Counter = Counter()  # "scored" or the reject kind
        self.latency_counts = [0] * (len(LATENCY_BUCKETS_S) + 1)  # the last one is +Inf
        self.latency_sum = 0.0

    def observe(self, status: int, seconds: float, results: list[dict[str, Any]]) -> None:
        with self._lock:
            self.requests[status] += 1
            self.events.update(r.get("kind", "scored") for r in results)
            self.latency_counts[bisect.bisect_left(LATENCY_BUCKETS_S, seconds)] += 1
            self.latency_sum += seconds

    def render(self, events_applied: int, checkpoints: int, batches: int, stages: dict[str, float]) -> str:
        with self._lock:
            lines = [
                "# HELP latte_vt_requests_total Scoring requests by HTTP status.",
                "# TYPE latte_vt_requests_total counter",
                *(f'latte_vt_requests_total{{status="{s}"}} {n}' for s, n in sorted(self.requests.items())),
                "# HELP latte_vt_events_total Events received, by result (scored or the reject reason).",
                "# TYPE latte_vt_events_total counter",
                *(f'latte_vt_events_total{{result="{k}"}} {n}' for k, n in sorted(self.events.items())),
                "# HELP latte_vt_events_applied Events applied to the entity states (all time, from the store).",
                "# TYPE latte_vt_events_applied gauge",
                f"latte_vt_events_applied {events_applied}",
                "# HELP latte_vt_checkpoints_total Durable checkpoints written by this process.",
                "# TYPE latte_vt_checkpoints_total counter",
                f"latte_vt_checkpoints_total {checkpoints}",
                "# HELP latte_vt_batches_total Batches of queued requests scored together (group commit).",
                "# TYPE latte_vt_batches_total counter",
                f"latte_vt_batches_total {batches}",
                "# HELP latte_vt_stage_seconds_total Writer time by stage: validate, state, encode, model, commit.",
                "# TYPE latte_vt_stage_seconds_total counter",
                *(f'latte_vt_stage_seconds_total{{stage="{k}"}} {v}' for k, v in sorted(stages.items())),
                "# HELP latte_vt_request_seconds Time to score a request (checkpoint included).",
                "# TYPE latte_vt_request_seconds histogram",
            ]
            cumulative = 0
            for bound, count in zip((*LATENCY_BUCKETS_S, "+Inf"), self.latency_counts, strict=True):
                cumulative += count
                lines.append(f'latte_vt_request_seconds_bucket{{le="{bound}"}} {cumulative}')
            lines.append(f"latte_vt_request_seconds_sum {self.latency_sum}")
            lines.append(f"latte_vt_request_seconds_count {cumulative}")
        return "\n".join(lines) + "\n"


@dataclass
class _Request:
    """Events of one request waiting for their batch, and where their outcomes go."""

    events: list[dict[str, Any]]
    future: Future = field(default_factory=Future)


class ScoringService:
    """The scorer, its durable store, the batching writer thread and the metrics behind the HTTP app.

    Group commit: concurrent requests queue up; one writer thread takes those waiting (up to
    ``max_batch_events`` events, waiting at most ``batch_wait_ms`` for more), scores them in arrival order
    with one ``score_each`` (one ``step.onnx`` call per wave), checkpoints once (one transaction, one fsync)
    and only then answers each request.  Outcomes equal scoring the requests one at a time in that order.

    Args:
        bundle: a transactions bundle with ``step.onnx``.
        state: the SQLite state file (shared format with ``latte-vt stream``).
        checkpoint_every: applied events between checkpoints (1 = every batch is durable before its replies).
        threads: onnxruntime threads.
        max_batch_events: most events per batch (a request is never split: a larger one forms its own batch).
        batch_wait_ms: how long a batch waits for more requests (0: it takes those already queued).
    """

    def __init__(
        self,
        bundle: str | Path,
        state: str | Path,
        checkpoint_every: int = 1,
        threads: int = 1,
        max_batch_events: int = MAX_BATCH_EVENTS,
        batch_wait_ms: float = 0.0,
    ) -> None:
        if checkpoint_every < 1 or max_batch_events < 1 or batch_wait_ms < 0:
            raise InputError(
                "need --checkpoint-every >= 1, --max-batch >= 1 and --batch-wait-ms >= 0; got "
                f"{checkpoint_every}, {max_batch_events} and {batch_wait_ms}"
            )
        self.bundle_path = Path(bundle)
        self.state = Path(state)
        self.scorer = StreamingScorer(bundle, threads=threads, store=state)
        self.checkpoint_every = checkpoint_every
        self.max_batch_events = max_batch_events
        self.batch_wait_s = batch_wait_ms / 1e3
        self.metrics = Metrics()
        self.checkpoints = 0
        self.batches = 0
        self.commit_seconds: Counter[str] = Counter()
        self._since_checkpoint = 0
        self._queue: queue.SimpleQueue[_Request | None] = queue.SimpleQueue()
        self._writer = threading.Thread(target=self._write_batches, name="latte-vt-serve-writer", daemon=True)
        self._writer.start()

    def submit(self, events: list[dict[str, Any]]) -> Future:
        """Queue events for the next batch; the future gets their outcomes once they are applied (and durable,
        with ``checkpoint_every=1``)."""
        request = _Request(events)
        self._queue.put(request)
        return request.future

    def score(self, body: bytes) -> tuple[int, dict[str, Any]]:
        """(HTTP status, JSON reply) for a ``POST /score`` body, waiting for its batch."""
        start = time.perf_counter()
        try:
            events = parse_events(body)
        except BadRequestError as exc:
            return self.refused(exc, start)
        return self.reply(events, self.submit(events).result(), start)

    def refused(self, exc: BadRequestError, start: float) -> tuple[int, dict[str, Any]]:
        """The reply to a malformed body (counted in the metrics)."""
        self.metrics.observe(exc.status, time.perf_counter() - start, [])
        return exc.status, {"detail": str(exc)}

    def reply(
        self, events: list[dict[str, Any]], outcomes: list[float | RejectedEventError], start: float
    ) -> tuple[int, dict[str, Any]]:
        """The reply to scored events (counted in the metrics)."""
        results = [_result(i, event, o) for i, (event, o) in enumerate(zip(events, outcomes, strict=True))]
        self.metrics.observe(200, time.perf_counter() - start, results)
        scored = sum(r["status"] == "scored" for r in results)
        return 200, {"results": results, "scored": scored, "rejected": len(results) - scored}

    def health(self) -> dict[str, Any]:
        return {
            "status": "ok",
            "bundle": self.scorer.bundle_id,
            "bundle_path": str(self.bundle_path),
            "state": str(self.state),
            "events_applied": self.scorer.events_applied,
        }

    def metrics_text(self) -> str:
        stages = {**self.scorer.stages, **self.commit_seconds}
        return self.metrics.render(self.scorer.events_applied, self.checkpoints, self.batches, stages)

    def close(self) -> None:
        """Answer what is queued, checkpoint what is pending and release the state file."""
        self._queue.put(None)
        self._writer.join()
        self._checkpoint()
        self.scorer.store.close()

    # -- the writer thread -----------------------------------------------------------------------------

    def _write_batches(self) -> None:
        """Take queued requests as batches until ``close``."""
        while (first := self._queue.get()) is not None:
            batch, size = [first], len(first.events)
            deadline = time.perf_counter() + self.batch_wait_s
            closing = False
            while size < self.max_batch_events:
                try:
                    wait = deadline - time.perf_counter()
                    request = self._queue.get(timeout=wait) if wait > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                if request is None:
                    closing = True
                    break
                batch.append(request)
                size += len(request.events)
            self._score_batch(batch)
            if closing:
                return

    def _score_batch(self, batch: list[_Request]) -> None:
        """Score a batch in arrival order, checkpoint, then hand each request its outcomes."""
        try:
            outcomes = self.scorer.score_each([e for request in batch for e in request.events])
            self._since_checkpoint += sum(not isinstance(o, RejectedEventError) for o in outcomes)
            if self._since_checkpoint >= self.checkpoint_every:
                self._checkpoint()
        except BaseException as exc:  # the requests fail (HTTP 500); the writer goes on
            for request in batch:
                request.future.set_exception(exc)
            return
        self.batches += 1
        start = 0
        for request in batch:
            request.future.set_result(outcomes[start : start + len(request.events)])
            start += len(request.events)

    def _checkpoint(self) -> None:
        start = time.perf_counter()
        self.scorer.checkpoint()
        self.checkpoints += 1
        self._since_checkpoint = 0
        self.commit_seconds["commit"] += time.perf_counter() - start


def _result(index: int, event: dict[str, Any], outcome: float | RejectedEventError) -> dict[str, Any]:
    result = {"index": index, "event_id": event.get("event_id"), "entity": event.get("entity")}
    if isinstance(outcome, RejectedEventError):
        return result | {"status": "rejected", "kind": outcome.kind, "reason": str(outcome)}
    return result | {"status": "scored", "score": outcome}


def authorized(header: str | None, token: str) -> bool:
    """Whether an ``Authorization`` header carries ``Bearer <token>`` (compared in constant time)."""
    supplied = (header or "").encode("latin-1", "replace")  # HTTP header values are latin-1
    return hmac.compare_digest(supplied, b"Bearer " + token.encode())


def create_app(service: ScoringService, token: str | None = None):
    """The FastAPI app over a ``ScoringService`` (closed, with a final checkpoint, on shutdown); with a
    ``token``, every endpoint but ``GET /health`` needs ``Authorization: Bearer <token>``."""
    fastapi = require_serve()  # no ``from __future__ import annotations`` here: FastAPI reads the annotations
    from fastapi.responses import JSONResponse, PlainTextResponse
    from starlette.concurrency import run_in_threadpool

    @asynccontextmanager
    async def lifespan(app) -> AsyncIterator[None]:
        yield
        service.close()

    app = fastapi.FastAPI(title="latte-vt serve", lifespan=lifespan)

    if token is not None:

        @app.middleware("http")
        async def require_token(request: fastapi.Request, call_next):
            public = request.method == "GET" and request.url.path == "/health"
            if not public and not authorized(request.headers.get("authorization"), token):
                detail = {"detail": "missing or wrong bearer token"}
                return JSONResponse(detail, status_code=401, headers={"WWW-Authenticate": "Bearer"})
            return await call_next(request)

    @app.post("/score")
    async def score(request: fastapi.Request) -> JSONResponse:
        """Score one event object or a list of them (each entity's events in order)."""
        start = time.perf_counter()
        body = await request.body()
        try:
            events = (
                parse_events(body) if len(body) <= INLINE_BODY_BYTES else await run_in_threadpool(parse_events, body)
            )
        except BadRequestError as exc:
            status, reply = service.refused(exc, start)
            return JSONResponse(reply, status_code=status)
        outcomes = await asyncio.wrap_future(service.submit(events))
        status, reply = service.reply(events, outcomes, start)
        return JSONResponse(reply, status_code=status)

    @app.get("/health")
    def health() -> dict[str, Any]:
        return service.health()

    @app.get("/metrics", response_class=PlainTextResponse)
    def metrics() -> str:
        return service.metrics_text()

    return app


def serve(
    service: ScoringService,
    host: str = "127.0.0.1",
    port: int = 8000,
    token: str | None = None,
    access_log: bool = False,
) -> None:
    """Run the app with uvicorn until SIGINT/SIGTERM (then checkpoint and exit); ``access_log`` logs every request
    (``GET /metrics`` counts them either way)."""
    app = create_app(service, token)
    import uvicorn

    uvicorn.run(app, host=host, port=port, log_level="info", access_log=access_log)
