"""The `quantize` stage."""
