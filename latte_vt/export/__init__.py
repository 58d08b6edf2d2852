"""Checkpoint -> ONNX bundle (graphs, preprocessing spec, manifest with hashes and parity results)."""

#: The opset bundles are written with.  20 has Gelu, which onnxruntime fuses with the bias before it
#: (BiasGelu) and lets it fuse more of the residual adds into SkipLayerNormalization: 8 % faster on the
#: full-history transaction graph than opset 18 (same run, 1 thread).
DEFAULT_OPSET = 20
