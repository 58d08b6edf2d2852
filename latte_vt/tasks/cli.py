"""``latte-vt fit|validate|test|predict --config X.yaml``: LightningCLI over the task modules.

Model and data are chosen by ``class_path`` in the config (``configs/video/*.yaml``,
``configs/transactions/*.yaml``).  What the model must know about the data (class names, vocabulary
sizes) flows from the data module's ``data_info`` into the model's ``data_info`` argument when both
are instantiated, and is saved with the checkpoint.

Everything a run writes goes under ``trainer.default_root_dir`` (the one place a config names it): unless
the config names its own loggers, metrics go to CSV (``csv/version_N/``) and TensorBoard (``tensorboard/``)
there, and a ``ModelCheckpoint`` without ``dirpath`` saves to ``<default_root_dir>/checkpoints/`` (not into a
logger's numbered version folder).
"""

from __future__ import annotations

import os

import lightning as L
from lightning.pytorch.cli import LightningCLI
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

SUBCOMMANDS = ("fit", "validate", "test", "predict")


class LatteLightningCLI(LightningCLI):
    """LightningCLI with the data -> model link every latte_vt task uses."""

    def add_arguments_to_parser(self, parser) -> None:
        parser.link_arguments(
            "data", "model.init_args.data_info", compute_fn=lambda dm: dm.data_info, apply_on="instantiate"
        )

    def instantiate_trainer(self, **kwargs) -> L.Trainer:
        """The trainer, with the default loggers under ``default_root_dir`` unless the config names its own, and
        checkpoint callbacks without ``dirpath`` saving to ``<default_root_dir>/checkpoints``."""
        config = self.config_init[self.subcommand].trainer
        if config.logger in (None, True):
            root = config.default_root_dir or os.getcwd()
            kwargs["logger"] = [CSVLogger(root, name="csv"), TensorBoardLogger(root, name="tensorboard")]
        trainer = super().instantiate_trainer(**kwargs)
        for callback in trainer.checkpoint_callbacks:
            if callback.dirpath is None:
                callback.dirpath = os.path.join(trainer.default_root_dir, "checkpoints")
        return trainer


def run_lightning(argv: list[str]) -> int:
    """Hand ``argv`` (starting with the subcommand) to LightningCLI."""
    LatteLightningCLI(
        L.LightningModule,
        L.LightningDataModule,
        subclass_mode_model=True,
        subclass_mode_data=True,
        args=argv,
        save_config_kwargs={"overwrite": True},
    )
    return 0
