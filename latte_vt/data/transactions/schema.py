"""Event schema: which of the user's columns play which role, and what to do with bad rows.

A schema is plain YAML (or a dict), for example IBM TabFormer's layout::

    entity: [User, Card]                 # one column, or several joined with "|"
    time:
      parts: {year: Year, month: Month, day: Day, clock: Time}   # or: time: trans_date_trans_time
    amount: Amount                       # numbers, or strings such as "$1,234.50" / "$-12.00"
    categorical: [Use Chip, Merchant Name, Merchant City, Merchant State, Zip, MCC, Errors?]
    numeric: []
    label: Is Fraud?                     # bool, 0/1 or Yes/No; optional
    event_id: null                       # optional; generated as "<file>:<row>" when absent
    passthrough: []                      # columns carried through untouched (e.g. scenario)
    on_error: quarantine                 # or fail
    out_of_order: sort                   # or reject

``time`` is a column name, or a mapping with ``column`` and optional ``format`` (strptime, e.g.
``"%Y-%m-%d %H:%M:%S"``; default: ISO-like strings, detected per file), ``unit`` (``s``/``ms``/``us`` for
integer epochs) and ``timezone`` (the zone of naive timestamps, default UTC); or ``parts`` with
``year``, ``month``, ``day`` and optionally ``clock`` ("HH:MM" or "HH:MM:SS") or ``hour``/``minute``/
``second`` columns.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from latte_vt.errors import InputError

PART_KEYS = ("year", "month", "day", "clock", "hour", "minute", "second")
RESERVED = ("event_id", "entity", "time", "amount", "label", "source_file", "source_row", "file_index")
"""Canonical column names; feature and pass-through columns may not use them."""


class SchemaError(InputError):
    """The schema or a file's columns do not fit together (always fatal, whatever ``on_error`` says)."""


@dataclass(frozen=True)
class TimeSpec:
    """Where the event time comes from: one column, or date/time part columns."""

    column: str | None = None
    format: str | None = None
    unit: Literal["s", "ms", "us"] | None = None
    timezone: str = "UTC"
    parts: dict[str, str] | None = None

    def __post_init__(self) -> None:
        if (self.column is None) == (self.parts is None):
            raise SchemaError("time needs exactly one of `column` or `parts`")
        if self.parts is not None:
            unknown = set(self.parts) - set(PART_KEYS)
            missing = {"year", "month", "day"} - set(self.parts)
            if unknown or missing:
                raise SchemaError(
                    f"time.parts needs year, month, day (+ clock or hour/minute/second); "
                    f"missing {sorted(missing)}, unknown {sorted(unknown)}"
                )
            if "clock" in self.parts and {"hour", "minute", "second"} & set(self.parts):
                raise SchemaError("time.parts takes `clock` or hour/minute/second columns, not both")
        if self.unit not in (None, "s", "ms", "us"):
            raise SchemaError(f"time.unit must be s, ms or us, got {self.unit!r}")

    @property
    def columns(self) -> list[str]:
        return [self.column] if self.column is not None else list(self.parts.values())


