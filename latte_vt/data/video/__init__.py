"""Video data: decord reader, subprocess probe, clip sampling, transforms, datasets, file checks.

Modules: ``reader`` (decode frames, ``VideoReadError``), ``probe`` (decode in subprocesses with a
timeout), ``sampling`` (which frames make a clip), ``spec`` (``ClipSpec``: the evaluation preprocessing spec),
``preprocess`` (``ClipPreprocess``: resize, crop, normalise; exported inside ``model.onnx``),
``transforms`` (training augmentation; evaluation through ``ClipPreprocess``),
``sources`` (clip lists from a folder tree or CSV/TSV), ``datasets`` (``VideoClipDataset``),
``check`` (``latte-vt video-check``), ``writer`` (encode clips with PyAV).

Names are imported on first use, so ``import latte_vt.data.video.reader`` loads neither torch nor
torchvision (the probe worker relies on this to start fast).
"""

from __future__ import annotations

from latte_vt.lazy import lazy_getattr

_EXPORTS = {
    "VideoInfo": "reader",
    "VideoReadError": "reader",
    "open_video": "reader",
    "read_frames": "reader",
    "video_info": "reader",
    "probe": "reader",
    "ProbeResult": "probe",
    "ProbeWorker": "probe",
    "probe_many": "probe",
    "ClipSampler": "sampling",
    "train_clip_indices": "sampling",
    "eval_clip_indices": "sampling",
    "VideoTransform": "transforms",
    "ClipSpec": "spec",
    "ClipPreprocess": "preprocess",
    "Sample": "sources",
    "list_samples": "sources",
    "load_classes": "sources",
    "save_classes": "sources",
    "VideoClipDataset": "datasets",
    "collate_valid": "datasets",
    "write_video": "writer",
}

__all__ = sorted(_EXPORTS)

__getattr__ = lazy_getattr(__name__, _EXPORTS)
