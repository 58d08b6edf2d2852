"""``latte-vt fit|validate|test|predict --config X.yaml``: LightningCLI over the task modules.

Model and data are chosen by ``class_path`` in the config (``configs/video/*.yaml``,
``configs/transactions/*.yaml``).  What the model must know about the data (class names, vocabulary
sizes) flows from the data module's ``data_info`` into the model's ``data_info`` argument when both
are instantiated, and is saved with the checkpoint.
"""

from __future__ import annotations

import lightning as L
from lightning.pytorch.cli import LightningCLI

SUBCOMMANDS = ("fit", "validate", "test", "predict")


class LatteLightningCLI(LightningCLI):
    """LightningCLI with the data -> model link every latte_vt task uses."""

    def add_arguments_to_parser(self, parser) -> None:
        parser.link_arguments(
            "data", "model.init_args.data_info", compute_fn=lambda dm: dm.data_info, apply_on="instantiate"
        )


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
