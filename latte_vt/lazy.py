"""Package attributes imported on first use (keeps optional dependencies, and torch, out of imports)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_getattr(package: str, exports: dict[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` resolving ``name`` from ``package.<exports[name]>`` when first asked
    (or from ``exports[name]`` itself when it is a full ``latte_vt.`` module path)."""

    def resolve(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = exports[name] if exports[name].startswith("latte_vt.") else f"{package}.{exports[name]}"
        return getattr(importlib.import_module(module), name)

    return resolve
