"""Where clips and labels come from: a folder-per-class tree or a CSV/TSV of ``path,label``; class lists.

* Folder tree: ``ROOT/<label>/**/<clip>``; every file with a video suffix under a class folder is a
  sample. Other files are not samples; they are named in a warning (hidden files are ignored).
* CSV/TSV: a header with ``path`` and ``label`` columns (any order, extra columns ignored; tab
  separated when the suffix is ``.tsv`` or the header has tabs and no commas). Relative paths are
  relative to the CSV file. An empty path or label is an error naming the file and line.
* A dataset root with splits holds ``train.csv``/``val.csv``/``test.csv`` (or ``.tsv``) or
  ``train/``, ``val/``, ``test/`` folder trees (``split_source``), and optionally ``classes.txt``.
"""

from __future__ import annotations

import csv
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from latte_vt.data.video.reader import VIDEO_EXTENSIONS
from latte_vt.errors import InputError

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Sample:
    """One clip: its file, its label, and where that pairing came from (``file:line`` or the folder)."""

    path: Path
    label: str
    origin: str


def list_samples(source: str | Path) -> list[Sample]:
    """Samples of a folder-per-class tree or a CSV/TSV file, in a stable (sorted / file) order."""
    source = Path(source)
    if source.is_dir():
        return _from_tree(source)
    if source.is_file():
        return _from_table(source)
    raise FileNotFoundError(f"dataset source not found: {source} (expected a folder of class folders or a CSV/TSV)")


def _from_tree(root: Path) -> list[Sample]:
    samples: list[Sample] = []
    skipped: list[Path] = []
    for entry in sorted(root.iterdir()):
        if entry.name.startswith("."):
            continue
        if not entry.is_dir():
            skipped.append(entry)
            continue
        for file in sorted(p for p in entry.rglob("*") if p.is_file() and not p.name.startswith(".")):
            if file.suffix.lower() in VIDEO_EXTENSIONS:
                samples.append(Sample(file, entry.name, str(entry)))
            else:
                skipped.append(file)
    if skipped:
        examples = ", ".join(str(p) for p in skipped[:3])
        warnings.warn(
            f"{root}: {len(skipped)} file(s) outside class folders or without a video suffix are not samples "
            f"(e.g. {examples})",
            stacklevel=3,
        )
    if not samples:
        raise InputError(f"{root}: no video files found in class folders (expected {root}/<label>/<clip>.mp4)")
    return samples


def _from_table(table: Path) -> list[Sample]:
    with table.open(newline="", encoding="utf-8-sig") as fh:
        header = fh.readline()
        tab = table.suffix.lower() == ".tsv" or ("\t" in header and "," not in header)
        fh.seek(0)
        rows = csv.reader(fh, delimiter="\t" if tab else ",")
        columns = [c.strip().lower() for c in next(rows, [])]
        missing = [c for c in ("path", "label") if c not in columns]
        if missing:
            raise InputError(f"{table}: the header must name 'path' and 'label'; missing {missing}, found {columns}")
        ip, il = columns.index("path"), columns.index("label")
        samples = []
        for row in rows:
            line = rows.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(row) <= max(ip, il):
                raise InputError(f"{table}:{line}: expected at least {max(ip, il) + 1} fields, got {len(row)}")
            path, label = row[ip].strip(), row[il].strip()
            for name, value in (("path", path), ("label", label)):
                if not value:
                    raise InputError(f"{table}:{line}: empty '{name}'")
            samples.append(Sample(table.parent / path, label, f"{table}:{line}"))
    if not samples:
        raise InputError(f"{table}: no rows")
    return samples


def split_source(root: str | Path, split: str) -> Path:
    """The CSV/TSV file or folder tree of ``split`` (train/val/test) under a dataset root."""
    root = Path(root)
    candidates = [root / f"{split}.csv", root / f"{split}.tsv", root / split]
    for candidate in candidates:
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"{root}: no '{split}' split (looked for {', '.join(c.name for c in candidates)})")


def load_classes(path: str | Path) -> list[str]:
    """Class names from a text file, one per line, in index order."""
    names = [line.strip() for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    duplicates = sorted(name for name, count in Counter(names).items() if count > 1)
    if duplicates:
        raise InputError(f"{path}: duplicate class names {duplicates}")
    if not names:
        raise InputError(f"{path}: no class names")
    return names


def save_classes(path: str | Path, classes: Sequence[str]) -> Path:
    """Write class names one per line (index order); the inverse of ``load_classes``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{name}\n" for name in classes), encoding="utf-8")
    return path
