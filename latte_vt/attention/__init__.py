"""Latte attention core: bidirectional, causal (chunked) and one-token step, plus references."""

from latte_vt.attention.latte import (
    DEFAULT_CHUNK,
    LatteState,
    initial_state,
    latte_bidirectional,
    latte_causal,
    latte_step,
)
from latte_vt.attention.reference import latte_bidirectional_reference, latte_causal_reference

__all__ = [
    "DEFAULT_CHUNK",
    "LatteState",
    "initial_state",
    "latte_bidirectional",
    "latte_bidirectional_reference",
    "latte_causal",
    "latte_causal_reference",
    "latte_step",
]
