"""Named encoder sizes and ``create_model(name, **overrides)``, in the manner of timm."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from latte_vt.backbone.config import LatteConfig
from latte_vt.backbone.encoder import LatteEncoder

_REGISTRY: dict[str, Callable[[], LatteConfig]] = {}


def register_model(name: str) -> Callable[[Callable[[], LatteConfig]], Callable[[], LatteConfig]]:
    """Decorator: register a function returning the ``LatteConfig`` of a named size."""

    def wrap(fn: Callable[[], LatteConfig]) -> Callable[[], LatteConfig]:
        _REGISTRY[name] = fn
        return fn

    return wrap


@register_model("latte_tiny")
def _tiny() -> LatteConfig:
    return LatteConfig(dim=64, depth=2, heads=2, latents=16)


@register_model("latte_small")
def _small() -> LatteConfig:
    return LatteConfig(dim=192, depth=4, heads=3, latents=32)


@register_model("latte_base")
def _base() -> LatteConfig:
    return LatteConfig(dim=384, depth=8, heads=6, latents=64)


def list_models() -> list[str]:
    """Registered size names."""
    return sorted(_REGISTRY)


def model_config(name: str, **overrides: Any) -> LatteConfig:
    """The config of a named size, with fields overridden."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; available: {list_models()}")
    unknown = set(overrides) - set(LatteConfig.field_names())
    if unknown:
        raise ValueError(f"unknown options {sorted(unknown)} for {name!r}; valid: {LatteConfig.field_names()}")
    return replace(_REGISTRY[name](), **overrides)


def create_model(name: str, **overrides: Any) -> LatteEncoder:
    """``create_model("latte_small", causal=True, mixer="macchiato")`` -> a ``LatteEncoder``."""
    return LatteEncoder(model_config(name, **overrides))
