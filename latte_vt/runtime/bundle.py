"""The bundle format: a directory with ONNX graphs, ``preprocess.json`` and ``manifest.json``.

``manifest.json`` lists every file with its sha256, the graphs' inputs/outputs and axes, the opset,
package versions and the parity results measured at export.  ``Bundle.load`` refuses a bundle with a
missing file, a wrong hash or an opset this runtime does not run, naming the problem.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from latte_vt.errors import InputError
from latte_vt.runtime.sessions import cpu_session

FORMAT = "latte-vt-bundle"
FORMAT_VERSION = 3  # 2: video model.onnx takes any resolution; 3: transactions bundles have piece.onnx
SUPPORTED_OPSETS = range(18, 24)  # what the exporter writes and onnxruntime >= 1.20 runs


class BundleError(InputError):
    """A bundle that cannot be used: the message names the bundle and the problem."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _onnxruntime():
    try:
        import onnxruntime
    except ImportError as exc:
        raise ImportError("the runtime needs onnxruntime: pip install 'latte-vt[export]'") from exc
    return onnxruntime


@dataclass
class Bundle:
    """A verified bundle; ``session(name)`` opens ``<name>.onnx`` with onnxruntime."""

    root: Path
    manifest: dict[str, Any]
    preprocess: dict[str, Any]

    @classmethod
    def load(cls, root: str | Path, verify: bool = True) -> Bundle:
        root = Path(root)
        if not root.is_dir():
            raise BundleError(f"bundle {root}: not a directory")
        manifest_path = root / "manifest.json"
        if not manifest_path.is_file():
            raise BundleError(f"bundle {root}: manifest.json is missing")
        try:
            manifest = json.loads(manifest_path.read_text())
        except json.JSONDecodeError as exc:
            raise BundleError(f"bundle {root}: manifest.json is not valid JSON ({exc})") from exc
        if manifest.get("format") != FORMAT:
            raise BundleError(f"bundle {root}: not a {FORMAT} manifest")
        if manifest.get("format_version") != FORMAT_VERSION:
            raise BundleError(
                f"bundle {root}: format version {manifest.get('format_version')}, this runtime reads "
                f"{FORMAT_VERSION}: export the checkpoint again with this version (latte-vt export)"
            )
        opset = manifest.get("opset")
        if opset not in SUPPORTED_OPSETS:
            raise BundleError(
                f"bundle {root}: opset {opset} is not supported by this runtime "
                f"(supported {SUPPORTED_OPSETS.start}-{SUPPORTED_OPSETS.stop - 1})"
            )
        for name, entry in manifest.get("files", {}).items():
            path = root / name
            if not path.is_file():
                raise BundleError(f"bundle {root}: {name} is missing (listed in manifest.json)")
            if verify and sha256_of(path) != entry["sha256"]:
                raise BundleError(
                    f"bundle {root}: {name} does not match its sha256 in manifest.json (changed or corrupt)"
                )
        try:
            preprocess = json.loads((root / "preprocess.json").read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise BundleError(f"bundle {root}: preprocess.json is unreadable ({exc})") from exc
        return cls(root, manifest, preprocess)

    @property
    def task(self) -> str:
        return self.manifest["task"]

    def has(self, graph: str) -> bool:
        return f"{graph}.onnx" in self.manifest.get("files", {})

    def session(self, graph: str, threads: int | None = None):
        """An onnxruntime InferenceSession for ``<graph>.onnx`` (CPU)."""
        if not self.has(graph):
            raise BundleError(f"bundle {self.root}: it has no {graph}.onnx")
        ort = _onnxruntime()
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        return cpu_session(self.root / f"{graph}.onnx", options)


def open_bundle(bundle: Bundle | str | Path, task: str) -> Bundle:
    """A verified bundle of the expected task (``video`` or ``transactions``)."""
    bundle = bundle if isinstance(bundle, Bundle) else Bundle.load(bundle)
    if bundle.task != task:
        raise BundleError(f"bundle {bundle.root}: a {bundle.task!r} bundle, expected {task!r}")
    return bundle


def write_manifest(root: Path, manifest: dict[str, Any]) -> Path:
    """Add sha256 and size of every file listed in ``manifest['files']`` and write manifest.json."""
    for name in manifest["files"]:
        path = root / name
        manifest["files"][name] = {"sha256": sha256_of(path), "bytes": path.stat().st_size}
    out = root / "manifest.json"
    out.write_text(json.dumps({"format": FORMAT, "format_version": FORMAT_VERSION, **manifest}, indent=2) + "\n")
    return out
