"""``latte-vt stream``: JSON events in (one per line), JSON scores out, exactly once across crashes.

Every ``checkpoint_every`` lines the job flushes and fsyncs the scores and rejects files, then writes the
changed entity states together with the input, output and rejects byte offsets in ONE SQLite transaction
(``SQLiteStateStore.checkpoint``).  On start it reads that checkpoint, truncates the scores and rejects
files to the recorded offsets (dropping whatever a killed run wrote after its last checkpoint), seeks the
input to the recorded offset and goes on: killed at any moment (even SIGKILL) and restarted, its output
equals an uninterrupted run's, with no event lost or applied twice.

* Standard input cannot be rewound: on resume the producer must replay from the recorded byte offset
  (logged on start), or say where its replay starts with ``input_start_offset``; the job then skips the
  bytes it has already applied.  A replay that starts after the recorded offset is refused (events would
  be lost).
* Standard output cannot be truncated: after a crash, the scores written since the last checkpoint are
  written again (the same lines).  Write to a file for exactly-once output.
* A bad line (invalid JSON, not an object, missing field, unreadable value, late event) goes to the
  rejects file with its line number and reason; the stream goes on.  SIGTERM/SIGINT: finish the current
  micro-batch, checkpoint, exit 0.
"""

from __future__ import annotations

import io
import json
import math
import os
import select
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Future, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import islice
from json.encoder import encode_basestring_ascii
from pathlib import Path
from typing import IO, Any

from latte_vt.errors import InputError
from latte_vt.runtime.streaming import RejectedEventError, StreamingScorer, iso_times

STDIO = "-"
BATCH = 512  # most lines per micro-batch (from a pipe: only those already there, so an event never waits)
RAW_CHARS = 2000  # how much of a rejected line the rejects file keeps
JSON_TYPES = {list: "array", str: "string", int: "number", float: "number", bool: "boolean", type(None): "null"}
SCORE_LINE = '{{"line": {}, "event_id": {}, "entity": {}, "time": "{}+00:00", "score": {}}}\n'  # as json.dumps


class StreamError(InputError):
    """The stream cannot start or resume safely: the message says why and what to do."""


class _StopRequestedError(Exception):
    """Raised inside a blocking read of standard input when SIGTERM/SIGINT arrives."""


@dataclass
class StreamSummary:
    """What one run did (counts are for this run; ``events_applied`` is the store's all-time total)."""

    resumed_at_line: int = 0
    lines: int = 0
    scored: int = 0
    blank: int = 0
    rejected: Counter = field(default_factory=Counter)
    checkpoints: int = 0
    seconds: float = 0.0
    events_applied: int = 0
    stopped_by_signal: bool = False
    latencies_s: list[float] = field(default_factory=list)
    stages: Counter = field(default_factory=Counter)  # seconds: parse, write, commit (the scorer keeps the rest)

    def text(self) -> str:
        reasons = ", ".join(f"{k} {n}" for k, n in sorted(self.rejected.items())) or "none"
        rate = self.lines / max(self.seconds, 1e-9)
        start = f"resumed after line {self.resumed_at_line}" if self.resumed_at_line else "started at line 1"
        return (
            f"stream: {start}; read {self.lines} lines in {self.seconds:.1f} s ({rate:.0f}/s): "
            f"{self.scored} scored, {sum(self.rejected.values())} rejected ({reasons}), {self.blank} blank; "
            f"{self.checkpoints} checkpoints; {self.events_applied} events applied in total"
            + ("; stopped by signal" if self.stopped_by_signal else "")
        )


class _FileLines:
    """Lines of a file: every line is there at once."""

    def __init__(self, fh: IO[bytes]) -> None:
        self.fh = fh

    def readline(self) -> bytes:
        return self.fh.readline()

    def readlines(self, most: int) -> list[bytes]:
        """Up to ``most`` lines."""
        return list(islice(self.fh, most))

    def close(self) -> None:
        self.fh.close()


