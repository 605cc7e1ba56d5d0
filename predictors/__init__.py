"""Built-in predictor modules of twin."""
