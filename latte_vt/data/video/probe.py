"""Probe video files in worker subprocesses with a timeout, so a hanging or crashing decoder costs one file.

A ``ProbeWorker`` owns one long-lived Python subprocess (``python -m latte_vt.data.video.probe``)
that loads only numpy and decord (no torch: it starts in well under a second). Each request is one
JSON line; the parent waits at most ``timeout_s`` for the answer. On a timeout the worker is killed
and the file reported as hung; if the worker dies (a decoder segfault) the file is reported with the
exit code; either way the next file gets a fresh worker. ``probe_many`` runs several workers in
parallel behind a tqdm bar and keeps the input order.
"""

from __future__ import annotations

import json
import os
import queue
import select
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TextIO

from latte_vt.data.video import reader
from latte_vt.data.video.reader import VideoInfo, VideoReadError
from latte_vt.errors import InputError

_STARTUP_TIMEOUT_S = 120.0
_READY = "ready"


@dataclass(frozen=True)
class ProbeResult:
    """One probed file: ``info`` when it decodes, else ``reason``."""

    path: str
    info: VideoInfo | None
    reason: str | None

    @property
    def ok(self) -> bool:
        return self.info is not None


class ProbeWorker:
    """One probing subprocess, restarted after a timeout or crash. Use as a context manager."""

    def __init__(self, timeout_s: float = 10.0) -> None:
        if not timeout_s > 0:
            raise InputError(f"timeout_s must be positive, got {timeout_s}")
        self.timeout_s = timeout_s
        self._proc: subprocess.Popen[bytes] | None = None
        self._buffer = b""

    def __enter__(self) -> ProbeWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the subprocess (if any)."""
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            for pipe in (self._proc.stdin, self._proc.stdout):
                if pipe is not None:
                    pipe.close()
            self._proc = None
            self._buffer = b""

    def _start(self) -> subprocess.Popen[bytes]:
        package_root = str(Path(reader.__file__).resolve().parents[3])
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")])))
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "latte_vt.data.video.probe"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
        )  # fmt: skip
        if self._read_line(_STARTUP_TIMEOUT_S) != _READY:
            self.close()
            raise RuntimeError("the video probe worker did not start (needs decord: pip install 'latte-vt[video]')")
        return self._proc

    def _read_line(self, timeout_s: float) -> str | None:
        """One reply line, or None on timeout or end of stream."""
        assert self._proc is not None and self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        while b"\n" not in self._buffer:
            ready, _, _ = select.select([fd], [], [], timeout_s)
            if not ready:
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                return None
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line.decode()

    def probe(self, path: str | Path, decode: str = "ends") -> VideoInfo:
        """Open and test-decode ``path`` in the subprocess; ``VideoReadError`` with the reason if it fails."""
        proc = self._proc if self._proc is not None and self._proc.poll() is None else self._start()
        assert proc.stdin is not None
        try:
            proc.stdin.write((json.dumps({"path": str(path), "decode": decode}) + "\n").encode())
            proc.stdin.flush()
        except BrokenPipeError:
            self.close()
            raise VideoReadError(path, "the probe worker died before reading this file") from None
        line = self._read_line(self.timeout_s)
        if line is None:
            code = proc.poll()
            self.close()
            if code is None:
                raise VideoReadError(path, f"timed out after {self.timeout_s:g} s (the decoder hung)")
            raise VideoReadError(path, f"the decoder crashed (worker exit code {code})")
        reply = json.loads(line)
        if not reply["ok"]:
            raise VideoReadError(path, reply["reason"])
        return VideoInfo(**reply["info"])


def probe_many(
    paths: Sequence[str | Path],
    timeout_s: float = 10.0,
    workers: int = 2,
    decode: str = "ends",
    progress: bool = True,
) -> list[ProbeResult]:
    """Probe every path (``workers`` subprocesses in parallel); results in the order of ``paths``."""
    from tqdm import tqdm

    results: list[ProbeResult | None] = [None] * len(paths)
    todo: queue.Queue[int] = queue.Queue()
    for i in range(len(paths)):
        todo.put(i)
    bar = tqdm(total=len(paths), desc="probing videos", unit="file", disable=not progress)
    lock = threading.Lock()
    errors: list[BaseException] = []

    def work() -> None:
        try:
            with ProbeWorker(timeout_s) as worker:
                for i in _drain(todo):
                    try:
                        result = ProbeResult(str(paths[i]), worker.probe(paths[i], decode), None)
                    except VideoReadError as exc:
                        result = ProbeResult(str(paths[i]), None, exc.reason)
                    results[i] = result
                    with lock:
                        bar.update(1)
        except BaseException as exc:  # surfaced in the caller's thread below
            errors.append(exc)

    threads = [threading.Thread(target=work, daemon=True) for _ in range(max(1, min(workers, len(paths))))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    bar.close()
    if errors:
        raise errors[0]
    return [r for r in results if r is not None]


def _drain(todo: queue.Queue[int]) -> Iterator[int]:
    while True:
        try:
            yield todo.get_nowait()
        except queue.Empty:
            return


def _serve(requests: TextIO, replies: TextIO) -> None:
    """Worker loop: one JSON request per line in, one JSON reply per line out."""
    reader.TORCH_BEFORE_DECORD = False  # this process never loads torch
    replies.write(_READY + "\n")
    replies.flush()
    for line in requests:
        request = json.loads(line)
        try:
            info = reader.video_info(request["path"], request["decode"])
            reply = {"ok": True, "info": asdict(info)}
        except VideoReadError as exc:
            reply = {"ok": False, "reason": exc.reason}
        except Exception as exc:  # anything else is still this file's reason, not the worker's death
            reply = {"ok": False, "reason": f"{type(exc).__name__}: {exc}"}
        replies.write(json.dumps(reply) + "\n")
        replies.flush()


def _main() -> None:
    # Replies go to the original stdout; C libraries that print to fd 1 are sent to stderr instead.
    replies = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    _serve(sys.stdin, replies)


if __name__ == "__main__":
    _main()
