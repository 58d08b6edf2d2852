"""``latte-vt export``: a training checkpoint (either task) -> a verified ONNX bundle."""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from latte_vt.data.video.spec import ClipSpec
from latte_vt.export import DEFAULT_OPSET
from latte_vt.export.bundle import export_transaction_bundle, export_video_bundle
from latte_vt.tasks.checkpoint import CheckpointError, load_checkpoint

PARITY_CLIPS = 4
PARITY_ENTITIES = 8
PARITY_EVENTS = 256


def _video_val_samples(dm: dict[str, Any]) -> list[tuple[str, str]] | None:
    """(path, label) of the checkpoint's validation clips, or None when its data root is not here."""
    from latte_vt.data.video.sources import list_samples, split_source

    root = dm.get("root")
    if root is None or not Path(root).is_dir():
        return None
    return [(str(s.path), s.label) for s in list_samples(split_source(root, "val"))]


def _transaction_val_events(dm: dict[str, Any], info: dict[str, Any]):
    """The checkpoint's validation-period events (canonical frame), or None when its event files are not here."""
    import polars as pl

    from latte_vt.data.transactions import resolve_paths
    from latte_vt.data.transactions.schema import load_schema
    from latte_vt.data.transactions.validate import load_events

    if "paths" not in dm or "val_start" not in info:
        return None
    try:
        resolve_paths(dm["paths"])
    except FileNotFoundError:
        return None
    events = load_events(dm["paths"], load_schema(info["schema"])).events
    start, end = dt.datetime.fromisoformat(info["val_start"]), dt.datetime.fromisoformat(info["test_start"])
    return events.filter((pl.col("time") >= start) & (pl.col("time") < end))


def _real_clips(samples: list[tuple[str, str]] | None, spec: ClipSpec) -> list[np.ndarray]:
    """The first readable validation clips' views at native resolution (V, T, H, W, 3), for parity."""
    from latte_vt.data.video.reader import VideoReadError
    from latte_vt.predict.clips import decode_clips

    clips = []
    for path, _ in samples or []:
        try:
            clips.append(decode_clips(path, spec))
        except VideoReadError:  # a bad validation file is not a parity input; the next one is
            continue
        if len(clips) == PARITY_CLIPS:
            break
    return clips


def _real_histories(events, preprocessor_json: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Encoded histories (the last ``PARITY_EVENTS`` events) of a few validation-period entities, one
    left-padded batch (cat, num, mask), for parity; None without events."""
    from latte_vt.data.transactions.preprocess import FittedPreprocessor
    from latte_vt.predict.histories import pad_left
    from latte_vt.predict.transactions import encoded_arrays

    if events is None or events.height == 0:
        return None
    import polars as pl

    pre = FittedPreprocessor.load(preprocessor_json)
    entities = events["entity"].unique(maintain_order=True).head(PARITY_ENTITIES)
    chosen = events.filter(pl.col("entity").is_in(entities.implode()))
    encoded = pre.transform(chosen).group_by("entity", maintain_order=True).tail(PARITY_EVENTS)
    cat, num, lengths = encoded_arrays(encoded, pre)
    batch = pad_left(cat, num, lengths, np.arange(len(lengths)))
    return batch.cat, batch.num, batch.mask


def export_checkpoint(
    path: str | Path, out: str | Path, opset: int = DEFAULT_OPSET, force: bool = False, int8: bool = False
) -> Path:
    """Export a VideoClassificationTask or TransactionScoringTask checkpoint to ``out``; with ``int8`` also
    a dynamic-int8 graph, judged on the checkpoint's validation data. Parity is checked on random inputs
    and, when the checkpoint's data is on this machine, on real validation clips / histories."""
    path, out = Path(path), Path(out)
    loaded = load_checkpoint(path)
    dm = loaded.datamodule_hparams
    if loaded.task == "video":
        spec = ClipSpec.from_checkpoint(loaded.raw)
        samples = _video_val_samples(dm)
        if int8 and samples is None:
            raise CheckpointError(
                f"{path}: --int8 needs the validation clips, but data root {dm.get('root')} is not here"
            )
        real = _real_clips(samples, spec)
        return export_video_bundle(
            loaded.module.model, loaded.module.classes, spec, out, opset, force, samples if int8 else None, real
        )
    if loaded.module.hparams.get("architecture", "latte") != "latte":
        raise CheckpointError(
            f"{path}: a {loaded.module.hparams['architecture']} baseline checkpoint; only Latte scorers export "
            "(their step graph needs the Latte state); score it with `latte-vt score --checkpoint` instead"
        )
    info = loaded.module.hparams["data_info"]
    events = _transaction_val_events(dm, info)
    if int8 and events is None:
        raise CheckpointError(f"{path}: --int8 needs the validation period, but the event files are not here")
    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "preprocessor.json"
        pre.write_text(json.dumps(info["preprocessor"]))
        real = _real_histories(events, pre)
        return export_transaction_bundle(
            loaded.module.model, pre, info["schema"], out, opset, force, events if int8 else None, real
        )
