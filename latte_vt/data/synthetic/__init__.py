"""Synthetic dataset generators behind ``latte-vt data <generator>``."""
