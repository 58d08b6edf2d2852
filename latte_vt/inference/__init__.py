"""Inference from checkpoints: ``video`` (``latte-vt classify``) and ``transactions`` (``latte-vt score``)."""
