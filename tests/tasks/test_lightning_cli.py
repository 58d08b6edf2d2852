"""``latte-vt fit/test`` through LightningCLI: config by class_path, data_info linked into the model."""

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml
from toy_lightning import RankProbe, ToyClips

from latte_vt.cli import main
from latte_vt.tasks.video import VideoClassificationTask

ROOT = Path(__file__).resolve().parents[2]


def toy_config(tmp_path: Path, n: int = 8, callbacks: tuple[dict, ...] = (), **trainer: object) -> Path:
    """A fit config (written to ``tmp_path``): a tiny video task on ``ToyClips(n)``, checkpoints in
    ``tmp_path/ckpt``; ``callbacks`` are added, ``trainer`` adds or overrides trainer options."""
    config = {
        "seed_everything": 0,
        "trainer": {
            "max_epochs": 1,
            "default_root_dir": str(tmp_path),
            "enable_progress_bar": False,
            "logger": False,
            "callbacks": [
                {
                    "class_path": "lightning.pytorch.callbacks.ModelCheckpoint",
                    "init_args": {"dirpath": str(tmp_path / "ckpt")},
                },
                *callbacks,
            ],
            **trainer,
        },
        "model": {
            "class_path": "latte_vt.tasks.video.VideoClassificationTask",
            "init_args": {
                "num_frames": 4,
                "image_size": 32,
                "encoder": {"dim": 32, "depth": 1, "heads": 2, "latents": 8, "pooling": "mean"},
            },
        },
        "data": {"class_path": f"{ToyClips.__module__}.ToyClips", "init_args": {"n": n}},
    }
    path = tmp_path / "toy.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_fit_then_test_from_a_yaml_config(tmp_path):
    path = toy_config(tmp_path)
    assert main(["fit", "--config", str(path)]) == 0
    ckpts = list((tmp_path / "ckpt").glob("*.ckpt"))
    assert len(ckpts) == 1
    task = VideoClassificationTask.load_from_checkpoint(ckpts[0], weights_only=True)
    assert task.classes == ["left", "right"] and task.hparams.data_info["num_classes"] == 2
    assert main(["test", "--config", str(path), "--ckpt_path", str(ckpts[0])]) == 0


def test_ddp_on_two_cpu_processes_shards_the_data_and_syncs_weights_and_metrics(tmp_path):
    """Two gloo processes (strategy ddp on CPU): each validates its half of the clips, the synced val_top1 and
    the trained weights agree across ranks, and one checkpoint is written."""
    probe = {"class_path": f"{RankProbe.__module__}.RankProbe", "init_args": {"out": str(tmp_path)}}
    config = toy_config(tmp_path, 16, (probe,), accelerator="cpu", devices=2, strategy="ddp", num_sanity_val_steps=0)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-m", "latte_vt.cli", "fit", "--config", str(config)],
        capture_output=True, text=True, timeout=240, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["world_size"] for r in ranks] == [2, 2]
    assert [r["val_clips"] for r in ranks] == [8, 8]  # a distributed sampler: half of the 16 clips each
    assert ranks[0]["val_top1"] == ranks[1]["val_top1"]  # the metric is reduced over both processes
    assert ranks[0]["weights_sum"] == ranks[1]["weights_sum"]  # gradients were all-reduced
    assert [p.name for p in (tmp_path / "ckpt").glob("*.ckpt")] == ["epoch=0-step=2.ckpt"]


def test_no_config_hard_codes_where_checkpoints_or_logs_go():
    """``trainer.default_root_dir`` is the one place: no ``dirpath`` or ``save_dir`` in any config."""
    configs = sorted((ROOT / "configs").rglob("*.yaml"))
    assert len(configs) >= 3
    for path in configs:
        text = path.read_text()
        assert "dirpath" not in text and "save_dir" not in text, path


def test_fit_writes_checkpoints_and_logs_under_the_given_default_root_dir(tmp_path, monkeypatch):
    cwd, root = tmp_path / "cwd", tmp_path / "elsewhere"
    cwd.mkdir()
    monkeypatch.chdir(cwd)  # where the config's own runs/transactions-synthetic would land
    argv = ["fit", "--config", str(ROOT / "configs/transactions/synthetic.yaml")]
    argv += ["--trainer.default_root_dir", str(root)]
    argv += ["--trainer.max_epochs", "1", "--trainer.limit_train_batches", "2"]
    argv += ["--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false"]
    argv += ["--model.init_args.encoder", '{"dim": 16, "depth": 1, "heads": 2, "latents": 4}']
    argv += ["--data.init_args.paths", str(tmp_path / "data" / "events.parquet")]
    argv += ["--data.init_args.schema", str(ROOT / "configs/transactions/schema/synthetic.yaml")]
    argv += ["--data.init_args.accounts", "60", "--data.init_args.days", "20", "--data.init_args.window", "16"]
    argv += ["--data.init_args.stride", "16"]
    assert main(argv) == 0
    assert sorted(p.name for p in (root / "checkpoints").iterdir()) == ["best.ckpt", "last.ckpt"]
    assert list((root / "csv").rglob("metrics.csv")) and list((root / "tensorboard").rglob("events.out.tfevents*"))
    assert list((root / "csv").rglob("preprocessor.json"))
    assert list(cwd.iterdir()) == []  # nothing under runs/ (or anywhere else) of the working directory
