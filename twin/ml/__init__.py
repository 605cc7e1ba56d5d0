"""Predictors: the seam, the registry, training, and decisions in the loop."""
