"""A causal video model is refused by the ONNX export with a clear error, before anything is written."""

import pytest

from latte_vt.backbone import LatteConfig
from latte_vt.data.video.spec import ClipSpec
from latte_vt.errors import InputError
from latte_vt.export.bundle import export_video_bundle
from latte_vt.models.video import VideoClassificationModel


def test_causal_video_model_export_is_refused(tmp_path):
    encoder = LatteConfig(dim=32, depth=1, heads=2, latents=8, causal=True, pooling="mean")
    model = VideoClassificationModel(3, encoder, num_frames=8, image_size=32, tubelet=4, patch=8)
    with pytest.raises(InputError, match="causal video model"):
        export_video_bundle(model, ["a", "b", "c"], ClipSpec(num_frames=8, size=32), tmp_path / "bundle")
    assert not (tmp_path / "bundle").exists()
