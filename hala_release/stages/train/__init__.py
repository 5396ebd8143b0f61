"""The `train` stage."""