@dataclass(frozen=True)
class EventSchema:
    """Roles of the user's columns, plus the bad-data policy.

    Args:
        entity: the entity id column(s) (card, account); several are joined with "|".
        time: where the event time comes from (see ``TimeSpec``).
        amount: the amount column (numbers, or currency strings).
        categorical: categorical feature columns (read as strings; nulls become the value "<null>").
        numeric: numeric feature columns (nulls and unparseable values are bad rows).
        label: optional label column (bool, 0/1, yes/no, true/false; null = unlabelled).
        event_id: optional event id column; absent: "<file>:<row>".
        passthrough: columns carried to the output untouched.
        on_error: ``fail`` raises on the first bad row, ``quarantine`` writes it to the rejects.
        out_of_order: an event earlier than one before it (same entity, input order) is ``sort``-ed
            into place and counted, or ``reject``-ed as a bad row.
    """

    entity: tuple[str, ...]
    time: TimeSpec
    amount: str
    categorical: tuple[str, ...] = ()
    numeric: tuple[str, ...] = ()
    label: str | None = None
    event_id: str | None = None
    passthrough: tuple[str, ...] = ()
    on_error: Literal["fail", "quarantine"] = "quarantine"
    out_of_order: Literal["sort", "reject"] = "sort"

    def __post_init__(self) -> None:
        if not self.entity:
            raise SchemaError("entity needs at least one column")
        if self.on_error not in ("fail", "quarantine"):
            raise SchemaError(f"on_error must be fail or quarantine, got {self.on_error!r}")
        if self.out_of_order not in ("sort", "reject"):
            raise SchemaError(f"out_of_order must be sort or reject, got {self.out_of_order!r}")
        outputs = [*self.categorical, *self.numeric, *self.passthrough]
        dupes = sorted({c for c in outputs if outputs.count(c) > 1})
        if dupes:
            raise SchemaError(f"columns listed twice among categorical/numeric/passthrough: {dupes}")
        clash = sorted(set(outputs) & set(RESERVED))
        if clash:
            raise SchemaError(f"categorical/numeric/passthrough columns may not be named {clash} (reserved)")

    @classmethod
    def from_dict(cls, config: Mapping[str, Any]) -> EventSchema:
        """Build from a parsed YAML mapping (see the module docstring for the keys)."""
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(config) - known
        if unknown:
            raise SchemaError(f"unknown schema keys {sorted(unknown)}; known: {sorted(known)}")
        for key in ("entity", "time", "amount"):
            if config.get(key) is None:
                raise SchemaError(f"schema needs `{key}`")
        time = config["time"]
        if isinstance(time, str):
            time = TimeSpec(column=time)
        elif isinstance(time, Mapping):
            unknown = set(time) - set(TimeSpec.__dataclass_fields__)
            if unknown:
                raise SchemaError(
                    f"unknown time keys {sorted(unknown)}; known: {sorted(TimeSpec.__dataclass_fields__)}"
                )
            time = TimeSpec(**{k: (dict(v) if k == "parts" else v) for k, v in time.items()})
        else:
            raise SchemaError(f"time must be a column name or a mapping, got {time!r}")
        return cls(
            entity=_names(config["entity"], "entity"),
            time=time,
            amount=str(config["amount"]),
            categorical=_names(config.get("categorical") or (), "categorical"),
            numeric=_names(config.get("numeric") or (), "numeric"),
            label=config.get("label"),
            event_id=config.get("event_id"),
            passthrough=_names(config.get("passthrough") or (), "passthrough"),
            on_error=config.get("on_error", "quarantine"),
            out_of_order=config.get("out_of_order", "sort"),
        )

    @classmethod
    def from_yaml(cls, path: str | Path) -> EventSchema:
        """Load from a YAML file; a top-level ``schema:`` key is accepted too."""
        import yaml

        try:
            config = yaml.safe_load(Path(path).read_text())
        except yaml.YAMLError as exc:
            raise SchemaError(f"{path}: not valid YAML: {exc}") from exc
        if isinstance(config, Mapping) and "schema" in config:
            config = config["schema"]
        if not isinstance(config, Mapping):
            raise SchemaError(f"{path}: expected a mapping of schema keys")
        try:
            return cls.from_dict(config)
        except (SchemaError, TypeError) as exc:
            raise SchemaError(f"{path}: {exc}") from exc

    def to_dict(self) -> dict[str, Any]:
        """The YAML-ready mapping (``from_dict(to_dict())`` round-trips)."""
        time = {k: v for k, v in vars(self.time).items() if v is not None and not (k == "timezone" and v == "UTC")}
        return {
            "entity": list(self.entity) if len(self.entity) > 1 else self.entity[0],
            "time": time["column"] if set(time) == {"column"} else time,
            "amount": self.amount,
            "categorical": list(self.categorical),
            "numeric": list(self.numeric),
            "label": self.label,
            "event_id": self.event_id,
            "passthrough": list(self.passthrough),
            "on_error": self.on_error,
            "out_of_order": self.out_of_order,
        }

    @property
    def source_columns(self) -> list[str]:
        """Every input column the schema reads, each once, in role order."""
        cols = [
            *self.entity,
            *self.time.columns,
            self.amount,
            *self.categorical,
            *self.numeric,
            *([self.label] if self.label else []),
            *([self.event_id] if self.event_id else []),
            *self.passthrough,
        ]
        return list(dict.fromkeys(cols))


def _names(value: Any, key: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list | tuple) and all(isinstance(v, str | int) for v in value):
        return tuple(str(v) for v in value)
    raise SchemaError(f"`{key}` must be a column name or a list of column names, got {value!r}")


def load_schema(source: str | Path | Mapping[str, Any] | EventSchema) -> EventSchema:
    """An ``EventSchema`` from a schema, a mapping or a YAML path."""
    if isinstance(source, EventSchema):
        return source
    if isinstance(source, Mapping):
        return EventSchema.from_dict(source)
    return EventSchema.from_yaml(source)
