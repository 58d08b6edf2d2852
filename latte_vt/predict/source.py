"""Which kind of model a path names: a bundle directory (onnxruntime) or a checkpoint file (torch)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from latte_vt.errors import InputError
from latte_vt.runtime.bundle import Bundle

ModelKind = Literal["bundle", "checkpoint"]


def model_kind(model: Bundle | str | Path, expect: ModelKind | None = None) -> ModelKind:
    """``bundle`` for a ``Bundle`` or a directory, ``checkpoint`` for a file. With ``expect`` (what the user
    said it is, e.g. ``--bundle``), anything else is an error saying what the path is instead."""
    if isinstance(model, Bundle):
        found: ModelKind | None = "bundle"
    else:
        path = Path(model)
        found = "bundle" if path.is_dir() else "checkpoint" if path.is_file() else None
    if found is not None and expect in (None, found):
        return found
    if expect == "checkpoint":
        what = "a directory (a bundle? use --bundle)" if found else "not found"
        raise InputError(f"checkpoint {model}: {what}" if found else f"checkpoint not found: {model}")
    if expect == "bundle":
        raise InputError(f"bundle {model}: " + ("a file, not a bundle directory" if found else "not found"))
    raise InputError(f"{model}: no such bundle directory or checkpoint file")
