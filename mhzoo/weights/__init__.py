"""Pretrained weights: checkpoint format, loading, saving (extended by the weights issue)."""

from mhzoo.weights.checkpoint import WeightSource, open_weights, save_pretrained

__all__ = ["WeightSource", "open_weights", "save_pretrained"]
