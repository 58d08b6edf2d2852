"""A bundle whose exported graph fails parity is not written: the export fails (exit 1), only the parity report
is left next to --out, and an existing bundle there (--force) is kept as it was."""

import json

import pytest
import torch
from video_checkpoint import save_video_checkpoint

from latte_vt.backbone import LatteConfig
from latte_vt.cli import main
from latte_vt.export import parity
from latte_vt.export.checkpoint import export_checkpoint
from latte_vt.export.parity import ParityError
from latte_vt.runtime import Bundle
from latte_vt.tasks.video import VideoClassificationTask


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    task = VideoClassificationTask(
        num_classes=3,
        classes=["a", "b", "c"],
        encoder=LatteConfig(dim=16, depth=1, heads=2, latents=4),
        num_frames=4,
        image_size=32,
    )
    data = {"num_frames": 4, "size": 32, "num_clips": 1, "eval_stride": 1}
    return save_video_checkpoint(task, tmp_path_factory.mktemp("parity") / "model.ckpt", data)


def _failed_report(report):
    checks = json.loads(report.read_text())
    assert checks["ok"] is False and checks["tolerances"]["full"] == -1.0
    assert checks["full"] and not any(c["ok"] for c in checks["full"])
    return checks


def test_failed_parity_writes_no_bundle(checkpoint, tmp_path, monkeypatch, capsys):
    out, report = tmp_path / "bundle", tmp_path / "bundle.parity.json"
    monkeypatch.setattr(parity, "FULL_TOL", -1.0)  # no graph meets a negative tolerance: every check fails
    with pytest.raises(ParityError, match="bundle not written"):
        export_checkpoint(checkpoint, out)
    assert sorted(p.name for p in tmp_path.iterdir()) == [report.name]  # no bundle, no .partial
    _failed_report(report)
    report.unlink()
    assert main(["export", "--checkpoint", str(checkpoint), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "parity failed, bundle not written;" in err and str(report) in err
    assert sorted(p.name for p in tmp_path.iterdir()) == [report.name]
    _failed_report(report)


def test_failed_parity_keeps_the_existing_bundle(checkpoint, tmp_path, monkeypatch, capsys):
    out, report = tmp_path / "bundle", tmp_path / "bundle.parity.json"
    assert main(["export", "--checkpoint", str(checkpoint), "--out", str(out)]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    monkeypatch.setattr(parity, "FULL_TOL", -1.0)
    assert main(["export", "--checkpoint", str(checkpoint), "--out", str(out), "--force"]) == 1
    assert f"({out} left as it was)" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert Bundle.load(out).task == "video"
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name, report.name]
    _failed_report(report)
    monkeypatch.undo()  # a later export that passes replaces the bundle and drops the stale report
    assert main(["export", "--checkpoint", str(checkpoint), "--out", str(out), "--force"]) == 0
    assert not report.exists() and json.loads((out / "manifest.json").read_text())["parity"]["ok"]