class _PipeLines:
    """Lines of a pipe (standard input): ``readline`` waits for the next line, ``readlines`` takes the lines
    behind it only if they have already arrived (so a micro-batch takes what is there and never waits for more)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buffer = bytearray()
        self.eof = False

    def _fill(self, wait: bool) -> None:
        if self.eof or (not wait and not select.select([self.fd], [], [], 0)[0]):
            return
        chunk = os.read(self.fd, 1 << 16)
        self.eof = not chunk
        self.buffer += chunk

    def readline(self) -> bytes:
        while b"\n" not in self.buffer and not self.eof:
            self._fill(wait=True)
        end = self.buffer.find(b"\n") + 1 or len(self.buffer)
        line = bytes(self.buffer[:end])
        del self.buffer[:end]
        return line

    def readlines(self, most: int) -> list[bytes]:
        """The next line (waiting for it) and those behind it already there, up to ``most``."""
        lines = [self.readline()]
        while lines[-1] and len(lines) < most and self._ready():
            lines.append(self.readline())
        return lines if lines[-1] else lines[:-1]

    def _ready(self) -> bool:
        if b"\n" not in self.buffer:
            self._fill(wait=False)
        return b"\n" in self.buffer or (self.eof and bool(self.buffer))

    def close(self) -> None:
        """Standard input stays open."""


def _stdin_lines() -> _FileLines | _PipeLines:
    """Standard input as lines: a pipe by its descriptor, or (in tests, embedded uses) a file-like object."""
    try:
        return _PipeLines(sys.stdin.buffer.fileno())
    except (AttributeError, OSError, io.UnsupportedOperation):
        return _FileLines(sys.stdin.buffer)


@dataclass(slots=True)
class _Line:
    number: int  # 1-based line number in the whole input
    text: str
    event: dict[str, Any] | None = None


class LiveStream:
    """One ``latte-vt stream`` run; ``run()`` returns its ``StreamSummary``.

    Args:
        scorer: a ``StreamingScorer`` whose store is durable (``store=state path``).
        input: an events file (JSONL) or ``"-"`` for standard input.
        output: the scores file (JSONL) or ``"-"`` for standard output.
        rejects: the rejects file (JSONL).
        checkpoint_every: lines between checkpoints.
        batch_size: most lines per micro-batch (default 512); from standard input only those already there.
        input_start_offset: standard input only: the byte offset of the original stream where the replay
            begins (default: the recorded offset, i.e. the producer replays exactly from there).
        record_latency: keep each event's seconds from being read to its score written (checkpoints included).
        progress: a progress bar (file input on a terminal).
    """

    def __init__(
        self,
        scorer: StreamingScorer,
        input: str | Path,
        output: str | Path,
        rejects: str | Path,
        checkpoint_every: int = 1000,
        batch_size: int | None = None,
        input_start_offset: int | None = None,
        record_latency: bool = False,
        progress: bool = True,
    ) -> None:
        if checkpoint_every < 1:
            raise StreamError(f"checkpoint_every must be >= 1, got {checkpoint_every}")
        if batch_size is not None and batch_size < 1:
            raise StreamError(f"batch_size (--batch) must be >= 1, got {batch_size}")
        self.scorer = scorer
        self.input, self.output, self.rejects = str(input), str(output), Path(rejects)
        self.checkpoint_every = checkpoint_every
        self.batch_size = BATCH if batch_size is None else batch_size
        self.input_start_offset = input_start_offset
        self.record_latency = record_latency
        self.progress = progress
        self.summary = StreamSummary()
        self._stop = False
        self._reading = False
        self._checkpointing: Future[None] | None = None  # the checkpoint being written in the background
        meta = scorer.store.meta
        self.offset = int(meta.get("input_offset", 0))  # input bytes consumed and applied
        self.line = int(meta.get("input_line", 0))  # input lines consumed and applied

    # -- opening ---------------------------------------------------------------------------------------

    def _open_input(self) -> _FileLines | _PipeLines:
        meta = self.scorer.store.meta
        if self.input == STDIO:
            start = self.offset if self.input_start_offset is None else self.input_start_offset
            if start > self.offset:
                raise StreamError(
                    f"standard input starts at byte {start}, but the state has applied only up to byte "
                    f"{self.offset}: the events in between would be lost; replay from byte {self.offset}"
                )
            if self.offset:
                print(
                    f"stream: resuming from standard input: it must replay the stream from byte {start} "
                    f"(bytes {start}..{self.offset} are skipped: already applied, through line {self.line})",
                    file=sys.stderr,
                )
            stdin = _stdin_lines()
            skipped = 0
            while skipped < self.offset - start:
                line = stdin.readline()
                if not line:
                    break
                skipped += len(line)
            if skipped != self.offset - start:
                raise StreamError(
                    f"standard input: skipping the {self.offset - start} bytes already applied did not end at a "
                    f"line boundary ({skipped} bytes); the replay does not match the stream the state was built from"
                )
            return stdin
        path = Path(self.input)
        if not path.is_file():
            raise StreamError(f"input {path}: no such file")
        name = str(path.resolve())
        if self.offset and meta.get("input") != name:
            raise StreamError(
                f"the state was built from input {meta.get('input')!r} up to byte {self.offset}; resume it with "
                f"that input, or give a new --state to start over on {name}"
            )
        size = path.stat().st_size
        if size < self.offset:
            raise StreamError(
                f"input {path} has {size} bytes, fewer than the {self.offset} the state has applied: "
                "it was truncated or replaced; give a new --state to start over"
            )
        fh = path.open("rb")
        fh.seek(self.offset)
        return _FileLines(fh)

    def _open_sink(self, target: str | Path, key: str) -> IO[bytes]:
        """A scores/rejects file cut back to the last checkpoint (standard output as is)."""
        if str(target) == STDIO:
            return sys.stdout.buffer
        path = Path(target)
        recorded = int(self.scorer.store.meta.get(key, 0))
        size = path.stat().st_size if path.exists() else 0
        if size < recorded:
            raise StreamError(
                f"{path} has {size} bytes, fewer than the {recorded} recorded at the last checkpoint: "
                "it was truncated or replaced; give a new --state to start over"
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        fh = path.open("r+b" if path.exists() else "w+b")
        fh.truncate(recorded)  # drop what a killed run wrote after its last checkpoint
        fh.seek(recorded)
        return fh

    # -- the loop --------------------------------------------------------------------------------------

    def run(self) -> StreamSummary:
        """Score the input to its end (or until SIGTERM/SIGINT), checkpointing as it goes."""
        from tqdm import tqdm

        began = time.perf_counter()
        self.summary.resumed_at_line = self.line
        source = self._open_input()
        scores = self._open_sink(self.output, "output_offset")
        rejects = self._open_sink(self.rejects, "rejects_offset")
        total = None if self.input == STDIO else Path(self.input).stat().st_size
        bar = tqdm(
            total=total, initial=self.offset, unit="B", unit_scale=True, desc="stream",
            disable=None if self.progress and total else True,
        )  # fmt: skip
        since_checkpoint = 0
        try:
            with self._signals_stop_the_loop():
                while not self._stop:
                    try:
                        lines, consumed = self._read_batch(source)
                    except _StopRequestedError:
                        break  # nothing of this batch was applied: the next run reads it again
                    if not lines:
                        break
                    start = time.perf_counter()
                    self._score(lines, scores, rejects)
                    self.offset += consumed
                    self.line = lines[-1].number
                    since_checkpoint += len(lines)
                    if since_checkpoint >= self.checkpoint_every:
                        self._checkpoint(scores, rejects)
                        since_checkpoint = 0
                    if self.record_latency:
                        self.summary.latencies_s += [time.perf_counter() - start] * sum(1 for x in lines if x.text)
                    bar.update(consumed)
                self._checkpoint(scores, rejects, durable=True)
        finally:
            if self._checkpointing is not None:
                wait([self._checkpointing])  # it fsyncs the files closed below
            bar.close()
            source.close()
            for fh in (scores, rejects):
                if fh is not sys.stdout.buffer:
                    fh.close()
        self.summary.seconds = time.perf_counter() - began
        self.summary.events_applied = self.scorer.events_applied
        self.summary.stopped_by_signal = self._stop
        return self.summary

    def _read_batch(self, source: _FileLines | _PipeLines) -> tuple[list[_Line], int]:
        """The next line (waiting for it) and those behind it already there, up to ``batch_size`` (blank ones
        included, with empty text), and their byte count."""
        self._reading = True  # from here a signal interrupts the read (see _signals_stop_the_loop)
        try:
            if self._stop:
                raise _StopRequestedError
            raws = source.readlines(self.batch_size)
        finally:
            self._reading = False
        first = self.line + 1
        lines = [_Line(first + i, raw.decode("utf-8", errors="replace").strip()) for i, raw in enumerate(raws)]
        return lines, sum(map(len, raws))

    def _score(self, lines: list[_Line], scores: IO[bytes], rejects: IO[bytes]) -> None:
        """Parse, score and write one micro-batch, in input order."""
        start = time.perf_counter()
        results: dict[int, float | RejectedEventError] = {}
        for line in lines:
            if not line.text:
                continue
            try:
                event = json.loads(line.text)
            except json.JSONDecodeError as exc:
                results[line.number] = RejectedEventError("invalid_json", f"not valid JSON ({exc})")
                continue
            if not isinstance(event, dict):
                kind = JSON_TYPES.get(type(event), type(event).__name__)
                results[line.number] = RejectedEventError("not_an_object", f"a JSON {kind}, not an object")
                continue
            line.event = event
        parsed = [x for x in lines if x.event is not None]
        scoring = time.perf_counter()
        outcomes, times = self.scorer.score_each_timed([x.event for x in parsed])
        writing = time.perf_counter()
        results |= dict(zip([x.number for x in parsed], outcomes, strict=True))
        iso = dict(zip([x.number for x in parsed], iso_times(times), strict=True))
        out: list[str] = []
        bad = bytearray()
        self.summary.lines += len(lines)
        for line in lines:
            if not line.text:
                self.summary.blank += 1
                continue
            result = results[line.number]
            event = line.event or {}
            if isinstance(result, RejectedEventError):
                self.summary.rejected[result.kind] += 1
                record = {"line": line.number, "event_id": event.get("event_id"), "kind": result.kind}
                record |= {"reason": str(result), "raw": line.text[:RAW_CHARS]}
                bad += json.dumps(record).encode() + b"\n"
            else:
                self.summary.scored += 1
                event_id, entity = _json(event.get("event_id")), encode_basestring_ascii(str(event["entity"]))
                out.append(SCORE_LINE.format(line.number, event_id, entity, iso[line.number], _json(result)))
        scores.write("".join(out).encode())
        rejects.write(bad)
        if scores is sys.stdout.buffer:
            scores.flush()  # a consumer on a pipe sees each score at once
        self.summary.stages["parse"] += scoring - start
        self.summary.stages["write"] += time.perf_counter() - writing

    def _checkpoint(self, scores: IO[bytes], rejects: IO[bytes], durable: bool = False) -> None:
        """Scores and rejects flushed, then the states with the input, scores and rejects offsets handed to the
        store: on its writer thread the two files are fsynced, then the checkpoint is written in one transaction,
        while the stream goes on (one checkpoint in flight; ``durable``: wait until it is on disk)."""
        start = time.perf_counter()
        if self._checkpointing is not None:
            self._checkpointing.result()  # the previous one is on disk (what failed raises here)
        for fh in (scores, rejects):
            fh.flush()
        meta: dict[str, Any] = {
            "input": STDIO if self.input == STDIO else str(Path(self.input).resolve()),
            "input_offset": self.offset,
            "input_line": self.line,
            "rejects_offset": rejects.tell(),
        }
        if scores is not sys.stdout.buffer:
            meta["output_offset"] = scores.tell()
        files = [fh.fileno() for fh in (scores, rejects) if fh is not sys.stdout.buffer]
        self._checkpointing = self.scorer.store.begin_checkpoint(meta, before=lambda: _fsync(files))
        if durable:
            self._checkpointing.result()
        self.summary.checkpoints += 1
        self.summary.stages["commit"] += time.perf_counter() - start

    @contextmanager
    def _signals_stop_the_loop(self) -> Iterator[None]:
        """SIGTERM/SIGINT end the loop after the current micro-batch (or at once while waiting for input)."""

        def stop(signum: int, frame: Any) -> None:
            self._stop = True
            if self._reading:
                raise _StopRequestedError

        if threading.current_thread() is not threading.main_thread():
            yield  # signal handlers can only be installed from the main thread
            return
        previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            yield
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)


def _fsync(descriptors: list[int]) -> None:
    for fd in descriptors:
        os.fsync(fd)


def _json(value: Any) -> str:
    """``json.dumps(value)``, with the common cases (a string, a finite float) without the encoder's overhead."""
    if type(value) is str:
        return encode_basestring_ascii(value)
    if type(value) is float and math.isfinite(value):
        return float.__repr__(value)
    return json.dumps(value)
