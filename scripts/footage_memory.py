"""Peak memory of ``latte-vt classify`` on a 10-minute 720p H.264 file (docs/video.md, "Long footage").

    python scripts/footage_memory.py [--workdir /tmp/footage-memory]

Writes the file (tests/predict/footage.py: 1280x720, 25 fps, AAC track) and a 2-second 160x120 reference clip
when missing, fits a 112-px, 16-frame patch model for 2 steps (the tiny test config at that size; weights do not
change memory) and exports it, then runs each classify command in a fresh process and prints a Markdown table of
the peak RSS each run reports (VmHWM) with the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
RUNS = [  # (run with, sampling label, classify options)
    ("bundle", "`--fps 1`, one pass", ["--fps", "1"]),
    ("bundle", "`--fps 1 --windows`", ["--fps", "1", "--windows"]),
    ("bundle", "`--fps 5`, one pass (capped at 1,024 frames)", ["--fps", "5"]),
    ("checkpoint", "`--fps 1`, one pass", ["--fps", "1"]),
    ("checkpoint", "`--fps 1 --windows`", ["--fps", "1", "--windows"]),
    ("checkpoint", "`--fps 5`, one pass (capped at 1,024 frames)", ["--fps", "5"]),
]


def run(*args: str) -> None:
    subprocess.run([sys.executable, *args], check=True, cwd=ROOT)


def fit_model(root: Path) -> tuple[Path, Path]:
    """The 112-px model's checkpoint and bundle under ``root`` (made once)."""
    sys.path.insert(0, str(ROOT / "tests" / "tasks"))
    from video_fit import tiny_config

    ckpt, bundle = root / "ckpt" / "best.ckpt", root / "bundle"
    if not bundle.exists():
        root.mkdir(parents=True, exist_ok=True)
        cfg_path = tiny_config(root, root / "data", max_epochs=1)
        cfg = yaml.safe_load(cfg_path.read_text())
        model, data = cfg["model"]["init_args"], cfg["data"]["init_args"]
        model.update(num_frames=16, image_size=112, patch=16, tubelet=2)
        model["encoder"] = {"dim": 128, "depth": 4, "heads": 4, "latents": 32, "pooling": "latent"}
        data.update(num_frames=16, size=112, num_clips=1, synthetic_frames=16, synthetic_size=128)
        cfg["trainer"]["max_steps"] = 2
        cfg_path.write_text(yaml.safe_dump(cfg))
        run("-m", "latte_vt.cli", "fit", "--config", str(cfg_path))
        run("-m", "latte_vt.cli", "export", "--checkpoint", str(ckpt), "--out", str(bundle))
    return ckpt, bundle


def peak_mib(kind: str, model: Path, video: Path, options: list[str], out: Path) -> float:
    run("-m", "latte_vt.cli", "classify", str(video), f"--{kind}", str(model), *options, "--output", str(out))
    return json.loads(out.read_text())["peak_rss_mib"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default="/tmp/footage-memory")
    work = Path(parser.parse_args().workdir)
    work.mkdir(parents=True, exist_ok=True)
    video, small = work / "720p_10min.mp4", work / "small.mp4"
    if not video.exists():
        run("tests/predict/footage.py", str(video))
    if not small.exists():
        run("tests/predict/footage.py", str(small), "--seconds", "2", "--width", "160", "--height", "120")
    models = dict(zip(("checkpoint", "bundle"), fit_model(work / "model112"), strict=True))
    load = os.getloadavg()[0]
    rows = ["| run with | sampling | peak RSS | reference (2-s clip, default sampling) |", "|---|---|---:|---:|"]
    reference = {kind: peak_mib(kind, m, small, [], work / f"ref-{kind}.json") for kind, m in models.items()}
    for i, (kind, label, options) in enumerate(RUNS):
        peak = peak_mib(kind, models[kind], video, options, work / f"run-{i}.json")
        rows.append(f"| {kind} | {label} | {peak:,.0f} MiB | {reference[kind]:,.0f} MiB |")
    end = os.getloadavg()[0]
    print(f"latte-vt classify on {video.name}; 1-minute load {load:.2f} at the start, {end:.2f} at the end")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
