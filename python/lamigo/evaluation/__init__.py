"""Evaluation: image quality metrics and baselines at matched bandwidth."""
