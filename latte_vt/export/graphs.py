"""The modules that are exported: they fix each ONNX graph's inputs and outputs.

* ``VideoGraph``: uint8 frames (B, T, H, W, 3) at any resolution -> logits (B, C); the clip spec's resize,
  crop and normalisation (``ClipPreprocess``) inside, so the runtime only decodes and samples frames.
* ``TransactionGraph``: cat (B, T, F_cat) int64, num (B, T, F_num), mask (B, T) bool -> logits (B, T).
* ``TransactionStepGraph``: one event per entity + ``past_state.*`` -> logit (B,) + ``present_state.*``.
* ``TransactionPieceGraph``: T events per entity + ``past_state.*`` -> logits (B, T) + ``present_state.*``.
Causal Latte runs in its scan form here (``LatteEncoder.set_exportable``): plain ops, no cummax.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from latte_vt.attention import LatteState
from latte_vt.data.video.preprocess import ClipPreprocess
from latte_vt.data.video.spec import ClipSpec
from latte_vt.models.transactions import TransactionScoringModel
from latte_vt.models.video import VideoClassificationModel

LATTE_PARTS = ("S", "z", "m")
LOCAL_PART = "local"
INITIAL_VALUES = {"S": 0.0, "z": 0.0, "m": -1e30, LOCAL_PART: 0.0}


class VideoGraph(nn.Module):
    """uint8 (B, T, H, W, 3) frames, any H and W -> (B, num_classes) logits.

    Checkpoint inference runs this same module, so a checkpoint and its bundle see the same pixels."""

    def __init__(self, model: VideoClassificationModel, spec: ClipSpec) -> None:
        super().__init__()
        self.spec = spec
        self.preprocess = ClipPreprocess(spec)
        self.model = model

    def forward(self, frames: Tensor) -> Tensor:
        return self.model(self.preprocess(frames))  # (B, T, 3, S, S) -> (B, C)


class TransactionGraph(nn.Module):
    """Whole histories: cat (B, T, F_cat), num (B, T, F_num), mask (B, T) -> logits (B, T).

    The model is held as a plain attribute, not a submodule, so the exporter bakes its weights in as
    constants: torch 2.14's exporter fails to decompose a ``scan`` next to lifted parameters when
    both batch and time are dynamic ("Expected leaf to be a Tensor or None, got SymInt").
    """

    def __init__(self, model: TransactionScoringModel) -> None:
        super().__init__()
        object.__setattr__(self, "model", model)
        model.encoder.set_exportable(True)

    def forward(self, cat: Tensor, num: Tensor, mask: Tensor) -> Tensor:
        return self.model(cat, num, mask)


class TransactionStepGraph(nn.Module):
    """One event per entity: cat_t (B, F_cat), num_t (B, F_num), past states -> logit (B,), present states.

    States are float32 tensors per layer: S (B, H, L, Dh), z (B, H, L), m (B, H, L), and with
    ``local_mix`` the layer's last K-1 mixer inputs, local (B, K-1, D); a new entity starts from
    ``initial_states`` (``INITIAL_VALUES`` per part).
    """

    def __init__(self, model: TransactionScoringModel) -> None:
        super().__init__()
        if model.encoder.config.mixer != "latte":
            raise ValueError(f"step export needs the latte mixer (constant state), got {model.encoder.config.mixer!r}")
        self.model = model
        self.depth = model.encoder.config.depth

    @property
    def parts(self) -> tuple[str, ...]:
        """State tensors of one layer, in order."""
        return LATTE_PARTS + ((LOCAL_PART,) if self.model.encoder.config.local_mix else ())

    def part_shapes(self) -> dict[str, tuple[int, ...]]:
        """Shape of each state part without the batch axis."""
        cfg = self.model.encoder.config
        return {
            "S": (cfg.heads, cfg.latents, cfg.head_dim),
            "z": (cfg.heads, cfg.latents),
            "m": (cfg.heads, cfg.latents),
            LOCAL_PART: (cfg.local_mix - 1, cfg.dim),
        }

    def state_names(self, prefix: str) -> list[str]:
        """``prefix.{layer}.{part}`` for every layer and part, in the graph's input/output order."""
        return [f"{prefix}.{layer}.{part}" for layer in range(self.depth) for part in self.parts]

    def initial_states(self, batch: int) -> list[Tensor]:
        shapes = self.part_shapes()
        return [torch.full((batch, *shapes[p]), INITIAL_VALUES[p]) for _ in range(self.depth) for p in self.parts]

    def layer_states(self, flat_states: tuple[Tensor, ...]) -> list[tuple[LatteState, Tensor | None]]:
        """Flat state tensors (``state_names`` order) -> the model's per-layer (Latte state, local-mix state)."""
        n = len(self.parts)
        layers = [flat_states[n * i : n * i + n] for i in range(self.depth)]
        return [(LatteState(*layer[:3]), layer[3] if n > 3 else None) for layer in layers]

    @staticmethod
    def flat_states(states: list[tuple[LatteState, Tensor | None]]) -> list[Tensor]:
        """The model's per-layer states -> flat tensors in ``state_names`` order."""
        return [t for latte, local in states for t in (*latte, *([local] if local is not None else []))]

    def forward(self, cat_t: Tensor, num_t: Tensor, *flat_states: Tensor) -> tuple[Tensor, ...]:
        logit, new_states = self.model.step(cat_t, num_t, self.layer_states(flat_states))
        return (logit, *self.flat_states(new_states))


class TransactionPieceGraph(TransactionStepGraph):
    """A run of T events per entity continuing the step states: cat (B, T, F_cat), num (B, T, F_num), past
    states -> logits (B, T), present states; equals T calls of the step graph (``TransactionScoringModel.piece``).
    A history longer than a memory budget is scored piece by piece; initial states = a whole history.

    The model is a plain attribute, for the reason given at ``TransactionGraph`` (scan, dynamic batch and time).
    """

    def __init__(self, model: TransactionScoringModel) -> None:
        nn.Module.__init__(self)
        if model.encoder.config.mixer != "latte":
            raise ValueError(f"piece export needs the latte mixer (constant state), got {model.encoder.config.mixer!r}")
        object.__setattr__(self, "model", model)
        self.depth = model.encoder.config.depth
        model.encoder.set_exportable(True)

    def forward(self, cat: Tensor, num: Tensor, *flat_states: Tensor) -> tuple[Tensor, ...]:
        logits, new_states = self.model.piece(cat, num, self.layer_states(flat_states))
        return (logits, *self.flat_states(new_states))
