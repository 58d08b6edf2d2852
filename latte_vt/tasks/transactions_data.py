"""Transaction DataModule: event files -> validated, encoded events -> training windows and full histories.

Loading happens once, on first use (``data_info`` is read when the CLI builds the model): the files are
validated with the schema (bad rows quarantined or fatal, per the schema's ``on_error``), cut by time
into train / val / test, and a ``FittedPreprocessor`` is fitted on the training period only. Its state
and the schema travel in ``data_info`` (so they are saved with the checkpoint and scoring can rebuild
them), and ``setup`` also writes them as JSON/YAML next to the logs.

Training uses windows of ``window`` events with stride ``stride`` per entity; validation and test
score each entity's full history (``eval_mode="history"``, as ``latte-vt score`` does) or windows.
When the data has a ``scenario`` column, batches carry ``scenario`` (B, W) int64 codes (-1 = padding)
into ``data_info["scenarios"]``, for per-scenario recall.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Literal

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from latte_vt.data.transactions import (
    EntitySequenceDataset,
    EventWindowDataset,
    FittedPreprocessor,
    collate_left_pad,
    load_events,
    load_schema,
    resolve_paths,
    split_bounds,
    split_cutoffs,
)

DEFAULT_SCHEMA = Path(__file__).resolve().parents[2] / "configs" / "transactions" / "schema" / "synthetic.yaml"
SCENARIO_COLUMN = "scenario"


class WithScenario(Dataset):
    """Adds ``scenario`` (W,) int64 codes (-1 on padding) to the items of a window/sequence dataset."""

    def __init__(self, dataset: Dataset, codes: np.ndarray) -> None:
        self.dataset, self.codes = dataset, torch.from_numpy(codes)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int) -> dict[str, Any]:
        item = self.dataset[i]
        row = item["row"]  # (W,)
        return item | {"scenario": torch.where(row >= 0, self.codes[row.clamp(min=0)], -1)}


class TransactionDataModule(L.LightningDataModule):
    """Event files (CSV/Parquet) for ``TransactionScoringTask``.

    Args:
        paths: event files, globs or folders.
        schema: schema YAML path (default: the synthetic generator's layout).
        window: W, events per training window.
        stride: S, new events per training window; each labelled event sees >= W - S events of history.
        batch_size: windows per training batch.
        eval_batch_size: entities (full histories) or windows per evaluation batch.
        eval_mode: ``history`` (each entity's full history, as scoring does) or ``windows``.
        num_workers: DataLoader worker processes.
        val_fraction: share of events (by time) in the validation period.
        test_fraction: share of events (by time) in the test period.
        min_freq: training-period events a categorical value needs for its own id.
        rejects_path: where quarantined rows go (default: ``rejects.parquet`` next to the logs).
        generate_if_missing: write synthetic data to ``paths`` (one file path) when it does not exist.
        accounts: generator option: number of accounts.
        days: generator option: days of history.
        seed: generator option: random seed.
    """

    def __init__(
        self,
        paths: str | list[str] = "data/transactions-synthetic/events.parquet",
        schema: str | None = None,
        window: int = 128,
        stride: int = 32,
        batch_size: int = 32,
        eval_batch_size: int = 64,
        eval_mode: Literal["history", "windows"] = "history",
        num_workers: int = 0,
        val_fraction: float = 0.15,
        test_fraction: float = 0.15,
        min_freq: int = 5,
        rejects_path: str | None = None,
        generate_if_missing: bool = False,
        accounts: int = 2000,
        days: int = 120,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if not 1 <= stride <= window:
            raise ValueError(f"need 1 <= stride <= window, got window={window}, stride={stride}")
        self.save_hyperparameters()
        self._prepared: dict[str, Any] | None = None

    def _generate(self) -> None:
        """Write synthetic events to ``paths`` when it names one missing file and generation is on."""
        paths = self.hparams.paths
        target = Path(paths if isinstance(paths, str) else paths[0])
        if target.exists() or not self.hparams.generate_if_missing:
            return
        if not isinstance(paths, str) and len(paths) != 1 or target.suffix not in (".parquet", ".csv"):
            raise FileNotFoundError(f"{paths}: missing; generate_if_missing needs one .parquet or .csv file path")
        from latte_vt.data.synthetic.transactions import TransactionSynthConfig, write_transactions

        cfg = TransactionSynthConfig(accounts=self.hparams.accounts, days=self.hparams.days, seed=self.hparams.seed)
        print(f"generating synthetic transactions into {target.parent} ({cfg.accounts} accounts, {cfg.days} days)")
        written = write_transactions(target.parent, cfg, target.suffix[1:])
        if written != target:
            raise FileNotFoundError(f"the generator wrote {written}, not {target}: name the file events{target.suffix}")

    def prepare(self) -> dict[str, Any]:
        """Load, validate, split and encode the events once; returns the prepared state."""
        if self._prepared is not None:
            return self._prepared
        self._generate()
        schema = load_schema(self.hparams.schema or DEFAULT_SCHEMA)
        result = load_events(resolve_paths(self.hparams.paths), schema, rejects_path=self.hparams.rejects_path)
        print(result.report.summary(), file=sys.stderr)
        val_start, test_start = split_cutoffs(result.events, self.hparams.val_fraction, self.hparams.test_fraction)
        pre = FittedPreprocessor.from_schema(schema, self.hparams.min_freq).fit(result.events, train_end=val_start)
        encoded = pre.transform(result.events)
        scenarios: list[str] = []
        codes = None
        if SCENARIO_COLUMN in encoded.columns:
            names = encoded[SCENARIO_COLUMN].cast(str).fill_null("<null>")
            scenarios = sorted(names.unique().to_list())
            codes = names.replace_strict(scenarios, list(range(len(scenarios)))).cast(int).to_numpy().astype(np.int64)
        self._prepared = {
            "schema": schema,
            "preprocessor": pre,
            "encoded": encoded,
            "rejects": result.rejects,
            "report": result.report,
            "cutoffs": (val_start, test_start),
            "scenarios": scenarios,
            "scenario_codes": codes,
        }
        return self._prepared

    @property
    def data_info(self) -> dict[str, Any]:
        """What the model needs (``vocab_sizes``, ``num_numeric``) and what scoring needs to rebuild the
        features (``preprocessor`` state, ``schema``), plus the split cutoffs and scenario names."""
        p = self.prepare()
        pre: FittedPreprocessor = p["preprocessor"]
        return {
            "vocab_sizes": pre.vocab_sizes,
            "num_numeric": len(pre.num_columns),
            "preprocessor": pre.to_dict(),
            "schema": p["schema"].to_dict(),
            "val_start": p["cutoffs"][0].isoformat(),
            "test_start": p["cutoffs"][1].isoformat(),
            "scenarios": p["scenarios"],
        }

    def setup(self, stage: str | None = None) -> None:
        p = self.prepare()
        trainer = self.trainer
        if trainer is not None and trainer.is_global_zero:
            out = Path(trainer.log_dir or trainer.default_root_dir)
            p["preprocessor"].save(out / "preprocessor.json")
            (out / "schema.yaml").write_text(_yaml(p["schema"].to_dict()))
            if p["rejects"].height and self.hparams.rejects_path is None:
                p["rejects"].write_parquet(out / "rejects.parquet")
                print(f"{p['rejects'].height} rejected rows written to {out / 'rejects.parquet'}", file=sys.stderr)

    def dataset(self, split: str) -> Dataset:
        """Training windows, or the val/test period as full histories or windows (``eval_mode``)."""
        p = self.prepare()
        pre: FittedPreprocessor = p["preprocessor"]
        start, end = split_bounds(split, *p["cutoffs"])
        args = (p["encoded"], pre.cat_columns, pre.num_columns)
        if split == "train" or self.hparams.eval_mode == "windows":
            data: Dataset = EventWindowDataset(*args, self.hparams.window, self.hparams.stride, start=start, end=end)
        else:
            data = EntitySequenceDataset(*args, start=start, end=end)
        return data if p["scenario_codes"] is None else WithScenario(data, p["scenario_codes"])

    def _loader(self, split: str) -> DataLoader:
        train = split == "train"
        windows = train or self.hparams.eval_mode == "windows"
        return DataLoader(
            self.dataset(split),
            batch_size=self.hparams.batch_size if train else self.hparams.eval_batch_size,
            shuffle=train,
            num_workers=self.hparams.num_workers,
            collate_fn=None if windows else collate_left_pad,
            persistent_workers=self.hparams.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train")

    def val_dataloader(self) -> DataLoader:
        return self._loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._loader("test")


def _yaml(mapping: dict[str, Any]) -> str:
    import yaml

    return yaml.safe_dump(mapping, sort_keys=False)
