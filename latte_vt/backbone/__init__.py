"""The shared encoder: config, token mixers, pooling, registry."""

from latte_vt.backbone.config import LatteConfig
from latte_vt.backbone.encoder import Block, LatteEncoder
from latte_vt.backbone.registry import create_model, list_models, model_config, register_model

__all__ = ["Block", "LatteConfig", "LatteEncoder", "create_model", "list_models", "model_config", "register_model"]
