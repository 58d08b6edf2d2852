"""Checkpoint -> ONNX bundle (graphs, preprocessing spec, manifest with hashes and parity results)."""
