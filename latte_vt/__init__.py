"""latte_vt: one linear-time latent-attention backbone for video clips and transaction streams."""

__version__ = "0.1.0"
