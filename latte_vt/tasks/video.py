"""Video classification LightningModule: VideoClassificationModel + AdamW/cosine + label smoothing + top-k metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor
from torchmetrics.classification import MulticlassAccuracy, MulticlassConfusionMatrix

from latte_vt.backbone import LatteConfig
from latte_vt.models.video import VideoClassificationModel
from latte_vt.tasks.plots import confusion_matrix_png
from latte_vt.tasks.schedule import configure_adamw
from latte_vt.tokenizers.video import FramePool


class VideoClassificationTask(L.LightningModule):
    """Train/evaluate a ``VideoClassificationModel``.

    Batches are dicts with ``video`` (B, V, T, 3, H, W) float and ``label`` (B,) int64; training uses
    view 0, evaluation averages class probabilities over the V views.

    Args:
        num_classes: number of labels (linked from the data module by the CLI).
        classes: label names, saved with the checkpoint (linked from the data module).
        encoder: the shared encoder's config (bidirectional by default; ``causal=True`` reads the time-major
            tokens in order, see ``VideoClassificationModel``; pooling ``none`` becomes mean pooling).
        tokenizer: ``patch`` or ``frame``.
        num_frames: frames per clip the position tables are learned for.
        image_size: crop size the position tables are learned for.
        tubelet: PatchTokenizer tubelet depth.
        patch: PatchTokenizer patch size.
        patch_stem: PatchTokenizer convolutional stem channels before the tubelet projection (0 = none,
            the plain linear embedding); a small stem (e.g. 16) trains much faster from scratch.
        frame_backbone: FrameTokenizer timm model name.
        frame_weights: optional local weights file for the timm backbone.
        frame_pool: FrameTokenizer pooling: ``avg`` (global average of the backbone's feature map),
            ``max`` (global maximum: which features fire anywhere, e.g. which objects are in view) or
            ``keypoints`` (spatial soft-argmax: where each channel fires, so tokens keep the layout).
        frame_stage: cut the frame backbone after this feature stage (timm ``features_only``; e.g. 1
            = a ResNet's stride-4 map); None keeps the whole backbone.
        temporal_centering: both tokenizers subtract each pixel's mean over the clip's frames first
            (static background drops out, motion stands out; no frame-order cue).
        lr: peak learning rate.
        weight_decay: AdamW weight decay (not on biases and norms).
        warmup_fraction: share of the steps spent warming up.
        label_smoothing: cross-entropy label smoothing.
        data_info: what the data module knows (``num_classes``, ``classes``); filled in by the CLI
            and saved with the checkpoint, it overrides ``num_classes`` and ``classes``.
    """

    def __init__(
        self,
        num_classes: int = 6,
        classes: list[str] | None = None,
        encoder: LatteConfig | None = None,
        tokenizer: Literal["patch", "frame"] = "patch",
        num_frames: int = 16,
        image_size: int = 112,
        tubelet: int = 2,
        patch: int = 16,
        frame_backbone: str = "resnet18",
        frame_weights: str | None = None,
        frame_pool: FramePool = "avg",
        frame_stage: int | None = None,
        temporal_centering: bool = False,
        patch_stem: int = 0,
        lr: float = 1e-3,
        weight_decay: float = 0.05,
        warmup_fraction: float = 0.1,
        label_smoothing: float = 0.1,
        data_info: dict | None = None,
    ) -> None:
        super().__init__()
        if data_info:
            num_classes, classes = data_info["num_classes"], data_info.get("classes", classes)
        self.save_hyperparameters()
        self.classes = list(classes) if classes else [str(i) for i in range(num_classes)]
        if len(self.classes) != num_classes:
            raise ValueError(f"{len(self.classes)} class names for num_classes={num_classes}")
        self.model = VideoClassificationModel(
            num_classes,
            encoder,
            tokenizer,
            num_frames,
            image_size,
            tubelet,
            patch,
            frame_backbone,
            frame_weights,
            frame_pool,
            frame_stage,
            temporal_centering,
            patch_stem,
        )
        top_k = min(5, num_classes)
        self.metrics = torch.nn.ModuleDict(
            {
                f"{stage}_{name}": MulticlassAccuracy(num_classes, top_k=k, average=avg)
                for stage in ("val", "test")
                for name, k, avg in (("top1", 1, "micro"), (f"top{top_k}", top_k, "micro"), ("mean_class", 1, "macro"))
            }
        )
        self.confusion = MulticlassConfusionMatrix(num_classes)

    def forward(self, clips: Tensor) -> Tensor:
        return self.model(clips)

    def training_step(self, batch: dict, batch_idx: int) -> Tensor | None:
        if batch["label"].numel() == 0:  # every clip of the batch was unreadable
            return None
        logits = self.model(batch["video"][:, 0])  # (B, C)
        loss = F.cross_entropy(logits, batch["label"], label_smoothing=self.hparams.label_smoothing)
        self.log("train_loss", loss, prog_bar=True, batch_size=len(logits))
        return loss

    def _evaluate(self, batch: dict, stage: str) -> None:
        if batch["label"].numel() == 0:
            return
        probs = self.model.predict_proba(batch["video"])  # (B, C)
        labels = batch["label"]
        self.log(f"{stage}_loss", F.nll_loss(probs.clamp_min(1e-8).log(), labels), batch_size=len(labels))
        for name, metric in self.metrics.items():
            if name.startswith(stage):
                metric(probs, labels)
                self.log(name, metric, prog_bar=name.endswith("top1"), batch_size=len(labels))
        if stage == "test":
            self.confusion.update(probs, labels)

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        self._evaluate(batch, "val")

    def test_step(self, batch: dict, batch_idx: int) -> None:
        self._evaluate(batch, "test")

    def on_test_epoch_end(self) -> None:
        matrix = self.confusion.compute().cpu().numpy()
        self.confusion.reset()
        if self.trainer.is_global_zero:
            out_dir = Path(self.trainer.log_dir or self.trainer.default_root_dir)
            path = confusion_matrix_png(matrix, self.classes, out_dir / "confusion_matrix.png")
            print(f"confusion matrix: {path}")

    def predict_step(self, batch: dict, batch_idx: int) -> dict:
        return {"probs": self.model.predict_proba(batch["video"]), "path": batch.get("path")}

    def configure_optimizers(self) -> dict:
        return configure_adamw(self)
