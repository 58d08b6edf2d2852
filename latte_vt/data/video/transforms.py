"""Video transforms (torchvision.transforms.v2): uint8 frames (T, H, W, 3) -> normalised float (T, 3, S, S).

Every random choice (crop box, flip) is drawn once per clip and applied to all of its frames.

* train: short-side resize -> RandomResizedCrop(size) -> optional horizontal flip -> float -> normalise.
* eval: ``ClipPreprocess`` — short-side resize (antialiased) -> centre crop(size) -> normalise: the one
  evaluation function, also run by checkpoint inference and exported inside ``model.onnx``.

Horizontal flip is **off by default**: mirroring a clip turns "moving left" into "moving right"
(and clockwise into counter-clockwise), so for direction-sensitive labels it silently swaps the
class. Turn it on only when no label depends on left/right.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor
from torchvision import tv_tensors
from torchvision.transforms import v2

from latte_vt.data.video.preprocess import ClipPreprocess
from latte_vt.data.video.spec import IMAGENET_MEAN, IMAGENET_STD, ClipSpec, default_short_side
from latte_vt.errors import InputError


class VideoTransform:
    """Callable clip transform: (T, H, W, 3) uint8 array or tensor -> (T, 3, size, size) float32.

    Args:
        train: random crop (and optional flip) when True, centre crop when False.
        size: output height and width.
        short_side: frames are first resized so their shorter side is this long
            (default ``round(size * 8 / 7)``, e.g. 128 for 112).
        scale: RandomResizedCrop area range (fraction of the resized frame).
        ratio: RandomResizedCrop aspect-ratio range.
        hflip: flip clips horizontally with probability 0.5 at training (see the module note).
        mean, std: per-channel normalisation of values in [0, 1].
    """

    def __init__(
        self,
        train: bool,
        size: int = 112,
        short_side: int | None = None,
        scale: tuple[float, float] = (0.5, 1.0),
        ratio: tuple[float, float] = (3 / 4, 4 / 3),
        hflip: bool = False,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
    ) -> None:
        self.train, self.size = train, size
        short_side = short_side or default_short_side(size)
        self.evaluate = ClipPreprocess(ClipSpec(size=size, short_side=short_side, mean=tuple(mean), std=tuple(std)))
        steps: list[v2.Transform] = [
            v2.Resize(short_side, antialias=True),
            v2.RandomResizedCrop(size, scale=scale, ratio=ratio, antialias=True),
        ]
        if hflip:
            steps.append(v2.RandomHorizontalFlip())
        steps += [v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(mean), list(std))]
        self.pipeline = v2.Compose(steps)

    def __call__(self, frames: np.ndarray | Tensor) -> Tensor:
        clip = torch.as_tensor(frames)
        if clip.ndim != 4 or clip.shape[-1] != 3 or clip.dtype != torch.uint8:
            raise InputError(f"frames must be (T, H, W, 3) uint8, got {tuple(clip.shape)} {clip.dtype}")
        if not self.train:
            with torch.no_grad():
                return self.evaluate(clip[None])[0]  # (T, 3, size, size) float32
        video = tv_tensors.Video(clip.permute(0, 3, 1, 2))  # (T, 3, H, W) uint8, one crop for all frames
        return self.pipeline(video).as_subclass(Tensor)  # (T, 3, size, size) float32

    def __repr__(self) -> str:
        steps = self.evaluate if not self.train else self.pipeline
        return f"VideoTransform(train={self.train}, size={self.size}, steps={steps})"
