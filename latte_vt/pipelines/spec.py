"""Job specs: a YAML file (``pipelines/<job>.yaml``) read into typed dataclasses, with ``--set a.b=value``
overrides.

Unknown keys, values of the wrong type and impossible settings are refused with a ``SpecError`` that
names the key (``model.bundel``, ``options.shards``) and lists the known ones.  Paths in a spec are
relative to the working directory the job is started from.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from latte_vt.errors import InputError
from latte_vt.predict.histories import MAX_BATCH_EVENTS

JOBS = ("score-transactions", "classify-videos")
ENGINES = ("local", "ray")
PRECISIONS = ("fp32", "int8")


class SpecError(InputError):
    """A job spec that cannot run: the message names the key and what is wrong with it."""


@dataclass(frozen=True)
class ModelSpec:
    """The model a job runs: exactly one of ``bundle`` or ``checkpoint``.

    Args:
        bundle: an ONNX bundle folder from ``latte-vt export`` (onnxruntime, no torch).
        checkpoint: a training checkpoint (.ckpt, run with torch; loaded with ``weights_only=True``).
        precision: ``fp32``, or ``int8`` for a bundle that holds ``model.int8.onnx``.
        threads: intra-op threads per worker (parallelism comes from the workers).
    """

    bundle: str | None = None
    checkpoint: str | None = None
    precision: str = "fp32"
    threads: int = 1

    def __post_init__(self) -> None:
        if (self.bundle is None) == (self.checkpoint is None):
            raise SpecError("model needs exactly one of `bundle` or `checkpoint`")
        if self.precision not in PRECISIONS:
            raise SpecError(f"model.precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.checkpoint is not None and self.precision != "fp32":
            raise SpecError("model.precision int8 needs a bundle (checkpoints run in fp32)")
        _at_least("model.threads", self.threads, 1)

    @property
    def path(self) -> str:
        return self.bundle if self.bundle is not None else self.checkpoint


@dataclass(frozen=True)
class RaySpec:
    """Where the Ray engine runs.

    Args:
        address: a running cluster (``auto``, ``ray://head:10001``); null starts a local one.
        num_cpus: CPUs of a local cluster (default: all of this machine's).
        cpus_per_shard: CPUs Ray reserves for each shard task.
    """

    address: str | None = None
    num_cpus: int | None = None
    cpus_per_shard: float = 1.0

    def __post_init__(self) -> None:
        if self.num_cpus is not None:
            _at_least("ray.num_cpus", self.num_cpus, 1)
        if not self.cpus_per_shard > 0:
            raise SpecError(f"ray.cpus_per_shard must be positive, got {self.cpus_per_shard}")


@dataclass(frozen=True)
class ScoreOptions:
    """Options of ``score-transactions``.

    Args:
        schema: schema YAML of the input's layout (default: the model's training schema).
        shards: hash buckets of the entity id; each entity's whole history is scored in one bucket,
            and one bucket's events must fit in a worker's memory (raise it for bigger inputs).
        max_batch_events: padded events per model call; a longer history is scored alone in pieces of this many
            events, carrying the model's state.
    """

    schema: str | None = None
    shards: int = 16
    max_batch_events: int = MAX_BATCH_EVENTS

    def __post_init__(self) -> None:
        _at_least("options.shards", self.shards, 1)
        _at_least("options.max_batch_events", self.max_batch_events, 1)


@dataclass(frozen=True)
class ClassifyOptions:
    """Options of ``classify-videos``.

    Args:
        shard_size: clips per shard (shards are chunks of the sorted file list).
        top_k: labels (and probabilities) per clip.
        batch_size: clips per model call.
        probe_timeout_s: test-decode each clip in a subprocess first, allowing this long (0: no probing;
            a clip that hangs or crashes the decoder then takes its worker down with it).
    """

    shard_size: int = 64
    top_k: int = 5
    batch_size: int = 8
    probe_timeout_s: float = 10.0

    def __post_init__(self) -> None:
        _at_least("options.shard_size", self.shard_size, 1)
        _at_least("options.top_k", self.top_k, 1)
        _at_least("options.batch_size", self.batch_size, 1)
        if self.probe_timeout_s < 0:
            raise SpecError(f"options.probe_timeout_s must be >= 0, got {self.probe_timeout_s}")


OPTIONS = {"score-transactions": ScoreOptions, "classify-videos": ClassifyOptions}


@dataclass(frozen=True)
class JobSpec:
    """One batch job.

    Args:
        job: ``score-transactions`` or ``classify-videos``.
        input: event files/globs/folders (CSV/Parquet), or a folder, glob or CSV/TSV of video files.
        output: the job folder (results, rejects, per-shard markers, summary.json).
        model: the model (see ``ModelSpec``).
        engine: ``local`` (this machine, a process pool) or ``ray`` (Ray Data; pip install "latte-vt[distributed]").
        workers: shards processed at once (0: one per CPU).
        overwrite: clear an output folder that holds another job's results (otherwise refused).
        ray: where the Ray engine runs (see ``RaySpec``).
        options: the job's own options (``ScoreOptions`` or ``ClassifyOptions``).
    """

    job: str
    input: tuple[str, ...]
    output: str
    model: ModelSpec
    engine: str = "local"
    workers: int = 0
    overwrite: bool = False
    ray: RaySpec = field(default_factory=RaySpec)
    options: ScoreOptions | ClassifyOptions | None = None

    def __post_init__(self) -> None:
        if self.job not in JOBS:
            raise SpecError(f"job must be one of {JOBS}, got {self.job!r}")
        if self.engine not in ENGINES:
            raise SpecError(f"engine must be one of {ENGINES}, got {self.engine!r}")
        if not self.input:
            raise SpecError("input needs at least one path")
        _at_least("workers", self.workers, 0)
        expected = OPTIONS[self.job]
        if self.options is None:
            object.__setattr__(self, "options", expected())
        elif not isinstance(self.options, expected):
            raise SpecError(f"options of {self.job} must be {expected.__name__}, got {type(self.options).__name__}")

    def to_dict(self) -> dict[str, Any]:
        """The YAML-ready mapping (``spec_from_dict(spec.to_dict()) == spec``)."""
        out = dataclasses.asdict(self)
        out["input"] = list(self.input)
        return out

    def absolute(self) -> JobSpec:
        """The same spec with every path absolute (workers may start in another directory)."""

        def full(path: str | None) -> str | None:
            return None if path is None else os.path.abspath(path)

        model = dataclasses.replace(self.model, bundle=full(self.model.bundle), checkpoint=full(self.model.checkpoint))
        options = self.options
        if isinstance(options, ScoreOptions):
            options = dataclasses.replace(options, schema=full(options.schema))
        inputs = tuple(full(p) for p in self.input)
        return dataclasses.replace(self, input=inputs, output=full(self.output), model=model, options=options)


def _at_least(key: str, value: int, low: int) -> None:
    if value < low:
        raise SpecError(f"{key} must be >= {low}, got {value}")


def _coerce(value: Any, hint: Any, key: str) -> Any:
    """``value`` checked against a field's type hint (dataclass sections are built recursively)."""
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, Mapping):
            raise SpecError(f"{key} must be a mapping of {hint.__name__} keys, got {value!r}")
        return _build(hint, value, key)
    if typing.get_origin(hint) in (types.UnionType, typing.Union):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        return _coerce(value, next(t for t in options if t is not type(None)), key)
    if typing.get_origin(hint) is tuple:  # tuple[str, ...]: one string or a list of strings
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, Sequence) or not all(isinstance(v, str) for v in items):
            raise SpecError(f"{key} must be a string or a list of strings, got {value!r}")
        return tuple(items)
    if hint is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if hint is int and isinstance(value, bool):
        raise SpecError(f"{key} must be an integer, got {value!r}")
    if not isinstance(value, hint):
        raise SpecError(f"{key} must be {hint.__name__}, got {type(value).__name__} {value!r}")
    return value


