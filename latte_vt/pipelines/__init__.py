"""Batch jobs over many clips or events (``latte-vt run pipelines/<job>.yaml``), on one machine or on Ray.

A job is a YAML spec (``JobSpec``); its work is cut into shards, each written atomically to the output
folder, so a rerun skips the finished shards.  See docs/pipelines.md.
"""

from __future__ import annotations

from latte_vt.lazy import lazy_getattr

_EXPORTS = {
    "JobSpec": "spec",
    "SpecError": "spec",
    "load_spec": "spec",
    "run_job": "runner",
    "JobSummary": "summary",
}

__all__ = sorted(_EXPORTS)

__getattr__ = lazy_getattr(__name__, _EXPORTS)
