"""Benchmark outputs: a JSON file and a Markdown table next to it."""

from __future__ import annotations

import json
import platform
from pathlib import Path


def environment(device: str) -> dict:
    """Versions and hardware the figures were measured on."""
    import os

    import torch

    env = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": device,
    }
    if device.startswith("cuda") and torch.cuda.is_available():
        env["gpu"] = torch.cuda.get_device_name(0)
    return env


def markdown_table(headers: list[str], rows: list[list[object]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def write_outputs(payload: dict, markdown: str, json_path: Path, md_path: Path) -> None:
    json_path.parent.mkdir(parents=True, exist_ok=True)
    md_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(payload, indent=2) + "\n")
    md_path.write_text(markdown + "\n")


def fmt_seconds(s: float | None) -> str:
    if s is None:
        return "–"
    return f"{s * 1e3:.1f} ms" if s < 10 else f"{s:.1f} s"


def fmt_bytes(b: int | None) -> str:
    return "–" if b is None else f"{b / 2**20:.0f} MiB"


def fmt_ratio(r: float | None) -> str:
    return "–" if r is None else f"{r:.1f}×"