def _build(cls: type, raw: Mapping[str, Any], where: str = "", label: str = "") -> Any:
    """A ``cls`` instance from a mapping; unknown keys, wrong types and bad values name their dotted key."""
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    prefix = f"{where}." if where else ""
    unknown = [k for k in raw if k not in names]
    if unknown:
        section = label or where or "top-level"
        raise SpecError(f"unknown key {prefix}{unknown[0]} (known {section} keys: {', '.join(names)})")
    values = {k: _coerce(v, hints[k], f"{prefix}{k}") for k, v in raw.items() if k != "options"}
    if cls is JobSpec:
        job = raw.get("job")
        if job not in JOBS:
            raise SpecError(f"job must be one of {JOBS}, got {job!r}")
        options = raw.get("options") or {}
        if not isinstance(options, Mapping):
            raise SpecError(f"options must be a mapping, got {options!r}")
        values["options"] = _build(OPTIONS[job], options, "options", f"{job} options")
    missing = [n for n in names if n not in values and _required(cls, n)]
    if missing:
        raise SpecError(f"missing key {prefix}{missing[0]}")
    return cls(**values)


def _required(cls: type, name: str) -> bool:
    f = next(f for f in dataclasses.fields(cls) if f.name == name)
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


def apply_overrides(raw: Mapping[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """A copy of ``raw`` with each ``a.b=value`` set (values parsed as YAML: numbers, true/false, null, lists)."""
    import copy

    import yaml

    out = copy.deepcopy(dict(raw))
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise SpecError(f"--set needs key=value (for example options.shards=8), got {item!r}")
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise SpecError(f"--set {item}: the value is not valid YAML ({exc})") from None
        parts = key.strip().split(".")
        node = out
        for depth, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            elif not isinstance(child, dict):
                raise SpecError(f"--set {item}: {'.'.join(parts[: depth + 1])} is a value, not a section")
            node = child
        node[parts[-1]] = value
    return out


def spec_from_dict(raw: Mapping[str, Any], overrides: Sequence[str] = ()) -> JobSpec:
    """A ``JobSpec`` from a parsed YAML mapping and ``--set`` overrides."""
    if not isinstance(raw, Mapping):
        raise SpecError(f"a job spec is a mapping of keys, got {type(raw).__name__}")
    return _build(JobSpec, apply_overrides(raw, overrides))


def load_spec(path: str | Path, overrides: Sequence[str] = ()) -> JobSpec:
    """Read a YAML job spec and apply ``--set`` overrides; ``SpecError`` names the file and the key."""
    import yaml

    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise SpecError(f"job spec not found: {path}") from None
    except yaml.YAMLError as exc:
        raise SpecError(f"{path}: not valid YAML: {exc}") from None
    try:
        return spec_from_dict(raw if raw is not None else {}, overrides)
    except SpecError as exc:
        raise SpecError(f"{path}: {exc}") from None
